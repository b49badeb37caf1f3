//! Turning the tree back into entries: the merged filesystem and a layer's canonical form.

use std::collections::HashMap;

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
    pub fn entries(&self) -> Vec<Entry> {
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
    fn walk(&self) -> Vec<(NodeId, ImagePath)> {
        let mut out = Vec::new();
        let mut stack: Vec<(NodeId, ImagePath)> = self.nodes[ROOT]
            .children
            .iter()
            .rev()
            .map(|(name, &id)| (id, ImagePath::root().join(name)))
            .collect();
        while let Some((id, path)) = stack.pop() {
            stack.extend(
                self.nodes[id]
                    .children
                    .iter()
                    .rev()
                    .map(|(name, &child)| (child, path.join(name))),
            );
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
        if self.inode_of(id).is_dir() {
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
        let nodes = self.walk();
        let mut lower: HashMap<InodeId, ImagePath> = HashMap::new();
        for (id, path) in &nodes {
            if self.nodes[*id].stamp < layer && !self.inode_of(*id).is_dir() {
                lower
                    .entry(self.nodes[*id].inode)
                    .or_insert_with(|| path.clone());
            }
        }
        let mut out = Vec::new();
        if self.nodes[ROOT].stamp == layer {
            out.push(self.entry_of(ROOT, ImagePath::root()));
        }
        let mut first = HashMap::new();
        for (id, path) in nodes {
            if self.nodes[id].stamp == layer {
                out.push(self.linked_entry(id, path, &mut first, &lower));
            }
        }
        let is_dir = |p: &ImagePath| {
            self.find_real(p)
                .is_some_and(|id| self.inode_of(id).is_dir())
        };
        for dir in opaques.iter().chain(replaced) {
            if is_dir(dir) {
                out.push(marker(dir.join(OPAQUE)));
            }
        }
        for path in whiteouts {
            let parent = path.parent().unwrap_or_default();
            if is_dir(&parent) {
                out.push(marker(parent.join(&[WH_PREFIX, path.file_name()].concat())));
            }
        }
        out.sort_by(|a, b| canonical_cmp(&a.path, &b.path));
        out.dedup_by(|a, b| a.path == b.path);
        out
    }
}

/// A whiteout or opaque marker: an empty regular file 0644 0:0.
fn marker(path: ImagePath) -> Entry {
    Entry::new(path, Kind::File(Content::Empty), 0o644)
}
