//! The in-memory merged tree: an arena of nodes (names) pointing at inodes (metadata and
//! content), with path resolution through in-tree symlinks and the layer-apply logic.

use std::collections::{BTreeMap, HashSet};

use super::order::{OPAQUE, WH_PREFIX};
use super::{Applied, MergeError, MergeOptions};
use crate::entry::{Entry, ImagePath, Kind};

/// The most symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_HOPS: u32 = 40;

pub(super) type NodeId = usize;
pub(super) type InodeId = usize;
pub(super) const ROOT: NodeId = 0;

/// One name in the tree.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) parent: NodeId,
    pub(super) name: Vec<u8>,
    pub(super) inode: InodeId,
    /// Children by name (directories only; empty maps do not allocate).
    pub(super) children: BTreeMap<Vec<u8>, NodeId>,
    /// The layer that last wrote this node (created it or changed its attributes).
    pub(super) stamp: u32,
    /// The layer that created this node.
    pub(super) born: u32,
}

/// What hard-linked names share: metadata and content. `kind` is never `HardLink`.
#[derive(Debug, Clone)]
pub(super) struct Inode {
    pub(super) kind: Kind,
    pub(super) mode: u32,
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) mtime: i64,
    pub(super) xattrs: BTreeMap<String, Vec<u8>>,
}

impl Inode {
    fn from_entry(e: &Entry) -> Inode {
        Inode {
            kind: e.kind.clone(),
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
            xattrs: e.xattrs.clone(),
        }
    }

    fn default_dir() -> Inode {
        Inode::from_entry(&Entry::dir(ImagePath::root()))
    }

    pub(super) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
}

/// The merged filesystem: starts as the empty `scratch` base and takes layers in order.
///
/// Nodes live in an arena and are never freed while the tree lives (a deleted subtree
/// just becomes unreachable), which keeps ids stable and applying cheap.
#[derive(Debug, Clone)]
pub struct Tree {
    pub(super) nodes: Vec<Node>,
    pub(super) inodes: Vec<Inode>,
    /// How many layers have been applied; the current layer's stamp while applying.
    pub(super) layer: u32,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

/// Where a path walk stopped.
enum Stop {
    /// The path resolved to this directory.
    Dir(NodeId),
    /// The next component, `name`, does not exist in directory `parent`.
    Missing(NodeId, Vec<u8>),
    /// A component exists but is neither a directory nor a symlink.
    NotDir(NodeId),
}

/// Why a walk failed outright.
enum WalkError {
    Loop(NodeId),
    EmptySymlink(NodeId),
}

/// The state of a walk through the tree: resolved directories so far (for `..`) and the
/// components still to go (reversed).
struct Cursor {
    stack: Vec<NodeId>,
    pending: Vec<Vec<u8>>,
    hops: u32,
}

impl Cursor {
    fn new(path: &[u8]) -> Cursor {
        Cursor {
            stack: vec![ROOT],
            pending: path
                .split(|&b| b == b'/')
                .rev()
                .map(<[u8]>::to_vec)
                .collect(),
            hops: 0,
        }
    }
}

/// A classified entry of one layer.
enum Item {
    Opaque(ImagePath),
    Whiteout(ImagePath, Vec<u8>),
    Entry(Entry),
}

impl Tree {
    /// The empty `scratch` base: only a root directory 0755 0:0.
    pub fn new() -> Tree {
        Tree {
            nodes: vec![Node {
                parent: ROOT,
                name: Vec::new(),
                inode: 0,
                children: BTreeMap::new(),
                stamp: 0,
                born: 0,
            }],
            inodes: vec![Inode::default_dir()],
            layer: 0,
        }
    }

    pub(super) fn inode_of(&self, id: NodeId) -> &Inode {
        &self.inodes[self.nodes[id].inode]
    }

    /// The real path of a node (no symlinks in it).
    pub(super) fn path_of(&self, mut id: NodeId) -> ImagePath {
        let mut names = Vec::new();
        while id != ROOT {
            names.push(&self.nodes[id].name);
            id = self.nodes[id].parent;
        }
        let mut out = Vec::new();
        for n in names.iter().rev() {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(n);
        }
        ImagePath::parse(&out).unwrap_or_default()
    }

    /// Follow `cur` until it resolves, stops at a missing name or a non-directory.
    fn advance(&self, cur: &mut Cursor) -> Result<Stop, WalkError> {
        while let Some(c) = cur.pending.pop() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                if cur.stack.len() > 1 {
                    cur.stack.pop();
                }
                continue;
            }
            let dir = *cur.stack.last().unwrap_or(&ROOT);
            let Some(&id) = self.nodes[dir].children.get(&c) else {
                return Ok(Stop::Missing(dir, c));
            };
            match &self.inode_of(id).kind {
                Kind::Dir => cur.stack.push(id),
                Kind::Symlink(target) => {
                    cur.hops += 1;
                    if cur.hops > MAX_SYMLINK_HOPS {
                        return Err(WalkError::Loop(id));
                    }
                    if target.is_empty() {
                        return Err(WalkError::EmptySymlink(id));
                    }
                    if target[0] == b'/' {
                        cur.stack.truncate(1);
                    }
                    cur.pending
                        .extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
                }
                _ => return Ok(Stop::NotDir(id)),
            }
        }
        Ok(Stop::Dir(*cur.stack.last().unwrap_or(&ROOT)))
    }

    /// Resolve a directory path without changing the tree: `None` when a component is
    /// missing or not a directory.
    fn find_dir(&self, path: &[u8]) -> Result<Option<NodeId>, WalkError> {
        match self.advance(&mut Cursor::new(path))? {
            Stop::Dir(id) => Ok(Some(id)),
            Stop::Missing(..) | Stop::NotDir(_) => Ok(None),
        }
    }

    /// Resolve a path's parent through symlinks and look up its final name unfollowed.
    fn find(&self, path: &ImagePath) -> Result<Option<NodeId>, WalkError> {
        if path.is_root() {
            return Ok(Some(ROOT));
        }
        let parent = path.parent().unwrap_or_default();
        Ok(self
            .find_dir(parent.as_bytes())?
            .and_then(|d| self.nodes[d].children.get(path.file_name()).copied()))
    }

    /// Look up a node by its real path, following nothing.
    pub(super) fn find_real(&self, path: &ImagePath) -> Option<NodeId> {
        let mut id = ROOT;
        for c in path.components() {
            id = *self.nodes[id].children.get(c)?;
        }
        Some(id)
    }

    fn add_node(&mut self, parent: NodeId, name: Vec<u8>, inode: InodeId) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            parent,
            name: name.clone(),
            inode,
            children: BTreeMap::new(),
            stamp: self.layer,
            born: self.layer,
        });
        self.nodes[parent].children.insert(name, id);
        id
    }

    fn add_inode(&mut self, inode: Inode) -> InodeId {
        self.inodes.push(inode);
        self.inodes.len() - 1
    }

    /// Resolve a directory path, creating missing directories 0755 0:0.
    fn make_dirs(
        &mut self,
        path: &ImagePath,
        label: &str,
        entry: &ImagePath,
    ) -> Result<NodeId, MergeError> {
        let mut cur = Cursor::new(path.as_bytes());
        loop {
            match self
                .advance(&mut cur)
                .map_err(|e| self.walk_error(e, label, entry))?
            {
                Stop::Dir(id) => return Ok(id),
                Stop::Missing(dir, name) => {
                    if name.starts_with(WH_PREFIX) {
                        return Err(MergeError::WhiteoutNamedParent {
                            layer: label.to_string(),
                            path: entry.display(),
                            at: self.path_of(dir).join(&name).display(),
                        });
                    }
                    let inode = self.add_inode(Inode::default_dir());
                    let id = self.add_node(dir, name, inode);
                    cur.stack.push(id);
                }
                Stop::NotDir(id) => {
                    return Err(MergeError::ParentNotDir {
                        layer: label.to_string(),
                        path: entry.display(),
                        parent: self.path_of(id).display(),
                        kind: self.inode_of(id).kind.name().to_string(),
                    })
                }
            }
        }
    }

    fn walk_error(&self, e: WalkError, label: &str, entry: &ImagePath) -> MergeError {
        match e {
            WalkError::Loop(id) => MergeError::SymlinkLoop {
                layer: label.to_string(),
                path: entry.display(),
                at: self.path_of(id).display(),
            },
            WalkError::EmptySymlink(id) => MergeError::EmptySymlink {
                layer: label.to_string(),
                path: entry.display(),
                at: self.path_of(id).display(),
            },
        }
    }

    /// Apply one layer (`label` names it in messages, e.g. `layer 2 (https://…/x.tar.gz)`).
    ///
    /// See the [module documentation](super) for the rules. On error the tree may be
    /// partly changed and should be dropped.
    ///
    /// The returned [`Applied::layer`] is what this layer contributes, in
    /// [`canonical_cmp`](super::canonical_cmp) order, so that a runtime applying it
    /// entry by entry over the lower layers gets exactly this tree:
    ///
    /// * every node this layer created or changed, at its *real* path in the merged tree
    ///   (an entry given under a symlinked parent appears where it landed), including
    ///   the parent directories it created (0755 0:0), and the root first when the layer
    ///   had a root entry;
    /// * a whiteout `DIR/.wh.NAME` (an empty regular file 0644 0:0) for each whiteout
    ///   that deleted something, at the real path it deleted; whiteouts of missing paths
    ///   did nothing and are dropped;
    /// * an opaque marker `DIR/.wh..wh..opq` (also an empty file 0644 0:0) for each
    ///   marker that resolved to an existing directory, and for each lower directory
    ///   this layer replaced by a new directory (so the lower children do not show
    ///   through); markers whose directory is no longer one are dropped;
    /// * hard links only to a name earlier in the layer or to a name unchanged from the
    ///   lower layers (a group that keeps a lower name links every new name to it).
    ///
    /// Duplicates and `.wh..wh.*` names never appear.
    pub fn apply(
        &mut self,
        label: &str,
        entries: Vec<Entry>,
        opts: &MergeOptions,
    ) -> Result<Applied, MergeError> {
        self.layer += 1;
        let mut warnings = Vec::new();
        let items = classify(label, entries)?;

        // Phase 1: opaque markers clear lower children.
        let mut opaques: Vec<ImagePath> = Vec::new();
        for item in &items {
            if let Item::Opaque(dir) = item {
                let marker = dir.join(OPAQUE);
                if let Some(id) = self
                    .find_dir(dir.as_bytes())
                    .map_err(|e| self.walk_error(e, label, &marker))?
                {
                    self.nodes[id].children.clear();
                    opaques.push(self.path_of(id));
                }
            }
        }

        // Phase 2: whiteouts delete lower paths.
        let mut whiteouts: Vec<ImagePath> = Vec::new();
        for item in &items {
            if let Item::Whiteout(parent, name) = item {
                let wh = parent.join(&[WH_PREFIX, name].concat());
                let Some(dir) = self
                    .find_dir(parent.as_bytes())
                    .map_err(|e| self.walk_error(e, label, &wh))?
                else {
                    continue;
                };
                if self.nodes[dir].children.remove(name).is_some() {
                    whiteouts.push(self.path_of(dir).join(name));
                }
            }
        }

        // Phase 3: entries in order.
        let mut seen: HashSet<ImagePath> = HashSet::new();
        let mut replaced: Vec<ImagePath> = Vec::new();
        for item in items {
            let Item::Entry(e) = item else { continue };
            if !seen.insert(e.path.clone()) {
                if opts.strict_duplicates {
                    return Err(MergeError::Duplicate {
                        layer: label.to_string(),
                        path: e.path.display(),
                    });
                }
                warnings.push(format!(
                    "{label}: duplicate entry {}: the last one wins",
                    e.path.display()
                ));
            }
            self.put(label, e, &mut replaced)?;
        }

        let layer = self.canonical_layer(&opaques, &whiteouts, &replaced);
        Ok(Applied { layer, warnings })
    }

    /// Put one ordinary entry into the tree.
    fn put(
        &mut self,
        label: &str,
        e: Entry,
        replaced: &mut Vec<ImagePath>,
    ) -> Result<(), MergeError> {
        if e.path.is_root() {
            if !matches!(e.kind, Kind::Dir) {
                return Err(MergeError::RootNotDir {
                    layer: label.to_string(),
                    kind: e.kind.name().to_string(),
                });
            }
            self.inodes[self.nodes[ROOT].inode] = Inode::from_entry(&e);
            self.nodes[ROOT].stamp = self.layer;
            return Ok(());
        }
        // A hard link's target is looked up before anything changes.
        let link_inode = match &e.kind {
            Kind::HardLink(target) => Some(self.link_target(label, &e.path, target)?),
            _ => None,
        };
        let parent = self.make_dirs(&e.path.parent().unwrap_or_default(), label, &e.path)?;
        let name = e.path.file_name().to_vec();
        if let Some(&old) = self.nodes[parent].children.get(&name) {
            let old_is_dir = self.inode_of(old).is_dir();
            if old_is_dir && matches!(e.kind, Kind::Dir) {
                let ino = self.nodes[old].inode;
                self.inodes[ino] = Inode::from_entry(&e);
                self.nodes[old].stamp = self.layer;
                return Ok(());
            }
            // A directory from a lower layer may hold lower children: if a directory
            // takes its place again, the canonical layer needs an opaque marker.
            if old_is_dir && self.nodes[old].born < self.layer {
                replaced.push(self.path_of(old));
            }
            self.nodes[parent].children.remove(&name);
        }
        let inode = match link_inode {
            Some(i) => i,
            None => self.add_inode(Inode::from_entry(&e)),
        };
        self.add_node(parent, name, inode);
        Ok(())
    }

    /// The inode a hard link entry at `path` shares.
    fn link_target(
        &self,
        label: &str,
        path: &ImagePath,
        target: &ImagePath,
    ) -> Result<InodeId, MergeError> {
        let id = self
            .find(target)
            .map_err(|e| self.walk_error(e, label, path))?
            .ok_or_else(|| MergeError::LinkTargetMissing {
                layer: label.to_string(),
                path: path.display(),
                target: target.display(),
            })?;
        if self.inode_of(id).is_dir() {
            return Err(MergeError::LinkTargetDir {
                layer: label.to_string(),
                path: path.display(),
                target: target.display(),
            });
        }
        Ok(self.nodes[id].inode)
    }

    /// Look a path up without following its final component (parents do resolve
    /// through symlinks). A hard-linked name is reported with its inode's own kind
    /// (file, symlink, …), never as `Kind::HardLink`. `None` when missing or when
    /// resolution fails.
    pub fn get(&self, path: &ImagePath) -> Option<Entry> {
        let id = self.find(path).ok()??;
        Some(self.entry_of(id, self.path_of(id)))
    }

    pub(super) fn entry_of(&self, id: NodeId, path: ImagePath) -> Entry {
        let ino = self.inode_of(id);
        Entry {
            path,
            kind: ino.kind.clone(),
            mode: ino.mode,
            uid: ino.uid,
            gid: ino.gid,
            mtime: ino.mtime,
            xattrs: ino.xattrs.clone(),
        }
    }
}

/// Sort a layer's entries into opaque markers, whiteouts and ordinary entries.
fn classify(label: &str, entries: Vec<Entry>) -> Result<Vec<Item>, MergeError> {
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        let name = e.path.file_name();
        let Some(rest) = name.strip_prefix(WH_PREFIX) else {
            items.push(Item::Entry(e));
            continue;
        };
        let parent = e.path.parent().unwrap_or_default();
        if name == OPAQUE {
            items.push(Item::Opaque(parent));
        } else if rest.starts_with(WH_PREFIX) {
            // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here.
        } else if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(MergeError::BadWhiteout {
                layer: label.to_string(),
                path: e.path.display(),
                name: String::from_utf8_lossy(rest).into_owned(),
            });
        } else {
            items.push(Item::Whiteout(parent, rest.to_vec()));
        }
    }
    Ok(items)
}
