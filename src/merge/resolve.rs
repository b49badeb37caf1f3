//! Path resolution inside the tree: parents through in-tree symlinks, root-scoped, with
//! a bound on hops; the final component is never followed.

use super::order::WH_PREFIX;
use super::tree::{Inode, NodeId, Tree, ROOT};
use super::MergeError;
use crate::entry::{ImagePath, Kind};

/// The most symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_HOPS: u32 = 40;

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
pub(super) enum WalkError {
    Loop(NodeId),
    BadSymlink(NodeId),
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

impl Tree {
    /// Follow `cur` until it resolves, stops at a missing name or a non-directory.
    fn advance(&mut self, cur: &mut Cursor) -> Result<Stop, WalkError> {
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
            self.load(dir);
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
                    if target.is_empty() || target.contains(&0) {
                        return Err(WalkError::BadSymlink(id));
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
    pub(super) fn find_dir(&mut self, path: &[u8]) -> Result<Option<NodeId>, WalkError> {
        match self.advance(&mut Cursor::new(path))? {
            Stop::Dir(id) => Ok(Some(id)),
            Stop::Missing(..) | Stop::NotDir(_) => Ok(None),
        }
    }

    /// Resolve a path's parent through symlinks and look up its final name unfollowed.
    pub(super) fn find(&mut self, path: &ImagePath) -> Result<Option<NodeId>, WalkError> {
        if path.is_root() {
            return Ok(Some(ROOT));
        }
        let parent = path.parent().unwrap_or_default();
        let Some(dir) = self.find_dir(parent.as_bytes())? else {
            return Ok(None);
        };
        self.load(dir);
        Ok(self.nodes[dir].children.get(path.file_name()).copied())
    }

    /// The fast path of resolution: every component an existing directory.
    fn plain_dir(&mut self, path: &ImagePath) -> Option<NodeId> {
        let id = self.find_real(path.as_bytes())?;
        self.inode_of(id).is_dir().then_some(id)
    }

    /// Look up a node by its real path (`a/b`, empty for the root), following nothing.
    pub(super) fn find_real(&mut self, path: &[u8]) -> Option<NodeId> {
        let mut id = ROOT;
        for c in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            self.load(id);
            id = *self.nodes[id].children.get(c)?;
        }
        Some(id)
    }

    /// [`Tree::find_real`] among the names read so far (for paths this layer resolved).
    pub(super) fn find_loaded(&self, path: &ImagePath) -> Option<NodeId> {
        let mut id = ROOT;
        for c in path.components() {
            id = *self.nodes[id].children.get(c)?;
        }
        Some(id)
    }

    /// Resolve a directory path, creating missing directories 0755 0:0.
    pub(super) fn make_dirs(
        &mut self,
        path: &ImagePath,
        label: &str,
        entry: &ImagePath,
    ) -> Result<NodeId, MergeError> {
        if let Some(id) = self.plain_dir(path) {
            return Ok(id);
        }
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

    pub(super) fn walk_error(&self, e: WalkError, label: &str, entry: &ImagePath) -> MergeError {
        match e {
            WalkError::Loop(id) => MergeError::SymlinkLoop {
                layer: label.to_string(),
                path: entry.display(),
                at: self.path_of(id).display(),
            },
            WalkError::BadSymlink(id) => MergeError::BadSymlink {
                layer: label.to_string(),
                path: entry.display(),
                at: self.path_of(id).display(),
            },
        }
    }
}
