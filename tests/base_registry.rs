//! Base images pulled from a real registry (`../shared/tools/start-registry`): a base
//! pushed there by skopeo from a layout `compose build` wrote, resolved by tag, each
//! platform picked, its layers fetched byte for byte, with and without credentials, and
//! resolved again offline from the cache alone once the registry is gone.

mod common;
mod registry_support;

use common::cli::*;
use registry_support::*;
use scratch_compose::base::{self, BlobCache, ResolveOptions, Source};
use scratch_compose::digest::Sha256Digest;
use scratch_compose::manifest::BaseSpec;
use scratch_compose::platform::Platform;
use scratch_compose::registry::auth::CredentialSources;
use scratch_compose::registry::ClientOptions;
use scratch_compose::ui::Ui;
use std::path::Path;
use std::process::Command;

/// Push the OCI layout at `layout` to `reference` with skopeo (every platform).
fn skopeo_push(layout: &Path, reference: &str, creds: Option<&str>) {
    let mut c = Command::new("skopeo");
    c.args(["copy", "--all", "--dest-tls-verify=false"]);
    if let Some(u) = creds {
        c.args(["--dest-creds", u]);
    }
    c.arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{reference}"));
    let o = c.output().expect("spawn skopeo");
    assert!(
        o.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn platforms(list: &[&str]) -> Vec<Platform> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn options(auth: Option<&Path>) -> ClientOptions {
    ClientOptions {
        credentials: CredentialSources::files(auth.map(Path::to_path_buf).into_iter().collect()),
        ..ClientOptions::default()
    }
}

/// The digest a raw manifest fetched with skopeo has.
fn registry_digest(reference: &str, creds: Option<&str>) -> Sha256Digest {
    let mut extra = Vec::new();
    if let Some(c) = creds {
        extra.extend(["--creds", c]);
    }
    let o = skopeo_raw(reference, &extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    digest_of(&o.stdout).parse().unwrap()
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_multi_platform_base_is_resolved_by_tag_fetched_and_then_used_offline() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_ok(
        &dir.path().join("cache"),
        &example("alpine-multiarch"),
        "oci",
        &layout,
        &[],
    );
    let reference = format!("{}/base/alpine:1", reg.host);
    skopeo_push(&layout, &reference, None);
    let expected = registry_digest(&reference, None);

    let spec = BaseSpec::parse(&reference, dir.path()).unwrap();
    let cache = BlobCache::new(scratch_compose::store::Cache::open(&dir.path().join("c")).unwrap());
    let source = Source::open(&spec, &options(None)).unwrap();
    let ps = platforms(&["linux/amd64", "linux/arm64"]);
    let by_tag = ResolveOptions {
        offline: false,
        allow_tag: true,
    };
    let resolved = base::resolve(&spec, None, &ps, &source, &cache, by_tag).unwrap();
    assert_eq!(
        resolved.digest, expected,
        "the tag resolves to the registry's digest"
    );
    assert_eq!(resolved.images.len(), 2);
    let paths = base::fetch_layers(&resolved, &source, &cache, false, 4, &Ui::silent()).unwrap();
    for (image, paths) in resolved.images.iter().zip(&paths) {
        for (layer, path) in image.layers.iter().zip(paths) {
            let ours = std::fs::read(path).unwrap();
            let theirs =
                std::fs::read(layout.join("blobs/sha256").join(layer.blob.digest.hex())).unwrap();
            assert!(
                ours == theirs,
                "layer {} is byte for byte the pushed blob",
                layer.blob.digest
            );
        }
    }
    // Unpinned, a build refuses the tag.
    let build = ResolveOptions {
        offline: false,
        allow_tag: false,
    };
    let e = base::resolve(&spec, None, &ps, &source, &cache, build).unwrap_err();
    assert!(e.to_string().contains("not pinned"), "{e}");

    // The registry goes away: pinned by the lock's digest, the cache alone suffices.
    drop(reg);
    let offline = ResolveOptions {
        offline: true,
        allow_tag: false,
    };
    let source = Source::open(&spec, &options(None)).unwrap();
    let again = base::resolve(&spec, Some(expected), &ps, &source, &cache, offline).unwrap();
    assert_eq!(again, resolved);
    base::fetch_layers(&again, &source, &cache, true, 4, &Ui::silent()).unwrap();
    // A platform the base lacks is named with what it offers.
    let e = base::resolve(
        &spec,
        Some(expected),
        &platforms(&["linux/s390x"]),
        &source,
        &cache,
        offline,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("it offers linux/amd64, linux/arm64/v8"),
        "{e}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_base_behind_basic_auth_is_pulled_with_the_credentials_found() {
    if fixtures().is_none() {
        return;
    }
    // distribution refuses basic auth over plain HTTP: TLS, its certificate not verified.
    let Some(reg) = TestRegistry::start(true, Some("puller:s3cret")) else {
        return;
    };
    let options = |auth: Option<&Path>| ClientOptions {
        insecure: vec![reg.host.clone()],
        ..options(auth)
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_ok(
        &dir.path().join("cache"),
        &example("alpine"),
        "oci",
        &layout,
        &[],
    );
    let reference = format!("{}/private/base:1", reg.host);
    skopeo_push(&layout, &reference, Some("puller:s3cret"));
    let expected = registry_digest(&reference, Some("puller:s3cret"));
    let spec = BaseSpec::parse(&format!("{reference}@{expected}"), dir.path()).unwrap();
    let cache = BlobCache::new(scratch_compose::store::Cache::open(&dir.path().join("c")).unwrap());
    let pinned = ResolveOptions {
        offline: false,
        allow_tag: false,
    };
    let ps = platforms(&["linux/amd64"]);

    // Anonymously: refused, and the error says to log in.
    let source = Source::open(&spec, &options(None)).unwrap();
    let e = base::resolve(&spec, None, &ps, &source, &cache, pinned).unwrap_err();
    assert!(e.to_string().contains("denied"), "{e}");
    assert!(e.hint().unwrap().contains("log in"), "{:?}", e.hint());

    // With an auth file: pulled.
    let auth = dir.path().join("auth.json");
    let token = base64_encode("puller:s3cret");
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{}":{{"auth":"{token}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let source = Source::open(&spec, &options(Some(&auth))).unwrap();
    let resolved = base::resolve(&spec, None, &ps, &source, &cache, pinned).unwrap();
    assert_eq!(resolved.digest, expected);
    base::fetch_layers(&resolved, &source, &cache, false, 2, &Ui::silent()).unwrap();
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo (cargo test -- --ignored runs it; CI does)"]
fn pulled_base_blobs_are_remembered_and_a_later_push_mounts_them_from_the_base_repository() {
    if fixtures().is_none() || !have_tool("skopeo") {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let proxy = registry_support::proxy::Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_ok(
        &dir.path().join("build-cache"),
        &example("alpine"),
        "oci",
        &layout,
        &[],
    );
    skopeo_push(&layout, &format!("{}/base/alpine:1", reg.host), None);

    // Pull the base (through the proxy, the address the push will use too).
    let reference = format!("{}/base/alpine:1", proxy.addr);
    let spec = BaseSpec::parse(&reference, dir.path()).unwrap();
    let store = scratch_compose::store::Cache::open(&dir.path().join("c")).unwrap();
    let cache = BlobCache::new(store.clone());
    let source = Source::open(&spec, &options(None)).unwrap();
    let by_tag = ResolveOptions {
        offline: false,
        allow_tag: true,
    };
    let ps = platforms(&["linux/amd64"]);
    let resolved = base::resolve(&spec, None, &ps, &source, &cache, by_tag).unwrap();
    base::fetch_layers(&resolved, &source, &cache, false, 2, &Ui::silent()).unwrap();
    let layers: Vec<Sha256Digest> = resolved.images[0]
        .layers
        .iter()
        .map(|l| l.blob.digest)
        .collect();
    for d in &layers {
        let places = store.origins().lookup(d);
        assert_eq!(
            places,
            vec![scratch_compose::store::Origin::new(&proxy.addr, "base/alpine").unwrap()],
            "the pull remembers where {d} came from"
        );
    }

    // A push of an image holding those layers to another repository, in another command:
    // the layers are mounted from the base's repository, only the rest is uploaded.
    let (_, err) = ok(compose_for(&dir.path().join("c"), dir.path())
        .args(["push", "--from"])
        .arg(&layout)
        .arg(format!("{}/team/derived:1", proxy.addr)));
    assert_eq!(
        proxy.count("POST", "/v2/team/derived/blobs/uploads/?mount="),
        layers.len(),
        "{err}"
    );
    assert!(err.contains("mounted from base/alpine"), "{err}");
    assert_eq!(
        proxy.count("PUT", "/v2/team/derived/blobs/uploads/"),
        1,
        "only the config is uploaded: {err}"
    );
}

/// DOCKER_HOST from the environment, else the private engine `start-dockerd` runs.
fn docker_env(c: &mut Command) -> bool {
    if std::env::var_os("DOCKER_HOST").is_none() {
        let sock = Path::new("/tmp/scratch-dockerd/docker.sock");
        if !sock.exists() {
            if std::env::var_os("CI").is_some() {
                panic!("no Docker engine: .ci/run must start one with start-dockerd");
            }
            eprintln!("skipping: no Docker engine");
            return false;
        }
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    }
    true
}

/// An app over `base`: our file, a base path removed, env merged.
fn app_manifest(dir: &Path, base: &str, platforms: &str) -> std::path::PathBuf {
    let path = dir.join("scratch.toml");
    std::fs::write(
        &path,
        format!(
            r#"[image]
name = "basewire-test-app"
tag = "1"
source_date_epoch = 1700000000
base = "{base}"
platforms = {platforms}

[config]
env = ["APP=1"]
cmd = ["/bin/sh", "-c", "cat /etc/hello; test -e /sbin/apk || echo apk-removed; echo $APP"]

[[layer]]
remove = ["/sbin/apk"]
[[layer.file]]
dest = "/etc/hello"
content = "hello from app\n"
"#
        ),
    )
    .unwrap();
    path
}

fn blob_bytes(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

fn layout_json(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&blob_bytes(layout, digest)).unwrap()
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo, podman, docker (cargo test -- --ignored runs it; CI does)"]
fn an_app_on_a_private_multi_platform_base_is_locked_built_run_and_rebuilt_offline() {
    if fixtures().is_none() || !have_tool("skopeo") || !have_tool("podman") {
        return;
    }
    let Some(reg) = TestRegistry::start(true, Some("puller:s3cret")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_ok(
        &dir.path().join("base-cache"),
        &example("alpine-multiarch"),
        "oci",
        &layout,
        &[],
    );
    let reference = format!("{}/team/alpine:3.19", reg.host);
    skopeo_push(&layout, &reference, Some("puller:s3cret"));
    let expected = registry_digest(&reference, Some("puller:s3cret"));

    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let auth = home.join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host,
            base64_encode("puller:s3cret")
        ),
    )
    .unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let manifest = app_manifest(&app_dir, &reference, r#"["linux/amd64", "linux/arm64"]"#);
    let host = reg.host.clone();
    let compose = |cache: &str| {
        let mut c = compose_for(&dir.path().join(cache), &home);
        c.env("REGISTRY_AUTH_FILE", &auth)
            .env("SCRATCH_INSECURE_REGISTRIES", &host)
            .arg("-q")
            .arg("-f")
            .arg(&manifest);
        c
    };

    // The tag is resolved once, by `compose lock`, and recorded with every blob.
    ok(compose("cache").arg("lock"));
    let lock = std::fs::read_to_string(app_dir.join("scratch.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "[base]\nsource = \"{reference}\"\ndigest = \"{expected}\""
        )),
        "{lock}"
    );
    assert!(
        lock.contains("[base.platform.\"linux/arm64/v8\"]"),
        "{lock}"
    );

    let out = dir.path().join("out");
    let (digest, _) = ok(compose("cache").args(["build", "--locked", "-o"]).arg(&out));
    // Each platform's image starts with the base's layer, byte for byte the pushed blob.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let nested = layout_json(&out, index["manifests"][0]["digest"].as_str().unwrap());
    let base_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let base_nested = layout_json(
        &layout,
        base_index["manifests"][0]["digest"].as_str().unwrap(),
    );
    for i in 0..2 {
        let ours = layout_json(&out, nested["manifests"][i]["digest"].as_str().unwrap());
        let theirs = layout_json(
            &layout,
            base_nested["manifests"][i]["digest"].as_str().unwrap(),
        );
        assert_eq!(ours["layers"][0], theirs["layers"][0]);
        let d = theirs["layers"][0]["digest"].as_str().unwrap();
        assert!(blob_bytes(&out, d) == blob_bytes(&layout, d), "blob {d}");
    }

    // It runs in podman and Docker.
    let archive = dir.path().join("app.tar");
    ok(compose("cache")
        .args([
            "build",
            "--platform",
            "linux/amd64",
            "--format",
            "docker-archive",
            "-o",
        ])
        .arg(&archive));
    let expected_run = "hello from app\napk-removed\n1\n";
    let (said, _) = ok(Command::new("podman")
        .args(["run", "--rm", "--network", "none"])
        .arg(format!("docker-archive:{}", archive.display())));
    assert_eq!(said, expected_run);
    // podman run of an archive loads it: remove the image again.
    let _ = Command::new("podman")
        .args(["rmi", "-f", "localhost/basewire-test-app:1"])
        .output();
    let mut load = Command::new("docker");
    if have_tool("docker") && docker_env(&mut load) {
        ok(load.arg("load").arg("-i").arg(&archive));
        let mut run = Command::new("docker");
        docker_env(&mut run);
        let (said, _) = ok(run.args(["run", "--rm", "--network", "none", "basewire-test-app:1"]));
        assert_eq!(said, expected_run);
        let mut rmi = Command::new("docker");
        docker_env(&mut rmi);
        let _ = rmi.args(["rmi", "-f", "basewire-test-app:1"]).output();
    }

    // Another cache gives the same image; then, the registry gone, the first cache alone
    // rebuilds it offline.
    let (again, _) = ok(compose("cache2")
        .args(["build", "--locked", "-o"])
        .arg(dir.path().join("again")));
    assert_eq!(again, digest);
    drop(reg);
    let (offline, _) = ok(compose("cache")
        .args(["--offline", "build", "--locked", "-o"])
        .arg(dir.path().join("offline")));
    assert_eq!(offline, digest);
    // `cache prune --blobs` keeps what the lock names, the base's blobs included.
    ok(compose("cache").args(["cache", "prune", "--blobs"]));
    let (pruned, _) = ok(compose("cache")
        .args(["--offline", "build", "--locked", "-o"])
        .arg(dir.path().join("pruned")));
    assert_eq!(pruned, digest);
    let (_, err) = fails(
        compose("fresh")
            .args(["--offline", "build", "-o"])
            .arg(dir.path().join("nothing")),
    );
    assert!(err.contains("--offline"), "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo (cargo test -- --ignored runs it; CI does)"]
fn lock_keeps_a_base_tag_until_update_base_and_check_refresh_reports_it_moved() {
    if fixtures().is_none() || !have_tool("skopeo") {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    build_ok(
        &dir.path().join("bc"),
        &example("alpine"),
        "oci",
        &first,
        &[],
    );
    let reference = format!("{}/lib/alpine:3", reg.host);
    skopeo_push(&first, &reference, None);
    let d1 = registry_digest(&reference, None);
    let home = dir.path().join("home");
    let manifest = app_manifest(dir.path(), &reference, r#"["linux/amd64"]"#);
    let compose = || {
        let mut c = compose_for(&dir.path().join("cache"), &home);
        c.arg("-q").arg("-f").arg(&manifest);
        c
    };
    ok(compose().arg("lock"));
    let lock = || std::fs::read_to_string(dir.path().join("scratch.lock")).unwrap();
    assert!(lock().contains(&format!("digest = \"{d1}\"")));

    // The tag moves.
    let second = dir.path().join("second");
    build_ok(
        &dir.path().join("bc"),
        &example("alpine"),
        "oci",
        &second,
        &["--compression", "gzip:1"],
    );
    skopeo_push(&second, &reference, None);
    let d2 = registry_digest(&reference, None);
    assert_ne!(d1, d2);
    // A lock is a lock: neither a check nor a build looks at the tag again.
    ok(compose().args(["lock", "--check"]));
    let (built, _) = ok(compose()
        .args(["build", "--locked", "-o"])
        .arg(dir.path().join("o1")));
    // --refresh asks the registry and says the tag moved (exit 1), writing nothing.
    let o = compose()
        .args(["lock", "--check", "--refresh"])
        .output()
        .unwrap();
    let (report, err) = texts(&o);
    assert_eq!(o.status.code(), Some(1), "{report}{err}");
    assert!(
        report.contains(&format!("locked at {d1}, now resolves to {d2}")),
        "{report}"
    );
    assert!(lock().contains(&format!("digest = \"{d1}\"")));
    // `lock --update base` moves it; the build follows.
    ok(compose().args(["lock", "--update", "base"]));
    assert!(lock().contains(&format!("digest = \"{d2}\"")), "{}", lock());
    let (moved, _) = ok(compose()
        .args(["build", "--locked", "-o"])
        .arg(dir.path().join("o2")));
    assert_ne!(moved, built);
    // Pushed to another repository of the same registry, the base's layer is mounted
    // from the repository it was pulled from, and the pushed digest is the built one.
    let mut push = compose_for(&dir.path().join("cache"), &home);
    let (pushed, err) = ok(push
        .arg("-f")
        .arg(&manifest)
        .args(["push", "--locked"])
        .arg(format!("{}/team/app:1", reg.host)));
    assert_eq!(
        pushed.trim(),
        format!("{}/team/app:1@{}", reg.host, moved.trim())
    );
    assert!(err.contains("mounted from lib/alpine"), "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo (cargo test -- --ignored runs it; CI does)"]
fn build_insecure_registry_reaches_a_base_behind_an_unverified_certificate() {
    if fixtures().is_none() || !have_tool("skopeo") {
        return;
    }
    let Some(reg) = TestRegistry::start(true, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_ok(
        &dir.path().join("base-cache"),
        &example("alpine"),
        "oci",
        &layout,
        &[],
    );
    let reference = format!("{}/team/alpine:3.19", reg.host);
    skopeo_push(&layout, &reference, None);
    let expected = registry_digest(&reference, None);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let pinned = format!("{reference}@{expected}");
    let manifest = app_manifest(&app_dir, &pinned, r#"["linux/amd64"]"#);
    let build = |extra: &[&str]| {
        let mut c = compose_for(&dir.path().join("cache"), &home);
        c.arg("-q")
            .arg("-f")
            .arg(&manifest)
            .arg("build")
            .args(extra)
            .arg("-o")
            .arg(dir.path().join("out"));
        c
    };
    // The registry's certificate is its own: refused, and the hint names the flag.
    let (_, err) = fails(&mut build(&[]));
    assert!(err.contains("--insecure-registry"), "{err}");
    // The flag reaches the base pull (not only the registry-backed cache).
    let (out, err) = ok(&mut build(&["--insecure-registry", &reg.host]));
    assert!(out.trim().starts_with("sha256:"), "{out}{err}");
}
