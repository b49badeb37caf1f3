use super::*;
use crate::entry::Content;
use std::sync::Arc;

fn file(p: &str, text: &str) -> Entry {
    let mut e = Entry::new(
        ImagePath::parse_str(p).unwrap(),
        Kind::File(Content::Inline(Arc::from(text.as_bytes()))),
        0o644,
    );
    e.mtime = 1234;
    e
}
fn dir(p: &str) -> Entry {
    Entry::dir(ImagePath::parse_str(p).unwrap())
}
fn link(p: &str, t: &str) -> Entry {
    Entry::new(
        ImagePath::parse_str(p).unwrap(),
        Kind::Symlink(t.as_bytes().to_vec()),
        0o777,
    )
}

/// A small Alpine-like rootfs.
fn rootfs() -> Vec<Entry> {
    let mut shadow = file("etc/shadow", "root:*::0:::::\n");
    shadow.mode = 0o640;
    shadow.gid = 42;
    vec![
        dir("etc"),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/ash\n"),
        shadow,
        dir("etc/ssl"),
        link("etc/ssl/cert.pem", "certs/ca-certificates.crt"),
        dir("etc/ssl/certs"),
        file("etc/ssl/certs/ca-certificates.crt", "PEM"),
        dir("usr"),
        dir("usr/share"),
        dir("usr/share/zoneinfo"),
        file("usr/share/zoneinfo/UTC", "TZif-utc"),
        dir("usr/share/zoneinfo/Europe"),
        file("usr/share/zoneinfo/Europe/Paris", "TZif-paris"),
        link("usr/share/zoneinfo/Zulu", "UTC"),
        link("etc/localtime", "../usr/share/zoneinfo/Europe/Paris"),
        link("etc/loop", "/etc/loop"),
        link("etc/up", "/etc"),
        link("etc/dangling", "/nowhere/x"),
    ]
}

fn spec(paths: &[&str], dest: Option<&str>, symlinks: SymlinkMode) -> CopySpec {
    CopySpec {
        from: "alpine".into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        dest: dest.map(|d| ImagePath::parse_str(d).unwrap()),
        symlinks,
    }
}

fn listing(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match &e.kind {
            Kind::Symlink(t) => format!("{} -> {}", e.path, String::from_utf8_lossy(t)),
            Kind::File(c) => format!("{} ({} bytes)", e.path, c.len()),
            k => format!("{} {}", e.path, k.name()),
        })
        .collect()
}

fn take(paths: &[&str], dest: Option<&str>, mode: SymlinkMode) -> Result<Vec<String>, SelectError> {
    select(&rootfs(), "alpine", &spec(paths, dest, mode)).map(|e| listing(&e))
}

#[test]
fn plain_paths_keep_their_place_and_metadata() {
    let src = rootfs();
    let got = select(
        &src,
        "alpine",
        &spec(&["/etc/passwd", "/etc/shadow"], None, SymlinkMode::Keep),
    )
    .unwrap();
    assert_eq!(
        listing(&got),
        ["/etc/passwd (31 bytes)", "/etc/shadow (15 bytes)"]
    );
    assert_eq!((got[1].mode, got[1].gid), (0o640, 42));
    assert_eq!(got[0].mtime, 0, "mtimes come from the epoch");
}

#[test]
fn globs_select_subtrees() {
    assert_eq!(
        take(&["/usr/share/zoneinfo/**"], None, SymlinkMode::Keep).unwrap(),
        [
            "/usr/share/zoneinfo/Europe dir",
            "/usr/share/zoneinfo/Europe/Paris (10 bytes)",
            "/usr/share/zoneinfo/UTC (8 bytes)",
            "/usr/share/zoneinfo/Zulu -> UTC",
        ]
    );
    assert_eq!(
        take(
            &["/usr/share/zoneinfo/[UZ]*"],
            Some("/tz"),
            SymlinkMode::Keep
        )
        .unwrap(),
        ["/tz/UTC (8 bytes)", "/tz/Zulu -> UTC"]
    );
    assert_eq!(
        take(&["/usr/**/Paris"], None, SymlinkMode::Keep).unwrap(),
        ["/usr/share/zoneinfo/Europe/Paris (10 bytes)"]
    );
    // A directory brings its contents; dest puts it below.
    assert_eq!(
        take(&["/etc/ssl/certs"], Some("/x"), SymlinkMode::Keep).unwrap(),
        ["/x/certs dir", "/x/certs/ca-certificates.crt (3 bytes)"]
    );
}

#[test]
fn symlinks_are_kept_or_followed_inside_the_input() {
    assert_eq!(
        take(
            &["/etc/ssl/cert.pem", "/etc/localtime"],
            None,
            SymlinkMode::Keep
        )
        .unwrap(),
        [
            "/etc/localtime -> ../usr/share/zoneinfo/Europe/Paris",
            "/etc/ssl/cert.pem -> certs/ca-certificates.crt"
        ]
    );
    assert_eq!(
        take(
            &["/etc/ssl/cert.pem", "/etc/localtime"],
            None,
            SymlinkMode::Follow
        )
        .unwrap(),
        ["/etc/localtime (10 bytes)", "/etc/ssl/cert.pem (3 bytes)"]
    );
    // Parents resolve through links in both modes.
    assert_eq!(
        take(&["/etc/up/passwd"], None, SymlinkMode::Keep).unwrap(),
        ["/etc/up/passwd (31 bytes)"]
    );
    // Following inside a copied directory.
    assert_eq!(
        take(&["/usr/share/zoneinfo/**"], Some("/z"), SymlinkMode::Follow).unwrap(),
        [
            "/z/Europe dir",
            "/z/Europe/Paris (10 bytes)",
            "/z/UTC (8 bytes)",
            "/z/Zulu (8 bytes)"
        ]
    );
}

#[test]
fn links_that_dangle_or_loop_are_errors_when_followed() {
    let err = take(&["/etc/dangling"], None, SymlinkMode::Follow).unwrap_err();
    assert!(matches!(err, SelectError::Dangling { .. }), "{err}");
    assert!(err.to_string().contains("/nowhere"));
    assert!(matches!(
        take(&["/etc/loop"], None, SymlinkMode::Follow).unwrap_err(),
        SelectError::Loop { .. }
    ));
    // `/d/up -> /d` while copying /d: a copy into itself.
    let src = vec![dir("d"), file("d/f", "x"), link("d/up", "/d")];
    let err = select(&src, "x", &spec(&["/d"], None, SymlinkMode::Follow)).unwrap_err();
    assert!(matches!(err, SelectError::Loop { .. }), "{err}");
    // Kept, they are just links.
    assert!(take(&["/etc"], None, SymlinkMode::Keep).is_ok());
}

#[test]
fn a_pattern_matching_nothing_names_the_input_and_the_pattern() {
    let err = take(
        &["/etc/passwd", "/usr/share/zoneinfo/Mars/*"],
        None,
        SymlinkMode::Keep,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `alpine`: `/usr/share/zoneinfo/Mars/*` matches nothing"
    );
    let err = take(&["relative"], None, SymlinkMode::Keep).unwrap_err();
    assert!(matches!(err, SelectError::BadPattern { .. }));
}

#[test]
fn hard_links_become_copies_of_their_file() {
    let src = vec![
        dir("bin"),
        file("bin/busybox", "ELF"),
        Entry::new(
            ImagePath::parse_str("bin/sh").unwrap(),
            Kind::HardLink(ImagePath::parse_str("bin/busybox").unwrap()),
            0o755,
        ),
    ];
    let got = select(&src, "x", &spec(&["/bin/sh"], None, SymlinkMode::Keep)).unwrap();
    assert_eq!(listing(&got), ["/bin/sh (3 bytes)"]);
}
