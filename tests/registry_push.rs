//! `compose push` against a real registry (CNCF distribution 2.8 via
//! `../shared/tools/start-registry`), proved by pulling back with skopeo, podman and
//! Docker: the digest pulled is the digest `build` printed, and the image runs.

mod common;
mod registry_support;

use common::cli::*;
use registry_support::*;
use std::process::Command;
use std::sync::Mutex;

/// podman and Docker keep global state: one test at a time talks to them.
static ENGINE: Mutex<()> = Mutex::new(());

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// DOCKER_HOST from the environment, else the private engine `start-dockerd` runs.
fn docker(args: &[&str]) -> Option<Command> {
    let mut c = cmd("docker", args);
    if std::env::var_os("DOCKER_HOST").is_none() {
        let sock = std::path::Path::new("/tmp/scratch-dockerd/docker.sock");
        if !sock.exists() {
            common::missing("a Docker engine ($DOCKER_HOST, or ../shared/tools/start-dockerd)");
        }
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    }
    Some(c)
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), a Docker engine, podman, skopeo (cargo test -- --ignored runs it; CI does)"]
fn a_pushed_image_pulls_back_with_the_built_digest_and_runs_in_podman_and_docker() {
    if fixtures().is_none() || !have_tool("skopeo") || !have_tool("podman") || !have_tool("docker")
    {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A copy of the example, so that its lock is ours to write.
    let manifest = dir.path().join("scratch.toml");
    std::fs::copy(example("alpine"), &manifest).unwrap();
    let target = format!("{}/scratch/alpine", reg.host);
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .arg("-f")
            .arg(&manifest)
            .args(["push", "--locked", &target]),
    );
    assert!(err.contains("scratch.lock"), "--locked is honoured: {err}");
    ok(compose_for(&cache, dir.path())
        .arg("-f")
        .arg(&manifest)
        .arg("lock"));
    let built = build_ok(
        &cache,
        &manifest,
        "oci",
        &dir.path().join("out"),
        &["--locked"],
    );
    let meta = dir.path().join("meta.json");
    let (out, err) = ok(compose_for(&cache, dir.path())
        .arg("-f")
        .arg(&manifest)
        .args(["push", "--locked", &target, "--metadata-file"])
        .arg(&meta)
        .arg(format!("{target}:second")));
    assert_eq!(
        out,
        format!("{target}:3.19.4@{built}\n{target}:second@{built}\n"),
        "stderr: {err}"
    );
    assert!(
        err.contains("using plain HTTP (a loopback address)"),
        "{err}"
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["digest"], built.as_str());
    assert_eq!(m["pushed"][0], format!("{target}:3.19.4@{built}"));
    assert!(m["platforms"]["linux/amd64"]["manifest"].is_string(), "{m}");

    // skopeo: the manifest's bytes hash to the digest build printed.
    let raw = skopeo_raw(&format!("{target}:3.19.4"), &[]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(digest_of(&raw.stdout), built);
    let local = std::fs::read(
        dir.path()
            .join("out/blobs/sha256")
            .join(built.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(
        raw.stdout, local,
        "the registry serves our manifest byte for byte"
    );

    // podman pull + run.
    let pref = format!("{target}:3.19.4");
    let _ = cmd("podman", &["rmi", "-f", &pref]).output();
    ok(&mut cmd(
        "podman",
        &["pull", "-q", "--tls-verify=false", &pref],
    ));
    let (said, _) = ok(&mut cmd(
        "podman",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &pref,
            "cat",
            "/etc/alpine-release",
        ],
    ));
    assert_eq!(said.trim(), "3.19.4");
    let (digest, _) = ok(&mut cmd(
        "podman",
        &["image", "inspect", "-f", "{{.Digest}}", &pref],
    ));
    assert_eq!(digest.trim(), built);
    let _ = cmd("podman", &["rmi", "-f", &pref]).output();

    // Docker pull + run (Docker treats 127.0.0.0/8 registries as insecure).
    let Some(mut pull) = docker(&["pull", &pref]) else {
        return;
    };
    ok(&mut pull);
    let (said, _) = ok(&mut docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &pref,
        "cat",
        "/etc/alpine-release",
    ])
    .unwrap());
    assert_eq!(said.trim(), "3.19.4");
    let (digests, _) =
        ok(&mut docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &pref]).unwrap());
    assert!(
        digests.contains(&format!("@{built}")),
        "{digests} vs {built}"
    );
    let _ = docker(&["rmi", "-f", &pref]).unwrap().output();
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), a Docker engine, podman, skopeo (cargo test -- --ignored runs it; CI does)"]
fn a_multi_platform_image_is_pushed_as_the_nested_index_and_each_platform_pulls() {
    if fixtures().is_none() || !have_tool("skopeo") || !have_tool("podman") || !have_tool("docker")
    {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let manifest = example("alpine-multiarch");
    let out_dir = dir.path().join("out");
    let built = build_ok(&cache, &manifest, "oci", &out_dir, &[]);
    let target = format!("{}/multi:v1", reg.host);
    let (out, _) = ok(compose_for(&cache, dir.path())
        .arg("-f")
        .arg(&manifest)
        .args(["push", "-q", &target]));
    assert_eq!(out, format!("{target}@{built}\n"));

    let raw = skopeo_raw(&target, &[]);
    assert!(raw.status.success());
    assert_eq!(
        digest_of(&raw.stdout),
        built,
        "the tag names the nested index"
    );
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for (arch, child) in [("amd64", &children[0]), ("arm64", &children[1])] {
        assert_eq!(child["platform"]["architecture"], arch);
        let d = child["digest"].as_str().unwrap();
        let raw = skopeo_raw(&format!("{}/multi@{d}", reg.host), &[]);
        assert!(raw.status.success(), "child {d}");
        assert_eq!(digest_of(&raw.stdout), d);
        let picked = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--override-arch", arch])
            .args(["-f", "{{.Architecture}} {{.Layers}}"])
            .arg(format!("docker://{target}"))
            .output()
            .unwrap();
        let child: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        let layer = child["layers"][0]["digest"].as_str().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&picked.stdout).trim(),
            format!("{arch} [{layer}]"),
            "skopeo picks {arch}"
        );
    }

    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let _ = cmd("podman", &["rmi", "-f", &target]).output();
    ok(&mut cmd(
        "podman",
        &[
            "pull",
            "-q",
            "--tls-verify=false",
            "--platform",
            "linux/amd64",
            &target,
        ],
    ));
    let (said, _) = ok(&mut cmd(
        "podman",
        &["run", "--rm", "--network", "none", &target, "uname", "-m"],
    ));
    assert_eq!(said.trim(), "x86_64");
    let _ = cmd("podman", &["rmi", "-f", &target]).output();
    let Some(mut pull) = docker(&["pull", &target]) else {
        return;
    };
    ok(&mut pull);
    let (said, _) = ok(&mut docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &target,
        "cat",
        "/etc/alpine-release",
    ])
    .unwrap());
    assert_eq!(said.trim(), "3.19.4");
    let (digests, _) =
        ok(&mut docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &target]).unwrap());
    assert!(
        digests.contains(&format!("@{built}")),
        "{digests} vs {built}"
    );
    let _ = docker(&["rmi", "-f", &target]).unwrap().output();
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn pushing_again_uploads_nothing_and_a_second_repository_mounts_the_blobs() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let proxy = registry_support::proxy::Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let manifest = example("alpine-multiarch");
    let push = |refs: &[&str]| {
        ok(compose_for(&cache, dir.path())
            .arg("-f")
            .arg(&manifest)
            .arg("push")
            .args(refs))
    };
    let first = format!("{}/one/app", proxy.addr);
    let (out1, err1) = push(&[&first]);
    let layer_puts = proxy.count("PUT", "/blobs/uploads/");
    assert_eq!(layer_puts, 4, "2 configs and 2 layers: {err1}");
    assert!(err1.contains("pushed"), "{err1}");

    let before = proxy.seen().len();
    let (out2, err2) = push(&[&first]);
    assert_eq!(out1, out2);
    let again: Vec<_> = proxy.seen()[before..].to_vec();
    assert!(
        again
            .iter()
            .all(|s| s.method == "GET" || s.method == "HEAD"),
        "nothing is written on a re-push: {again:?}"
    );
    // The ping, then the tag's HEAD finds the very image: nothing else to ask.
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(err2.contains("is already this image"), "{err2}");

    // Another tag of the same repository: one HEAD per blob and child manifest finds them
    // all; only the new tag is written.
    let before = proxy.seen().len();
    push(&[&format!("{first}:other")]);
    let other: Vec<_> = proxy.seen()[before..].to_vec();
    let writes: Vec<_> = other
        .iter()
        .filter(|s| s.method != "GET" && s.method != "HEAD")
        .collect();
    assert_eq!(writes.len(), 1, "{other:?}");
    assert!(writes[0].path.ends_with("/manifests/other"), "{other:?}");
    assert_eq!(
        other
            .iter()
            .filter(|s| s.method == "HEAD" && s.path.contains("/blobs/"))
            .count(),
        4
    );

    // A new command: the store's record of origins says one/app holds every blob, so
    // they are mounted from there and nothing is uploaded.
    let second = format!("{}/two/app", proxy.addr);
    let (_, err3) = push(&[&second]);
    assert_eq!(
        proxy.count("POST", "/v2/two/app/blobs/uploads/?mount="),
        4,
        "{err3}"
    );
    assert_eq!(
        proxy.count("PUT", "/v2/two/app/blobs/uploads/"),
        0,
        "mounted across commands: {err3}"
    );
    assert!(err3.contains("mounted from one/app"), "{err3}");
    assert!(err3.contains("0 blobs uploaded"), "{err3}");

    // A record naming a repository that does not hold the blobs: the registry refuses
    // the mount and opens an upload session (202), which the upload then uses.
    let origins = cache.join("origins");
    let records: Vec<_> = std::fs::read_dir(&origins)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(records.len() >= 4, "{records:?}");
    for r in &records {
        let text = std::fs::read_to_string(r).unwrap();
        assert!(
            text.contains(&format!("{} one/app\n", proxy.addr)),
            "{text}"
        );
        std::fs::write(r, format!("{} ghost/app\n", proxy.addr)).unwrap();
    }
    let fifth = format!("{}/five/app", proxy.addr);
    let (_, err5) = push(&[&fifth]);
    assert_eq!(
        proxy.count("POST", "/v2/five/app/blobs/uploads/?mount="),
        4,
        "{err5}"
    );
    assert_eq!(
        proxy.count("POST", "/v2/five/app/blobs/uploads/"),
        4,
        "no session beyond the refused mounts' own: {err5}"
    );
    assert_eq!(
        proxy.count("PUT", "/v2/five/app/blobs/uploads/"),
        4,
        "{err5}"
    );
    let raw = skopeo_raw(&format!("{}/five/app:3.19.4", reg.host), &[]);
    if raw.status.success() || std::env::var_os("CI").is_some() {
        assert_eq!(
            digest_of(&raw.stdout),
            out1.trim().rsplit('@').next().unwrap()
        );
    }
    let third = format!("{}/three/app", proxy.addr);
    let fourth = format!("{}/four/app", proxy.addr);
    let (out, err4) = push(&[&third, &fourth]);
    assert_eq!(out.lines().count(), 2);
    assert!(
        proxy.count("POST", "/v2/four/app/blobs/uploads/?mount=") == 4,
        "{err4}"
    );
    assert_eq!(
        proxy.count("PUT", "/v2/four/app/blobs/uploads/"),
        0,
        "{err4}"
    );
    assert!(err4.contains("mounted from three/app"), "{err3}\n{err4}");
    let raw = skopeo_raw(&format!("{}/four/app:3.19.4", reg.host), &[]);
    if raw.status.success() || std::env::var_os("CI").is_some() {
        assert_eq!(
            digest_of(&raw.stdout),
            out.lines().next().unwrap().rsplit('@').next().unwrap()
        );
    }
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo (cargo test -- --ignored runs it; CI does)"]
fn from_pushes_an_oci_archive_or_layout_unchanged_and_quiet_prints_only_results() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let archive = dir.path().join("img.tar");
    let built = build_ok(
        &cache,
        &example("alpine-multiarch"),
        "oci-archive",
        &archive,
        &["--compression", "zstd"],
    );
    let target = format!("{}/from/archive:z", reg.host);
    let meta = dir.path().join("m.json");
    let (out, err) = ok(compose_for(&cache, dir.path())
        .args(["-q", "push", "--from"])
        .arg(&archive)
        .arg(&target)
        .arg("--metadata-file")
        .arg(&meta));
    assert_eq!(out, format!("{target}@{built}\n"));
    assert_eq!(err, "", "-q prints nothing on stderr");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["pushed"][0], format!("{target}@{built}"));
    if have_tool("skopeo") {
        let raw = skopeo_raw(&target, &[]);
        assert_eq!(digest_of(&raw.stdout), built);
    }
    // A digest-pinned reference must match; a layout directory works the same.
    let layout = dir.path().join("layout");
    let built1 = build_ok(&cache, &example("alpine"), "oci", &layout, &[]);
    let pinned = format!("{}/from/layout@{built1}", reg.host);
    let (out, _) = ok(compose_for(&cache, dir.path())
        .args(["push", "--from"])
        .arg(&layout)
        .arg(&pinned));
    assert_eq!(out, format!("{pinned}\n"));
    let wrong = format!("{}/from/layout:x@{built}", reg.host);
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .args(["push", "--from"])
            .arg(&layout)
            .arg(&wrong),
    );
    assert!(err.contains("pins") && err.contains(&built1), "{err}");
    // Not an image at all.
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .args(["push", "--from"])
            .arg(&cache)
            .arg(&wrong),
    );
    assert!(err.contains("no index.json"), "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn uploads_run_in_parallel_bounded_by_jobs() {
    if fixtures().is_none() {
        return;
    }
    use registry_support::proxy::{Action, Proxy, Rule};
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    build_ok(&cache, &example("alpine-multiarch"), "oci", &layout, &[]);
    for (jobs, want) in [("1", 1), ("3", 3)] {
        let proxy = Proxy::start(&reg.host);
        // Each upload is held long enough for the others to start.
        proxy.fault(Rule {
            method: "PUT",
            path: "/blobs/uploads/",
            times: 100,
            action: Action::Delay(std::time::Duration::from_millis(1500)),
        });
        ok(compose_for(&cache, dir.path())
            .args(["-j", jobs, "push", "--from"])
            .arg(&layout)
            .arg(format!("{}/jobs{jobs}/app", proxy.addr)));
        assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 4);
        assert_eq!(proxy.most_parallel_uploads(), want, "-j {jobs}");
    }
}
