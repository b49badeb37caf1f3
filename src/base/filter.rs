//! `[[layer]] image = "REF"` with `paths`: an image's merged tree cut down to some paths
//! (and the directories above them), as the entries of one layer of ours. Hard links
//! whose first name was cut away become a file again, so the layer stands on its own.

use crate::entry::{Entry, ImagePath, Kind};
use std::collections::{BTreeMap, BTreeSet};

/// The entries of `entries` (a merged tree's, in its order) at or below one of `paths`,
/// with their parent directories; every entry when `paths` is empty.
pub fn filter_paths(entries: Vec<Entry>, paths: &[ImagePath]) -> Vec<Entry> {
    if paths.is_empty() {
        return entries;
    }
    let wanted = |p: &ImagePath| paths.iter().any(|w| p.starts_with(w));
    let is_parent = |p: &ImagePath| paths.iter().any(|w| w.starts_with(p) && w != p);
    let by_path: BTreeMap<ImagePath, Entry> = entries
        .iter()
        .map(|e| (e.path.clone(), e.clone()))
        .collect();
    let kept: BTreeSet<ImagePath> = entries
        .iter()
        .filter(|e| wanted(&e.path) || (is_parent(&e.path) && matches!(e.kind, Kind::Dir)))
        .map(|e| e.path.clone())
        .collect();
    // For each link target cut away, the first kept name that now holds its content.
    let mut moved: BTreeMap<ImagePath, ImagePath> = BTreeMap::new();
    let mut out = Vec::with_capacity(kept.len());
    for e in entries {
        if !kept.contains(&e.path) {
            continue;
        }
        let e = match &e.kind {
            Kind::HardLink(target) if !kept.contains(target) => match moved.get(target) {
                Some(first) => Entry {
                    kind: Kind::HardLink(first.clone()),
                    ..e
                },
                None => {
                    moved.insert(target.clone(), e.path.clone());
                    match by_path.get(target) {
                        Some(t) => Entry {
                            kind: t.kind.clone(),
                            ..e
                        },
                        None => e,
                    }
                }
            },
            _ => e,
        };
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Content;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse_str(s).unwrap()
    }

    fn file(path: &str, body: &str) -> Entry {
        Entry::new(
            p(path),
            Kind::File(Content::Inline(body.as_bytes().into())),
            0o644,
        )
    }

    #[test]
    fn only_the_paths_and_their_parents_remain_and_links_stand_alone() {
        let entries = vec![
            Entry::dir(p("/etc")),
            file("/etc/passwd", "root"),
            Entry::dir(p("/usr")),
            Entry::dir(p("/usr/bin")),
            file("/usr/bin/a", "A"),
            Entry::new(p("/usr/bin/b"), Kind::HardLink(p("/usr/bin/a")), 0o644),
            Entry::new(p("/usr/lib/c"), Kind::HardLink(p("/etc/passwd")), 0o644),
            Entry::new(p("/usr/lib/d"), Kind::HardLink(p("/etc/passwd")), 0o644),
        ];
        let out = filter_paths(entries.clone(), &[p("/usr/bin"), p("/usr/lib")]);
        let names: Vec<String> = out.iter().map(|e| e.path.display()).collect();
        assert_eq!(
            names,
            [
                "/usr",
                "/usr/bin",
                "/usr/bin/a",
                "/usr/bin/b",
                "/usr/lib/c",
                "/usr/lib/d"
            ]
        );
        assert_eq!(
            out[3].kind,
            Kind::HardLink(p("/usr/bin/a")),
            "a kept target stays linked"
        );
        assert!(
            matches!(&out[4].kind, Kind::File(_)),
            "a cut target's first name gets its bytes"
        );
        assert_eq!(out[5].kind, Kind::HardLink(p("/usr/lib/c")));
        assert_eq!(filter_paths(entries.clone(), &[]), entries);
    }
}
