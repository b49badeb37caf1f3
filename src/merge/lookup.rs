//! Lookups by real path (no symlink followed) for readers of a finished tree: the
//! [`crate::treeview::TreeView`] that preflight, accounts and path selections resolve
//! through. They read names from a snapshot as they go, so a check of a rebuilt image
//! reads only the directories it looks into.

use super::tree::{NodeId, Tree};
use crate::entry::{Entry, ImagePath};

impl Tree {
    /// The entry at real path `path` (`a/b`, empty for the root); a hard-linked name is
    /// reported with its inode's kind.
    pub fn lookup(&mut self, path: &[u8]) -> Option<Entry> {
        let id = self.find_real(path)?;
        Some(self.entry_of(id, real_path(path)))
    }

    /// The entries directly below the directory at real path `dir`, by name.
    pub fn children_at(&mut self, dir: &[u8]) -> Vec<Entry> {
        let Some(id) = self.find_real(dir) else {
            return Vec::new();
        };
        self.load(id);
        let base = real_path(dir);
        self.child_ids(id)
            .into_iter()
            .map(|(name, c)| self.entry_of(c, base.join(&name)))
            .collect()
    }

    /// Every entry strictly below the directory at real path `dir`, parents first.
    pub fn subtree_at(&mut self, dir: &[u8]) -> Vec<Entry> {
        let Some(id) = self.find_real(dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut stack = Vec::new();
        let below =
            |tree: &mut Tree, stack: &mut Vec<(NodeId, ImagePath)>, id, path: &ImagePath| {
                tree.load(id);
                for (name, c) in tree.child_ids(id).into_iter().rev() {
                    stack.push((c, path.join(&name)));
                }
            };
        below(self, &mut stack, id, &real_path(dir));
        while let Some((id, path)) = stack.pop() {
            below(self, &mut stack, id, &path);
            out.push(self.entry_of(id, path));
        }
        out
    }

    fn child_ids(&self, id: NodeId) -> Vec<(Vec<u8>, NodeId)> {
        self.nodes[id]
            .children
            .iter()
            .map(|(n, &c)| (n.clone(), c))
            .collect()
    }
}

/// `raw` as an image path (empty, `/` and `a//b` normalised as everywhere; the root when
/// nothing is left).
fn real_path(raw: &[u8]) -> ImagePath {
    ImagePath::parse(raw).unwrap_or_default()
}
