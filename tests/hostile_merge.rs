//! Regressions found by fuzzing the merger (`fuzz/artifacts/merge/`), stated plainly.

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::merge::{MergeOptions, Tree};

fn p(s: &str) -> ImagePath {
    ImagePath::parse_str(s).unwrap()
}

fn file(path: &str) -> Entry {
    Entry::new(p(path), Kind::File(Content::Empty), 0o644)
}

/// Whiteouts of a directory and of something inside it, in either order, give the same
/// canonical layer (the inner whiteout is redundant and left out), and that layer is a
/// fixed point: applying it again over the same lower tree gives it back.
/// Found by the `merge` fuzz target (crash-455c37e8…).
#[test]
fn nested_whiteouts_give_one_canonical_layer_whatever_their_order() {
    let mut lower = Tree::new();
    lower
        .apply(
            "lower",
            vec![Entry::dir(p("a/a"))],
            &MergeOptions::default(),
        )
        .unwrap();
    let orders = [
        vec![file("a/.wh.a"), file(".wh.a"), file("a/c")],
        vec![file(".wh.a"), file("a/.wh.a"), file("a/c")],
    ];
    let mut layers = Vec::new();
    for entries in orders {
        let mut t = lower.clone();
        let applied = t.apply("upper", entries, &MergeOptions::default()).unwrap();
        let paths: Vec<String> = applied.layer.iter().map(|e| e.path.display()).collect();
        assert_eq!(paths, ["/.wh.a", "/a", "/a/c"]);
        let mut again = lower.clone();
        let re = again
            .apply("upper", applied.layer.clone(), &MergeOptions::default())
            .unwrap();
        assert_eq!(re.layer, applied.layer, "not a fixed point");
        assert_eq!(again.entries(), t.entries());
        layers.push(applied.layer);
    }
    assert_eq!(layers[0], layers[1]);
}
