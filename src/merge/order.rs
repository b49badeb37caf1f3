//! The documented entry order of every tar this tool writes.

use std::cmp::Ordering;

use crate::entry::ImagePath;

/// The opaque-directory marker name.
pub(crate) const OPAQUE: &[u8] = b".wh..wh..opq";
/// The whiteout prefix.
pub(crate) const WH_PREFIX: &[u8] = b".wh.";

/// The canonical entry order ("ctar-1").
///
/// Paths compare component by component (never as flat strings), so every directory
/// precedes its children and a directory's subtree is contiguous. Two components of the
/// same directory compare by class first — the opaque marker `.wh..wh..opq`, then other
/// names starting with `.wh.`, then everything else — and then byte-wise. So a
/// directory's opaque marker and whiteouts come right after the directory itself and
/// before anything else in it, which is the order runtimes applying entries one by one
/// need. The root (empty path) sorts first of all.
pub fn canonical_cmp(a: &ImagePath, b: &ImagePath) -> Ordering {
    let mut ca = a.components();
    let mut cb = b.components();
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match component_cmp(x, y) {
                Ordering::Equal => continue,
                other => return other,
            },
        }
    }
}

fn class(name: &[u8]) -> u8 {
    if name == OPAQUE {
        0
    } else if name.starts_with(WH_PREFIX) {
        1
    } else {
        2
    }
}

fn component_cmp(a: &[u8], b: &[u8]) -> Ordering {
    class(a).cmp(&class(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse_str(s).unwrap()
    }

    #[test]
    fn parents_first_and_subtrees_contiguous() {
        // Flat byte order would put "a-b" (0x2d) between "a" and "a/c" (0x2f).
        let mut v = vec![p("a-b"), p("a/c"), p("a"), p("b"), p("a/c/d")];
        v.sort_by(canonical_cmp);
        assert_eq!(v, vec![p("a"), p("a/c"), p("a/c/d"), p("a-b"), p("b")]);
    }

    #[test]
    fn whiteouts_first_opaque_first_of_all() {
        let mut v = vec![
            p("d/-x"),
            p("d/.wh.-x"),
            p("d/.wh..wh..opq"),
            p("d/.a"),
            p("d"),
        ];
        v.sort_by(canonical_cmp);
        assert_eq!(
            v,
            vec![
                p("d"),
                p("d/.wh..wh..opq"),
                p("d/.wh.-x"),
                p("d/-x"),
                p("d/.a")
            ]
        );
        assert_eq!(canonical_cmp(&ImagePath::root(), &p("a")), Ordering::Less);
        assert_eq!(canonical_cmp(&p("a/b"), &p("a/b")), Ordering::Equal);
    }
}
