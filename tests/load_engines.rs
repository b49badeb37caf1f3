//! `build --load` with the real engines: the image lands in Docker (through `DOCKER_HOST`)
//! and podman under every `-t` name, runs, and the printed image ID is what the engine
//! reports, the config digest, not the manifest digest `build` prints first.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The engines keep global state: one test at a time talks to them.
static ENGINE: Mutex<()> = Mutex::new(());

/// A project holding the host's static busybox as the image's only program.
fn project(dir: &Path) -> PathBuf {
    have_tool("busybox");
    let which = run_ok(Command::new("sh").args(["-c", "command -v busybox"]));
    std::fs::copy(which.trim(), dir.join("busybox")).unwrap();
    let m = dir.join("scratch.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"compose-load-test\"\ntag = \"default\"\n\
         [config]\nentrypoint = [\"/bin/busybox\"]\ncmd = [\"echo\", \"loaded and running\"]\n\
         [[layer]]\n[[layer.file]]\nsrc = \"busybox\"\ndest = \"/bin/busybox\"\nmode = \"0755\"\n",
    )
    .unwrap();
    m
}

/// Build with `--load=ENGINE` and two names; returns (manifest digest, printed image ID,
/// the metadata file).
fn build_and_load(
    dir: &Path,
    engine: &str,
    docker_host: Option<&std::ffi::OsStr>,
) -> (String, String, serde_json::Value) {
    let m = project(dir);
    let meta = dir.join("meta.json");
    let mut c = compose(&dir.join("cache"));
    c.arg("-f")
        .arg(&m)
        .args(["build", "-q", "-o"])
        .arg(dir.join("out"));
    c.args(["-t", "compose-load-test:a", "-t", "compose-load-test:b"])
        .arg(format!("--load={engine}"))
        .arg("--metadata-file")
        .arg(&meta);
    if let Some(h) = docker_host {
        c.env("DOCKER_HOST", h);
    }
    let out = run_ok(&mut c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let prefix = format!("loaded into {engine}: image ID ");
    let rest = lines[1]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{out}"));
    let (id, names) = rest.split_once(' ').unwrap();
    assert_eq!(names, "(compose-load-test:a, compose-load-test:b)");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    (lines[0].to_string(), id.to_string(), meta)
}

fn check_ids(digest: &str, id: &str, meta: &serde_json::Value, engine: &str) {
    let config = meta["platforms"]["linux/amd64"]["config"].as_str().unwrap();
    assert_eq!(id, config, "the engine's ID is the config digest");
    assert_ne!(id, digest);
    assert_eq!(meta["image_id"].as_str(), Some(config));
    assert_eq!(meta["loaded"]["engine"], engine);
    assert_eq!(meta["loaded"]["image_id"].as_str(), Some(id));
}

#[test]
#[ignore = "needs a Docker engine, busybox (cargo test -- --ignored runs it; CI does)"]
fn load_puts_the_image_into_docker_under_every_name() {
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let probe = docker_cmd();
    let host = probe
        .get_envs()
        .find(|(k, _)| *k == "DOCKER_HOST")
        .and_then(|(_, v)| v.map(|v| v.to_os_string()));
    let docker = |args: &[&str]| {
        let mut c = docker_cmd();
        c.args(args);
        c
    };
    let _ = run(&mut docker(&[
        "rmi",
        "-f",
        "compose-load-test:a",
        "compose-load-test:b",
    ]));
    let (digest, id, meta) = build_and_load(t.path(), "docker", host.as_deref());
    check_ids(&digest, &id, &meta, "docker");
    for name in ["compose-load-test:a", "compose-load-test:b"] {
        let said = run_ok(&mut docker(&["run", "--rm", "--network", "none", name]));
        assert_eq!(said, "loaded and running\n");
        let inspected = run_ok(&mut docker(&["image", "inspect", "-f", "{{.Id}}", name]));
        assert_eq!(inspected.trim(), id);
    }
    // What the README says: the ID runs, the manifest digest does not name the image.
    let said = run_ok(&mut docker(&["run", "--rm", "--network", "none", &id]));
    assert_eq!(said, "loaded and running\n");
    let by_digest = run(&mut docker(&["run", "--rm", "--network", "none", &digest]));
    assert!(!by_digest.status.success());
    let _ = run(&mut docker(&[
        "rmi",
        "-f",
        "compose-load-test:a",
        "compose-load-test:b",
    ]));
}

#[test]
#[ignore = "needs podman, busybox (cargo test -- --ignored runs it; CI does)"]
fn load_podman_puts_the_image_into_podman_under_every_name() {
    have_tool("podman");
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.args(args);
        c
    };
    let _ = run(&mut podman(&[
        "rmi",
        "-f",
        "compose-load-test:a",
        "compose-load-test:b",
    ]));
    let (digest, id, meta) = build_and_load(t.path(), "podman", None);
    check_ids(&digest, &id, &meta, "podman");
    for name in ["compose-load-test:a", "compose-load-test:b"] {
        let said = run_ok(&mut podman(&["run", "--rm", "--network", "none", name]));
        assert_eq!(said, "loaded and running\n");
    }
    let _ = run(&mut podman(&[
        "rmi",
        "-f",
        "compose-load-test:a",
        "compose-load-test:b",
    ]));
}

#[test]
fn load_names_an_engine_that_cannot_be_reached() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("scratch.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/f\"\ncontent = \"\"\n",
    )
    .unwrap();
    // An engine that is not there: a PATH without docker.
    let mut c = compose(&t.path().join("cache"));
    c.arg("-f")
        .arg(&m)
        .args(["build", "-q", "--load", "-o"])
        .arg(t.path().join("out"));
    c.env("PATH", t.path());
    let o = run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--load=docker: `docker` could not be started"),
        "{err}"
    );
    assert!(err.contains("hint: install docker"), "{err}");
}
