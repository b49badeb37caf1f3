//! `compose diff` on hand-built images: the layer and merged views, config fields, the
//! ignore options, every input format, and the JSON form.

mod diff_common;

use std::path::{Path, PathBuf};

use diff_common::*;
use scratch_compose::diff::{self, DiffOptions, Field, Format, Report};
use serde_json::Value;

fn compare(a: &Path, b: &Path, o: &DiffOptions) -> Report {
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(a, None, &s.path().join("a")).unwrap();
    let y = diff::open(b, None, &s.path().join("b")).unwrap();
    diff::diff(&x, &y, o).unwrap()
}

fn base() -> Vec<u8> {
    tar(&[
        T::Dir("./", 0o755),
        T::Dir("etc/", 0o755),
        T::File("etc/motd", 0o644, b"hello\n"),
        T::File("etc/gone", 0o644, b"bye\n"),
        T::Symlink("etc/link", "motd"),
    ])
}

fn top_a() -> Vec<u8> {
    tar(&[
        T::Dir("usr/", 0o755),
        T::File("usr/a", 0o644, b"a\n"),
        T::File("usr/b", 0o644, b"b\n"),
    ])
}

/// Four changes: usr/a's mode, usr/b's content, usr/new added, etc/gone whited out.
fn top_b() -> Vec<u8> {
    tar(&[
        T::Dir("usr/", 0o755),
        T::File("usr/a", 0o755, b"a\n"),
        T::File("usr/b", 0o644, b"B\n"),
        T::File("usr/new", 0o644, b"new\n"),
        T::File("etc/.wh.gone", 0o644, b""),
    ])
}

fn located(r: &Report) -> Vec<(String, Field)> {
    r.differences
        .iter()
        .map(|d| (d.location.clone(), d.field))
        .collect()
}

#[test]
fn equal_images_have_an_empty_report() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(&a, config(), &[base(), top_a()]);
    oci_layout(&b, config(), &[base(), top_a()]);
    let r = compare(&a, &b, &DiffOptions::default());
    assert!(r.is_equal(), "{r}");
    assert_eq!(r.to_string(), "no differences\n");
}

#[test]
fn names_exactly_mode_content_added_and_whiteout() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(&a, config(), &[base(), top_a()]);
    oci_layout(&b, config(), &[base(), top_b()]);
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![
            ("layer 2 /etc/gone".to_string(), Field::Whiteout),
            ("layer 2 /usr/a".to_string(), Field::Mode),
            ("layer 2 /usr/b".to_string(), Field::Content),
            ("layer 2 /usr/new".to_string(), Field::Added),
        ],
        "{r}"
    );
    let mode = &r.differences[1];
    assert_eq!((mode.left.as_str(), mode.right.as_str()), ("0644", "0755"));
    let content = &r.differences[2];
    assert_eq!(content.left, sha(b"b\n"));
    assert_eq!(content.right, sha(b"B\n"));
    assert_eq!(
        r.same_filesystem,
        vec![("linux/amd64".to_string(), Some(false))]
    );
    // The text starts at the first difference.
    assert!(
        r.to_string()
            .starts_with("layer 2 /etc/gone: whiteout: - -> whiteout\n"),
        "{r}"
    );
}

#[test]
fn layers_cut_differently_fall_back_to_the_merged_view() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(&a, config(), &[base(), top_a()]);
    // The same files in one layer.
    let one = tar(&[
        T::Dir("etc/", 0o755),
        T::File("etc/motd", 0o644, b"hello\n"),
        T::File("etc/gone", 0o644, b"bye\n"),
        T::Symlink("etc/link", "motd"),
        T::Dir("usr/", 0o755),
        T::File("usr/a", 0o644, b"a\n"),
        T::File("usr/b", 0o644, b"b\n"),
    ]);
    oci_layout(&b, config(), &[one]);
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![("layers".to_string(), Field::LayerCount)],
        "{r}"
    );
    assert_eq!(
        r.same_filesystem,
        vec![("linux/amd64".to_string(), Some(true))]
    );
    // And the same against the four changes: the merged view names them.
    let c = t.path().join("c");
    oci_layout(&c, config(), &[base(), top_b()]);
    let r = compare(&b, &c, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![
            ("layers".to_string(), Field::LayerCount),
            ("merged /etc/gone".to_string(), Field::Removed),
            ("merged /usr/a".to_string(), Field::Mode),
            ("merged /usr/b".to_string(), Field::Content),
            ("merged /usr/new".to_string(), Field::Added),
        ],
        "{r}"
    );
}

#[test]
fn config_label_env_and_cmd_changes_are_named() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(&a, config(), &[base()]);
    let mut cfg = config();
    cfg["config"]["Labels"]["a"] = "2".into();
    cfg["config"]["Env"] = serde_json::json!(["PATH=/bin"]);
    cfg["config"]["Cmd"] = serde_json::json!(["/bin/ash"]);
    oci_layout(&b, cfg, &[base()]);
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![
            ("config.Cmd".to_string(), Field::Config),
            ("config.Env".to_string(), Field::Config),
            ("config.Labels.a".to_string(), Field::Label),
        ],
        "{r}"
    );
    assert_eq!(r.differences[0].left, r#"["/bin/sh"]"#);
    assert_eq!(r.differences[2].right, "2");
    // Identical layers: the filesystem views are not needed.
    assert_eq!(r.same_filesystem, vec![("linux/amd64".to_string(), None)]);
}

/// Two images differing in one file's mtime, another's owner, a label, the history and
/// `created`.
fn relaxed_pair(t: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (t.join("a"), t.join("b"));
    let la = tar(&[
        T::Dir("etc/", 0o755),
        T::FileAt("etc/t", 0o644, b"t", MTIME, 0),
        T::FileAt("etc/o", 0o644, b"o", MTIME, 0),
    ]);
    let lb = tar(&[
        T::Dir("etc/", 0o755),
        T::FileAt("etc/t", 0o644, b"t", 5, 0),
        T::FileAt("etc/o", 0o644, b"o", MTIME, 1000),
    ]);
    oci_layout(&a, config(), &[la]);
    let mut cfg = config();
    cfg["created"] = "2024-01-01T00:00:00Z".into();
    cfg["config"]["Labels"]["io.buildah.version"] = "1.28.2".into();
    cfg["history"] = serde_json::json!([
        {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in / "},
        {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) CMD", "empty_layer": true}
    ]);
    oci_layout(&b, cfg, &[lb]);
    (a, b)
}

#[test]
fn each_ignore_option_suppresses_exactly_its_kind() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = relaxed_pair(t.path());
    let strict = compare(&a, &b, &DiffOptions::default());
    let mut want_all = vec![
        ("config.created".to_string(), Field::Created),
        ("config.history[0].created".to_string(), Field::Created),
        ("config.history[0].created_by".to_string(), Field::History),
        ("config.history[1]".to_string(), Field::History),
        ("config.Labels.io.buildah.version".to_string(), Field::Label),
        ("layer 1 /etc/o".to_string(), Field::Owner),
        ("layer 1 /etc/t".to_string(), Field::Mtime),
    ];
    want_all.sort();
    let mut all = located(&strict);
    all.sort();
    assert_eq!(all, want_all, "{strict}");
    let without = |kinds: &[Field]| -> Vec<(String, Field)> {
        all.iter()
            .filter(|(_, f)| !kinds.contains(f))
            .cloned()
            .collect()
    };
    let sorted = |r: Report| {
        let mut v = located(&r);
        v.sort();
        v
    };
    assert_eq!(all.len(), 7, "{strict}");
    let o = DiffOptions {
        ignore_mtime: true,
        ..Default::default()
    };
    assert_eq!(
        sorted(compare(&a, &b, &o)),
        without(&[Field::Mtime, Field::Created])
    );
    let o = DiffOptions {
        ignore_owner: true,
        ..Default::default()
    };
    assert_eq!(sorted(compare(&a, &b, &o)), without(&[Field::Owner]));
    let o = DiffOptions {
        ignore_labels: vec!["io.buildah.version".into()],
        ..Default::default()
    };
    assert_eq!(sorted(compare(&a, &b, &o)), without(&[Field::Label]));
    let o = DiffOptions {
        ignore_history: true,
        ..Default::default()
    };
    let mut want = without(&[Field::History]);
    want.retain(|(l, _)| !l.starts_with("config.history"));
    assert_eq!(sorted(compare(&a, &b, &o)), want);
    let o = DiffOptions {
        ignore_mtime: true,
        ignore_history: true,
        ignore_owner: true,
        ignore_labels: vec!["io.buildah.version".into()],
        ..Default::default()
    };
    let r = compare(&a, &b, &o);
    assert!(r.is_equal(), "{r}");
}

#[test]
fn a_rootfs_tar_equals_an_image_of_the_same_tree() {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("img");
    let one = tar(&[
        T::Dir("./", 0o755),
        T::Dir("etc/", 0o755),
        T::File("etc/motd", 0o644, b"hello\n"),
        T::Symlink("etc/link", "motd"),
    ]);
    oci_layout(&img, config(), std::slice::from_ref(&one));
    // The same tree, without a root entry, in another order, gzipped.
    let rootfs = tar(&[
        T::Symlink("etc/link", "motd"),
        T::Dir("etc/", 0o755),
        T::File("etc/motd", 0o644, b"hello\n"),
    ]);
    let p = t.path().join("rootfs.tar.gz");
    std::fs::write(&p, gzip(&rootfs)).unwrap();
    let s = tempfile::tempdir().unwrap();
    assert_eq!(
        diff::open(&p, None, s.path()).unwrap().format,
        Format::RootfsTar
    );
    let r = compare(&img, &p, &DiffOptions::default());
    assert!(r.is_equal(), "{r}");
    // And a changed file in the tar is named in the merged view.
    let changed = tar(&[
        T::Dir("etc/", 0o755),
        T::File("etc/motd", 0o600, b"hello\n"),
        T::Symlink("etc/link", "motd"),
    ]);
    let q = t.path().join("rootfs.tar");
    std::fs::write(&q, changed).unwrap();
    let r = compare(&img, &q, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![("merged /etc/motd".to_string(), Field::Mode)],
        "{r}"
    );
}

#[test]
fn archives_in_every_shape_open_and_compare_equal() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    oci_layout(&layout, config(), &[base(), top_a()]);
    let oci = t.path().join("oci.tar");
    oci_archive(&oci, config(), &[base(), top_a()]);
    let docker = t.path().join("docker.tar");
    podman_docker_archive(&docker, config(), &[base(), top_a()]);
    let s = tempfile::tempdir().unwrap();
    let formats: Vec<Format> = [&layout, &oci, &docker]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            diff::open(p, None, &s.path().join(i.to_string()))
                .unwrap()
                .format
        })
        .collect();
    assert_eq!(
        formats,
        vec![Format::OciLayout, Format::OciArchive, Format::DockerArchive]
    );
    for other in [&oci, &docker] {
        let r = compare(&layout, other, &DiffOptions::default());
        assert!(r.is_equal(), "{}: {r}", other.display());
    }
    // A podman docker-archive with the four changes is read layer by layer.
    let changed = t.path().join("changed.tar");
    podman_docker_archive(&changed, config(), &[base(), top_b()]);
    let r = compare(&docker, &changed, &DiffOptions::default());
    assert_eq!(
        r.fields(),
        vec![Field::Whiteout, Field::Mode, Field::Content, Field::Added],
        "{r}"
    );
}

#[test]
fn json_output_parses_and_is_canonical() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(&a, config(), &[base(), top_a()]);
    oci_layout(&b, config(), &[base(), top_b()]);
    let mut out = Vec::new();
    let equal = diff::run_diff(&a, &b, None, &DiffOptions::default(), true, &mut out).unwrap();
    assert!(!equal);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    // Canonical: serde_json's sorted maps, compact, give back the same bytes.
    assert_eq!(serde_json::to_string(&v).unwrap(), text.trim_end());
    assert_eq!(v["equal"], Value::Bool(false));
    let fields: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["whiteout", "mode", "content", "added"]);
    assert_eq!(v["differences"][1]["location"], "layer 2 /usr/a");

    let mut out = Vec::new();
    assert!(diff::run_diff(&a, &a, None, &DiffOptions::default(), false, &mut out).unwrap());
    assert_eq!(String::from_utf8(out).unwrap(), "no differences\n");
}

#[test]
fn unreadable_inputs_are_errors_with_hints() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let s = tempfile::tempdir().unwrap();
    // A folder without index.json is an unpacked tree (here an empty one) ...
    let opened = diff::open(&empty, None, s.path()).unwrap();
    assert_eq!(opened.format, diff::Format::RootfsDir);
    // ... unless it is an OCI layout that lost its index.json.
    std::fs::write(
        empty.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let e = diff::open(&empty, None, s.path()).unwrap_err();
    assert!(e.to_string().contains("index.json"), "{e}");
    assert!(e.hint().is_some());
    let e = diff::open(&t.path().join("nope"), None, s.path()).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, vec![7u8; 1000]).unwrap();
    assert!(diff::open(&junk, None, s.path()).is_err());
}

#[test]
fn type_link_target_hard_link_and_xattr_changes_are_named() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let la = tar(&[
        T::Dir("bin/", 0o755),
        T::File("bin/busybox", 0o755, b"bb"),
        T::File("bin/other", 0o755, b"ot"),
        T::HardLink("bin/sh", "bin/busybox"),
        T::Symlink("bin/ls", "busybox"),
        T::Dir("bin/x", 0o755),
        T::FileXattr("bin/ping", b"p", "security.capability", b"\x01"),
    ]);
    let lb = tar(&[
        T::Dir("bin/", 0o755),
        T::File("bin/busybox", 0o755, b"bb"),
        T::File("bin/other", 0o755, b"ot"),
        T::HardLink("bin/sh", "bin/other"),
        T::Symlink("bin/ls", "/bin/busybox"),
        T::File("bin/x", 0o755, b""),
        T::FileXattr("bin/ping", b"p", "security.capability", b"\x02"),
    ]);
    oci_layout(&a, config(), &[la]);
    oci_layout(&b, config(), &[lb]);
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![
            ("layer 1 /bin/ls".to_string(), Field::LinkTarget),
            ("layer 1 /bin/ping".to_string(), Field::Xattr),
            ("layer 1 /bin/sh".to_string(), Field::LinkTarget),
            ("layer 1 /bin/x".to_string(), Field::Type),
        ],
        "{r}"
    );
    assert_eq!(r.differences[0].right, "/bin/busybox");
    assert_eq!(r.differences[1].left, "security.capability=0x01");
    assert_eq!(r.differences[3].left, "dir 0755");
    assert_eq!(r.differences[3].right, "file 0755 0 bytes");
}

#[test]
fn several_platforms_are_matched_and_named() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout_multi(
        &a,
        &[
            ("linux", "amd64", None, vec![base(), top_a()]),
            ("linux", "arm64", Some("v8"), vec![base(), top_a()]),
        ],
    );
    oci_layout_multi(
        &b,
        &[
            ("linux", "amd64", None, vec![base(), top_a()]),
            ("linux", "arm64", Some("v8"), vec![base(), top_b()]),
        ],
    );
    let r = compare(&a, &b, &DiffOptions::default());
    let plats: Vec<Option<&str>> = r
        .differences
        .iter()
        .map(|d| d.platform.as_deref())
        .collect();
    assert_eq!(plats, vec![Some("linux/arm64/v8"); 4], "{r}");
    assert_eq!(
        r.fields(),
        vec![Field::Whiteout, Field::Mode, Field::Content, Field::Added]
    );
    assert!(
        r.to_string()
            .starts_with("linux/arm64/v8: layer 2 /etc/gone: whiteout"),
        "{r}"
    );
    assert_eq!(
        r.same_filesystem,
        vec![
            ("linux/amd64".to_string(), None),
            ("linux/arm64/v8".to_string(), Some(false))
        ]
    );

    // --platform picks one; an absent one is an error naming what there is.
    let s = tempfile::tempdir().unwrap();
    let amd: scratch_compose::platform::Platform = "linux/amd64".parse().unwrap();
    let x = diff::open(&a, Some(&amd), &s.path().join("x")).unwrap();
    let y = diff::open(&b, Some(&amd), &s.path().join("y")).unwrap();
    assert!(diff::diff(&x, &y, &DiffOptions::default())
        .unwrap()
        .is_equal());
    let ppc: scratch_compose::platform::Platform = "linux/ppc64le".parse().unwrap();
    let e = diff::open(&a, Some(&ppc), &s.path().join("z")).unwrap_err();
    assert!(e.to_string().contains("linux/amd64, linux/arm64/v8"), "{e}");

    // A platform on one side only.
    let c = t.path().join("c");
    oci_layout_multi(&c, &[("linux", "amd64", None, vec![base(), top_a()])]);
    let d = t.path().join("d");
    oci_layout_multi(
        &d,
        &[
            ("linux", "amd64", None, vec![base(), top_a()]),
            ("linux", "arm64", None, vec![base()]),
        ],
    );
    let r = compare(&c, &d, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![("platforms".to_string(), Field::Platform)],
        "{r}"
    );
    assert_eq!(r.differences[0].right, "linux/arm64/v8");
}

#[test]
fn layers_that_differ_only_in_encoding_are_named_when_strict() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    oci_layout(
        &a,
        config(),
        &[tar(&[T::Dir("etc/", 0o755), T::File("etc/x", 0o644, b"x")])],
    );
    // The same entries in another order: another diff_id, the same files.
    oci_layout(
        &b,
        config(),
        &[tar(&[T::File("etc/x", 0o644, b"x"), T::Dir("etc/", 0o755)])],
    );
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        located(&r),
        vec![("layer 1".to_string(), Field::Encoding)],
        "{r}"
    );
    assert_eq!(
        r.same_filesystem,
        vec![("linux/amd64".to_string(), Some(true))]
    );
    let relaxed = DiffOptions {
        ignore_owner: true,
        ..Default::default()
    };
    assert!(compare(&a, &b, &relaxed).is_equal());
}

#[test]
fn a_rootfs_against_several_platforms_asks_for_one() {
    let t = tempfile::tempdir().unwrap();
    let multi = t.path().join("multi");
    oci_layout_multi(
        &multi,
        &[
            ("linux", "amd64", None, vec![base()]),
            ("linux", "arm64", Some("v8"), vec![base()]),
        ],
    );
    let rootfs = t.path().join("rootfs.tar");
    std::fs::write(&rootfs, base()).unwrap();
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(&multi, None, &s.path().join("x")).unwrap();
    let y = diff::open(&rootfs, None, &s.path().join("y")).unwrap();
    let e = diff::diff(&x, &y, &DiffOptions::default()).unwrap_err();
    assert!(e.to_string().contains("linux/amd64, linux/arm64/v8"), "{e}");
    assert!(e.hint().unwrap().contains("--platform"));
    let arm: scratch_compose::platform::Platform = "linux/arm64".parse().unwrap();
    let x = diff::open(&multi, Some(&arm), &s.path().join("z")).unwrap();
    assert!(diff::diff(&x, &y, &DiffOptions::default())
        .unwrap()
        .is_equal());
}

#[test]
fn malformed_images_are_errors_not_panics() {
    let t = tempfile::tempdir().unwrap();
    let s = tempfile::tempdir().unwrap();
    let good = t.path().join("good");
    oci_layout(&good, config(), &[base()]);
    let open_and_diff = |p: &Path| -> Result<Report, diff::DiffError> {
        let x = diff::open(&good, None, &s.path().join("g"))?;
        let y = diff::open(p, None, &s.path().join("p"))?;
        diff::diff(&x, &y, &DiffOptions::default())
    };
    let copy = |name: &str| {
        let d = t.path().join(name);
        std::fs::create_dir_all(d.join("blobs/sha256")).unwrap();
        for e in std::fs::read_dir(good.join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join("blobs/sha256").join(e.file_name())).unwrap();
        }
        std::fs::copy(good.join("index.json"), d.join("index.json")).unwrap();
        d
    };
    // index.json that is not JSON.
    let bad = copy("badjson");
    std::fs::write(bad.join("index.json"), b"{not json").unwrap();
    let e = open_and_diff(&bad).unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    // A missing blob.
    let missing = copy("missing");
    for e in std::fs::read_dir(missing.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if text.contains("\"rootfs\"") {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let e = open_and_diff(&missing).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    // A truncated layer: compared against a different image so it must be read.
    let other = t.path().join("other");
    oci_layout(&other, config(), &[top_a()]);
    let trunc = copy("trunc");
    for e in std::fs::read_dir(trunc.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        }
    }
    let x = diff::open(&other, None, &s.path().join("o")).unwrap();
    let y = diff::open(&trunc, None, &s.path().join("t")).unwrap();
    let e = diff::diff(&x, &y, &DiffOptions::default()).unwrap_err();
    assert!(e.to_string().contains("layer 1"), "{e}");
    // A tar entry that climbs out of the root.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let evil = t.path().join("evil.tar");
    std::fs::write(&evil, b.into_inner().unwrap()).unwrap();
    let e = open_and_diff(&evil).unwrap_err();
    assert!(e.to_string().contains(".."), "{e}");
}

/// The blob files of an OCI layout's (single) image: (manifest, config, layers).
fn blob_files(dir: &Path) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let file = |d: &str| {
        dir.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let index = read(&dir.join("index.json"));
    let manifest = file(index["manifests"][0]["digest"].as_str().unwrap());
    let m = read(&manifest);
    let config = file(m["config"]["digest"].as_str().unwrap());
    let layers = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| file(l["digest"].as_str().unwrap()))
        .collect();
    (manifest, config, layers)
}

/// Copy an OCI layout folder.
fn copy_layout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blobs/sha256")).unwrap();
    std::fs::copy(from.join("index.json"), to.join("index.json")).unwrap();
    for e in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("blobs/sha256").join(e.file_name())).unwrap();
    }
}

#[test]
fn blobs_changed_without_their_digests_are_never_equal() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    oci_layout(&a, config(), &[base(), top_a()]);
    let other = t.path().join("other");
    oci_layout(&other, config(), &[base(), top_b()]);
    let (_, _, other_layers) = blob_files(&other);
    // Layer 2's bytes swapped for another valid layer, every digest left as it was: the
    // digests still say "identical", the bytes do not.
    let b = t.path().join("b");
    copy_layout(&a, &b);
    let (_, config_file, layers) = blob_files(&b);
    std::fs::copy(&other_layers[1], &layers[1]).unwrap();
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(&a, None, &s.path().join("x")).unwrap();
    let y = diff::open(&b, None, &s.path().join("y")).unwrap();
    let e = diff::diff(&x, &y, &DiffOptions::default()).unwrap_err();
    let digest = layers[1].file_name().unwrap().to_string_lossy().to_string();
    assert!(e.to_string().contains("layer 2"), "{e}");
    assert!(e.to_string().contains(&digest), "{e}");
    assert!(e.hint().is_some());
    // The config likewise (a changed env, same digest).
    let c = t.path().join("c");
    copy_layout(&a, &c);
    let (_, cfg_c, _) = blob_files(&c);
    let text = std::fs::read_to_string(&cfg_c).unwrap();
    std::fs::write(&cfg_c, text.replace("PATH=", "PATH=/opt:")).unwrap();
    assert_ne!(
        std::fs::read(&cfg_c).unwrap(),
        std::fs::read(&config_file).unwrap()
    );
    let z = diff::open(&c, None, &s.path().join("z")).unwrap();
    let e = diff::diff(&x, &z, &DiffOptions::default()).unwrap_err();
    assert!(e.to_string().contains("config"), "{e}");
}

#[test]
fn a_layer_changed_with_new_blob_digests_but_a_stale_diff_id_is_compared_by_content() {
    // Layer 2 swapped for another, its manifest and index digests updated, but the config's
    // diff_ids left as they were: equal diff_ids must not hide the changed entries.
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    oci_layout(&a, config(), &[base(), top_a()]);
    let b = t.path().join("b");
    oci_layout(&b, config(), &[base(), top_b()]);
    let stale = serde_json::json!([sha(&base()), sha(&top_a())]);
    rewrite_config(&b, |cfg| cfg["rootfs"]["diff_ids"] = stale);
    let r = compare(&a, &b, &DiffOptions::default());
    assert_eq!(
        r.fields(),
        vec![Field::Whiteout, Field::Mode, Field::Content, Field::Added],
        "{r}"
    );
}

/// Change an OCI layout's (single) config with `edit`, storing it under its new digest and
/// updating the manifest and `index.json` to match, as a careful tool would.
fn rewrite_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let (manifest_file, config_file, _) = blob_files(dir);
    let put = |bytes: &[u8]| -> String {
        let d = sha(bytes);
        std::fs::write(dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        d
    };
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    edit(&mut cfg);
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest_file).unwrap()).unwrap();
    m["config"]["digest"] = put(&cfg_bytes).into();
    m["config"]["size"] = cfg_bytes.len().into();
    let m_bytes = serde_json::to_vec(&m).unwrap();
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"] = put(&m_bytes).into();
    index["manifests"][0]["size"] = m_bytes.len().into();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn a_docker_archive_layer_changed_without_its_diff_id_is_an_error() {
    // podman's docker-archive stores plain layer tars named by digest, with no blob digests
    // in manifest.json: the config's diff_ids are what name their bytes.
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.tar");
    podman_docker_archive(&good, config(), &[base(), top_a()]);
    // Flip usr/a's byte inside layer 2, in place.
    let mut bytes = std::fs::read(&good).unwrap();
    let layer = top_a();
    let at = bytes
        .windows(layer.len())
        .position(|w| w == layer.as_slice())
        .expect("layer 2 stored as is");
    let mut inner = tar::Archive::new(layer.as_slice());
    let data = inner
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("usr/a"))
        .unwrap()
        .raw_file_position() as usize;
    assert_eq!(bytes[at + data], b'a');
    bytes[at + data] = b'z';
    let bad = t.path().join("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(&good, None, &s.path().join("x")).unwrap();
    let y = diff::open(&bad, None, &s.path().join("y")).unwrap();
    let e = diff::diff(&x, &y, &DiffOptions::default()).unwrap_err();
    assert!(e.to_string().contains("layer 2"), "{e}");
    assert!(e.to_string().contains(&sha(&layer)), "{e}");
    // The untouched archive still equals itself.
    let z = diff::open(&good, None, &s.path().join("z")).unwrap();
    assert!(diff::diff(&x, &z, &DiffOptions::default())
        .unwrap()
        .is_equal());
}
