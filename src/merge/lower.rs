//! A tree whose lower layers stay in a layer-cache snapshot until they are looked at.
//!
//! A rebuild after an app change merges one small layer over a base of maybe 100,000
//! names; building all of them as nodes costs far more than the layer itself. Here the
//! tree starts as the snapshot's root only, and a directory's children become nodes the
//! first time a lookup needs them (`load`): resolving the new layer's paths, a whiteout's
//! parent, a hard link's target, preflight's lookups. Everything else stays in the mapped
//! snapshot, unread.
//!
//! Nodes made from the snapshot carry its layer number, so they are as old as they would
//! be in a tree rebuilt from its entries, and loading touches nothing: the canonical layer
//! of the next [`Tree::apply`] is the same either way (`tests/merge_vectors.rs` applies every
//! vector's top layer over both). Hard-linked names share one inode however they are
//! reached, through the snapshot's `shared` records. What needs every name (the whole
//! tree's entries, a hard link that gives a lower inode new metadata) loads all of them
//! first ([`Tree::load_all`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::tree::{Inode, InodeId, NodeId, Tree, ROOT};
use super::MergeError;
use crate::entry::Kind;
use crate::layer::{valid_name, Record, Snapshot};

/// The layer number of everything a snapshot holds: it is the tree's first layer.
const SNAPSHOT_LAYER: u32 = 1;

/// The snapshot a tree's lower names are read from.
#[derive(Debug, Clone)]
pub(super) struct Lower {
    snap: Arc<Snapshot>,
    /// What the snapshot holds, for messages (`layers 1-3 (from the layer cache)`).
    label: String,
    /// The inodes made for records that hard links point to, by record.
    shared: HashMap<u32, InodeId>,
    /// Set when a record could not be read: the merge fails rather than go on without it.
    damaged: bool,
    /// Set once every name has been read ([`Tree::load_all`]).
    complete: bool,
    /// How many names have been read: never more than the snapshot has records, unless
    /// it is damaged (a directory among its own descendants would never end).
    read: u64,
}

impl Tree {
    /// The tree a snapshot holds, as one layer (`label` names it in messages), with only
    /// its root read so far (see `merge/lower.rs`). A snapshot whose root cannot be read
    /// is an error.
    pub fn over_snapshot(label: &str, snap: Snapshot) -> Result<Tree, MergeError> {
        let damaged = || MergeError::Damaged {
            layer: label.to_string(),
        };
        let root = snap.record(0).ok_or_else(damaged)?;
        if !matches!(root.kind, Kind::Dir) {
            return Err(damaged());
        }
        let mut tree = Tree::new();
        tree.layer = SNAPSHOT_LAYER;
        tree.inodes[0] = inode(&root, false);
        let node = &mut tree.nodes[ROOT];
        (node.stamp, node.born, node.touched) = (SNAPSHOT_LAYER, SNAPSHOT_LAYER, SNAPSHOT_LAYER);
        node.pending = Some(0);
        tree.lower = Some(Lower {
            snap: Arc::new(snap),
            label: label.to_string(),
            shared: HashMap::new(),
            damaged: false,
            complete: false,
            read: 1,
        });
        Ok(tree)
    }

    /// Make nodes of directory `id`'s children if they are still in the snapshot.
    pub(super) fn load(&mut self, id: NodeId) {
        let Some(record) = self.nodes[id].pending.take() else {
            return;
        };
        let Some(lower) = &self.lower else {
            return;
        };
        let snap = Arc::clone(&lower.snap);
        if self.load_from(&snap, id, record).is_none() {
            if let Some(l) = &mut self.lower {
                l.damaged = true;
            }
        }
    }

    fn load_from(&mut self, snap: &Snapshot, id: NodeId, record: u32) -> Option<()> {
        let dir = snap.record(record)?;
        let lower = self.lower.as_mut()?;
        lower.read += dir.children_len();
        if lower.read > snap.len() {
            return None;
        }
        let mut links = Vec::new();
        for child in snap.children(&dir) {
            let c = child?;
            let r = snap.record(c)?;
            if !valid_name(r.name) {
                return None;
            }
            match r.link {
                // Linked once every plain name is in place (a target may be a sibling).
                Some(target) => links.push((r.name.to_vec(), target)),
                None => {
                    let ino = self.lower_inode(c, &r, r.shared);
                    let pending = matches!(r.kind, Kind::Dir).then_some(c);
                    self.insert_node(id, r.name.to_vec(), ino, SNAPSHOT_LAYER, pending);
                }
            }
        }
        for (name, target) in links {
            let r = snap.record(target)?;
            if r.link.is_some() || matches!(r.kind, Kind::Dir) {
                return None;
            }
            let ino = self.lower_inode(target, &r, true);
            self.insert_node(id, name, ino, SNAPSHOT_LAYER, None);
        }
        Some(())
    }

    /// The inode of snapshot record `i`: one of its own, or, for a record hard links
    /// point to, the one every name of that group shares.
    fn lower_inode(&mut self, i: u32, r: &Record, shared: bool) -> InodeId {
        if !shared {
            return self.add_inode(inode(r, false));
        }
        if let Some(&ino) = self.lower.as_ref().and_then(|l| l.shared.get(&i)) {
            return ino;
        }
        let ino = self.add_inode(inode(r, true));
        if let Some(l) = &mut self.lower {
            l.shared.insert(i, ino);
        }
        ino
    }

    /// Read every name still in the snapshot (for what needs the whole tree: its entries,
    /// a walk over every name of an inode).
    pub fn load_all(&mut self) -> Result<(), MergeError> {
        if self.lower.is_none() {
            return Ok(());
        }
        let mut stack = vec![ROOT];
        while let Some(id) = stack.pop() {
            self.load(id);
            stack.extend(
                self.nodes[id]
                    .children
                    .values()
                    .filter(|&&c| self.inode_of(c).is_dir()),
            );
        }
        if let Some(l) = &mut self.lower {
            l.complete = true;
        }
        self.check_lower()
    }

    /// An error when a record of the snapshot could not be read.
    pub fn check_lower(&self) -> Result<(), MergeError> {
        match &self.lower {
            Some(l) if l.damaged => Err(MergeError::Damaged {
                layer: l.label.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// How many of the snapshot's names have been read, and how many it has (`None` for
    /// a tree not over a snapshot): what a rebuild's debug log reports.
    pub fn snapshot_reads(&self) -> Option<(u64, u64)> {
        self.lower.as_ref().map(|l| (l.read, l.snap.len()))
    }

    /// Whether names may still be in the snapshot (then [`Tree::entries`] needs
    /// [`Tree::load_all`] first).
    pub fn is_partial(&self) -> bool {
        self.lower.as_ref().is_some_and(|l| !l.complete)
    }
}

fn inode(r: &Record, shared: bool) -> Inode {
    Inode {
        kind: r.kind.clone(),
        mode: r.mode & 0o7777,
        uid: r.uid,
        gid: r.gid,
        mtime: r.mtime,
        xattrs: r.xattrs.clone(),
        shared,
    }
}
