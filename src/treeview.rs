//! A read-only index over a finished tree's entries (the merger's output, or a rootfs
//! input read as one layer): exact lookups, children, subtrees, and path resolution
//! through in-tree symlinks with the image root as `/`.
//!
//! The merger resolves parents while it builds the tree; the checks and path selections
//! that run on a finished tree need the same rules and also follow a path's final
//! component (as `execve` and the dynamic loader do). Resolution never leaves the tree:
//! absolute targets start at the tree's root, `..` stops there, at most
//! [`crate::merge::MAX_SYMLINK_HOPS`] links are followed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::entry::{Entry, ImagePath, Kind};
use crate::merge::{Tree, MAX_SYMLINK_HOPS};

/// Lookups into a slice of entries with unique, normalised paths (missing parent
/// directories are treated as plain directories), or into a merged [`Tree`], which reads
/// only what is looked up (a tree over a layer-cache snapshot stays mostly unread).
pub struct TreeView<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    Entries(BTreeMap<&'a [u8], &'a Entry>),
    /// Looking a name up may read it from the tree's snapshot, hence the `RefCell`.
    Tree(RefCell<&'a mut Tree>),
}

/// What resolving a path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// The path exists; `path` is its real path (no symlinks in it). A hard link is
    /// reported as the entry it links to, under its own real path.
    Found {
        path: ImagePath,
        entry: Cow<'a, Entry>,
    },
    /// The path is implicitly a directory (a parent no entry describes, or the root).
    ImplicitDir { path: ImagePath },
    /// A component is missing: `at` is the first real path that does not exist, `via`
    /// the last symlink followed on the way (a dangling link), if any.
    Missing {
        at: ImagePath,
        via: Option<(ImagePath, Vec<u8>)>,
    },
    /// A component that must be a directory is another kind of entry.
    NotDir { at: ImagePath },
    /// Too many symlinks (a loop), or a symlink with an empty target, at `at`.
    BadLink { at: ImagePath },
}

impl<'a> TreeView<'a> {
    /// Index `entries` by path. Later duplicates (there are none in a merged tree)
    /// replace earlier ones.
    pub fn new(entries: &'a [Entry]) -> TreeView<'a> {
        TreeView {
            source: Source::Entries(entries.iter().map(|e| (e.path.as_bytes(), e)).collect()),
        }
    }

    /// Lookups into a merged tree, reading from its snapshot only what they need.
    pub fn of_tree(tree: &'a mut Tree) -> TreeView<'a> {
        TreeView {
            source: Source::Tree(RefCell::new(tree)),
        }
    }

    /// The entry at exactly this real path, following a hard link to the entry it
    /// shares an inode with (so the kind is never `HardLink` unless the link dangles).
    pub fn get(&self, path: &[u8]) -> Option<Cow<'a, Entry>> {
        match &self.source {
            Source::Entries(by_path) => {
                let e = *by_path.get(path)?;
                Some(Cow::Borrowed(match &e.kind {
                    Kind::HardLink(t) => by_path.get(t.as_bytes()).copied().unwrap_or(e),
                    _ => e,
                }))
            }
            Source::Tree(t) => t.borrow_mut().lookup(path).map(Cow::Owned),
        }
    }

    /// True when something (an entry, or a parent of one) exists at this real path.
    fn is_dir_like(&self, path: &[u8]) -> bool {
        match self.get(path) {
            Some(e) => matches!(e.kind, Kind::Dir),
            None => path.is_empty() || self.has_children(path),
        }
    }

    fn has_children(&self, dir: &[u8]) -> bool {
        match &self.source {
            Source::Entries(by_path) => entries_below(by_path, dir).next().is_some(),
            // A tree has every parent: a name it does not have has no children.
            Source::Tree(_) => false,
        }
    }

    /// Every entry strictly below directory `dir` (a real path), in byte order of paths.
    pub fn subtree(&self, dir: &[u8]) -> Vec<Cow<'a, Entry>> {
        match &self.source {
            Source::Entries(by_path) => entries_below(by_path, dir).map(Cow::Borrowed).collect(),
            Source::Tree(t) => {
                let mut all = t.borrow_mut().subtree_at(dir);
                all.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
                all.into_iter().map(Cow::Owned).collect()
            }
        }
    }

    /// The direct children of directory `dir` (a real path), by name.
    pub fn children(&self, dir: &[u8]) -> Vec<Cow<'a, Entry>> {
        let by_path = match &self.source {
            Source::Entries(by_path) => by_path,
            Source::Tree(t) => {
                let children = t.borrow_mut().children_at(dir);
                return children.into_iter().map(Cow::Owned).collect();
            }
        };
        let depth = if dir.is_empty() {
            0
        } else {
            dir.iter().filter(|&&b| b == b'/').count() + 1
        };
        let mut names: BTreeMap<Vec<u8>, &'a Entry> = BTreeMap::new();
        for e in entries_below(by_path, dir) {
            if e.path.components().count() == depth + 1 {
                names.insert(e.path.file_name().to_vec(), e);
            }
        }
        names.into_values().map(Cow::Borrowed).collect()
    }

    /// Resolve `path` (absolute or relative to the root; `.` and `..` allowed) through
    /// symlinks, root-scoped. The final component is followed when `follow_last` holds.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Resolved<'a> {
        let mut real: Vec<Vec<u8>> = Vec::new();
        let mut pending: Vec<Vec<u8>> = split_rev(path);
        let mut hops = 0u32;
        let mut via: Option<(ImagePath, Vec<u8>)> = None;
        while let Some(c) = pending.pop() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                real.pop();
                continue;
            }
            let dir = join(&real);
            if !self.is_dir_like(&dir) {
                return match self.get(&dir) {
                    Some(_) => Resolved::NotDir {
                        at: image_path(&dir),
                    },
                    None => Resolved::Missing {
                        at: image_path(&dir),
                        via,
                    },
                };
            }
            real.push(c);
            let here = join(&real);
            let last = pending.iter().all(|p| p.is_empty() || p == b".");
            let Some(entry) = self.get(&here) else {
                if self.has_children(&here) {
                    continue;
                }
                return Resolved::Missing {
                    at: image_path(&here),
                    via,
                };
            };
            if let Kind::Symlink(target) = &entry.kind {
                if last && !follow_last {
                    break;
                }
                hops += 1;
                if hops > MAX_SYMLINK_HOPS || target.is_empty() {
                    return Resolved::BadLink {
                        at: image_path(&here),
                    };
                }
                via = Some((image_path(&here), target.clone()));
                real.pop();
                if target[0] == b'/' {
                    real.clear();
                }
                pending.extend(split_rev(target));
            }
        }
        let here = join(&real);
        match self.get(&here) {
            Some(entry) => Resolved::Found {
                path: image_path(&here),
                entry,
            },
            None if self.is_dir_like(&here) => Resolved::ImplicitDir {
                path: image_path(&here),
            },
            None => Resolved::Missing {
                at: image_path(&here),
                via,
            },
        }
    }
}

/// The entries of `by_path` strictly below directory `dir`, in byte order of paths.
fn entries_below<'a>(
    by_path: &BTreeMap<&'a [u8], &'a Entry>,
    dir: &[u8],
) -> impl Iterator<Item = &'a Entry> {
    let (lo, hi) = if dir.is_empty() {
        (Vec::new(), None)
    } else {
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let mut hi = dir.to_vec();
        hi.push(b'/' + 1);
        (lo, Some(hi))
    };
    by_path
        .range::<[u8], _>((
            std::ops::Bound::Included(lo.as_slice()),
            match &hi {
                Some(h) => std::ops::Bound::Excluded(h.as_slice()),
                None => std::ops::Bound::Unbounded,
            },
        ))
        .map(|(_, e)| *e)
        .filter(|e| !e.path.is_root())
        .collect::<Vec<_>>()
        .into_iter()
}

fn split_rev(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.join(&b'/')
}

fn image_path(raw: &[u8]) -> ImagePath {
    if raw.is_empty() {
        ImagePath::root()
    } else {
        ImagePath::parse(raw).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Content;

    fn file(p: &str) -> Entry {
        Entry::new(
            ImagePath::parse_str(p).unwrap(),
            Kind::File(Content::Empty),
            0o755,
        )
    }
    fn link(p: &str, t: &str) -> Entry {
        Entry::new(
            ImagePath::parse_str(p).unwrap(),
            Kind::Symlink(t.as_bytes().to_vec()),
            0o777,
        )
    }
    fn dir(p: &str) -> Entry {
        Entry::dir(ImagePath::parse_str(p).unwrap())
    }

    fn found(v: &TreeView, p: &str, follow: bool) -> Option<String> {
        match v.resolve(p.as_bytes(), follow) {
            Resolved::Found { path, .. } => Some(path.display()),
            _ => None,
        }
    }

    #[test]
    fn resolves_through_absolute_and_relative_links_root_scoped() {
        let entries = vec![
            dir("usr"),
            dir("usr/bin"),
            file("usr/bin/app"),
            link("bin", "usr/bin"),
            link("usr/bin/alias", "../../../../usr/bin/app"),
            link("escape", "../../../etc/passwd"),
            file("etc/passwd"),
            link("abs", "/bin/app"),
        ];
        let v = TreeView::new(&entries);
        assert_eq!(found(&v, "/bin/app", true).as_deref(), Some("/usr/bin/app"));
        assert_eq!(
            found(&v, "/usr/bin/alias", true).as_deref(),
            Some("/usr/bin/app")
        );
        assert_eq!(found(&v, "/escape", true).as_deref(), Some("/etc/passwd"));
        assert_eq!(found(&v, "/abs", true).as_deref(), Some("/usr/bin/app"));
        assert_eq!(found(&v, "/abs", false).as_deref(), Some("/abs"));
        // An implicit parent (no entry for /etc) still resolves.
        assert_eq!(
            found(&v, "etc/./passwd", true).as_deref(),
            Some("/etc/passwd")
        );
    }

    #[test]
    fn reports_dangling_links_loops_and_non_directories() {
        let entries = vec![
            link("app", "/missing/app"),
            link("a", "b"),
            link("b", "a"),
            file("f"),
            link("empty", ""),
        ];
        let v = TreeView::new(&entries);
        match v.resolve(b"/app", true) {
            Resolved::Missing { at, via } => {
                assert_eq!(at.display(), "/missing");
                assert_eq!(via.unwrap().1, b"/missing/app");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(v.resolve(b"/a", true), Resolved::BadLink { .. }));
        assert!(matches!(
            v.resolve(b"/empty", true),
            Resolved::BadLink { .. }
        ));
        assert!(matches!(v.resolve(b"/f/x", true), Resolved::NotDir { .. }));
        assert!(matches!(
            v.resolve(b"/", true),
            Resolved::ImplicitDir { .. }
        ));
    }

    #[test]
    fn hard_links_report_their_target_and_children_are_listed() {
        let entries = vec![
            dir("d"),
            file("d/a"),
            Entry::new(
                ImagePath::parse_str("d/b").unwrap(),
                Kind::HardLink(ImagePath::parse_str("d/a").unwrap()),
                0o755,
            ),
            file("d/sub/c"),
            file("d-x"),
        ];
        let v = TreeView::new(&entries);
        assert!(matches!(v.get(b"d/b").unwrap().kind, Kind::File(_)));
        let names: Vec<String> = v.children(b"d").iter().map(|e| e.path.display()).collect();
        assert_eq!(names, ["/d/a", "/d/b"]);
        let all: Vec<String> = v.subtree(b"d").iter().map(|e| e.path.display()).collect();
        assert_eq!(all, ["/d/a", "/d/b", "/d/sub/c"]);
    }
}
