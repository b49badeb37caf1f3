//! The tar reader and input decompression: real fixtures (checked against Python's
//! `tarfile`), hand-crafted hostile and unusual archives, and a write/read round trip.

mod common;
mod tar_support;

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::layer::default_limit;
use scratch_compose::layer::TarWriter;
use scratch_compose::layer::{decompress, detect_format, read_tar, InputFormat, LayerError};
use sha2::{Digest, Sha256};

use std::path::{Path, PathBuf};
use std::process::Command;
use tar_support::*;

// ---------------------------------------------------------------------------------------
// Fixtures

/// The shared fixtures folder; a test that needs it fails without it.
fn fixtures() -> Option<PathBuf> {
    let c = common::shared_root().join("fixtures");
    if c.join("README.md").is_file() {
        return Some(c);
    }
    common::missing("../shared/fixtures")
}

fn find<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    let p = ImagePath::parse_str(path).unwrap();
    entries
        .iter()
        .find(|e| e.path == p)
        .unwrap_or_else(|| panic!("{path} not found"))
}

const PY_LIST: &str = r#"
import sys, tarfile, json, hashlib
out = []
with tarfile.open(sys.argv[1], encoding="utf-8", errors="surrogateescape") as t:
    for m in t.getmembers():
        data = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isreg() else ""
        out.append([m.name.encode("utf-8", "surrogateescape").hex(), m.type.decode(),
                    m.mode & 0o7777, m.uid, m.gid, m.size if m.isreg() else 0, int(m.mtime),
                    m.linkname.encode("utf-8", "surrogateescape").hex() if m.type in (b"1", b"2") else "",
                    m.devmajor if m.type in (b"3", b"4") else 0,
                    m.devminor if m.type in (b"3", b"4") else 0, data])
print(json.dumps(out))
"#;

/// Python's view of an archive, in the same shape as [`our_view`].
fn python_view(tar: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_LIST)
        .arg(tar)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn our_view(entries: &[Entry]) -> Vec<serde_json::Value> {
    entries
        .iter()
        .map(|e| {
            let name = if e.path.is_root() {
                ".".to_string()
            } else {
                hex::encode(e.path.as_bytes())
            };
            let (ty, link, major, minor, data) = match &e.kind {
                Kind::File(c) => (
                    "0",
                    String::new(),
                    0,
                    0,
                    hex::encode(Sha256::digest(content_bytes(c))),
                ),
                Kind::HardLink(t) => ("1", hex::encode(t.as_bytes()), 0, 0, String::new()),
                Kind::Symlink(t) => ("2", hex::encode(t), 0, 0, String::new()),
                Kind::CharDevice { major, minor } => {
                    ("3", String::new(), *major, *minor, String::new())
                }
                Kind::BlockDevice { major, minor } => {
                    ("4", String::new(), *major, *minor, String::new())
                }
                Kind::Dir => ("5", String::new(), 0, 0, String::new()),
                Kind::Fifo => ("6", String::new(), 0, 0, String::new()),
            };
            serde_json::json!([
                name,
                ty,
                e.mode,
                e.uid,
                e.gid,
                e.size(),
                e.mtime,
                link,
                major,
                minor,
                data
            ])
        })
        .collect()
}

/// Python names are not normalised (`./etc`, `etc/`): normalise them like ours for the
/// comparison.
fn normalise_python(mut v: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    for item in &mut v {
        let raw = hex::decode(item[0].as_str().unwrap()).unwrap();
        let p = ImagePath::parse(&raw).unwrap();
        item[0] = if p.is_root() {
            ".".into()
        } else {
            hex::encode(p.as_bytes()).into()
        };
        if item[1] == "1" {
            let raw = hex::decode(item[7].as_str().unwrap()).unwrap();
            item[7] = hex::encode(ImagePath::parse(&raw).unwrap().as_bytes()).into();
        }
        if item[1] == "7" || item[1] == "\u{0}" {
            item[1] = "0".into();
        }
    }
    v
}

fn decompressed_alpine(fx: &Path, dir: &Path) -> PathBuf {
    let gz = fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz");
    assert_eq!(detect_format(&gz).unwrap(), InputFormat::Gzip);
    let out = dir.join("alpine.tar");
    let mut f = std::fs::File::create(&out).unwrap();
    let limit = default_limit(std::fs::metadata(&gz).unwrap().len());
    let n = decompress(&gz, InputFormat::Gzip, &mut f, limit, "alpine").unwrap();
    drop(f);
    assert_eq!(n, std::fs::metadata(&out).unwrap().len());
    assert_eq!(detect_format(&out).unwrap(), InputFormat::Tar);
    out
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn podman_layer_2_whiteouts_and_buildah_quirk() {
    let Some(fx) = fixtures() else { return };
    let tar = fx.join("podman-wh1/layer-2.tar");
    assert_eq!(detect_format(&tar).unwrap(), InputFormat::Tar);
    let entries = read_tar(&tar, "layer-2").unwrap();
    assert_eq!(entries.len(), 12);
    // The whiteout buildah wrote as a regular file carrying a link name is a plain file.
    let quirk = find(&entries, "usr/share/.wh.apk");
    assert_eq!(quirk.kind, Kind::File(Content::Empty));
    assert_eq!(
        find(&entries, "etc/.wh.apk").kind,
        Kind::File(Content::Empty)
    );
    assert_eq!(
        find(&entries, "opt/link").kind,
        Kind::Symlink(b"/opt/keep".to_vec())
    );
    match &find(&entries, "opt/keep").kind {
        Kind::File(c) => assert_eq!(content_bytes(c), b"keep\n"),
        k => panic!("{k:?}"),
    }
    assert_eq!(find(&entries, "opt/app/sub").kind, Kind::Dir);
    assert_eq!(our_view(&entries), normalise_python(python_view(&tar)));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn podman_layer_3_opaque_and_hard_link() {
    let Some(fx) = fixtures() else { return };
    let tar = fx.join("podman-wh1/layer-3.tar");
    let entries = read_tar(&tar, "layer-3").unwrap();
    assert_eq!(entries.len(), 11);
    assert_eq!(
        find(&entries, "opt/keep").kind,
        Kind::HardLink(ImagePath::parse_str("opt/hard").unwrap())
    );
    let opq = find(&entries, "opt/app/.wh..wh..opq");
    assert_eq!(opq.kind, Kind::File(Content::Empty));
    assert_eq!(opq.mode, 0o755);
    assert!(entries.iter().any(|e| e.path.as_bytes() == b"etc/.wh.motd"));
    assert_eq!(our_view(&entries), normalise_python(python_view(&tar)));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn alpine_minirootfs_matches_python() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tar = decompressed_alpine(&fx, dir.path());
    let entries = read_tar(&tar, "alpine").unwrap();
    assert_eq!(entries.len(), 527);
    assert!(entries[0].path.is_root() && entries[0].kind == Kind::Dir);
    assert_eq!(
        find(&entries, "bin/sh").kind,
        Kind::Symlink(b"/bin/busybox".to_vec())
    );
    assert_eq!(find(&entries, "tmp").mode, 0o1777);
    assert_eq!(our_view(&entries), normalise_python(python_view(&tar)));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn round_trip_through_the_writer() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let alpine = decompressed_alpine(&fx, dir.path());
    for (i, src) in [
        alpine,
        fx.join("podman-wh1/layer-2.tar"),
        fx.join("podman-wh1/layer-3.tar"),
    ]
    .iter()
    .enumerate()
    {
        let first = read_tar(src, "input").unwrap();
        let out = dir.path().join(format!("rt{i}.tar"));
        let mut w = TarWriter::new(std::fs::File::create(&out).unwrap(), Epoch(42));
        for e in &first {
            w.append(e).unwrap();
        }
        w.finish().unwrap();
        let second = read_tar(&out, "rewritten").unwrap();
        assert_eq!(second.len(), first.len());
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(b.mtime, 42);
            assert_eq!(
                (&a.path, a.mode, a.uid, a.gid, &a.xattrs),
                (&b.path, b.mode, b.uid, b.gid, &b.xattrs)
            );
            match (&a.kind, &b.kind) {
                (Kind::File(x), Kind::File(y)) => {
                    assert_eq!(content_bytes(x), content_bytes(y))
                }
                (x, y) => assert_eq!(x, y),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hand-crafted archives

#[test]
fn gnu_long_names_and_link_names() {
    let long_name = [b"dir/".as_slice(), &[b'n'; 150]].concat();
    let long_link = [b"dir/".as_slice(), &[b't'; 130]].concat();
    let mut ar = Vec::new();
    let mut l = h(b"././@LongLink", b'L');
    l.gnu = true;
    add(&mut ar, &l, &[long_link.as_slice(), b"\0"].concat());
    let mut target = h(b"placeholder", b'0');
    target.gnu = true;
    add(&mut ar, &target, b"data");
    add(&mut ar, &l, &[long_name.as_slice(), b"\0"].concat());
    let mut k = h(b"././@LongLink", b'K');
    k.gnu = true;
    add(&mut ar, &k, &[long_link.as_slice(), b"\0"].concat());
    let mut hl = h(b"placeholder2", b'1');
    hl.gnu = true;
    add(&mut ar, &hl, b"");
    let (_d, r) = read_bytes(&finish(ar));
    let entries = r.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].path.as_bytes(), long_link.as_slice());
    assert_eq!(entries[1].path.as_bytes(), long_name.as_slice());
    assert_eq!(
        entries[1].kind,
        Kind::HardLink(ImagePath::parse(&long_link).unwrap())
    );
}

#[test]
fn pax_records_override_the_header() {
    let long_name = vec![b'p'; 300];
    let long_target = vec![b's'; 250];
    let mut ar = Vec::new();
    let recs = pax(&[
        ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02"),
        (
            "SCHILY.xattr.security.selinux",
            b"system_u:object_r:bin_t:s0",
        ),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("SCHILY.xattr.user.k", b"v"),
        ("atime", b"1.5"),
        ("gid", b"4000000"),
        ("mtime", b"1700000000.75"),
        ("path", &long_name),
        ("uid", b"3000000"),
    ]);
    add(&mut ar, &h(b"PaxHeaders/x", b'x'), &recs);
    add(&mut ar, &h(b"short", b'0'), b"hello");
    let recs = pax(&[("linkpath", &long_target)]);
    add(&mut ar, &h(b"PaxHeaders/y", b'x'), &recs);
    add(&mut ar, &h(b"sym", b'2'), b"");
    let recs = pax(&[("SCHILY.devmajor", b"3000000"), ("SCHILY.devminor", b"7")]);
    add(&mut ar, &h(b"PaxHeaders/z", b'x'), &recs);
    let mut dev = h(b"dev/blk", b'4');
    dev.dev = (1, 1);
    add(&mut ar, &dev, b"");
    // A global header is skipped.
    add(
        &mut ar,
        &h(b"pax_global_header", b'g'),
        &pax(&[("comment", b"abc")]),
    );
    let (_d, r) = read_bytes(&finish(ar));
    let entries = r.unwrap();
    assert_eq!(entries.len(), 3);
    let e = &entries[0];
    assert_eq!(e.path.as_bytes(), long_name.as_slice());
    assert_eq!(
        (e.uid, e.gid, e.mtime),
        (3_000_000, 4_000_000, 1_700_000_000)
    );
    assert_eq!(
        e.xattrs.keys().collect::<Vec<_>>(),
        vec!["security.capability", "user.k"]
    );
    match &e.kind {
        Kind::File(c) => assert_eq!(content_bytes(c), b"hello"),
        k => panic!("{k:?}"),
    }
    assert_eq!(entries[1].kind, Kind::Symlink(long_target));
    assert_eq!(
        entries[2].kind,
        Kind::BlockDevice {
            major: 3_000_000,
            minor: 7
        }
    );
}

#[test]
fn pax_size_is_trusted_but_must_stay_inside_the_archive() {
    // Header says 3 bytes, PAX says 700 (and 700 bytes follow).
    let mut ar = Vec::new();
    add(
        &mut ar,
        &h(b"PaxHeaders/x", b'x'),
        &pax(&[("size", b"700")]),
    );
    let mut f = h(b"f", b'0');
    f.size_field = Some(3);
    ar.extend(block(&H {
        size: 3,
        ..f.clone()
    }));
    ar.extend(vec![b'z'; 700]);
    pad(&mut ar);
    let (_d, r) = read_bytes(&finish(ar.clone()));
    let entries = r.unwrap();
    assert_eq!(entries[0].size(), 700);

    // PAX size pointing past the end of the file.
    let mut ar = Vec::new();
    add(
        &mut ar,
        &h(b"PaxHeaders/x", b'x'),
        &pax(&[("size", b"90000")]),
    );
    ar.extend(block(&H { size: 3, ..f }));
    ar.extend(vec![b'z'; 512]);
    let (_d, r) = read_bytes(&ar);
    let err = r.unwrap_err();
    assert!(matches!(err, LayerError::BadTar { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains("crafted"), "{err}");
}

#[test]
fn truncated_archive_is_an_error() {
    let mut ar = Vec::new();
    add(&mut ar, &h(b"a", b'0'), &[7u8; 2000]);
    ar.truncate(1200);
    let (_d, r) = read_bytes(&ar);
    let err = r.unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.hint().is_some());
    // Cut inside a header block.
    let mut ar = Vec::new();
    add(&mut ar, &h(b"a", b'0'), b"x");
    ar.extend(&block(&h(b"b", b'0'))[..300]);
    let (_d, r) = read_bytes(&ar);
    assert!(matches!(r, Err(LayerError::BadTar { .. })));
}

#[test]
fn hostile_names_are_refused_with_context() {
    for (name, expect) in [
        (b"../etc/passwd".as_slice(), "`..`"),
        (b"a/../../b".as_slice(), "`..`"),
        (b"".as_slice(), "empty"),
    ] {
        let mut ar = Vec::new();
        add(&mut ar, &h(b"ok", b'0'), b"");
        add(&mut ar, &h(name, b'0'), b"");
        let (_d, r) = read_bytes(&finish(ar));
        let err = r.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LayerError::BadName { index: 1, .. }), "{msg}");
        assert!(msg.contains("crafted") && msg.contains(expect), "{msg}");
        assert!(err.hint().is_some());
    }
    // A NUL inside a PAX path.
    let mut ar = Vec::new();
    add(
        &mut ar,
        &h(b"PaxHeaders/x", b'x'),
        &pax(&[("path", b"a\0b")]),
    );
    add(&mut ar, &h(b"ok", b'0'), b"");
    let (_d, r) = read_bytes(&finish(ar));
    assert!(r.is_err());
    // A hard link escaping the root.
    let mut ar = Vec::new();
    let mut l = h(b"link", b'1');
    l.link = b"../../etc/shadow".to_vec();
    add(&mut ar, &l, b"");
    let (_d, r) = read_bytes(&finish(ar));
    let err = r.unwrap_err();
    assert!(err.to_string().contains("../../etc/shadow"), "{err}");
    // Absolute and dotted names are normalised, not refused.
    let mut ar = Vec::new();
    add(&mut ar, &h(b"/abs//x/./y", b'0'), b"");
    add(&mut ar, &h(b"./", b'5'), b"");
    let (_d, r) = read_bytes(&finish(ar));
    let e = r.unwrap();
    assert_eq!(e[0].path.as_bytes(), b"abs/x/y");
    assert!(e[1].path.is_root());
}

#[test]
fn unknown_types_are_refused() {
    for t in [b'V', b'M', b'D', b'Z'] {
        let mut ar = Vec::new();
        add(&mut ar, &h(b"odd", t), b"");
        let (_d, r) = read_bytes(&finish(ar));
        let err = r.unwrap_err();
        assert!(
            matches!(err, LayerError::Unsupported { index: 0, .. }),
            "{err}"
        );
    }
}

#[test]
fn type_flags_and_quirks() {
    let mut ar = Vec::new();
    add(&mut ar, &h(b"old-dir/", 0), b"");
    add(&mut ar, &h(b"old-file", 0), b"ab");
    add(&mut ar, &h(b"contig", b'7'), b"c");
    let mut q = h(b"usr/.wh.apk", b'0');
    q.link = b"etc/apk".to_vec();
    add(&mut ar, &q, b"");
    let mut c = h(b"dev/null", b'3');
    c.dev = (1, 3);
    add(&mut ar, &c, b"");
    add(&mut ar, &h(b"fifo", b'6'), b"");
    let mut m = h(b"suid", b'0');
    m.mode = 0o104755;
    add(&mut ar, &m, b"");
    add(&mut ar, &h(b"dup", b'0'), b"1");
    add(&mut ar, &h(b"dup", b'0'), b"2");
    let (_d, r) = read_bytes(&finish(ar));
    let e = r.unwrap();
    let kinds: Vec<&str> = e.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "dir",
            "file",
            "file",
            "file",
            "char-device",
            "fifo",
            "file",
            "file",
            "file"
        ]
    );
    assert_eq!(e[3].kind, Kind::File(Content::Empty));
    assert_eq!(e[4].kind, Kind::CharDevice { major: 1, minor: 3 });
    assert_eq!(e[6].mode, 0o4755);
    assert_eq!(e[0].mtime, 1000);
    assert_eq!(e[7].path, e[8].path, "duplicates returned as-is");
}

#[test]
fn header_only_types_have_no_data_whatever_their_size() {
    // Like Go's and Python's readers: a directory or symlink with a size field is followed
    // directly by the next header.
    let mut ar = Vec::new();
    let mut d = h(b"d/", b'5');
    d.size_field = Some(512);
    ar.extend(block(&d));
    let mut s = h(b"s", b'2');
    s.link = b"t".to_vec();
    s.size_field = Some(1024);
    ar.extend(block(&s));
    add(&mut ar, &h(b"f", b'0'), b"abc");
    let (dir, r) = read_bytes(&finish(ar));
    let entries = r.unwrap();
    let names: Vec<&[u8]> = entries.iter().map(|e| e.path.as_bytes()).collect();
    assert_eq!(names, [b"d".as_slice(), b"s", b"f"]);
    assert_eq!(
        our_view(&entries),
        normalise_python(python_view(&dir.path().join("crafted.tar")))
    );
}

#[test]
fn base256_numbers_and_bad_checksums() {
    let mut ar = Vec::new();
    let mut b = block(&h(b"big-uid", b'0'));
    // GNU base-256 uid 5_000_000_000.
    b[108..116].copy_from_slice(&[0x80, 0, 0, 0x01, 0x2a, 0x05, 0xf2, 0x00]);
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    oct(&mut b[148..155], u64::from(sum));
    ar.extend(b.clone());
    let (_d, r) = read_bytes(&finish(ar));
    assert_eq!(r.unwrap()[0].uid, 5_000_000_000);

    let mut ar = Vec::new();
    b[0] = b'X';
    ar.extend(b);
    let (_d, r) = read_bytes(&finish(ar));
    let err = r.unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Archives written by GNU tar in each of its formats

fn make_tree(root: &Path, extended: bool) {
    use std::os::unix::fs::PermissionsExt;
    let d = root.join("dir/sub");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("file"), b"content\n").unwrap();
    std::fs::write(root.join("dir/empty"), b"").unwrap();
    std::fs::write(root.join("caf\u{e9}"), b"utf8").unwrap();
    std::fs::hard_link(d.join("file"), root.join("dir/hard")).unwrap();
    std::os::unix::fs::symlink("../dir/sub/file", root.join("dir/sym")).unwrap();
    let suid = root.join("dir/suid");
    std::fs::write(&suid, b"#!").unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let st = Command::new("mkfifo")
        .arg(root.join("dir/fifo"))
        .status()
        .unwrap();
    assert!(st.success());
    if extended {
        let long = root.join(format!("{}/{}", "L".repeat(120), "M".repeat(140)));
        std::fs::create_dir_all(long.parent().unwrap()).unwrap();
        std::fs::write(&long, b"long").unwrap();
        std::os::unix::fs::symlink("T".repeat(180), root.join("dir/longsym")).unwrap();
        std::fs::hard_link(&long, root.join("dir/longhard")).unwrap();
        std::fs::write(root.join("dir/with\nnewline"), b"nl").unwrap();
    }
}

#[test]
fn gnu_tar_formats_read_like_python() {
    for (format, extended) in [
        ("ustar", false),
        ("v7", false),
        ("oldgnu", true),
        ("gnu", true),
        ("posix", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        make_tree(&tree, extended);
        let tar = dir.path().join(format!("{format}.tar"));
        let out = Command::new("tar")
            .arg(format!("--format={format}"))
            // v7 cannot store fifos.
            .arg(if format == "v7" {
                "--exclude=./dir/fifo"
            } else {
                "--sort=name"
            })
            .args(["--sort=name", "-C"])
            .arg(&tree)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let entries = read_tar(&tar, format).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(entries.len() >= 9, "{format}");
        if format == "v7" {
            assert!(
                entries.iter().any(|e| e.kind == Kind::Dir),
                "v7 directories"
            );
        }
        assert_eq!(
            our_view(&entries),
            normalise_python(python_view(&tar)),
            "{format}"
        );
        assert!(entries.iter().any(|e| matches!(e.kind, Kind::HardLink(_))));
        if extended {
            assert!(entries.iter().any(|e| e.path.as_bytes().len() > 255));
        }
    }
}

/// Extended attributes as GNU tar writes them (values with newlines included): the allowed
/// ones are kept, others dropped. Skips when the file system refuses xattrs.
#[test]
fn gnu_tar_xattrs_are_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let f = tree.join("f");
    std::fs::write(&f, b"x").unwrap();
    let set = Command::new("python3")
        .arg("-c")
        .arg(
            "import os,sys\n\
             os.setxattr(sys.argv[1], 'user.test', b'a\\nb')\n\
             try:\n    os.setxattr(sys.argv[1], 'trusted.x', b'1')\nexcept OSError:\n    pass\n\
             try:\n    os.setxattr(sys.argv[1], 'security.capability', bytes.fromhex('0100000200200000000000000a0000000000000a'))\n\
             except OSError:\n    pass\n",
        )
        .arg(&f)
        .status()
        .unwrap();
    if !set.success() {
        eprintln!("skipping: no user xattrs on this file system");
        return;
    }
    let tar = dir.path().join("x.tar");
    let st = Command::new("tar")
        .args(["--format=posix", "--xattrs", "--xattrs-include=*", "-C"])
        .arg(&tree)
        .arg("-cf")
        .arg(&tar)
        .arg("f")
        .status()
        .unwrap();
    assert!(st.success());
    let entries = read_tar(&tar, "xattrs").unwrap();
    assert_eq!(entries.len(), 1);
    let x = &entries[0].xattrs;
    assert_eq!(
        x.get("user.test").map(Vec::as_slice),
        Some(b"a\nb".as_slice())
    );
    assert!(!x.contains_key("trusted.x"));
    assert!(x
        .keys()
        .all(|k| k == "user.test" || k == "security.capability"));
    assert!(
        entries[0].mtime > 0,
        "fractional PAX mtime read as whole seconds"
    );
}
