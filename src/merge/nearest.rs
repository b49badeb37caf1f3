//! Queries for messages about paths that are not in the tree: whether a whiteout would
//! delete something, and the existing paths nearest to one that is missing. They change
//! nothing; the caller decides what a miss means (`compose build` refuses a manifest
//! `remove` that removes nothing).

use super::tree::{NodeId, Tree, ROOT};
use crate::entry::ImagePath;

/// What a whiteout of a path would find in the tree as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhiteoutTarget {
    /// Something to delete (at its real path: the parent resolves through symlinks).
    Found(ImagePath),
    /// Nothing: the nearest existing paths, most similar first.
    Missing(Vec<ImagePath>),
}

/// The most children of one directory compared when looking for near names.
const MAX_CANDIDATES: usize = 100_000;

impl Tree {
    /// Would a whiteout of `path` delete something? Its parent resolves through in-tree
    /// symlinks as whiteouts do (see the [module documentation](super)); when it would not,
    /// up to `n` existing paths nearest to it: the children of its deepest existing
    /// directory whose names are closest (edit distance) to the first missing component.
    pub fn whiteout_target(&mut self, path: &ImagePath, n: usize) -> WhiteoutTarget {
        if let Ok(Some(id)) = self.find(path) {
            if id != ROOT {
                return WhiteoutTarget::Found(self.path_of(id));
            }
        }
        // The deepest directory reached by resolving ever longer prefixes.
        let comps: Vec<&[u8]> = path.components().collect();
        let mut dir = ROOT;
        let mut missing: &[u8] = comps.first().copied().unwrap_or_default();
        for (i, c) in comps.iter().enumerate() {
            let prefix = comps[..=i].join(&b'/');
            match self.find_dir(&prefix) {
                Ok(Some(d)) => dir = d,
                _ => {
                    missing = c;
                    break;
                }
            }
        }
        self.load(dir);
        let want = missing.to_ascii_lowercase();
        let mut scored: Vec<(usize, &[u8], NodeId)> = self.nodes[dir]
            .children
            .iter()
            .take(MAX_CANDIDATES)
            .filter(|(name, _)| !name.starts_with(b".wh."))
            .map(|(name, &id)| {
                (
                    distance(&name.to_ascii_lowercase(), &want),
                    name.as_slice(),
                    id,
                )
            })
            .collect();
        scored.sort();
        let base = self.path_of(dir);
        WhiteoutTarget::Missing(
            scored
                .into_iter()
                .take(n)
                .map(|(_, name, _)| base.join(name))
                .collect(),
        )
    }
}

/// Levenshtein distance between two byte strings.
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(x != y)).min(row[j] + 1).min(up + 1);
            diag = up;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Content, Entry, Kind};

    fn p(s: &str) -> ImagePath {
        ImagePath::parse_str(s).unwrap()
    }

    fn tree() -> Tree {
        let mut t = Tree::new();
        let file = |s: &str| Entry::new(p(s), Kind::File(Content::Empty), 0o644);
        t.apply(
            "t",
            vec![
                file("etc/apk/keys/a.pub"),
                file("etc/apk/world"),
                file("etc/passwd"),
                Entry::new(p("lib"), Kind::Symlink(b"usr/lib".to_vec()), 0o777),
                file("usr/lib/libc.so"),
            ],
            &Default::default(),
        )
        .unwrap();
        t
    }

    #[test]
    fn finds_through_symlinks_and_suggests_near_names() {
        let mut t = tree();
        assert_eq!(
            t.whiteout_target(&p("lib/libc.so"), 3),
            WhiteoutTarget::Found(p("usr/lib/libc.so"))
        );
        assert_eq!(
            t.whiteout_target(&p("etc/apk/kees"), 1),
            WhiteoutTarget::Missing(vec![p("etc/apk/keys")])
        );
        assert_eq!(
            t.whiteout_target(&p("ect/apk"), 1),
            WhiteoutTarget::Missing(vec![p("etc")])
        );
        // Below a file: the file is the nearest.
        assert_eq!(
            t.whiteout_target(&p("etc/passwd/x"), 1),
            WhiteoutTarget::Missing(vec![p("etc/passwd")])
        );
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance(b"kitten", b"sitting"), 3);
        assert_eq!(distance(b"", b"abc"), 3);
        assert_eq!(distance(b"same", b"same"), 0);
    }
}
