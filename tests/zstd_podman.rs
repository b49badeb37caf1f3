//! `--compression zstd`: layers with the OCI `+zstd` media type that podman loads and
//! runs. In CI (`CI` set) podman and the fixtures must be present; elsewhere their
//! absence skips the test.

mod common;
use common::cli::*;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// A file of an archive, by name.
fn member(archive: &Path, name: &str) -> Vec<u8> {
    let mut a = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut out = Vec::new();
            e.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("{name} is not in {}", archive.display());
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args(args);
    c
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn a_zstd_image_loads_and_runs_in_podman() {
    let Some(fx) = fixtures() else { return };
    if !have_tool("podman") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A name of its own, so concurrent tests and other users of podman are not disturbed.
    let name = format!("localhost/compose-zstd-test-{}", std::process::id());
    let reference = format!("{name}:t");
    std::fs::write(dir.path().join("hello.txt"), "hello from zstd\n").unwrap();
    let manifest = dir.path().join("scratch.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[image]
name = "{name}"
tag = "t"
source_date_epoch = 1700000000

[config]
cmd = ["/bin/sh"]

[[layer]]
tar = "{}/alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"

[[layer]]
[[layer.file]]
src = "hello.txt"
dest = "/srv/hello.txt"
"#,
            fx.display()
        ),
    )
    .unwrap();
    let archive = dir.path().join("zstd.tar");
    run_ok(
        compose(&dir.path().join("cache"))
            .arg("-q")
            .arg("-f")
            .arg(&manifest)
            .args([
                "build",
                "--compression",
                "zstd:7",
                "--format",
                "oci-archive",
            ])
            .arg("-o")
            .arg(&archive),
    );

    // Every layer is zstd, by media type and by magic number.
    let index = json(&member(&archive, "index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |d: &str| member(&archive, &format!("blobs/sha256/{}", &d[7..]));
    let m = json(&blob(digest));
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for l in layers {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let bytes = blob(l["digest"].as_str().unwrap());
        assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");
    }
    let config = json(&blob(m["config"]["digest"].as_str().unwrap()));

    let _ = run(&mut podman(&["rmi", "-f", &reference]));
    let loaded = run_ok(&mut podman(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains(&reference), "{loaded}");
    let result = std::panic::catch_unwind(|| {
        // podman decompressed each layer to the uncompressed digest the config records.
        let inspect = json(
            run_ok(&mut podman(&["image", "inspect", &reference]))
                .trim()
                .as_bytes(),
        );
        assert_eq!(inspect[0]["RootFS"]["Layers"], config["rootfs"]["diff_ids"]);
        let out = run_ok(&mut podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            &reference,
            "cat",
            "/etc/alpine-release",
            "/srv/hello.txt",
        ]));
        assert_eq!(out, "3.19.4\nhello from zstd\n");
    });
    let _ = run(&mut podman(&["rmi", "-f", &reference]));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
