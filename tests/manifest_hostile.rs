//! Manifest values that would write something the author did not mean are refused at
//! their line:column: whiteout names, ids beyond 32 bits, NUL bytes in paths.

use scratch_compose::manifest::Manifest;
use std::path::Path;

/// The error for a manifest with one `[[layer]]` holding `layer`: message, hint, and
/// the position.
fn refused(layer: &str) -> (String, String, (usize, usize)) {
    let text = format!("[image]\nname = \"x\"\n[[layer]]\n{layer}");
    let e = Manifest::parse(&text, Path::new("scratch.toml"))
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{layer}"));
    let pos = e.pos().expect("a position");
    (
        e.to_string(),
        e.hint().expect("a hint"),
        (pos.line, pos.column),
    )
}

#[test]
fn paths_named_like_whiteouts_point_to_remove() {
    for (layer, col) in [
        ("[[layer.file]]\ndest = \"/.wh.x\"\ncontent = \"\"\n", 8),
        (
            "[[layer.file]]\ndest = \"/d/.wh..wh..opq\"\ncontent = \"\"\n",
            8,
        ),
        ("[[layer.dir]]\ndest = \"/d/.wh.sub/\"\n", 8),
        ("[[layer.symlink]]\ndest = \"/.wh.l\"\ntarget = \"/x\"\n", 8),
    ] {
        let (msg, hint, pos) = refused(layer);
        assert!(msg.contains("whiteout"), "{msg}");
        assert!(hint.contains("remove = [...]"), "{hint}");
        assert_eq!(pos, (5, col), "{msg}");
    }
    let (msg, hint, pos) = refused("remove = [\"/etc/.wh.passwd\"]\n");
    assert!(msg.contains("whiteout"), "{msg}");
    assert!(hint.contains("`remove` writes the whiteout"), "{hint}");
    assert_eq!(pos, (4, 11));
    // `.wh` without the second dot, or in a parent, is an ordinary name.
    let ok = "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/a/.whx/b.wh.c\"\ncontent = \"\"\n";
    Manifest::parse(ok, Path::new("scratch.toml")).unwrap();
}

#[test]
fn ids_beyond_32_bits_are_refused_where_they_are_written() {
    for key in ["uid", "gid"] {
        for table in [
            "[[layer.file]]\ndest = \"/f\"\ncontent = \"\"\n",
            "[[layer.dir]]\ndest = \"/d\"\n",
            "[[layer.symlink]]\ndest = \"/l\"\ntarget = \"x\"\n",
        ] {
            let lines = table.lines().count();
            let (msg, hint, pos) = refused(&format!("{table}{key} = 4294967296\n"));
            assert!(
                msg.contains("4294967296") && msg.contains("out of range"),
                "{msg}"
            );
            assert!(hint.contains("4294967295"), "{hint}");
            assert_eq!(pos, (4 + lines, key.len() + 4), "{msg}");
        }
    }
    let max = "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/f\"\ncontent = \"\"\nuid = 4294967295\ngid = 4294967295\n";
    let m = Manifest::parse(max, Path::new("scratch.toml")).unwrap();
    assert_eq!(m.layers[0].files[0].uid, Some(4294967295));
}

#[test]
fn a_nul_in_dest_gets_a_hint_about_the_nul() {
    let (msg, hint, _) = refused("[[layer.file]]\ndest = \"/a\\u0000b\"\ncontent = \"\"\n");
    assert!(msg.contains("NUL"), "{msg}");
    assert!(hint.contains("NUL") && !hint.contains(".."), "{hint}");
}
