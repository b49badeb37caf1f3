use super::*;
use crate::entry::{Content, Entry, ImagePath, Kind};

fn file(path: &str, bytes: &[u8]) -> Entry {
    Entry::new(
        ImagePath::parse_str(path).unwrap(),
        Kind::File(Content::Inline(bytes.to_vec().into())),
        0o644,
    )
}

const APK: &str = "C:Q16vHLRZoP2NZ2lLj3reL8p+l/YE4=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
U:https://musl.libc.org/
T:the musl c library (libc) implementation
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin
R:sh
";

#[test]
fn apk_database_fields_and_files() {
    let pkgs = parse_apk_installed(APK.as_bytes(), "t", 10).unwrap();
    assert_eq!(pkgs.len(), 2);
    let musl = &pkgs[0];
    assert_eq!(
        (musl.name.as_str(), musl.version.as_str()),
        ("musl", "1.2.4_git20230717-r4")
    );
    assert_eq!(musl.arch.as_deref(), Some("x86_64"));
    assert_eq!(musl.license.as_ref().unwrap().expression, "MIT");
    assert_eq!(musl.origin.as_deref(), Some("musl"));
    let c = musl.checksum.as_ref().unwrap();
    assert_eq!(c.algorithm, "SHA1");
    assert_eq!(c.hex, "eaf1cb459a0fd8d67694b8f7ade2fca7e97f604e");
    assert_eq!(
        musl.files.iter().map(|p| p.display()).collect::<Vec<_>>(),
        ["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]
    );
    assert_eq!(pkgs[1].origin.as_deref(), Some("busybox"));
}

#[test]
fn apk_errors_name_the_line() {
    let err = parse_apk_installed(b"P:a\nV:1\n\nP:b\nno colon\n", "in.tar", 10).unwrap_err();
    assert_eq!(
        err.to_string(),
        "in.tar: /lib/apk/db/installed:5: `no colon` is not a `X:value` line"
    );
    let err = parse_apk_installed(b"\n\nV:1\n", "in.tar", 10).unwrap_err();
    assert!(
        err.to_string().contains(":3: a package without a name"),
        "{err}"
    );
    let err = parse_apk_installed(b"P:a\nV:1\nF:x\nR:../y\n", "t", 10).unwrap_err();
    assert!(err.to_string().contains(":4: file name `../y`"), "{err}");
    let err = parse_apk_installed(b"P:a\nV:1\nF:../x\n", "t", 10).unwrap_err();
    assert!(err.to_string().contains(":3: directory"), "{err}");
    let many = "P:a\nV:1\n\n".repeat(3);
    let err = parse_apk_installed(many.as_bytes(), "t", 2).unwrap_err();
    assert!(err.to_string().contains("more than 2 packages"), "{err}");
}

const STATUS: &str = "Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: gone
Status: purge ok not-installed
Architecture: amd64

Package: leftover
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
";

const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: glibc

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software.

Files: debian/*
License: GPL-2+

License: LGPL-2.1+
 The text.
";

#[test]
fn dpkg_status_lists_what_dpkg_query_lists() {
    let pkgs = parse_dpkg_status(STATUS.as_bytes(), "t", 10).unwrap();
    let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["libc6", "leftover", "base-files"]);
    assert_eq!(pkgs[0].origin.as_deref(), Some("glibc"));
    assert_eq!(
        pkgs[0].summary.as_deref(),
        Some("GNU C Library: Shared libraries")
    );
    assert_eq!(pkgs[0].state, None);
    assert_eq!(pkgs[1].state.as_deref(), Some("config-files"));
    let err =
        parse_dpkg_status(b"Package: x\nStatus: install ok installed\n", "t", 10).unwrap_err();
    assert!(
        err.to_string()
            .contains(":1: package `x` has no `Version:`"),
        "{err}"
    );
    let err = parse_dpkg_status(b" cont\n", "t", 10).unwrap_err();
    assert!(err.to_string().contains("continuation line"), "{err}");
}

#[test]
fn dep5_licenses_and_free_form_files() {
    assert_eq!(
        parse_dep5(DEP5).unwrap().expression,
        "LGPL-2.1-or-later AND GPL-2.0-or-later"
    );
    assert_eq!(
        parse_dep5("This is free software, see /usr/share/common-licenses/GPL.\n"),
        None
    );
    assert_eq!(
        parse_dep5("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"),
        None
    );
}

fn debian_rootfs() -> Vec<Entry> {
    vec![
        file(
            "etc/os-release",
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        ),
        file("var/lib/dpkg/status", STATUS.as_bytes()),
        file(
            "var/lib/dpkg/info/libc6:amd64.list",
            b"/.\n/lib\n/lib/x86_64-linux-gnu/libc.so.6\n/lib/x86_64-linux-gnu/libm.so.6\n",
        ),
        Entry::new(ImagePath::parse_str("lib").unwrap(), Kind::Dir, 0o755),
        file("lib/x86_64-linux-gnu/libc.so.6", b"elf"),
        file("lib/x86_64-linux-gnu/libm.so.6", b"elf"),
        file("usr/share/doc/libc6/copyright", DEP5.as_bytes()),
    ]
}

#[test]
fn scan_a_debian_rootfs() {
    let entries = debian_rootfs();
    let fs = Rootfs::new(&entries, "debian.tar", Limits::default());
    let pkgs = scan(&fs).unwrap();
    let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base-files", "leftover", "libc6"]);
    let libc = &pkgs[2];
    assert_eq!(
        libc.purl().to_string(),
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    );
    assert_eq!(
        libc.license.as_ref().unwrap().expression,
        "LGPL-2.1-or-later AND GPL-2.0-or-later"
    );
    // Directories do not count as owned files.
    assert_eq!(libc.files.len(), 2);
    let gone = ImagePath::parse_str("lib/x86_64-linux-gnu/libm.so.6").unwrap();
    assert_eq!(
        presence(libc, |p| p != &gone),
        Presence::Partial {
            removed: 1,
            owned: 2
        }
    );
    assert_eq!(presence(libc, |_| false), Presence::Removed);
    assert_eq!(presence(libc, |_| true), Presence::Present);
    // A package owning no files is never "removed".
    assert_eq!(presence(&pkgs[0], |_| false), Presence::Present);
}

#[test]
fn scan_an_alpine_rootfs_without_os_release_and_limits() {
    let entries = vec![
        file("lib/apk/db/installed", APK.as_bytes()),
        file("lib/ld-musl-x86_64.so.1", b"x"),
    ];
    let fs = Rootfs::new(&entries, "alpine.tar", Limits::default());
    let pkgs = scan(&fs).unwrap();
    assert_eq!(pkgs[0].name, "busybox-binsh");
    assert_eq!(
        pkgs[1].purl().to_string(),
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"
    );
    // Only the files the input holds are counted.
    assert_eq!(pkgs[1].files.len(), 1);
    let tight = Limits {
        database: 10,
        ..Limits::default()
    };
    let err = scan(&Rootfs::new(&entries, "alpine.tar", tight)).unwrap_err();
    assert!(
        err.to_string().contains("over the limit of 10 bytes"),
        "{err}"
    );
    // No database: no packages. A symlinked database is not followed.
    assert!(scan(&Rootfs::new(&[], "empty", Limits::default()))
        .unwrap()
        .is_empty());
    let link = vec![Entry::new(
        ImagePath::parse_str("lib/apk/db/installed").unwrap(),
        Kind::Symlink(b"/etc/passwd".to_vec()),
        0o777,
    )];
    assert!(scan(&Rootfs::new(&link, "l", Limits::default()))
        .unwrap()
        .is_empty());
}
