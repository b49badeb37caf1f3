//! One manifest, two platforms: an OCI index that skopeo, umoci and podman read right.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> PathBuf {
    repo_root().join("examples/alpine-multiarch/scratch.toml")
}

fn build(dir: &Path, format: &str, out: &str, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join(out);
    let digest = build_ok(&dir.join("cache"), &manifest(), format, &out, extra);
    (out, digest)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn the_index_lists_both_platforms_and_each_matches_a_single_platform_build() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (layout, top) = build(dir.path(), "oci", "layout", &[]);
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let descs = index["manifests"].as_array().unwrap();
    assert_eq!(descs.len(), 1, "index.json holds one descriptor: {index}");
    assert_eq!(
        descs[0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(descs[0]["digest"], top.as_str());
    let nested_path = layout
        .join("blobs/sha256")
        .join(top.trim_start_matches("sha256:"));
    let nested = json(&std::fs::read_to_string(nested_path).unwrap());
    let ms = nested["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0]["platform"]["architecture"], "amd64");
    assert_eq!(ms[1]["platform"]["architecture"], "arm64");
    assert_eq!(ms[1]["platform"]["variant"], "v8");
    // Building one platform gives exactly the manifest the index lists for it.
    for (i, p) in ["linux/amd64", "linux/arm64"].iter().enumerate() {
        let (_, one) = build(dir.path(), "oci", &format!("one-{i}"), &["--platform", p]);
        assert_eq!(ms[i]["digest"], one.as_str(), "{p}");
    }
    // Several platforms need --platform for the single-image formats.
    let fx = fixtures().unwrap();
    for format in ["docker-archive", "rootfs"] {
        let mut c = compose(&dir.path().join("cache"));
        for m in alpine_mirrors(&fx) {
            c.arg("--mirror").arg(m);
        }
        c.arg("-f")
            .arg(manifest())
            .args(["build", "--format", format, "-o"])
            .arg(dir.path().join("x.tar"));
        let out = run(&mut c);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--platform"));
    }
}

#[test]
#[ignore = "needs ../shared fixtures, skopeo, umoci (cargo test -- --ignored runs it; CI does)"]
fn skopeo_picks_each_platform_and_umoci_unpacks_the_fixture_trees() {
    let Some(fx) = fixtures() else { return };
    if !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (layout, _) = build(dir.path(), "oci", "layout", &[]);
    let src = format!("oci:{}", layout.display());
    let raw = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--raw", &src]),
    ));
    assert_eq!(
        raw["manifests"].as_array().map(|m| m.len()),
        Some(2),
        "{raw}"
    );
    for (arch, fixture) in [("arm64", "aarch64"), ("amd64", "x86_64")] {
        let info = json(&run_ok(Command::new("skopeo").args([
            "--override-arch",
            arch,
            "inspect",
            &src,
        ])));
        assert_eq!(info["Architecture"], arch);
        let copy = dir.path().join(format!("copy-{arch}"));
        run_ok(Command::new("skopeo").args([
            "--override-arch",
            arch,
            "copy",
            &src,
            &format!("oci:{}:x", copy.display()),
        ]));
        let bundle = dir.path().join(format!("bundle-{arch}"));
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--image", &format!("{}:x", copy.display())])
                .arg(&bundle),
        );
        let tarball = fx.join(format!("alpine/alpine-minirootfs-3.19.4-{fixture}.tar.gz"));
        assert_eq!(
            tree_listing(&[&bundle.join("rootfs")]),
            tree_listing(&[&tarball]),
            "{arch}"
        );
    }
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn podman_runs_the_right_platform_from_the_oci_archive() {
    if fixtures().is_none() || !have_tool("podman") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = build(dir.path(), "oci-archive", "multi.tar", &[]);
    let name = "docker.io/library/scratch-alpine-multiarch:3.19.4";
    let _ = run(Command::new("podman").args(["rmi", "-f", name]));
    run_ok(Command::new("podman").arg("load").arg("-i").arg(&archive));
    let arch =
        run_ok(Command::new("podman").args(["image", "inspect", "-f", "{{.Architecture}}", name]));
    let host = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    assert_eq!(arch.trim(), host);
    let out =
        run_ok(Command::new("podman").args(["run", "--rm", name, "cat", "/etc/alpine-release"]));
    assert_eq!(out.trim(), "3.19.4");
    let _ = run(Command::new("podman").args(["rmi", "-f", name]));
}
