//! Property test: random layer stacks over a tiny name alphabet, merged by `Tree` and by
//! the naive reference model, give the same tree; every canonical layer, replayed entry
//! by entry over the previous merged tree, reproduces the merge; and a tree read lazily
//! from a snapshot of the lower layers takes the top layer as the merged tree does.

mod merge_common;

use merge_common::*;
use proptest::prelude::*;
use scratch_compose::entry::{Entry, ImagePath, Kind};
use scratch_compose::layer::{encode_snapshot, Snapshot};
use scratch_compose::merge::{MergeOptions, Tree};

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|v| v.join("/"))
}

/// A path for a non-directory: mostly leaf names no directory uses, sometimes a
/// directory name (to change types).
fn leaf_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..=2),
        prop::sample::select(vec!["a", "x", "y", "x", "y", "b"]),
    )
        .prop_map(|(mut v, leaf)| {
            v.push(leaf);
            v.join("/")
        })
}

fn short_path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=2)
        .prop_map(|v| v.join("/"))
}

fn entry() -> impl Strategy<Value = Entry> {
    let target = prop::sample::select(vec![
        "a", "b", "/a", "../b", "a/b", "/", ".", "./c", "b/../a", "zz", "/a/b/c", "c/..",
    ]);
    prop_oneof![
        6 => (leaf_path(), prop::sample::select(vec![0o644u32, 0o755, 0o4755]), prop::sample::select(vec!["", "x", "y"]), 0u64..2)
            .prop_map(|(p, m, c, u)| f(&p, m, c).own(u, u)),
        3 => (path(), prop::sample::select(vec![0o755u32, 0o700])).prop_map(|(p, m)| d(&p, m)),
        2 => (leaf_path(), target).prop_map(|(p, t)| l(&p, t)),
        2 => (leaf_path(), short_path()).prop_map(|(p, t)| h(&p, &t)),
        2 => prop_oneof![path(), leaf_path()].prop_map(|p| wh(&p)),
        1 => prop::option::of(path()).prop_map(|p| opq(p.as_deref().unwrap_or("/"))),
        1 => leaf_path().prop_map(|p| fifo(&p)),
        1 => prop::sample::select(vec![0o755u32, 0o700]).prop_map(|m| d("/", m)),
        1 => prop::sample::select(vec![".wh..wh.plnk", ".wh..wh.plnk/a", "a/.wh..wh.aufs"]).prop_map(raw),
    ]
}

/// Layer stacks. Most hard links are pointed at a name written earlier in the stack (it
/// may since have been deleted or replaced), so that stacks do not mostly end in a
/// missing-target error.
fn layers() -> impl Strategy<Value = Vec<Vec<Entry>>> {
    prop::collection::vec(prop::collection::vec(entry(), 0..12), 1..5).prop_map(|mut layers| {
        let mut seen: Vec<ImagePath> = Vec::new();
        for e in layers.iter_mut().flatten() {
            match &e.kind {
                Kind::HardLink(t) if !seen.is_empty() => {
                    let pick = t.as_bytes().iter().map(|&b| b as usize).sum::<usize>();
                    if pick % 8 != 0 {
                        e.kind = Kind::HardLink(seen[pick % seen.len()].clone());
                    }
                }
                Kind::Dir | Kind::HardLink(_) => {}
                _ if !e.path.file_name().starts_with(b".wh.") => seen.push(e.path.clone()),
                _ => {}
            }
        }
        layers
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn tree_agrees_with_reference(layers in layers()) {
        let mut reference = RefFs::new();
        let want = layers
            .iter()
            .try_for_each(|l| reference.apply(l.clone(), Mode::Phased))
            .map(|_| listing(&reference.entries()));
        // merge_checked also replays each canonical layer and panics if it is unfaithful.
        let got = merge_checked(layers, &MergeOptions::default()).map(|e| listing(&e));
        match (want, got) {
            (Ok(w), Ok(g)) => prop_assert_eq!(w, g),
            (Err(_), Err(_)) => {}
            (w, g) => prop_assert!(false, "reference {:?} but tree {:?}", w, g),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Our own output is a fixpoint: re-applying each canonical layer over the same lower
    /// tree gives the same canonical layer, and the merged listing applied as one layer
    /// to an empty tree gives the same listing.
    #[test]
    fn canonical_output_is_a_fixpoint(layers in layers()) {
        let opts = MergeOptions::default();
        let mut tree = Tree::new();
        let mut again = Tree::new();
        for (i, layer) in layers.into_iter().enumerate() {
            let Ok(applied) = tree.apply(&format!("layer {i}"), layer, &opts) else { break };
            let re = again.apply("again", applied.layer.clone(), &opts).expect("canonical layer applies");
            prop_assert_eq!(listing(&re.layer), listing(&applied.layer));
            prop_assert!(re.warnings.is_empty());
            let mut flat = Tree::new();
            let whole = flat.apply("flat", tree.entries(), &opts).expect("merged listing applies");
            prop_assert_eq!(listing(&whole.layer), listing(&tree.entries()));
            prop_assert_eq!(listing(&flat.entries()), listing(&tree.entries()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A tree read lazily from the snapshot of the layers below takes the top layer as the
    /// tree built from those layers does: the same canonical layer, warnings, error and
    /// final tree, whatever the lookups leave unread.
    #[test]
    fn a_tree_over_a_snapshot_takes_the_top_layer_as_the_merged_tree_does(layers in layers()) {
        let opts = MergeOptions::default();
        let Some((top, lower)) = layers.split_last() else { return Ok(()) };
        let mut merged = Tree::new();
        if lower.iter().any(|l| merged.apply("lower", l.clone(), &opts).is_err()) {
            return Ok(());
        }
        let snapshot = Snapshot::from_bytes(encode_snapshot(&merged.entries())).unwrap();
        let mut lazy = Tree::over_snapshot("snapshot", snapshot).unwrap();
        let over = |t: &mut Tree| {
            let applied = t.apply("top", top.clone(), &opts);
            t.load_all().unwrap();
            applied
                .map(|a| (sized_listing(&a.layer), a.warnings, sized_listing(&t.entries())))
                .map_err(|e| e.to_string())
        };
        let want = over(&mut merged);
        let got = over(&mut lazy);
        match (&want, &got) {
            // Errors may name the snapshot's layer instead of a lower one.
            (Err(_), Err(_)) => {}
            _ => prop_assert_eq!(got, want),
        }
    }
}
