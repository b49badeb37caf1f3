//! Hostile layer archives: each case ends in a clear error (exit 2, naming the input and
//! entry) or a safe, documented result, and never writes outside the output. Every case
//! is checked twice: through the library (`layer::read_tar`, `merge::Tree::apply`) and
//! through `compose build` in a sandbox whose output's parent must gain nothing else.

mod hostile_support;
use hostile_support::*;

use scratch_compose::entry::{ImagePath, Kind};
use scratch_compose::layer::{self, LayerError};
use scratch_compose::merge::{MergeOptions, Tree};
use std::path::Path;

/// Read raw tar bytes with the library.
fn read(bytes: &[u8]) -> Result<Vec<scratch_compose::entry::Entry>, LayerError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.tar");
    std::fs::write(&p, bytes).unwrap();
    let r = layer::read_tar(&p, "hostile.tar");
    // Content ranges point into the file: keep only metadata checks below.
    drop(dir);
    r
}

/// Read and merge as one layer.
fn merge(bytes: &[u8]) -> Result<Tree, String> {
    let entries = read(bytes).map_err(|e| e.to_string())?;
    let mut t = Tree::new();
    t.apply("layer 1", entries, &MergeOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(t)
}

/// Build the archives (one per layer) as a rootfs tar; returns the sandbox, the output
/// and the process result.
fn build(layers: &[Vec<u8>]) -> (Sandbox, std::process::Output, std::path::PathBuf) {
    let sb = Sandbox::new();
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}.tar")).collect();
    for (n, bytes) in names.iter().zip(layers) {
        sb.put(n, bytes);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = sb.manifest_for(&refs);
    let (o, out) = sb.build(&m, "rootfs", "rootfs.tar");
    (sb, o, out)
}

/// The build must fail with exit 2 and a message containing every `needles`, and leave
/// nothing behind under the output's parent.
fn build_fails(layers: &[Vec<u8>], needles: &[&str]) {
    let (sb, o, out) = build(layers);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(!out.exists(), "a failed build left an output");
    sb.assert_nothing_escaped(None);
}

/// The build must succeed; returns the output's listing (path, type, link).
fn build_ok(layers: &[Vec<u8>]) -> Vec<(String, char, String)> {
    let (sb, o, out) = build(layers);
    assert!(o.status.success(), "build failed:\n{}", stderr(&o));
    sb.assert_nothing_escaped(Some("rootfs.tar"));
    list_tar(&out)
}

fn names(listing: &[(String, char, String)]) -> Vec<&str> {
    listing
        .iter()
        .map(|(p, _, _)| p.trim_end_matches('/'))
        .collect()
}

/// A unique absolute host path that must never be created.
fn host_canary(tag: &str) -> String {
    format!("tmp/pwned-{tag}-{}", std::process::id())
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn dotdot_names_are_refused_with_the_entry_named() {
    for name in [&b"../evil"[..], b"a/../../evil", b"./../x", b".."] {
        let tar = RawTar::new().file(name, b"x").finish();
        let err = read(&tar).unwrap_err();
        assert!(
            matches!(err, LayerError::BadName { index: 0, .. }),
            "{}: {err}",
            String::from_utf8_lossy(name)
        );
        build_fails(&[tar], &["l0.tar", "`..`", "entry 0"]);
    }
}

#[test]
fn absolute_names_land_inside_the_image() {
    let canary = host_canary("abs");
    let tar = RawTar::new()
        .file(format!("/{canary}").as_bytes(), b"x")
        .file(b"//etc///x", b"y")
        .finish();
    let listing = build_ok(&[tar]);
    let n = names(&listing);
    assert!(n.contains(&canary.as_str()), "{n:?}");
    assert!(n.contains(&"etc/x"), "{n:?}");
    assert!(!Path::new(&format!("/{canary}")).exists());
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn entries_through_a_symlink_to_the_root_land_inside_the_image() {
    let canary = host_canary("root");
    for target in [&b"/"[..], b"../..", b"../../../../..", b"/../.."] {
        let tar = RawTar::new()
            .symlink(b"l", target)
            .file(format!("l/{canary}").as_bytes(), b"x")
            .finish();
        let mut t = merge(&tar).unwrap();
        let got = t
            .get(&ImagePath::parse(format!("l/{canary}").as_bytes()).unwrap())
            .expect("resolved through the symlink");
        assert_eq!(
            got.path.as_bytes(),
            canary.as_bytes(),
            "lands at the image root"
        );
        let listing = build_ok(&[tar]);
        assert!(names(&listing).contains(&canary.as_str()), "{listing:?}");
        assert!(listing
            .iter()
            .any(|(p, t, l)| p == "l" && *t == '2' && l.as_bytes() == target));
        assert!(!Path::new(&format!("/{canary}")).exists());
    }
}

#[test]
fn a_symlink_escape_across_layers_stays_inside() {
    let canary = host_canary("layers");
    let lower = RawTar::new()
        .dir(b"a")
        .symlink(b"a/up", b"../../../..")
        .finish();
    let upper = RawTar::new()
        .file(format!("a/up/{canary}").as_bytes(), b"x")
        .finish();
    let listing = build_ok(&[lower, upper]);
    assert!(names(&listing).contains(&canary.as_str()), "{listing:?}");
    assert!(!Path::new(&format!("/{canary}")).exists());
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_symlink_loop_in_a_parent_is_an_error() {
    let tar = RawTar::new()
        .symlink(b"a", b"b")
        .symlink(b"b", b"a")
        .file(b"a/x", b"x")
        .finish();
    assert!(merge(&tar).unwrap_err().contains("too many levels"));
    build_fails(&[tar], &["too many levels of symbolic links"]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn hard_links_outside_or_to_missing_targets_are_refused() {
    let out = RawTar::new().hardlink(b"h", b"../../etc/passwd").finish();
    assert!(matches!(
        read(&out).unwrap_err(),
        LayerError::BadName { .. }
    ));
    build_fails(&[out], &["h -> ../../etc/passwd", "`..`"]);

    // An absolute target is normalised into the image, where it does not exist.
    let abs = RawTar::new().hardlink(b"h", b"/etc/passwd").finish();
    assert!(merge(&abs).unwrap_err().contains("does not exist"));
    build_fails(&[abs], &["hard link /h -> /etc/passwd", "does not exist"]);

    let missing = RawTar::new().hardlink(b"h", b"nope").finish();
    build_fails(&[missing], &["does not exist"]);

    // A hard link through a symlink to the root resolves inside the tree.
    let through = RawTar::new()
        .file(b"etc/passwd", b"inside")
        .symlink(b"l", b"/")
        .hardlink(b"h", b"l/etc/passwd")
        .finish();
    let listing = build_ok(&[through]);
    assert!(
        listing
            .iter()
            .any(|(p, t, l)| p == "h" && *t == '1' && l == "etc/passwd"),
        "{listing:?}"
    );

    // A hard link to a directory is refused.
    let dir = RawTar::new().dir(b"d").hardlink(b"h", b"d").finish();
    build_fails(&[dir], &["is a directory"]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn whiteout_style_names_are_errors_or_ignored_never_created() {
    for bad in [&b"a/.wh.."[..], b"a/.wh.", b".wh..."] {
        let tar = RawTar::new().dir(b"a").file(bad, b"").finish();
        let e = merge(&tar).unwrap_err();
        assert!(e.contains("whiteout of an invalid name"), "{e}");
        build_fails(&[tar], &["whiteout of an invalid name"]);
    }
    // AUFS bookkeeping and whiteouts of missing paths: no-ops, nothing named .wh. written.
    let tar = RawTar::new()
        .file(b".wh..wh.plnk/123.4", b"x")
        .file(b"a/.wh.missing", b"")
        .file(b"b/.wh..wh..opq", b"")
        .file(b"keep", b"k")
        .finish();
    let listing = build_ok(&[tar]);
    assert!(
        !listing.iter().any(|(p, _, _)| p.contains(".wh.")),
        "{listing:?}"
    );
    assert!(names(&listing).contains(&"keep"));
    // A symlink whose target would create a `.wh.` directory.
    let tar = RawTar::new()
        .symlink(b"l", b".wh.x")
        .file(b"l/f", b"")
        .finish();
    build_fails(&[tar], &["whiteout"]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_root_entry_that_is_a_symlink_is_refused() {
    for root in [&b"./"[..], b"/", b"."] {
        let tar = RawTar::new()
            .symlink(root, b"/tmp")
            .file(b"x", b"x")
            .finish();
        let e = merge(&tar).unwrap_err();
        assert!(e.contains("root entry is a symlink"), "{e}");
        build_fails(&[tar], &["root entry is a symlink"]);
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn pax_size_overrides_the_ustar_size() {
    // Consistent with its PAX size (3), inconsistent with the header (1000): PAX wins.
    let mut t = RawTar::new();
    t.pax(&[("size", b"3")]);
    let mut h = Header::new(b"f", b'0');
    h.size = 1000;
    t.header(&h).data(b"abc").file(b"next", b"n");
    let tar = t.finish();
    let es = read(&tar).unwrap();
    assert_eq!(es.len(), 2);
    assert_eq!(es[0].size(), 3);
    assert_eq!(es[1].path.as_bytes(), b"next");
    build_ok(&[tar]);

    // A PAX size running past the end: a clear truncation error.
    let mut t = RawTar::new();
    t.pax(&[("size", b"99999")]).file(b"f", b"abc");
    let tar = t.finish();
    assert!(read(&tar).unwrap_err().to_string().contains("truncated"));
    build_fails(&[tar], &["truncated"]);

    // A PAX size that is not a number.
    let mut t = RawTar::new();
    t.pax(&[("size", b"12x")]).file(b"f", b"abc");
    let tar = t.finish();
    build_fails(&[tar], &["PAX record size has a bad value"]);

    // PAX says 600 where the header says 3: the data of the next entry is swallowed and
    // the archive runs out, or the following header is garbage; never a silent success
    // with the wrong file boundaries.
    let mut t = RawTar::new();
    t.pax(&[("size", b"600")])
        .file(b"f", b"abc")
        .file(b"g", b"def");
    let tar = t.finish();
    match read(&tar) {
        Err(e) => assert!(matches!(e, LayerError::BadTar { .. }), "{e}"),
        Ok(es) => {
            assert_eq!(es[0].size(), 600);
            assert!(es.iter().all(|e| e.path.as_bytes() != b"g"));
        }
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_gnu_long_name_after_a_pax_header_wins() {
    let long = format!("dir/{}", "n".repeat(150));
    let mut t = RawTar::new();
    t.pax(&[("path", b"from-pax")])
        .gnu_long_name(long.as_bytes())
        .file(b"short", b"x");
    let tar = t.finish();
    let es = read(&tar).unwrap();
    assert_eq!(es.len(), 1);
    assert_eq!(es[0].path.as_bytes(), long.as_bytes());
    let listing = build_ok(&[tar]);
    assert!(names(&listing).contains(&long.as_str()), "{listing:?}");

    // Two long names for one entry are refused.
    let mut t = RawTar::new();
    t.gnu_long_name(b"a").gnu_long_name(b"b").file(b"c", b"");
    build_fails(&[t.finish()], &["two `L` extension headers"]);

    // Extension headers with no entry after them.
    let mut t = RawTar::new();
    t.pax(&[("path", b"x")]);
    build_fails(&[t.finish()], &["without their entry"]);
}

#[test]
fn malformed_gnu_sparse_maps_are_refused() {
    // Sparse files are read since the merger learned the GNU formats (tests/tar_sparse.rs
    // has the real archives); a PAX 1.0 entry whose data does not start with a map is not
    // one.
    let mut t = RawTar::new();
    t.pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .file(b"s", b"x");
    build_fails(&[t.finish()], &["sparse"]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn nul_bytes_in_names_are_refused() {
    let mut t = RawTar::new();
    t.pax(&[("path", b"a\0b")]).file(b"x", b"");
    let tar = t.finish();
    assert!(matches!(
        read(&tar).unwrap_err(),
        LayerError::BadName { .. }
    ));
    build_fails(&[tar], &["NUL"]);

    let mut t = RawTar::new();
    t.pax(&[("linkpath", b"/a\0/etc/shadow")]);
    t.symlink(b"l", b"x");
    build_fails(&[t.finish()], &["NUL"]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn non_utf8_names_are_kept_byte_for_byte() {
    let name = b"caf\xe9/\xff\xfe";
    let tar = RawTar::new().file(name, b"x").finish();
    let es = read(&tar).unwrap();
    assert_eq!(es[0].path.as_bytes(), name);
    let (sb, o, out) = build(&[tar]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.assert_nothing_escaped(Some("rootfs.tar"));
    let back = layer::read_tar(&out, "out").unwrap();
    assert!(back.iter().any(|e| e.path.as_bytes() == name));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn device_numbers_over_32_bits_are_kept_or_refused_never_truncated() {
    let big = 1u64 << 40;
    let mut h = Header::new(b"dev/big", b'3');
    h.devmajor = big; // base-256 in the 8-byte field
    h.devminor = (1 << 33) + 5;
    let tar = RawTar::new().header(&h).finish();
    let es = read(&tar).unwrap();
    assert_eq!(
        es[0].kind,
        Kind::CharDevice {
            major: big,
            minor: (1 << 33) + 5
        }
    );
    let (sb, o, out) = build(&[tar]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.assert_nothing_escaped(Some("rootfs.tar"));
    let back = layer::read_tar(&out, "out").unwrap();
    let dev = back
        .iter()
        .find(|e| e.path.as_bytes() == b"dev/big")
        .expect("device kept");
    assert_eq!(dev.kind, es[0].kind, "device numbers survive exactly");

    // Through PAX records, and one that overflows 64 bits.
    let mut t = RawTar::new();
    t.pax(&[("SCHILY.devmajor", b"99999999999999999999999")]);
    t.header(&Header::new(b"dev/huge", b'4'));
    let tar = t.finish();
    assert!(read(&tar).unwrap_err().to_string().contains("device major"));
    build_fails(&[tar], &["device major"]);
}

#[test]
fn garbage_and_bad_checksums_are_clear_errors() {
    let mut tar = RawTar::new().file(b"a", b"x").finish();
    tar[0] = b'b'; // the checksum no longer matches
    build_fails(&[tar], &["checksum mismatch"]);
    build_fails(
        &[b"not an archive at all".to_vec()],
        &["unrecognised archive format"],
    );
    build_fails(&[Vec::new()], &["empty"]);
    // Truncated inside a header and inside data.
    let tar = RawTar::new().file(b"a", &[b'x'; 2000]).finish();
    build_fails(&[tar[..1000].to_vec()], &["truncated"]);
    build_fails(&[tar[..700].to_vec()], &["truncated"]);
}
