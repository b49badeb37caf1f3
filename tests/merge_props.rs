//! Property test: random layer stacks over a tiny name alphabet, merged by `Tree` and by
//! the naive reference model, give the same tree; and every canonical layer, replayed
//! entry by entry over the previous merged tree, reproduces the merge.

mod merge_common;

use merge_common::*;
use proptest::prelude::*;
use scratch_compose::entry::Entry;
use scratch_compose::merge::MergeOptions;

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|v| v.join("/"))
}

fn entry() -> impl Strategy<Value = Entry> {
    let target = prop::sample::select(vec![
        "a", "b", "/a", "../b", "a/b", "/", ".", "./c", "b/../a", "zz", "/a/b/c", "c/..",
    ]);
    prop_oneof![
        4 => (path(), prop::sample::select(vec![0o644u32, 0o755, 0o4755]), prop::sample::select(vec!["", "x", "y"]), 0u64..2)
            .prop_map(|(p, m, c, u)| f(&p, m, c).own(u, u)),
        3 => (path(), prop::sample::select(vec![0o755u32, 0o700])).prop_map(|(p, m)| d(&p, m)),
        2 => (path(), target).prop_map(|(p, t)| l(&p, t)),
        2 => (path(), path()).prop_map(|(p, t)| h(&p, &t)),
        2 => path().prop_map(|p| wh(&p)),
        1 => prop::option::of(path()).prop_map(|p| opq(p.as_deref().unwrap_or("/"))),
        1 => path().prop_map(|p| fifo(&p)),
        1 => prop::sample::select(vec![0o755u32, 0o700]).prop_map(|m| d("/", m)),
    ]
}

fn layers() -> impl Strategy<Value = Vec<Vec<Entry>>> {
    prop::collection::vec(prop::collection::vec(entry(), 0..8), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

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
