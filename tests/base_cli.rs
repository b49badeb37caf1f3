//! `[image] base` with the real binary, on local bases (`oci:`, `docker-archive:`) that
//! `compose build` writes from the Alpine fixture: the base's layers kept byte for byte,
//! ours merged over its tree (a `remove` of a base path is a whiteout), its config
//! inherited, the lock's `[base]` table, `verify`, `--offline`, the dev loop's snapshot,
//! and the mistakes people make.

mod common;

use common::cli::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Alpine example built as an OCI layout (or `format`) at `out`.
fn alpine_base(dir: &Path, format: &str, out: &Path) {
    let example = repo_root().join("examples/alpine/scratch.toml");
    build_ok(&dir.join("base-cache"), &example, format, out, &[]);
}

/// A work folder with Alpine built as an OCI layout at `base/`; `None` where the
/// fixtures are missing outside CI.
fn with_oci_base() -> Option<(tempfile::TempDir, PathBuf)> {
    fixtures()?;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    alpine_base(dir.path(), "oci", &base);
    Some((dir, base))
}

const APP: &str = r#"[image]
name = "app"
source_date_epoch = 1700000000
BASE

[config]
env = ["APP=1", "PATH=/app/bin:/usr/bin:/bin"]
cmd = ["/bin/cat", "/etc/hello"]
labels = { "org.example.app" = "1" }

[[layer]]
remove = ["/sbin/apk", "/etc/motd"]
[[layer.file]]
dest = "/etc/hello"
content = "hello from app\n"
"#;

/// An app manifest in `dir/app` whose `[image]` has `base_line` (and anything else).
fn app(dir: &Path, base_line: &str) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let path = app.join("scratch.toml");
    std::fs::write(&path, APP.replace("BASE", base_line)).unwrap();
    path
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The image manifest of a one-platform OCI layout.
fn manifest_of(layout: &Path) -> Value {
    let index = json(&layout.join("index.json"));
    let d = index["manifests"][0]["digest"].as_str().unwrap();
    json(&blob(layout, d))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A gzip layer blob inflated beside it (the shared tree-listing tool fails on large
/// multi-member gzip blobs here: "unexpected end of data"), for listing.
fn inflated(path: &Path) -> PathBuf {
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut out,
    )
    .unwrap();
    let plain = path.with_extension("tar");
    std::fs::write(&plain, out).unwrap();
    plain
}

fn cmd(cache: &Path, manifest: &Path, args: &[&str]) -> Command {
    let mut c = compose(cache);
    c.arg("-f").arg(manifest).args(args);
    c
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn our_layers_merge_over_an_oci_layout_base_whose_layers_and_config_are_kept() {
    let Some((dir, base)) = with_oci_base() else {
        return;
    };
    let manifest = app(dir.path(), "base = \"oci:../base\"");
    let out = dir.path().join("out");
    let cache = dir.path().join("cache");
    let digest = run_ok(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(&out));

    let ours = manifest_of(&out);
    let theirs = manifest_of(&base);
    assert_eq!(ours["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        ours["layers"][0], theirs["layers"][0],
        "the base's layer descriptor, as it is"
    );
    let d = theirs["layers"][0]["digest"].as_str().unwrap();
    assert!(
        std::fs::read(blob(&out, d)).unwrap() == std::fs::read(blob(&base, d)).unwrap(),
        "the base's blob, byte for byte"
    );
    let config = json(&blob(&out, ours["config"]["digest"].as_str().unwrap()));
    let base_config = json(&blob(&base, theirs["config"]["digest"].as_str().unwrap()));
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        base_config["rootfs"]["diff_ids"][0]
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/app/bin:/usr/bin:/bin", "APP=1"]),
        "env merged by name: ours replaces the base's PATH in place"
    );
    assert_eq!(config["config"]["Cmd"][0], "/bin/cat");
    assert_eq!(config["config"]["Labels"]["org.example.app"], "1");
    assert_eq!(
        config["history"][0], base_config["history"][0],
        "the base's history first, as written"
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 2);

    // Our layer whites out the base's paths; the merged tree has our file.
    let listing = tree_listing(&[&blob(&out, ours["layers"][1]["digest"].as_str().unwrap())]);
    assert!(listing.contains("sbin/.wh.apk f"), "{listing}");
    assert!(listing.contains("etc/.wh.motd f"), "{listing}");
    let tree = run_ok(&mut cmd(&cache, &manifest, &["-q", "tree"]));
    assert!(tree.contains("/etc/hello"), "{tree}");
    assert!(tree.contains("/bin/busybox"), "the base's files: {tree}");
    assert!(!tree.contains("/sbin/apk"), "{tree}");
    let rootfs = dir.path().join("rootfs.tar");
    run_ok(
        cmd(
            &cache,
            &manifest,
            &["-q", "build", "--format", "rootfs", "-o"],
        )
        .arg(&rootfs),
    );
    let listing = tree_listing(&[&rootfs]);
    assert!(listing.contains("bin/busybox"), "{listing}");
    assert!(!listing.contains("sbin/apk"), "{listing}");

    // Another cache, another output folder: the same bytes.
    let again = dir.path().join("again");
    let digest2 = run_ok(
        cmd(
            &dir.path().join("cache2"),
            &manifest,
            &["-q", "build", "-o"],
        )
        .arg(&again),
    );
    assert_eq!(digest, digest2);
    assert_eq!(tree_digests(&out), tree_digests(&again));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn the_lock_records_the_base_and_verify_and_offline_builds_use_it() {
    let Some((dir, base)) = with_oci_base() else {
        return;
    };
    let manifest = app(dir.path(), "base = \"oci:../base\"");
    let cache = dir.path().join("cache");
    run_ok(&mut cmd(&cache, &manifest, &["-q", "lock"]));
    let lock = std::fs::read_to_string(dir.path().join("app/scratch.lock")).unwrap();
    let top = json(&base.join("index.json"))["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer = manifest_of(&base)["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        lock.contains("[base]\nsource = \"oci:../base\"\n"),
        "{lock}"
    );
    assert!(lock.contains(&format!("digest = \"{top}\"")), "{lock}");
    assert!(lock.contains("[base.platform.\"linux/amd64\"]"), "{lock}");
    assert!(lock.contains(&format!("digest = \"{layer}\"")), "{lock}");
    let o = run(&mut cmd(&cache, &manifest, &["-q", "lock", "--check"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let out = dir.path().join("out");
    let digest = run_ok(cmd(&cache, &manifest, &["-q", "build", "--locked", "-o"]).arg(&out));
    let offline = run_ok(
        cmd(
            &cache,
            &manifest,
            &["-q", "--offline", "build", "--locked", "-o"],
        )
        .arg(dir.path().join("offline")),
    );
    assert_eq!(digest, offline);
    let v = run_ok(&mut cmd(&cache, &manifest, &["verify"]));
    assert!(v.starts_with("reproduced: linux/amd64"), "{v}");

    // The base's layer blob altered in its layout: a fresh cache must read it from there,
    // and verify names it as the cause (exit 1).
    let path = blob(&base, &layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let o = run(&mut cmd(&dir.path().join("fresh"), &manifest, &["verify"]));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("base changed"), "{stdout}");
    assert!(stdout.contains(&layer), "the blob is named: {stdout}");

    // A base that now resolves elsewhere (the layout rebuilt, compressed otherwise) makes the
    // lock stale, and `--locked` refuses it.
    std::fs::remove_dir_all(&base).unwrap();
    let example = repo_root().join("examples/alpine/scratch.toml");
    run_ok(
        build_cmd(&dir.path().join("base-cache"), &example, "oci", &base)
            .args(["--compression", "gzip:1"]),
    );
    let o = run(&mut cmd(&cache, &manifest, &["-q", "lock", "--check"]));
    let report = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains("base `oci:../base`"), "{report}");
    let o = run(cmd(&cache, &manifest, &["-q", "build", "--locked", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_rebuild_after_an_edit_reads_the_base_tree_from_the_layer_cache() {
    let Some((dir, _)) = with_oci_base() else {
        return;
    };
    let manifest = app(dir.path(), "base = \"oci:../base\"");
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let o = run(cmd(&cache, &manifest, &["-v", "build", "-o"]).arg(&out));
    let first = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(first.contains("reading its layers"), "{first}");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("hello from app", "hello again");
    std::fs::write(&manifest, text).unwrap();
    let o = run(cmd(&cache, &manifest, &["-v", "build", "-o"]).arg(&out));
    let second = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{second}");
    assert!(
        second.contains("the base's layers (from the layer cache)"),
        "{second}"
    );
    assert!(!second.contains("reading its layers"), "{second}");
    // The result is what a build from nothing gives.
    let cold = dir.path().join("cold");
    let a = run_ok(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(&out));
    let b = run_ok(
        cmd(
            &dir.path().join("cold-cache"),
            &manifest,
            &["-q", "build", "-o"],
        )
        .arg(&cold),
    );
    assert_eq!(a, b);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_docker_archive_base_works_like_an_oci_one() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("base.tar");
    alpine_base(dir.path(), "docker-archive", &archive);
    let manifest = app(dir.path(), "base = \"docker-archive:../base.tar\"");
    let out = dir.path().join("out");
    run_ok(cmd(&dir.path().join("cache"), &manifest, &["-q", "build", "-o"]).arg(&out));
    let m = manifest_of(&out);
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn base_mistakes_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A registry tag that nothing pins: refused before any request.
    let manifest = app(dir.path(), "base = \"registry.invalid/team/base:1\"");
    let o = run(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(dir.path().join("o")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is not pinned"), "{err}");
    assert!(err.contains("compose lock"), "{err}");
    // squash cannot keep the base's layers.
    let manifest = app(dir.path(), "base = \"oci:../base\"\nsquash = true");
    let o = run(&mut cmd(&cache, &manifest, &["-q", "build"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("squash"), "{err}");
    // A layout that is not there.
    let manifest = app(dir.path(), "base = \"oci:../nowhere\"");
    let o = run(&mut cmd(&cache, &manifest, &["-q", "build"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nowhere"), "{err}");
    if fixtures().is_none() {
        return;
    }
    // A platform the base lacks is named with what it offers.
    let base = dir.path().join("base");
    alpine_base(dir.path(), "oci", &base);
    let manifest = app(
        dir.path(),
        "base = \"oci:../base\"\nplatforms = [\"linux/arm64\"]",
    );
    let o = run(&mut cmd(&cache, &manifest, &["-q", "build"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("linux/arm64") && err.contains("offers linux/amd64"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn an_image_layer_takes_paths_of_another_image_re_encoded_pinned_and_locked() {
    let Some((dir, base)) = with_oci_base() else {
        return;
    };
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = app.join("scratch.toml");
    std::fs::write(
        &manifest,
        r#"[image]
name = "basewire-test-tools"
source_date_epoch = 1700000000

[config]
cmd = ["/bin/busybox", "cat", "/etc/os-release", "/etc/x"]

[[layer]]
image = "oci:../base"
paths = ["/etc/os-release", "/bin/busybox", "/lib/ld-musl-x86_64.so.1"]

[[layer]]
[[layer.file]]
dest = "/etc/x"
content = "x\n"
"#,
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let digest = run_ok(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(&out));
    let ours = manifest_of(&out);
    let theirs = manifest_of(&base);
    assert_ne!(
        ours["layers"][0]["digest"], theirs["layers"][0]["digest"],
        "re-encoded, not the image's blob"
    );
    let listing = tree_listing(&[&inflated(&blob(
        &out,
        ours["layers"][0]["digest"].as_str().unwrap(),
    ))]);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bin",
            "bin/busybox",
            "etc",
            "etc/os-release",
            "lib",
            "lib/ld-musl-x86_64.so.1"
        ],
        "{listing}"
    );
    // Pinned and locked like a base, under [[image]]; verify reproduces it.
    run_ok(&mut cmd(&cache, &manifest, &["-q", "lock"]));
    let lock = std::fs::read_to_string(app.join("scratch.lock")).unwrap();
    assert!(
        lock.contains("[[image]]\nsource = \"oci:../base\"\n"),
        "{lock}"
    );
    let v = run_ok(&mut cmd(&cache, &manifest, &["verify"]));
    assert!(v.starts_with("reproduced"), "{v}");
    let again = run_ok(
        cmd(
            &dir.path().join("cache2"),
            &manifest,
            &["-q", "build", "--locked", "-o"],
        )
        .arg(dir.path().join("again")),
    );
    assert_eq!(digest, again);
    if have_tool("podman") {
        let archive = dir.path().join("tools.tar");
        run_ok(
            cmd(
                &cache,
                &manifest,
                &["-q", "build", "--format", "docker-archive", "-o"],
            )
            .arg(&archive),
        );
        let said = run_ok(
            Command::new("podman")
                .args(["run", "--rm", "--network", "none"])
                .arg(format!("docker-archive:{}", archive.display())),
        );
        assert!(
            said.contains("Alpine Linux") && said.ends_with("x\n"),
            "{said}"
        );
        // podman run of an archive loads it: remove the image again.
        let _ = Command::new("podman")
            .args(["rmi", "-f", "localhost/basewire-test-tools:latest"])
            .output();
    }
}

#[test]
fn image_layer_mistakes_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let manifest = dir.path().join("scratch.toml");
    let fails_with = |layer: &str, expected: &str| {
        std::fs::write(
            &manifest,
            format!("[image]\nname = \"x\"\n\n[[layer]]\n{layer}"),
        )
        .unwrap();
        let o = run(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(dir.path().join("o")));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{layer}: {err}");
        assert!(err.contains(expected), "{layer}: {err}");
    };
    fails_with("image = \"registry.invalid/tools:1\"\n", "is not pinned");
    fails_with(
        "paths = [\"/etc\"]\nremove = [\"/x?\"]\n",
        "has `paths` but no `image`",
    );
    fails_with(
        "tar = \"rootfs.tar\"\nimage = \"oci:x\"\n",
        "keep either `tar` or `image`",
    );
    fails_with("image = \"docker://alpine\"\n", "is not an image reference");
    fails_with("image = \"oci:x\"\npaths = [\"etc\"]\n", "paths entry");
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn compose_diff_finds_the_same_filesystem_and_config_as_podman_from_the_same_base() {
    if fixtures().is_none() || !have_tool("podman") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.tar");
    alpine_base(dir.path(), "oci-archive", &base);
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello"), "hello from app\n").unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        format!(
            "FROM oci-archive:{}\nCOPY hello /etc/hello\nENV APP=1\nCMD [\"/bin/cat\", \"/etc/hello\"]\n",
            base.display()
        ),
    )
    .unwrap();
    let tag = "localhost/basewire-diff-test:1";
    run_ok(
        Command::new("podman")
            .args(["build", "-q", "--network", "none", "-t", tag])
            .arg(&ctx),
    );
    let saved = dir.path().join("podman.tar");
    run_ok(
        Command::new("podman")
            .arg("save")
            .arg("-o")
            .arg(&saved)
            .arg(tag),
    );
    let _ = Command::new("podman").args(["rmi", "-f", tag]).output();

    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = app.join("scratch.toml");
    std::fs::write(
        &manifest,
        "[image]\nname = \"app\"\nbase = \"oci-archive:../base.tar\"\nsource_date_epoch = 1700000000\n\n\
         [config]\nenv = [\"APP=1\"]\ncmd = [\"/bin/cat\", \"/etc/hello\"]\n\n\
         [[layer]]\n[[layer.file]]\ndest = \"/etc/hello\"\ncontent = \"hello from app\\n\"\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    run_ok(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(&out));
    let o = run(compose(&cache)
        .args([
            "diff",
            "--ignore-mtime",
            "--ignore-history",
            "--ignore-label",
            "io.buildah.version",
        ])
        .arg(&out)
        .arg(&saved));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("the merged filesystems are the same"),
        "{report}"
    );
    // The configs agree (base config inherited as buildah does); the only differences are
    // in how the upper layer is written: buildah repeats the parent directory `/etc`.
    for line in report.lines() {
        assert!(
            !line.starts_with("config") && !line.starts_with("layers"),
            "{report}"
        );
    }
    // Two builds of ours, from different caches: no difference at all.
    let again = dir.path().join("again");
    run_ok(
        cmd(
            &dir.path().join("cache2"),
            &manifest,
            &["-q", "build", "-o"],
        )
        .arg(&again),
    );
    let o = run(compose(&cache).arg("diff").arg(&out).arg(&again));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_zstd_base_is_kept_as_it_is_and_refused_in_a_docker_archive() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let example = repo_root().join("examples/alpine/scratch.toml");
    run_ok(
        build_cmd(&dir.path().join("base-cache"), &example, "oci", &base)
            .args(["--compression", "zstd"]),
    );
    let manifest = app(dir.path(), "base = \"oci:../base\"");
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    run_ok(cmd(&cache, &manifest, &["-q", "build", "-o"]).arg(&out));
    let ours = manifest_of(&out);
    assert_eq!(ours["layers"][0], manifest_of(&base)["layers"][0]);
    assert_eq!(
        ours["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "our layers follow our compression, the base's keep theirs"
    );
    let o = run(cmd(
        &cache,
        &manifest,
        &["-q", "build", "--format", "docker-archive", "-o"],
    )
    .arg(dir.path().join("d.tar")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("zstd layer"), "{err}");
}

#[test]
fn locking_a_tag_offline_says_it_needs_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path(), "base = \"registry.invalid/team/base:1\"");
    let o = run(&mut cmd(
        &dir.path().join("cache"),
        &manifest,
        &["-q", "--offline", "lock"],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the digest of tag 1 is not in the cache and --offline forbids fetching it"),
        "{err}"
    );
    assert!(err.contains("without --offline"), "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn preflight_checks_the_inherited_program_in_the_merged_tree_with_the_base() {
    let Some((dir, _)) = with_oci_base() else {
        return;
    };
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = app.join("scratch.toml");
    // No [config]: the base's Cmd ["/bin/sh"] and PATH are inherited, and /bin/sh (a link
    // to the base's busybox) is found in the base's tree.
    let write = |remove: &str| {
        std::fs::write(
            &manifest,
            format!(
                "[image]\nname = \"app\"\nbase = \"oci:../base\"\n\n[[layer]]\nremove = [{remove}]\n[[layer.file]]\ndest = \"/etc/hello\"\ncontent = \"hi\\n\"\n"
            ),
        )
        .unwrap();
    };
    write("\"/etc/motd\"");
    let cache = dir.path().join("cache");
    run_ok(cmd(&cache, &manifest, &["-q", "build", "--strict", "-o"]).arg(dir.path().join("o1")));
    // Removing the base's busybox breaks the inherited program: a strict build says so.
    write("\"/bin/busybox\"");
    let o =
        run(cmd(&cache, &manifest, &["-q", "build", "--strict", "-o"]).arg(dir.path().join("o2")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("/bin/sh"), "{err}");
}
