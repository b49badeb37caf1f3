//! Interoperability with the real tools: our images load and run in podman and Docker,
//! import into containerd, inspect cleanly in skopeo and unpack in umoci to the tree we
//! intended. In CI (`CI` set) every tool must be present; elsewhere missing tools skip.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// podman and Docker keep global state: one test at a time talks to them.
static ENGINE: Mutex<()> = Mutex::new(());

fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name).join("scratch.toml")
}

fn build(
    dir: &Path,
    manifest: &Path,
    format: &str,
    out: &str,
    extra: &[&str],
) -> (PathBuf, String) {
    let out = dir.join(out);
    let digest = build_ok(&dir.join("cache"), manifest, format, &out, extra);
    (out, digest)
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn podman_loads_and_runs_the_docker_archive_and_the_oci_archive() {
    if fixtures().is_none() || !have_tool("podman") {
        return;
    }
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let manifest = example("alpine");
    let (docker, _) = build(dir.path(), &manifest, "docker-archive", "docker.tar", &[]);
    let (oci, _) = build(dir.path(), &manifest, "oci-archive", "oci.tar", &[]);
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "docker.io/library/scratch-alpine:3.19.4"],
    ));
    let loaded = run_ok(&mut cmd(
        "podman",
        &["load", "-i", docker.to_str().unwrap()],
    ));
    assert!(loaded.contains("scratch-alpine:3.19.4"), "{loaded}");
    let out = run_ok(&mut cmd(
        "podman",
        &[
            "run",
            "--rm",
            "docker.io/library/scratch-alpine:3.19.4",
            "cat",
            "/etc/alpine-release",
        ],
    ));
    assert_eq!(out.trim(), "3.19.4");
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "docker.io/library/scratch-alpine:3.19.4"],
    ));

    let loaded = run_ok(&mut cmd("podman", &["load", "-i", oci.to_str().unwrap()]));
    // podman names an oci-archive image from io.containerd.image.name.
    assert!(
        loaded.contains("docker.io/library/scratch-alpine:3.19.4"),
        "{loaded}"
    );
    let out = run_ok(&mut cmd(
        "podman",
        &[
            "run",
            "--rm",
            "docker.io/library/scratch-alpine:3.19.4",
            "cat",
            "/etc/alpine-release",
        ],
    ));
    assert_eq!(out.trim(), "3.19.4");
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "docker.io/library/scratch-alpine:3.19.4"],
    ));
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn podman_image_id_is_the_config_digest_and_every_config_key_shows() {
    if fixtures().is_none() || !have_tool("podman") {
        return;
    }
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let fx = fixtures().unwrap();
    let manifest = dir.path().join("scratch.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[image]
name = "localhost/config-keys"
tag = "v1"
source_date_epoch = 1700000000

[config]
entrypoint = ["/bin/sh", "-c"]
cmd = ["echo hi"]
env = ["PATH=/usr/bin:/bin", "A=1"]
workdir = "/srv"
user = "405:100"
labels = {{ "org.example.a" = "1", "org.example.b" = "two", "org.example.c" = "<&>" }}
exposed_ports = ["80", "53/udp", "8080/tcp"]
volumes = ["/data", "/cache"]
stop_signal = "SIGTERM"

[[layer]]
tar = "{}/alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"
"#,
            fx.display()
        ),
    )
    .unwrap();
    let (archive, _) = build(dir.path(), &manifest, "docker-archive", "img.tar", &[]);
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "localhost/config-keys:v1"],
    ));
    run_ok(&mut cmd(
        "podman",
        &["load", "-i", archive.to_str().unwrap()],
    ));
    let inspect = json(&run_ok(&mut cmd(
        "podman",
        &["image", "inspect", "localhost/config-keys:v1"],
    )));
    let img = &inspect[0];
    let cfg = &img["Config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["echo hi"]));
    assert_eq!(cfg["Env"], serde_json::json!(["PATH=/usr/bin:/bin", "A=1"]));
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["User"], "405:100");
    assert_eq!(cfg["Labels"]["org.example.c"], "<&>");
    assert_eq!(cfg["Labels"]["org.example.b"], "two");
    for port in ["80/tcp", "53/udp", "8080/tcp"] {
        assert!(cfg["ExposedPorts"].get(port).is_some(), "{port} in {cfg}");
    }
    for v in ["/data", "/cache"] {
        assert!(cfg["Volumes"].get(v).is_some(), "{v} in {cfg}");
    }
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(img["Created"], "2023-11-14T22:13:20Z");
    // The image ID is the config digest.
    let manifest_json = json(&run_ok(&mut cmd(
        "sh",
        &[
            "-c",
            &format!("tar -xOf {} manifest.json", archive.display()),
        ],
    )));
    let config_path = manifest_json[0]["Config"].as_str().unwrap();
    let config_hex = config_path.rsplit('/').next().unwrap();
    assert_eq!(img["Id"].as_str().unwrap(), config_hex);
    let out = run_ok(&mut cmd(
        "podman",
        &["run", "--rm", "localhost/config-keys:v1", "pwd; id -u"],
    ));
    assert_eq!(out, "/srv\n405\n");
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "localhost/config-keys:v1"],
    ));
}

#[test]
#[ignore = "needs ../shared fixtures, skopeo, umoci (cargo test -- --ignored runs it; CI does)"]
fn skopeo_inspects_our_layout_and_umoci_unpacks_the_rootfs_tree() {
    if fixtures().is_none() || !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["alpine", "slim-alpine"] {
        let manifest = example(name);
        let (layout, digest) = build(dir.path(), &manifest, "oci", &format!("{name}-layout"), &[]);
        let (rootfs, _) = build(
            dir.path(),
            &manifest,
            "rootfs",
            &format!("{name}-rootfs.tar"),
            &[],
        );
        let (archive, archive_digest) = build(
            dir.path(),
            &manifest,
            "oci-archive",
            &format!("{name}.tar"),
            &[],
        );
        assert_eq!(digest, archive_digest);

        let raw = run_ok(&mut cmd(
            "skopeo",
            &["inspect", "--raw", &format!("oci:{}", layout.display())],
        ));
        assert_eq!(format!("sha256:{}", hex_sha(raw.as_bytes())), digest);
        let raw = run_ok(&mut cmd(
            "skopeo",
            &[
                "inspect",
                "--raw",
                &format!("oci-archive:{}", archive.display()),
            ],
        ));
        assert_eq!(format!("sha256:{}", hex_sha(raw.as_bytes())), digest);
        let cfg = json(&run_ok(&mut cmd(
            "skopeo",
            &["inspect", "--config", &format!("oci:{}", layout.display())],
        )));
        assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["/bin/sh"]));
        assert_eq!(cfg["architecture"], "amd64");
        assert_eq!(cfg["os"], "linux");
        // skopeo copy preserves every digest.
        let copy = dir.path().join(format!("{name}-copy"));
        run_ok(&mut cmd(
            "skopeo",
            &[
                "copy",
                &format!("oci-archive:{}", archive.display()),
                &format!("oci:{}:x", copy.display()),
            ],
        ));
        let raw = run_ok(&mut cmd(
            "skopeo",
            &["inspect", "--raw", &format!("oci:{}:x", copy.display())],
        ));
        assert_eq!(format!("sha256:{}", hex_sha(raw.as_bytes())), digest);

        let bundle = dir.path().join(format!("{name}-bundle"));
        run_ok(&mut cmd(
            "umoci",
            &[
                "unpack",
                "--image",
                &format!("{}:3.19.4", layout.display()),
                bundle.to_str().unwrap(),
            ],
        ));
        assert_eq!(
            tree_listing(&[&bundle.join("rootfs")]),
            tree_listing(&[&rootfs]),
            "{name}: umoci tree != rootfs"
        );
    }
}

fn hex_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn our_alpine_tree_equals_what_podman_build_makes_from_the_seed_containerfile() {
    let Some(fx) = fixtures() else { return };
    if !have_tool("podman") {
        return;
    }
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::copy(
        fx.join("seed-alpine/Containerfile"),
        ctx.join("Containerfile"),
    )
    .unwrap();
    std::fs::copy(
        fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"),
        ctx.join("alpine-minirootfs-3.19.4-x86_64.tar.gz"),
    )
    .unwrap();
    run_ok(&mut cmd(
        "podman",
        &[
            "build",
            "-q",
            // No cache: a layer cached from another image would carry its timestamps.
            "--no-cache",
            "--network=none",
            "-t",
            "localhost/seed-alpine-test",
            ctx.to_str().unwrap(),
        ],
    ));
    let cid = run_ok(&mut cmd(
        "podman",
        &["create", "localhost/seed-alpine-test"],
    ))
    .trim()
    .to_string();
    let export = dir.path().join("podman-export.tar");
    run_ok(&mut cmd(
        "podman",
        &["export", "-o", export.to_str().unwrap(), &cid],
    ));
    let _ = run(&mut cmd("podman", &["rm", "-f", &cid]));
    let saved = dir.path().join("podman-seed.tar");
    run_ok(&mut cmd(
        "podman",
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            saved.to_str().unwrap(),
            "localhost/seed-alpine-test",
        ],
    ));
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "localhost/seed-alpine-test"],
    ));
    let (rootfs, _) = build(dir.path(), &example("alpine"), "rootfs", "rootfs.tar", &[]);
    let ours = tree_listing(&[&rootfs]);
    let theirs = tree_listing(&[&export]);
    assert_eq!(ours, theirs);

    // compose diff against podman's image: equal once mtimes, history and buildah's
    // version label are ignored; without those options it names exactly those.
    let (image, _) = build(
        dir.path(),
        &example("alpine"),
        "oci-archive",
        "ours.tar",
        &[],
    );
    let mut lenient = compose(&dir.path().join("cache"));
    lenient.args([
        "diff",
        "--ignore-mtime",
        "--ignore-history",
        "--ignore-label",
        "io.buildah.version",
    ]);
    lenient.arg(&image).arg(&saved);
    let out = run(&mut lenient);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut strict = compose(&dir.path().join("cache"));
    strict.args(["diff", "--json"]).arg(&image).arg(&saved);
    let out = run(&mut strict);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&String::from_utf8_lossy(&out.stdout));
    let mut fields: Vec<String> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    fields.dedup();
    assert_eq!(fields, ["created", "history", "label", "mtime"], "{report}");
    let labels: Vec<&serde_json::Value> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["field"] == "label")
        .collect();
    assert!(
        labels.iter().all(|d| d["location"]
            .as_str()
            .unwrap()
            .contains("io.buildah.version")),
        "{labels:?}"
    );
}

#[test]
#[ignore = "needs podman (cargo test -- --ignored runs it; CI does)"]
fn the_static_binary_image_runs() {
    if !have_tool("podman") || !have_tool("rustc") {
        return;
    }
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let mut c = Command::new("bash");
    c.arg(repo_root().join("examples/static-binary/build.sh"));
    c.env("COMPOSE", env!("CARGO_BIN_EXE_compose"))
        .env("SCRATCH_CACHE_DIR", dir.path().join("cache"));
    c.args(["-q", "--format", "docker-archive", "-o"]).arg(&out);
    run_ok(&mut c);
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "docker.io/library/scratch-hello:latest"],
    ));
    run_ok(&mut cmd("podman", &["load", "-i", out.to_str().unwrap()]));
    let said = run_ok(&mut cmd(
        "podman",
        &["run", "--rm", "docker.io/library/scratch-hello:latest"],
    ));
    assert_eq!(said, "hello from a scratch image\n");
    let said = run_ok(&mut cmd(
        "podman",
        &[
            "run",
            "--rm",
            "docker.io/library/scratch-hello:latest",
            "world",
        ],
    ));
    assert_eq!(said, "hello, world\n");
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", "docker.io/library/scratch-hello:latest"],
    ));
}

/// DOCKER_HOST from the environment, else the private engine `start-dockerd` runs.
fn docker_env(c: &mut Command) -> bool {
    if std::env::var_os("DOCKER_HOST").is_none() {
        let sock = Path::new("/tmp/scratch-dockerd/docker.sock");
        if !sock.exists() {
            common::missing("a Docker engine ($DOCKER_HOST, or ../shared/tools/start-dockerd)");
        }
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    }
    true
}

#[test]
#[ignore = "needs ../shared fixtures, a Docker engine, ctr (cargo test -- --ignored runs it; CI does)"]
fn docker_loads_and_runs_the_docker_archive_and_containerd_imports_it() {
    if fixtures().is_none() || !have_tool("docker") || !have_tool("ctr") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = build(
        dir.path(),
        &example("alpine"),
        "docker-archive",
        "docker.tar",
        &[],
    );
    let docker = |args: &[&str]| {
        let mut c = cmd("docker", args);
        docker_env(&mut c).then_some(c)
    };
    let Some(mut load) = docker(&["load", "-i", archive.to_str().unwrap()]) else {
        return;
    };
    let loaded = run_ok(&mut load);
    assert!(loaded.contains("scratch-alpine:3.19.4"), "{loaded}");
    let said = run_ok(
        &mut docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "scratch-alpine:3.19.4",
            "cat",
            "/etc/alpine-release",
        ])
        .unwrap(),
    );
    assert_eq!(said.trim(), "3.19.4");
    let id = run_ok(
        &mut docker(&["image", "inspect", "-f", "{{.Id}}", "scratch-alpine:3.19.4"]).unwrap(),
    );
    let manifest_json = json(&run_ok(&mut cmd(
        "sh",
        &[
            "-c",
            &format!("tar -xOf {} manifest.json", archive.display()),
        ],
    )));
    let config_hex = manifest_json[0]["Config"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(id.trim(), format!("sha256:{config_hex}"));
    let _ = run(&mut docker(&["rmi", "-f", "scratch-alpine:3.19.4"]).unwrap());

    let address = std::env::var("CONTAINERD_ADDRESS")
        .unwrap_or_else(|_| "/tmp/scratch-dockerd/exec/containerd/containerd.sock".into());
    let mut ctr = cmd(
        "ctr",
        &[
            "--address",
            &address,
            "-n",
            "compose-test",
            "images",
            "import",
            "--snapshotter",
            "native",
        ],
    );
    ctr.arg(&archive);
    let imported = run_ok(&mut ctr);
    assert!(imported.contains("scratch-alpine"), "{imported}");
    let listed = run_ok(&mut cmd(
        "ctr",
        &[
            "--address",
            &address,
            "-n",
            "compose-test",
            "images",
            "ls",
            "-q",
        ],
    ));
    assert!(
        listed.contains("docker.io/library/scratch-alpine:3.19.4"),
        "{listed}"
    );
    let _ = run(&mut cmd(
        "ctr",
        &[
            "--address",
            &address,
            "-n",
            "compose-test",
            "images",
            "rm",
            "docker.io/library/scratch-alpine:3.19.4",
        ],
    ));
}
