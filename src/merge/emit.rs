//! Turning the tree back into entries: the merged filesystem and a layer's canonical form.

use std::collections::{HashMap, HashSet};

use super::order::{canonical_cmp, OPAQUE, WH_PREFIX};
use super::tree::{InodeId, NodeId, Tree, ROOT};
use crate::entry::{Content, Entry, ImagePath, Kind};

impl Tree {
    /// The merged filesystem in [`canonical_cmp`] order, without whiteouts.
    ///
    /// The root directory is left out while it is 0755 0:0 without xattrs (what every
    /// runtime assumes); when a layer gave it other attributes it comes first, as an
    /// entry with the empty path. Each hard-link group is written once as its kind (file,
    /// symlink, device, …) under the first of its names in this order; its later names
    /// are `Kind::HardLink(first)` carrying the same metadata.
    ///
    /// A tree over a snapshot lists only the names read so far: [`Tree::load_all`] first.
    pub fn entries(&self) -> Vec<Entry> {
        debug_assert!(!self.is_partial(), "entries of a partly read tree");
        let mut out = Vec::new();
        let root = self.inode_of(ROOT);
        if root.mode != 0o755 || root.uid != 0 || root.gid != 0 || !root.xattrs.is_empty() {
            out.push(self.entry_of(ROOT, ImagePath::root()));
        }
        let mut first: HashMap<InodeId, ImagePath> = HashMap::new();
        for (id, path) in self.walk() {
            out.push(self.linked_entry(id, path, &mut first, &HashMap::new()));
        }
        out
    }

    /// Every node but the root with its real path, in canonical order.
    pub(super) fn walk(&self) -> Vec<(NodeId, ImagePath)> {
        self.walk_where(|_| true)
    }

    /// Like [`Tree::walk`], descending only into directories for which `enter` holds.
    fn walk_where(&self, enter: impl Fn(NodeId) -> bool) -> Vec<(NodeId, ImagePath)> {
        let mut out = Vec::new();
        let mut stack: Vec<(NodeId, ImagePath)> = Vec::new();
        let push_children = |stack: &mut Vec<(NodeId, ImagePath)>, id: NodeId, path: &ImagePath| {
            if enter(id) {
                stack.extend(
                    self.nodes[id]
                        .children
                        .iter()
                        .rev()
                        .map(|(name, &child)| (child, path.join(name))),
                );
            }
        };
        push_children(&mut stack, ROOT, &ImagePath::root());
        while let Some((id, path)) = stack.pop() {
            push_children(&mut stack, id, &path);
            out.push((id, path));
        }
        out
    }

    /// The nodes `layer` wrote or wrote below, with their real paths, in canonical order.
    /// Untouched children are skipped without building their paths, so applying many
    /// small layers to one growing directory stays linear in the layer's size (a
    /// manifest with thousands of layers each adding a file to `/etc` was quadratic).
    fn walk_touched(&self, layer: u32) -> Vec<(NodeId, ImagePath)> {
        let mut out = Vec::new();
        let mut stack: Vec<(NodeId, ImagePath)> = Vec::new();
        let push_children = |stack: &mut Vec<(NodeId, ImagePath)>, id: NodeId, path: &ImagePath| {
            stack.extend(
                self.nodes[id]
                    .children
                    .iter()
                    .rev()
                    .filter(|(_, &child)| self.nodes[child].touched == layer)
                    .map(|(name, &child)| (child, path.join(name))),
            );
        };
        if self.nodes[ROOT].touched == layer {
            push_children(&mut stack, ROOT, &ImagePath::root());
        }
        while let Some((id, path)) = stack.pop() {
            push_children(&mut stack, id, &path);
            out.push((id, path));
        }
        out
    }

    /// The entry for a node, as a hard link when its inode already has a name: one
    /// from the lower layers (`lower`) or one written earlier (`first`).
    fn linked_entry(
        &self,
        id: NodeId,
        path: ImagePath,
        first: &mut HashMap<InodeId, ImagePath>,
        lower: &HashMap<InodeId, ImagePath>,
    ) -> Entry {
        let mut e = self.entry_of(id, path);
        if !self.inode_of(id).shared {
            return e;
        }
        let ino = self.nodes[id].inode;
        if let Some(target) = lower.get(&ino).or_else(|| first.get(&ino)) {
            e.kind = Kind::HardLink(target.clone());
        } else {
            first.insert(ino, e.path.clone());
        }
        e
    }

    /// The canonical form of the layer just applied; see [`Tree::apply`].
    pub(super) fn canonical_layer(
        &self,
        opaques: &[ImagePath],
        whiteouts: &[ImagePath],
        replaced: &[ImagePath],
    ) -> Vec<Entry> {
        let layer = self.layer;
        // Only a hard link in this layer can give a new name to an inode that keeps a
        // name from the lower layers; only then is the whole tree searched for those.
        let mut lower: HashMap<InodeId, ImagePath> = HashMap::new();
        if self.linked {
            for (id, path) in self.walk() {
                if self.nodes[id].stamp < layer && !self.inode_of(id).is_dir() {
                    lower.entry(self.nodes[id].inode).or_insert(path);
                }
            }
        }
        let nodes = self.walk_touched(layer);
        let mut nodes_out = Vec::with_capacity(nodes.len() + 1);
        if self.nodes[ROOT].stamp == layer {
            nodes_out.push(self.entry_of(ROOT, ImagePath::root()));
        }
        let mut first = HashMap::new();
        for (id, path) in nodes {
            if self.nodes[id].stamp == layer {
                nodes_out.push(self.linked_entry(id, path, &mut first, &lower));
            }
        }
        let mut markers = Vec::new();
        let is_dir = |p: &ImagePath| {
            self.find_loaded(p)
                .is_some_and(|id| self.inode_of(id).is_dir())
        };
        // Below a directory made opaque, or whited out, nothing from the lower layers is
        // left, so markers there have nothing to do and are left out (whatever the order
        // of the whiteouts in the input, so that the canonical layer is a fixed point).
        let opaque_dirs: HashSet<&ImagePath> = opaques
            .iter()
            .chain(replaced)
            .filter(|d| is_dir(d))
            .collect();
        let whited: HashSet<&ImagePath> = whiteouts.iter().collect();
        let covered = |p: &ImagePath| {
            std::iter::successors(p.parent(), ImagePath::parent)
                .any(|a| opaque_dirs.contains(&a) || whited.contains(&a))
        };
        for dir in &opaque_dirs {
            if !covered(dir) {
                markers.push(marker(dir.join(OPAQUE)));
            }
        }
        for path in whiteouts {
            let parent = path.parent().unwrap_or_default();
            if is_dir(&parent) && !covered(path) {
                markers.push(marker(parent.join(&[WH_PREFIX, path.file_name()].concat())));
            }
        }
        markers.sort_by(|a, b| canonical_cmp(&a.path, &b.path));
        markers.dedup_by(|a, b| a.path == b.path);
        merge_sorted(nodes_out, markers)
    }
}

/// Merge two lists already in canonical order (the tree walk and the markers).
fn merge_sorted(a: Vec<Entry>, b: Vec<Entry>) -> Vec<Entry> {
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut b = b.into_iter().peekable();
    for x in a {
        while let Some(y) = b.next_if(|y| canonical_cmp(&y.path, &x.path).is_lt()) {
            out.push(y);
        }
        out.push(x);
    }
    out.extend(b);
    out
}

/// A whiteout or opaque marker: an empty regular file 0644 0:0.
fn marker(path: ImagePath) -> Entry {
    Entry::new(path, Kind::File(Content::Empty), 0o644)
}
