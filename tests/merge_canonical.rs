//! The canonical form of an applied layer, case by case: explicit parents, real paths,
//! markers and their order, links to lower names, duplicates, and lookups and hints.
//! (The vectors in `merge_vectors.rs` check whole merges; these check what one layer
//! contributes.)

mod merge_common;

use merge_common::*;
use scratch_compose::entry::{Entry, ImagePath, Kind};
use scratch_compose::merge::{MergeOptions, Tree};

fn apply_one(tree: &mut Tree, label: &str, layer: Vec<Entry>) -> scratch_compose::merge::Applied {
    tree.apply(label, layer, &MergeOptions::default()).unwrap()
}

#[test]
fn canonical_layer_adds_explicit_parents_and_real_paths() {
    let mut tree = Tree::new();
    apply_one(
        &mut tree,
        "l1",
        vec![d("usr/lib", 0o700), l("lib", "usr/lib"), f("k", 0o644, "")],
    );
    let got = apply_one(
        &mut tree,
        "l2",
        vec![f("lib/x/y", 0o644, "y"), f("n/m", 0o644, "")],
    );
    assert_eq!(
        listing(&got.layer),
        "/n dir 0755 0:0\n/n/m file 0644 0:0 \"\"\n/usr/lib/x dir 0755 0:0\n/usr/lib/x/y file 0644 0:0 \"y\"\n"
    );
}

#[test]
fn canonical_layer_whiteouts_at_resolved_paths_and_no_ops_dropped() {
    let mut tree = Tree::new();
    apply_one(
        &mut tree,
        "l1",
        vec![d("real", 0o755), f("real/x", 0o644, ""), l("link", "real")],
    );
    let got = apply_one(
        &mut tree,
        "l2",
        vec![
            wh("link/x"),
            wh("missing"),
            wh("nodir/x"),
            raw(".wh..wh.plnk"),
            opq("nodir"),
        ],
    );
    assert_eq!(listing(&got.layer), "/real/.wh.x file 0644 0:0 \"\"\n");
}

#[test]
fn canonical_layer_orders_markers_first_and_links_to_lower_names() {
    let mut tree = Tree::new();
    apply_one(
        &mut tree,
        "l1",
        vec![
            d("d", 0o755),
            f("d/a", 0o644, ""),
            f("d/.b", 0o644, ""),
            f("z", 0o644, "z"),
        ],
    );
    let got = apply_one(
        &mut tree,
        "l2",
        vec![
            f("d/-new", 0o644, ""),
            h("d/.a", "z"),
            wh("d/a"),
            opq("d"),
            d("d", 0o700),
        ],
    );
    // The whiteout of d/a found nothing left after the opaque marker: dropped.
    assert_eq!(
        listing(&got.layer),
        concat!(
            "/d dir 0700 0:0\n",
            "/d/.wh..wh..opq file 0644 0:0 \"\"\n",
            "/d/-new file 0644 0:0 \"\"\n",
            "/d/.a hardlink 0644 0:0 => /z\n",
        )
    );
    // The opaque marker applies first, so a link to a name it cleared has no target.
    let err = tree
        .apply(
            "l3",
            vec![opq("d"), h("d/x", "d/-new")],
            &MergeOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // Without the opaque marker the lower name stays, and the new name links to it.
    let mut tree = Tree::new();
    apply_one(&mut tree, "l1", vec![f("z", 0o644, "z"), f("a", 0o644, "")]);
    let got = apply_one(&mut tree, "l2", vec![h("b", "z"), wh("a")]);
    assert_eq!(
        listing(&got.layer),
        "/.wh.a file 0644 0:0 \"\"\n/b hardlink 0644 0:0 => /z\n"
    );
}

#[test]
fn canonical_layer_marks_replaced_lower_dirs_opaque() {
    let mut tree = Tree::new();
    apply_one(&mut tree, "l1", vec![d("d", 0o755), f("d/old", 0o644, "")]);
    let got = apply_one(&mut tree, "l2", vec![l("d", "x"), d("d", 0o755)]);
    assert_eq!(
        listing(&got.layer),
        "/d dir 0755 0:0\n/d/.wh..wh..opq file 0644 0:0 \"\"\n"
    );
    assert_eq!(listing(&tree.entries()), "/d dir 0755 0:0\n");
}

#[test]
fn duplicates_warn_and_name_the_layer() {
    let mut tree = Tree::new();
    let got = apply_one(
        &mut tree,
        "layer 3 (x.tar)",
        vec![f("a", 0o644, "1"), f("a", 0o644, "2"), f("b", 0o644, "")],
    );
    assert_eq!(got.warnings.len(), 1);
    assert!(got.warnings[0].contains("layer 3 (x.tar)") && got.warnings[0].contains("/a"));
    assert_eq!(
        listing(&got.layer),
        "/a file 0644 0:0 \"2\"\n/b file 0644 0:0 \"\"\n"
    );
}

#[test]
fn get_does_not_follow_the_final_component() {
    let mut tree = Tree::new();
    apply_one(
        &mut tree,
        "l1",
        vec![
            d("real", 0o755),
            f("real/x", 0o600, "x"),
            l("link", "real"),
            h("y", "real/x"),
        ],
    );
    assert_eq!(
        tree.get(&p("link")).unwrap().kind,
        Kind::Symlink(b"real".to_vec())
    );
    let via = tree.get(&p("link/x")).unwrap();
    assert_eq!(via.path, p("real/x"));
    // The hard link `y` (mode 0644) changed the shared inode's mode.
    assert_eq!(via.mode, 0o644);
    assert!(matches!(tree.get(&p("y")).unwrap().kind, Kind::File(_)));
    assert!(tree.get(&p("nope")).is_none());
    assert_eq!(tree.get(&ImagePath::root()).unwrap().kind, Kind::Dir);
}

#[test]
fn errors_have_hints() {
    let mut tree = Tree::new();
    let err = tree
        .apply("layer 9", vec![h("b", "nope")], &MergeOptions::default())
        .unwrap_err();
    assert!(err.hint().unwrap().contains("hard link"));
}

#[test]
fn canonical_layer_drops_whiteouts_inside_opaque_dirs() {
    // Found by the fixpoint property: a lower dir replaced in one layer gets an opaque
    // marker, which makes a whiteout inside it redundant.
    let mut tree = Tree::new();
    apply_one(&mut tree, "l1", vec![fifo("c/a")]);
    let got = apply_one(
        &mut tree,
        "l2",
        vec![f("c", 0o644, ""), d("c", 0o755), wh("c/a")],
    );
    assert_eq!(
        listing(&got.layer),
        "/c dir 0755 0:0\n/c/.wh..wh..opq file 0644 0:0 \"\"\n"
    );
    let mut again = Tree::new();
    apply_one(&mut again, "l1", vec![fifo("c/a")]);
    let re = apply_one(&mut again, "l2", got.layer.clone());
    assert_eq!(listing(&re.layer), listing(&got.layer));
}

#[test]
fn canonical_layer_drops_markers_below_an_opaque_dir() {
    // Found by the fixpoint property: the root's opaque marker already hides all of c.
    let mut tree = Tree::new();
    apply_one(&mut tree, "l1", vec![d("c", 0o755), f("c/x", 0o644, "")]);
    let layer = vec![
        opq("c"),
        opq("/"),
        wh("c/x"),
        f("a", 0o644, ""),
        h("c/a", "a"),
    ];
    let got = apply_one(&mut tree, "l2", layer);
    assert_eq!(
        listing(&got.layer),
        concat!(
            "/.wh..wh..opq file 0644 0:0 \"\"\n",
            "/a file 0644 0:0 \"\"\n",
            "/c dir 0755 0:0\n",
            "/c/a hardlink 0644 0:0 => /a\n",
        )
    );
}
