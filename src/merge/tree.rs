//! The in-memory merged tree: an arena of nodes (names) pointing at inodes (metadata and
//! content), and the logic that applies one layer to it. Path resolution is in
//! `resolve.rs`, output in `emit.rs`.

use std::collections::{BTreeMap, HashSet};

use super::lower::Lower;
use super::order::{AUFS_PREFIX, OPAQUE, WH_PREFIX};
use super::{Applied, MergeError, MergeOptions};
use crate::entry::{Entry, ImagePath, Kind};

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
    /// The last layer that wrote this node or anything below it (to skip untouched
    /// subtrees when writing a canonical layer).
    pub(super) touched: u32,
    /// A directory whose children are still in the snapshot, as its record there (see
    /// `lower.rs`); they are read the first time a lookup needs them.
    pub(super) pending: Option<u32>,
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
    /// Whether a hard link ever gave this inode a second name.
    pub(super) shared: bool,
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
            shared: false,
        }
    }

    pub(super) fn default_dir() -> Inode {
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
    /// Whether the current layer added a name to an existing inode (a hard link).
    pub(super) linked: bool,
    /// Inodes whose metadata a hard link of the current layer changed: every name of
    /// theirs is written again in the canonical layer, since the link entry that carried
    /// the change may not survive (a later entry of the layer can replace it).
    pub(super) relinked: Vec<InodeId>,
    /// The snapshot the lower names not yet read are in ([`Tree::over_snapshot`]).
    pub(super) lower: Option<Lower>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
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
                touched: 0,
                pending: None,
            }],
            inodes: vec![Inode::default_dir()],
            layer: 0,
            linked: false,
            relinked: Vec::new(),
            lower: None,
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

    pub(super) fn add_node(&mut self, parent: NodeId, name: Vec<u8>, inode: InodeId) -> NodeId {
        let id = self.insert_node(parent, name, inode, self.layer, None);
        self.touch(parent);
        id
    }

    /// A new name `name` in `parent`, written by layer `layer`, touching nothing else.
    pub(super) fn insert_node(
        &mut self,
        parent: NodeId,
        name: Vec<u8>,
        inode: InodeId,
        layer: u32,
        pending: Option<u32>,
    ) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            parent,
            name: name.clone(),
            inode,
            children: BTreeMap::new(),
            stamp: layer,
            born: layer,
            touched: layer,
            pending,
        });
        self.nodes[parent].children.insert(name, id);
        id
    }

    /// Mark `id` and its ancestors as touched by the current layer.
    fn touch(&mut self, mut id: NodeId) {
        while self.nodes[id].touched != self.layer {
            self.nodes[id].touched = self.layer;
            if id == ROOT {
                break;
            }
            id = self.nodes[id].parent;
        }
    }

    pub(super) fn add_inode(&mut self, inode: Inode) -> InodeId {
        self.inodes.push(inode);
        self.inodes.len() - 1
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
    ///   did nothing and are dropped, and so are whiteouts inside a directory that gets
    ///   an opaque marker;
    /// * an opaque marker `DIR/.wh..wh..opq` (also an empty file 0644 0:0) for each
    ///   marker that resolved to an existing directory, and for each lower directory
    ///   this layer replaced by a new directory (so the lower children do not show
    ///   through); markers whose directory is no longer one are dropped;
    /// * hard links only to a name earlier in the layer or to a name unchanged from the
    ///   lower layers (a group that keeps a lower name links every new name to it).
    ///
    /// Duplicates and `.wh..wh.*` names never appear. Real paths (rather than the paths
    /// as given) make the sorted layer safe to apply entry by entry even when the same
    /// layer also changes the symlink an entry was given through. Re-applying the
    /// canonical layer over the same lower tree gives the same canonical layer.
    pub fn apply(
        &mut self,
        label: &str,
        entries: Vec<Entry>,
        opts: &MergeOptions,
    ) -> Result<Applied, MergeError> {
        self.layer += 1;
        self.linked = false;
        self.relinked.clear();
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
                    self.nodes[id].pending = None;
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
                self.load(dir);
                if self.nodes[dir].children.remove(name).is_some() {
                    whiteouts.push(self.path_of(dir).join(name));
                }
            }
        }

        // Phase 3: entries in order. Paths are remembered as 128-bit fingerprints, not
        // copies: memory grows with the number of entries (a fingerprint collision would
        // only cost a spurious duplicate warning).
        let mut seen: HashSet<u128> = HashSet::with_capacity(items.len());
        let mut replaced: Vec<ImagePath> = Vec::new();
        for item in items {
            let Item::Entry(e) = item else { continue };
            if !seen.insert(e.path.fingerprint()) {
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
            self.put(label, e, opts, &mut replaced)?;
        }

        drop(seen);
        if self.linked {
            // Every name of a lower inode may matter to the canonical layer.
            self.load_all()?;
        }
        self.check_lower()?;
        self.restamp_relinked();
        let layer = self.canonical_layer(&opaques, &whiteouts, &replaced);
        Ok(Applied { layer, warnings })
    }

    /// Put one ordinary entry into the tree.
    fn put(
        &mut self,
        label: &str,
        e: Entry,
        opts: &MergeOptions,
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
            self.touch(ROOT);
            return Ok(());
        }
        // A hard link's target is looked up before anything changes.
        let link_inode = match &e.kind {
            Kind::HardLink(target) => Some(self.link_target(label, &e.path, target)?),
            _ => None,
        };
        let parent = self.make_dirs(&e.path.parent().unwrap_or_default(), label, &e.path)?;
        self.load(parent);
        let name = e.path.file_name().to_vec();
        if let Some(&old) = self.nodes[parent].children.get(&name) {
            if opts.usrmerge
                && matches!(e.kind, Kind::Dir)
                && matches!(self.inode_of(old).kind, Kind::Symlink(_))
                && matches!(self.find_dir(e.path.as_bytes()), Ok(Some(_)))
            {
                // usrmerge: the directory is the one the symlink resolves to; the symlink
                // and that directory keep their own attributes.
                return Ok(());
            }
            let old_is_dir = self.inode_of(old).is_dir();
            if old_is_dir && matches!(e.kind, Kind::Dir) {
                let ino = self.nodes[old].inode;
                self.inodes[ino] = Inode::from_entry(&e);
                self.nodes[old].stamp = self.layer;
                self.touch(old);
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
            Some(i) => {
                self.linked = true;
                // Runtimes (containerd, Docker, umoci) chown, chmod and set xattrs on the
                // new name after linking it, which changes the shared inode: the link
                // entry's metadata wins (a symlink's mode cannot be changed).
                let ino = &mut self.inodes[i];
                let before = (ino.uid, ino.gid, ino.mode, ino.xattrs.clone());
                ino.shared = true;
                ino.uid = e.uid;
                ino.gid = e.gid;
                ino.mtime = e.mtime;
                if !matches!(ino.kind, Kind::Symlink(_)) {
                    ino.mode = e.mode & 0o7777;
                }
                ino.xattrs.extend(e.xattrs.clone());
                if before != (ino.uid, ino.gid, ino.mode, ino.xattrs.clone()) {
                    self.relinked.push(i);
                }
                i
            }
            None => self.add_inode(Inode::from_entry(&e)),
        };
        self.add_node(parent, name, inode);
        Ok(())
    }

    /// Mark every name of a relinked inode as written by this layer, so the canonical
    /// layer carries the inode's new metadata whatever happened to the link entry.
    fn restamp_relinked(&mut self) {
        if self.relinked.is_empty() {
            return;
        }
        let relinked: std::collections::HashSet<InodeId> = self.relinked.iter().copied().collect();
        let names: Vec<NodeId> = self
            .walk()
            .into_iter()
            .map(|(id, _)| id)
            .filter(|&id| relinked.contains(&self.nodes[id].inode))
            .collect();
        for id in names {
            self.nodes[id].stamp = self.layer;
            self.touch(id);
        }
    }

    /// The inode a hard link entry at `path` shares.
    fn link_target(
        &mut self,
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
    /// (file, symlink, …), never as `Kind::HardLink`. The entry's path is the real one
    /// (`link/x` reached through a symlink `link -> real` reports `real/x`). `None` when
    /// missing or when resolution fails.
    pub fn get(&mut self, path: &ImagePath) -> Option<Entry> {
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
        if e.path
            .components()
            .any(|c| c.starts_with(AUFS_PREFIX) && c != OPAQUE)
        {
            // AUFS bookkeeping (.wh..wh.plnk/…, .wh..wh.aufs): meaningless here.
            continue;
        }
        let Some(rest) = name.strip_prefix(WH_PREFIX) else {
            items.push(Item::Entry(e));
            continue;
        };
        let parent = e.path.parent().unwrap_or_default();
        if name == OPAQUE {
            items.push(Item::Opaque(parent));
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
