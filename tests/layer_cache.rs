//! The layer cache: a warm build reuses every unchanged layer and writes exactly the
//! bytes of a cold one; a damaged cached blob is caught and rebuilt; any change to what
//! decides a layer's bytes misses; `compose verify` never uses it; `cache prune` frees it.
//! An archive output found unchanged is left in place, and once remembered not even read.
//!
//! Each build runs with `-v`, which names every layer as "built" or "from the layer
//! cache", so the tests see what the cache did, not only that the output is right.

mod common;
use common::cli::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A small project: a gzip tar with a symlinked `lib` (so the layer above it depends on
/// the tree below), a layer of local file, inline file, local directory, symlink and
/// `remove`, and a layer with one file of a fixed mode.
fn project(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir.join("static/css")).unwrap();
    write_base(dir, "usr/lib");
    fs::write(dir.join("app.sh"), "#!/bin/sh\necho app\n").unwrap();
    fs::write(dir.join("data.txt"), "data\n").unwrap();
    fs::write(dir.join("static/index.html"), "<p>hi</p>\n").unwrap();
    fs::write(dir.join("static/css/site.css"), "p{}\n").unwrap();
    let manifest = dir.join("scratch.toml");
    fs::write(
        &manifest,
        r#"[image]
name = "localhost/layer-cache"
tag = "t"
source_date_epoch = 1700000000

[config]
cmd = ["/bin/sh"]

[[layer]]
tar = "base.tar.gz"

[[layer]]
remove = ["/etc/old"]
[[layer.file]]
src = "app.sh"
dest = "/lib/app.sh"
[[layer.file]]
dest = "/etc/app.conf"
content = "x = 1\n"
[[layer.dir]]
src = "static"
dest = "/srv/static"
[[layer.symlink]]
dest = "/usr/bin/app"
target = "/lib/app.sh"

[[layer]]
[[layer.file]]
src = "data.txt"
dest = "/data.txt"
mode = "0600"
"#,
    )
    .unwrap();
    manifest
}

/// `base.tar.gz`: `usr/lib/`, `lib` → `lib_target`, `etc/old`, `etc/keep`.
fn write_base(dir: &Path, lib_target: &str) {
    let file = fs::File::create(dir.join("base.tar.gz")).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    let mut add = |name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_path(name).unwrap();
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("usr/", tar::EntryType::Directory, b"", None);
    add("usr/lib/", tar::EntryType::Directory, b"", None);
    add("usr/lib64/", tar::EntryType::Directory, b"", None);
    add("lib", tar::EntryType::Symlink, b"", Some(lib_target));
    add("etc/", tar::EntryType::Directory, b"", None);
    add("etc/old", tar::EntryType::Regular, b"old\n", None);
    add("etc/keep", tar::EntryType::Regular, b"keep\n", None);
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

/// Replace `from` with `to` in the file at `path`; `from` must be there, so an edit that
/// silently changes nothing cannot pass for a change.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

/// Copy a project to a new folder (local inputs are read relative to the manifest).
fn copy_project(from: &Path, to: &Path) -> PathBuf {
    fn copy(a: &Path, b: &Path) {
        fs::create_dir_all(b).unwrap();
        for e in fs::read_dir(a).unwrap() {
            let e = e.unwrap();
            let (src, dst) = (e.path(), b.join(e.file_name()));
            if src.is_dir() {
                copy(&src, &dst);
            } else {
                fs::copy(&src, &dst).unwrap();
            }
        }
    }
    copy(from, to);
    to.join("scratch.toml")
}

/// What one `compose -v build` did.
struct Build {
    digest: String,
    built: usize,
    reused: usize,
    stderr: String,
}

fn build_in(cache: &Path, manifest: &Path, format: &str, out: &Path, extra: &[&str]) -> Build {
    let o = run(compose(cache)
        .arg("-v")
        .arg("-f")
        .arg(manifest)
        .args(["build", "--format", format, "-o"])
        .arg(out)
        .args(extra));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "build failed: {stderr}");
    Build {
        digest: String::from_utf8_lossy(&o.stdout).trim().to_string(),
        built: stderr.matches(": built (").count(),
        reused: stderr.matches(": from the layer cache (").count(),
        stderr,
    }
}

/// Every byte of an output, file or directory.
fn contents(out: &Path) -> Vec<(String, String)> {
    if out.is_dir() {
        tree_digests(out)
    } else {
        vec![(String::new(), sha256_file(out))]
    }
}

/// The layer records in a cache: (record file, blob digest hex).
fn records(cache: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = fs::read_dir(cache.join("layers")) else {
        return Vec::new();
    };
    let mut out: Vec<_> = rd
        .map(|e| {
            let p = e.unwrap().path();
            let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            let d = v["digest"].as_str().unwrap();
            (p, d.strip_prefix("sha256:").unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_warm_build_reuses_every_layer_and_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    for format in ["oci", "oci-archive", "docker-archive"] {
        let cache = dir.path().join(format!("cache-{format}"));
        let cold_out = dir.path().join(format!("cold-{format}"));
        let warm_out = dir.path().join(format!("warm-{format}"));
        let cold = build_in(&cache, &manifest, format, &cold_out, &[]);
        assert_eq!((cold.built, cold.reused), (3, 0), "{}", cold.stderr);
        let warm = build_in(&cache, &manifest, format, &warm_out, &[]);
        assert_eq!((warm.built, warm.reused), (0, 3), "{}", warm.stderr);
        assert_eq!(cold.digest, warm.digest);
        assert_eq!(contents(&cold_out), contents(&warm_out), "{format}");
        // Building again over the same output changes nothing either.
        build_in(&cache, &manifest, format, &warm_out, &[]);
        assert_eq!(contents(&cold_out), contents(&warm_out), "{format}");
    }
}

#[test]
fn a_squashed_image_is_cached_as_one_layer() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    edit(
        &manifest,
        "source_date_epoch",
        "squash = true\nsource_date_epoch",
    );
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    let cold = build_in(&cache, &manifest, "oci-archive", &a, &[]);
    assert!(
        cold.stderr.contains("squashed layer: built"),
        "{}",
        cold.stderr
    );
    let warm = build_in(&cache, &manifest, "oci-archive", &b, &[]);
    assert!(
        warm.stderr.contains("squashed layer: from the layer cache"),
        "{}",
        warm.stderr
    );
    assert_eq!(sha256_file(&a), sha256_file(&b));
}

#[test]
fn a_full_hit_needs_no_remote_input() {
    // A pinned input behind a URL is known by its pin: when every layer is cached, it is
    // neither fetched nor read, so the build works offline with the input gone.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    let manifest = project(&p);
    let base = p.join("base.tar.gz");
    let pin = sha256_file(&base);
    edit(
        &manifest,
        "tar = \"base.tar.gz\"",
        &format!("tar = \"file://{}\"\nsha256 = \"{pin}\"", base.display()),
    );
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    build_in(&cache, &manifest, "oci-archive", &a, &[]);
    fs::remove_file(&base).unwrap();
    fs::remove_file(cache.join("blobs/sha256").join(&pin)).unwrap();
    fs::remove_dir_all(cache.join("derived")).unwrap();
    let warm = build_in(&cache, &manifest, "oci-archive", &b, &["--offline"]);
    assert_eq!((warm.built, warm.reused), (0, 3), "{}", warm.stderr);
    assert_eq!(sha256_file(&a), sha256_file(&b));
    // A layer that must be built needs the input again, and says so.
    let o = run(compose(&cache)
        .arg("-f")
        .arg(&manifest)
        .arg("--offline")
        .args([
            "build",
            "--compression",
            "gzip:1",
            "--format",
            "oci-archive",
            "-o",
        ])
        .arg(dir.path().join("c.tar")));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_corrupt_or_truncated_cached_blob_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    let cold_out = dir.path().join("cold.tar");
    build_in(&cache, &manifest, "docker-archive", &cold_out, &[]);
    let recs = records(&cache);
    assert_eq!(recs.len(), 3);
    // Damage two of the three layer blobs: one flipped byte, one truncation.
    let blob = |hex: &str| cache.join("blobs/sha256").join(hex);
    let flipped = blob(&recs[0].1);
    let mut bytes = fs::read(&flipped).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&flipped, &bytes).unwrap();
    let truncated = blob(&recs[1].1);
    let len = fs::metadata(&truncated).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let warm_out = dir.path().join("warm.tar");
    let warm = build_in(&cache, &manifest, "docker-archive", &warm_out, &[]);
    assert_eq!((warm.built, warm.reused), (2, 1), "{}", warm.stderr);
    assert_eq!(sha256_file(&cold_out), sha256_file(&warm_out));
    // The cache holds good blobs again, and serves them.
    for (_, hex) in records(&cache) {
        assert_eq!(sha256_file(&blob(&hex)), hex);
    }
    let again = build_in(&cache, &manifest, "docker-archive", &warm_out, &[]);
    assert_eq!((again.built, again.reused), (0, 3), "{}", again.stderr);
    assert_eq!(sha256_file(&cold_out), sha256_file(&warm_out));

    // A damaged record is a miss too.
    for (rec, _) in records(&cache) {
        fs::write(&rec, b"{\"digest\":").unwrap();
    }
    let rebuilt = build_in(&cache, &manifest, "docker-archive", &warm_out, &[]);
    assert_eq!(
        (rebuilt.built, rebuilt.reused),
        (3, 0),
        "{}",
        rebuilt.stderr
    );
    assert_eq!(sha256_file(&cold_out), sha256_file(&warm_out));
}

/// A change to the project, and how many layers it must rebuild (of three).
type Change = (&'static str, fn(&Path), &'static [&'static str], usize);

#[test]
fn changing_anything_that_decides_a_layer_misses() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let manifest = project(&original);
    let cache = dir.path().join("cache");
    let base_out = dir.path().join("base.tar");
    let base = build_in(&cache, &manifest, "oci-archive", &base_out, &[]);

    let changes: Vec<Change> = vec![
        (
            "a local file's content",
            |p| fs::write(p.join("app.sh"), "#!/bin/sh\necho changed\n").unwrap(),
            &[],
            2,
        ),
        (
            "a local file's host mode",
            |p| {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(p.join("app.sh"), fs::Permissions::from_mode(0o755)).unwrap()
            },
            &[],
            2,
        ),
        (
            "a file mode in the manifest",
            |p| {
                edit(
                    &p.join("scratch.toml"),
                    "mode = \"0600\"",
                    "mode = \"0640\"",
                )
            },
            &[],
            1,
        ),
        (
            "inline content",
            |p| edit(&p.join("scratch.toml"), "x = 1", "x = 2"),
            &[],
            2,
        ),
        (
            "a file in a local directory",
            |p| fs::write(p.join("static/css/site.css"), "p{color:red}\n").unwrap(),
            &[],
            2,
        ),
        (
            "the lower layer only (the symlink the upper layer's paths resolve through)",
            |p| write_base(p, "usr/lib64"),
            &[],
            3,
        ),
        (
            "the epoch",
            |p| edit(&p.join("scratch.toml"), "1700000000", "1700000001"),
            &[],
            3,
        ),
        (
            "the compression level",
            |_| {},
            &["--compression", "gzip:7"],
            3,
        ),
        ("the compression", |_| {}, &["--compression", "zstd"], 3),
        (
            "the owner of a symlink",
            |p| {
                edit(
                    &p.join("scratch.toml"),
                    "target = \"/lib/app.sh\"",
                    "target = \"/lib/app.sh\"\nuid = 7",
                )
            },
            &[],
            2,
        ),
    ];
    for (i, (what, change, extra, expect_built)) in changes.into_iter().enumerate() {
        let p = dir.path().join(format!("change-{i}"));
        let m = copy_project(&original, &p);
        change(&p);
        let warm_out = dir.path().join(format!("warm-{i}.tar"));
        let warm = build_in(&cache, &m, "oci-archive", &warm_out, extra);
        assert_eq!(
            (warm.built, warm.reused),
            (expect_built, 3 - expect_built),
            "{what}: {}",
            warm.stderr
        );
        assert_ne!(warm.digest, base.digest, "{what}: the change must show");
        // What the warm cache gave is exactly what a cold build gives.
        let cold_out = dir.path().join(format!("cold-{i}.tar"));
        let cold = build_in(
            &dir.path().join(format!("cold-cache-{i}")),
            &m,
            "oci-archive",
            &cold_out,
            extra,
        );
        assert_eq!(cold.built, 3);
        assert_eq!(sha256_file(&cold_out), sha256_file(&warm_out), "{what}");
    }
    // And the unchanged project still hits everything.
    let again = build_in(
        &cache,
        &manifest,
        "oci-archive",
        &dir.path().join("again.tar"),
        &[],
    );
    assert_eq!((again.built, again.reused), (0, 3), "{}", again.stderr);
    assert_eq!(again.digest, base.digest);
}

#[test]
fn verify_never_uses_the_layer_cache() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    run_ok(
        compose(&cache)
            .arg("-q")
            .arg("-f")
            .arg(&manifest)
            .arg("lock"),
    );
    let recs = records(&cache);
    assert_eq!(recs.len(), 3, "compose lock fills the layer cache");
    // Poison the top layer's record with another layer's (valid) blob.
    let top = serde_json::from_slice::<serde_json::Value>(&fs::read(&recs[0].0).unwrap()).unwrap();
    let other =
        serde_json::from_slice::<serde_json::Value>(&fs::read(&recs[1].0).unwrap()).unwrap();
    assert_ne!(other["digest"], top["digest"]);
    fs::write(&recs[0].0, serde_json::to_vec(&other).unwrap()).unwrap();
    // A build trusts the cache, so the poison shows in its output…
    let lock = fs::read_to_string(manifest.with_file_name("scratch.lock")).unwrap();
    let b = build_in(
        &cache,
        &manifest,
        "oci-archive",
        &dir.path().join("b.tar"),
        &[],
    );
    assert_eq!(b.reused, 3, "{}", b.stderr);
    assert!(
        !lock.contains(&b.digest),
        "the poisoned build must differ from the lock"
    );
    // …but verify rebuilds from the inputs and reproduces the lock.
    let o = run(compose(&cache).arg("-f").arg(&manifest).arg("verify"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("reproduced"));
    // It did not write to the cache either: the poisoned record is still there.
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&fs::read(&recs[0].0).unwrap()).unwrap()
            ["digest"],
        serde_json::from_slice::<serde_json::Value>(&fs::read(&recs[1].0).unwrap()).unwrap()
            ["digest"],
    );
}

#[test]
fn cache_prune_frees_the_layers_the_lock_does_not_record() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.tar");
    let prune = |extra: &[&str]| {
        run_ok(
            compose(&cache)
                .arg("-f")
                .arg(&manifest)
                .args(["cache", "prune"])
                .args(extra),
        )
    };
    // Without a lock nothing is worth keeping.
    build_in(&cache, &manifest, "oci-archive", &out, &[]);
    let before = records(&cache);
    assert_eq!(before.len(), 3);
    prune(&[]);
    assert!(records(&cache).is_empty());
    for (_, hex) in &before {
        assert!(!cache.join("blobs/sha256").join(hex).exists());
    }
    let b = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!(b.built, 3, "{}", b.stderr);

    // With a lock, the layers it records stay cached; others go.
    run_ok(
        compose(&cache)
            .arg("-q")
            .arg("-f")
            .arg(&manifest)
            .arg("lock"),
    );
    build_in(
        &cache,
        &manifest,
        "oci-archive",
        &out,
        &["--compression", "zstd"],
    );
    assert_eq!(records(&cache).len(), 6);
    prune(&[]);
    assert_eq!(records(&cache).len(), 3);
    let b = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!((b.built, b.reused), (0, 3), "{}", b.stderr);
    let z = build_in(
        &cache,
        &manifest,
        "oci-archive",
        &out,
        &["--compression", "zstd"],
    );
    assert_eq!(z.built, 3, "{}", z.stderr);
    // --blobs keeps them too.
    prune(&["--blobs"]);
    let b = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!((b.built, b.reused), (0, 3), "{}", b.stderr);
}

#[test]
fn remembered_digests_still_see_every_change() {
    // Digests of local inputs and of cached blobs are remembered by file identity once
    // the files have settled (100 ms here); a change of the same size must still be seen.
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.tar");
    build_in(&cache, &manifest, "oci-archive", &out, &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // This build hashes the settled files and remembers them; the next one trusts that.
    let warm = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!(warm.reused, 3, "{}", warm.stderr);
    assert!(cache.join("derived/stat").read_dir().unwrap().count() >= 3);
    let remembered = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!(remembered.reused, 3, "{}", remembered.stderr);

    // Same size, other bytes: the local file.
    let app = manifest.with_file_name("app.sh");
    edit(&app, "echo app", "echo APP");
    let changed = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!(
        (changed.built, changed.reused),
        (2, 1),
        "{}",
        changed.stderr
    );
    // The same image built in a cache of its own, from nothing.
    let cold_out = dir.path().join("cold.tar");
    let cold = |cache: &str| {
        build_in(
            &dir.path().join(cache),
            &manifest,
            "oci-archive",
            &cold_out,
            &[],
        );
        sha256_file(&cold_out)
    };
    assert_eq!(cold("cold-cache"), sha256_file(&out));

    // Same size, other bytes: a remembered cached blob.
    let recs = records(&cache);
    let blob = cache.join("blobs/sha256").join(&recs[0].1);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    let repaired = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert!(repaired.built >= 1, "{}", repaired.stderr);
    assert_eq!(sha256_file(&cold_out), sha256_file(&out));
    assert_eq!(sha256_file(&blob), recs[0].1);

    // Same size, other bytes: the inflated base, which the builds above read (to merge
    // the layers over it) and, once settled, remembered.
    let inflated: Vec<PathBuf> = fs::read_dir(cache.join("derived/tar"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none())
        .collect();
    assert_eq!(inflated.len(), 1, "{inflated:?}");
    let good = fs::read(&inflated[0]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    edit(&app, "echo APP", "echo app");
    build_in(&cache, &manifest, "oci-archive", &out, &[]);
    let memo = cache.join("derived/stat").join(
        scratch_compose::digest::Sha256Digest::of(inflated[0].as_os_str().as_encoded_bytes()).hex(),
    );
    assert!(memo.is_file(), "the inflated base is remembered");
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    fs::write(&inflated[0], &bad).unwrap();
    // A variant not built before, so that the layers over the base must be merged.
    edit(&app, "echo app", "echo ApP");
    build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert_eq!(fs::read(&inflated[0]).unwrap(), good, "inflated again");
    assert_eq!(cold("cold-cache-2"), sha256_file(&out));
}

#[test]
fn an_unchanged_archive_is_left_in_place_and_a_changed_one_replaced() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.tar");
    let first = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    let inode = fs::metadata(&out).unwrap().ino();
    let second = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert_eq!(first.digest, second.digest);
    assert_eq!(
        fs::metadata(&out).unwrap().ino(),
        inode,
        "same bytes: not rewritten"
    );
    // Other bytes of the same length, a longer file, a shorter one: all replaced.
    let good = fs::read(&out).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    for damaged in [
        bad,
        [&good[..], b"x"].concat(),
        good[..good.len() - 1].to_vec(),
    ] {
        fs::write(&out, &damaged).unwrap();
        build_in(&cache, &manifest, "docker-archive", &out, &[]);
        assert_eq!(fs::read(&out).unwrap(), good);
    }
    let files: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().starts_with(".out.tar")),
        "no temporary file is left: {files:?}"
    );
}

#[test]
fn a_remembered_archive_is_not_even_read_and_any_change_is_still_seen() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.tar");
    let settle = || std::thread::sleep(std::time::Duration::from_millis(300));
    let skipped = |b: &Build| b.stderr.contains("unchanged since it was written");
    build_in(&cache, &manifest, "docker-archive", &out, &[]);
    let good = fs::read(&out).unwrap();
    let inode = fs::metadata(&out).unwrap().ino();
    settle();
    // Compared (the file was written moments before the last build), found equal, and
    // remembered; the next build only looks at the file's identity.
    let compared = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert!(!skipped(&compared), "{}", compared.stderr);
    let trusted = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert!(skipped(&trusted), "{}", trusted.stderr);
    assert_eq!(fs::metadata(&out).unwrap().ino(), inode);
    assert_eq!(fs::read(&out).unwrap(), good);

    // The same length, other bytes, written just now: seen and replaced.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    fs::write(&out, &bad).unwrap();
    let repaired = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert!(!skipped(&repaired), "{}", repaired.stderr);
    assert_eq!(fs::read(&out).unwrap(), good);

    // Another format or another image at the same path is written, never skipped.
    settle();
    build_in(&cache, &manifest, "docker-archive", &out, &[]);
    let other_format = build_in(&cache, &manifest, "oci-archive", &out, &[]);
    assert!(!skipped(&other_format), "{}", other_format.stderr);
    assert_ne!(fs::read(&out).unwrap(), good);
    build_in(&cache, &manifest, "docker-archive", &out, &[]);
    settle();
    build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert!(skipped(&build_in(
        &cache,
        &manifest,
        "docker-archive",
        &out,
        &[]
    )));
    edit(&manifest, r#"cmd = ["/bin/sh"]"#, r#"cmd = ["/bin/ash"]"#);
    let other_image = build_in(&cache, &manifest, "docker-archive", &out, &[]);
    assert!(!skipped(&other_image), "{}", other_image.stderr);
    let cold = dir.path().join("cold.tar");
    build_in(
        &dir.path().join("cold-cache"),
        &manifest,
        "docker-archive",
        &cold,
        &[],
    );
    assert_eq!(fs::read(&out).unwrap(), fs::read(&cold).unwrap());
}

/// (inode, ctime in ns) of every blob file of an OCI layout, by name.
fn blob_identities(out: &Path) -> std::collections::BTreeMap<String, (u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    fs::read_dir(out.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let ctime = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.ino(), ctime),
            )
        })
        .collect()
}

#[test]
fn a_rebuilt_oci_layout_leaves_its_unchanged_blobs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = project(&dir.path().join("p"));
    let data = dir.path().join("p/data.txt");
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let settle = || std::thread::sleep(std::time::Duration::from_millis(300));
    let cold = |name: &str| {
        let cold_out = dir.path().join(format!("cold-{name}"));
        build_in(&dir.path().join(name), &manifest, "oci", &cold_out, &[]);
        tree_digests(&cold_out)
    };
    build_in(&cache, &manifest, "oci", &out, &[]);
    settle();
    // The blobs written just now are checked once they have settled, and remembered.
    edit(&data, "data", "data 1");
    build_in(&cache, &manifest, "oci", &out, &[]);
    let before = blob_identities(&out);
    settle();
    edit(&data, "data 1", "data 2");
    build_in(&cache, &manifest, "oci", &out, &[]);
    assert_eq!(
        tree_digests(&out),
        cold("cold-cache-1"),
        "the bytes of a cold build"
    );
    let after = blob_identities(&out);
    let kept: Vec<_> = after
        .iter()
        .filter(|(name, id)| before.get(*name) == Some(id))
        .collect();
    // The two lower layers: neither read nor rewritten, linked or copied.
    assert_eq!(kept.len(), 2, "before {before:?}\nafter {after:?}");
    assert_eq!(
        after.len(),
        5,
        "3 layers, config, manifest: nothing stale {after:?}"
    );

    // A kept blob damaged in place (same size), a stray file, a stray blob: all repaired.
    let (name, _) = kept[0];
    let blob = out.join("blobs/sha256").join(name);
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    fs::write(out.join("blobs/sha256/stray"), b"x").unwrap();
    fs::write(out.join("notes.txt"), b"x").unwrap();
    build_in(&cache, &manifest, "oci", &out, &[]);
    assert_eq!(tree_digests(&out), cold("cold-cache-2"));
}
