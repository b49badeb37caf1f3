//! The layer cache in a registry (`--cache-from` / `--cache-to`), against a real registry
//! (CNCF distribution 2.8 from `../shared/tools/start-registry`), with two cache
//! directories standing for two machines: B fetches what A built instead of compressing
//! it and gets the same digest; a tampered blob, a layer the lock disagrees with and a
//! cache of another format are refused; concurrent writers both succeed; the size
//! budget keeps the most recent entries; `verify` and `lock` never read a cache.

mod common;
mod registry_support;

use common::cli::*;
use registry_support::*;
use scratch_compose::cache::artifact;
use scratch_compose::registry::{ClientOptions, Registry};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A project: the Alpine example and a small layer over it (two layers), in `dir`.
fn project(dir: &Path, app: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let text = std::fs::read_to_string(example("alpine")).unwrap();
    let manifest = dir.join("scratch.toml");
    std::fs::write(
        &manifest,
        format!(
            "{text}\n[[layer]]\n[[layer.file]]\ndest = \"/etc/app.toml\"\ncontent = \"{app}\\n\"\n"
        ),
    )
    .unwrap();
    manifest
}

/// One build's result: its digest, stderr and `--metadata-file` document.
struct Built {
    digest: String,
    err: String,
    meta: Value,
}

impl Built {
    fn cache(&self, key: &str) -> u64 {
        self.meta["cache"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no cache.{key} in {}", self.meta))
    }
}

/// `compose build` of `manifest` with cache directory `cache` (a machine), to `out`.
fn build(cache: &Path, manifest: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Built {
    let home = cache.with_extension("home");
    std::fs::create_dir_all(&home).unwrap();
    let meta = out.with_extension("meta.json");
    let mut c = compose_for(cache, &home);
    c.arg("-v")
        .arg("-f")
        .arg(manifest)
        .arg("build")
        .arg("-o")
        .arg(out)
        .arg("--metadata-file")
        .arg(&meta)
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let (stdout, err) = ok(&mut c);
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    Built {
        digest: stdout.trim().to_string(),
        err,
        meta,
    }
}

/// A library connection to the test registry (anonymous, plain HTTP).
fn connect(host: &str) -> Registry {
    Registry::connect(host, &ClientOptions::default()).unwrap()
}

/// The cache index under `repo:tag`.
fn index_of(reg: &Registry, repo: &str, tag: &str) -> artifact::Index {
    let (_, bytes) = reg.get_manifest(repo, tag).unwrap();
    let m = artifact::parse_manifest(&bytes).unwrap();
    let mut config = Vec::new();
    use std::io::Read;
    reg.get_blob(repo, &m.config.digest)
        .unwrap()
        .read_to_end(&mut config)
        .unwrap();
    artifact::parse_index(&config).unwrap()
}

/// Replace the cache under `repo:tag` with one holding `index` (a forged cache).
fn put_index(reg: &Registry, repo: &str, tag: &str, index_bytes: &[u8], entries: &artifact::Index) {
    use scratch_compose::registry::write::{ensure_bytes, put_manifest};
    let digest = ensure_bytes(reg, repo, index_bytes).unwrap();
    let config = artifact::BlobRef {
        digest,
        size: index_bytes.len() as u64,
    };
    let manifest = artifact::manifest_bytes(entries, config);
    put_manifest(
        reg,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .unwrap();
}

/// A test's registry (plain; or TLS with basic auth for `user`), its work folder and the
/// cache reference `HOST/team/cache` on it. `None` where the fixtures are missing
/// outside CI.
fn setup(user: Option<&str>) -> Option<(TestRegistry, tempfile::TempDir, String)> {
    fixtures()?;
    let reg = TestRegistry::start(user.is_some(), user)?;
    let cache_ref = format!("{}/team/cache", reg.host);
    Some((reg, tempfile::tempdir().unwrap(), cache_ref))
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn machine_b_fetches_what_a_built_instead_of_compressing_it_and_gets_the_same_bytes() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "a");
    let (a, b) = (dir.path().join("machine-a"), dir.path().join("machine-b"));

    let built_a = build(
        &a,
        &manifest,
        &dir.path().join("out-a"),
        &["--cache-to", &cache_ref],
        &[],
    );
    assert_eq!(built_a.cache("layers_built"), 2);
    let exported = &built_a.meta["cache"]["exported"];
    assert_eq!(exported["entries"], 2, "{exported}");
    assert_eq!(
        exported["reference"],
        format!("{cache_ref}:compose-cache"),
        "the default tag is compose-cache"
    );

    let built_b = build(
        &b,
        &manifest,
        &dir.path().join("out-b"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(built_b.digest, built_a.digest);
    assert_eq!(
        built_b.cache("layers_built"),
        0,
        "B compressed nothing: {}",
        built_b.err
    );
    assert_eq!(built_b.cache("layers_fetched"), 2);
    assert!(built_b.cache("bytes_fetched") > 3_000_000);
    assert!(
        !built_b.err.contains("merging the tree for preflight"),
        "the preflight findings came with the cache: {}",
        built_b.err
    );
    assert!(
        built_b.err.contains("from the layer cache"),
        "{}",
        built_b.err
    );
    assert_eq!(
        tree_digests(&dir.path().join("out-a")),
        tree_digests(&dir.path().join("out-b")),
        "byte-identical outputs"
    );
    // B never fetched the Alpine input: no layer needed merging.
    assert!(
        !b.join("blobs/sha256")
            .join("a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211")
            .exists(),
        "the input was not downloaded"
    );

    // Lazy: with every layer in B's own cache now, the registry is not even asked (it is
    // gone, and nothing warns).
    drop(reg);
    let again = build(
        &b,
        &manifest,
        &dir.path().join("out-b2"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(again.digest, built_a.digest);
    assert_eq!(again.cache("layers_local"), 2);
    assert!(!again.err.contains("warning: layer cache"), "{}", again.err);
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn the_environment_and_the_manifest_name_the_cache_too() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "env");
    let cache_ref = format!("{cache_ref}:ci");
    let a = build(
        &dir.path().join("a"),
        &manifest,
        &dir.path().join("out-a"),
        &[],
        &[("SCRATCH_CACHE_TO", &cache_ref)],
    );
    assert_eq!(a.meta["cache"]["exported"]["entries"], 2);
    // `[cache]` in the manifest, read by a second machine.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[cache]\nfrom = [\"{cache_ref}\"]\n"),
    )
    .unwrap();
    let b = build(
        &dir.path().join("b"),
        &manifest,
        &dir.path().join("out-b"),
        &[],
        &[],
    );
    assert_eq!(
        (b.digest.as_str(), b.cache("layers_built")),
        (a.digest.as_str(), 0)
    );

    // `push` reads (and writes) the cache the same way.
    let pushed = dir.path().join("pushed.json");
    let (_, err) = ok(compose_for(&dir.path().join("push-machine"), dir.path())
        .arg("-v")
        .arg("-f")
        .arg(&manifest)
        .args([
            "push",
            &format!("{}/team/app:1", reg.host),
            "--metadata-file",
        ])
        .arg(&pushed));
    let meta: Value = serde_json::from_slice(&std::fs::read(&pushed).unwrap()).unwrap();
    assert_eq!(meta["cache"]["layers_built"], 0, "{err}");
    assert_eq!(meta["digest"], a.digest.as_str());

    // A bad reference in [cache] is an error at its line and column.
    std::fs::write(
        &manifest,
        format!("{text}\n[cache]\nto = \"{cache_ref},max=lots\"\n"),
    )
    .unwrap();
    let (_, err) = fails(
        compose_for(&dir.path().join("b"), dir.path())
            .arg("-f")
            .arg(&manifest)
            .arg("build"),
    );
    assert!(
        err.contains("[cache] to") && err.contains("max=`lots`"),
        "{err}"
    );
    assert!(err.contains("scratch.toml:"), "names the place: {err}");
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_tampered_blob_in_the_registry_is_detected_and_the_layer_built_here() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "poison");
    let a = build(
        &dir.path().join("a"),
        &manifest,
        &dir.path().join("out-a"),
        &["--cache-to", &cache_ref],
        &[],
    );
    // Overwrite the big layer's bytes in the registry's storage (same size).
    let layer = a.meta["platforms"]["linux/amd64"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let data = reg
        .dir
        .path()
        .join("registry/data/docker/registry/v2/blobs/sha256")
        .join(&layer[..2])
        .join(&layer)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let b = build(
        &dir.path().join("b"),
        &manifest,
        &dir.path().join("out-b"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert!(
        b.err.contains("corrupt or was tampered with") && b.err.contains(&cache_ref),
        "a warning names the cache: {}",
        b.err
    );
    assert_eq!(b.digest, a.digest, "rebuilt here, the same image");
    assert_eq!(b.cache("layers_refused"), 1);
    assert_eq!(b.cache("layers_built"), 1);
    assert_eq!(
        b.cache("layers_fetched"),
        1,
        "the intact layer still came from the cache"
    );
    assert!(
        !dir.path()
            .join("b/blobs/sha256")
            .join(Sha256Hex::of(&bytes).0)
            .exists(),
        "the tampered bytes were not kept"
    );
}

/// The hex sha256 of bytes.
struct Sha256Hex(String);

impl Sha256Hex {
    fn of(b: &[u8]) -> Sha256Hex {
        Sha256Hex(digest_of(b).trim_start_matches("sha256:").to_string())
    }
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_cached_layer_that_differs_from_the_lock_is_not_used_and_verify_never_reads_a_cache() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "locked");
    let a_cache = dir.path().join("a");
    ok(compose_for(&a_cache, dir.path())
        .arg("-f")
        .arg(&manifest)
        .arg("lock"));
    let a = build(
        &a_cache,
        &manifest,
        &dir.path().join("out-a"),
        &["--locked", "--cache-to", &cache_ref],
        &[],
    );

    // Forge the cache: each key now names the other layer's blob (both in the registry).
    let registry = connect(&reg.host);
    let mut index = index_of(&registry, "team/cache", "compose-cache");
    let keys: Vec<String> = index.entries.keys().cloned().collect();
    assert_eq!(keys.len(), 2);
    let (e0, e1) = (
        index.entries[&keys[0]].clone(),
        index.entries[&keys[1]].clone(),
    );
    for (k, e) in [(&keys[0], &e1), (&keys[1], &e0)] {
        let entry = index.entries.get_mut(k).unwrap();
        entry.digest = e.digest;
        entry.size = e.size;
        entry.diff_id = e.diff_id;
        entry.media_type = e.media_type.clone();
    }
    let bytes = index.to_bytes();
    put_index(&registry, "team/cache", "compose-cache", &bytes, &index);

    let b = build(
        &dir.path().join("b"),
        &manifest,
        &dir.path().join("out-b"),
        &["--locked", "--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(b.digest, a.digest);
    assert_eq!(b.cache("layers_refused"), 2, "{}", b.err);
    assert_eq!(b.cache("layers_built"), 2);
    assert!(
        b.err.contains("the lock records") && b.err.contains(&cache_ref),
        "{}",
        b.err
    );

    // Without a lock the forged cache would be believed: the lock is what makes a shared
    // cache safe. verify and lock ignore caches, wherever they are named.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[cache]\nfrom = [\"{cache_ref}\"]\nto = \"{cache_ref}\"\n"),
    )
    .unwrap();
    ok(compose_for(&a_cache, dir.path())
        .arg("-f")
        .arg(&manifest)
        .arg("lock"));
    let c_cache = dir.path().join("c");
    let (out, err) = ok(compose_for(&c_cache, dir.path())
        .env("SCRATCH_CACHE_FROM", &cache_ref)
        .arg("-v")
        .arg("-f")
        .arg(&manifest)
        .arg("verify"));
    assert!(out.contains("reproduced"), "{out}");
    assert!(!err.contains("layer cache"), "verify read no cache: {err}");
    assert_eq!(
        index_of(&registry, "team/cache", "compose-cache").entries[&keys[0]].digest,
        e1.digest,
        "and wrote none"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn caches_of_another_format_are_ignored_and_images_are_never_overwritten() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "format");
    let registry = connect(&reg.host);
    // A cache as a later version might write it.
    let future = br#"{"entries":{},"format":99}"#;
    put_index(
        &registry,
        "team/cache",
        "compose-cache",
        future,
        &artifact::Index::new(),
    );
    let a = build(
        &dir.path().join("a"),
        &manifest,
        &dir.path().join("out-a"),
        &["--cache-from", &cache_ref, "--cache-to", &cache_ref],
        &[],
    );
    assert!(a.err.contains("another version"), "{}", a.err);
    assert_eq!(a.cache("layers_built"), 2);
    assert!(a.err.contains("replacing"), "{}", a.err);
    assert_eq!(
        index_of(&registry, "team/cache", "compose-cache")
            .entries
            .len(),
        2
    );

    // An image under the tag is never replaced by a cache.
    let image_ref = format!("{}/team/app:1", reg.host);
    ok(compose_for(&dir.path().join("a"), dir.path())
        .arg("-f")
        .arg(&manifest)
        .args(["push", &image_ref]));
    let (_, err) = fails(
        compose_for(&dir.path().join("a"), dir.path())
            .arg("-f")
            .arg(&manifest)
            .args(["build", "-o"])
            .arg(dir.path().join("out-x"))
            .args(["--cache-to", &image_ref]),
    );
    assert!(
        err.contains("not a compose layer cache") && err.contains("refusing"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn two_writers_of_one_cache_both_succeed_and_the_last_keeps_its_entries() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let manifests: Vec<PathBuf> = (0..2)
        .map(|i| project(&dir.path().join(format!("p{i}")), &format!("writer {i}")))
        .collect();
    let handles: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (m, d, r) = (m.clone(), dir.path().to_path_buf(), cache_ref.clone());
            std::thread::spawn(move || {
                build(
                    &d.join(format!("w{i}")),
                    &m,
                    &d.join(format!("out-{i}")),
                    &["--cache-to", &r],
                    &[],
                )
            })
        })
        .collect();
    let results: Vec<Built> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let registry = connect(&reg.host);
    let tagged = registry
        .manifest_digest(
            "team/cache",
            "compose-cache",
            &scratch_compose::registry::client::Scope::pull("team/cache"),
        )
        .unwrap()
        .unwrap()
        .to_string();
    let last = results
        .iter()
        .position(|r| r.meta["cache"]["exported"]["manifest"] == tagged.as_str())
        .expect("the tag names one writer's manifest");
    // The shared Alpine layer and each writer's own layer: the last writer's two at
    // least, both writers' three when the merge saw the other.
    let entries = index_of(&registry, "team/cache", "compose-cache")
        .entries
        .len();
    assert!(entries >= 2, "{entries}");
    // A third machine builds the last writer's image from the cache alone.
    let c = build(
        &dir.path().join("c"),
        &manifests[last],
        &dir.path().join("out-c"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(c.digest, results[last].digest);
    assert_eq!(c.cache("layers_built"), 0, "{}", c.err);
    // The other writer's image: its own layer is there too when the merge saw it.
    let other = 1 - last;
    let d = build(
        &dir.path().join("d"),
        &manifests[other],
        &dir.path().join("out-d"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(d.digest, results[other].digest);
    assert_eq!(d.cache("layers_built"), 3 - entries as u64);
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_size_budget_keeps_the_most_recently_used_entries() {
    let Some((reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let alpine = project(&dir.path().join("p"), "budget");
    let a = build(
        &dir.path().join("a"),
        &alpine,
        &dir.path().join("out-a"),
        &["--cache-to", &cache_ref],
        &[],
    );
    // A small image written a second later under a 1 MiB budget: the 3 MB Alpine layer,
    // used longest ago, goes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let small = dir.path().join("small/scratch.toml");
    std::fs::create_dir_all(small.parent().unwrap()).unwrap();
    std::fs::write(
        &small,
        "[image]\nname = \"small\"\n\n[[layer]]\n[[layer.file]]\ndest = \"/a\"\ncontent = \"a\\n\"\n",
    )
    .unwrap();
    let to = format!("{cache_ref},max=1M");
    let s = build(
        &dir.path().join("a"),
        &small,
        &dir.path().join("out-s"),
        &["--cache-to", &to],
        &[],
    );
    let exported = &s.meta["cache"]["exported"];
    assert_eq!(exported["dropped"], 1, "{exported}");
    let registry = connect(&reg.host);
    let index = index_of(&registry, "team/cache", "compose-cache");
    let blobs = index.blobs();
    assert!(blobs.values().sum::<u64>() <= 1 << 20, "{blobs:?}");
    let big = &a.meta["platforms"]["linux/amd64"]["layers"][0]["digest"];
    assert!(
        !blobs.keys().any(|d| d.to_string() == big.as_str().unwrap()),
        "the Alpine layer, used longest ago, went"
    );
    let small_layer = &s.meta["platforms"]["linux/amd64"]["layers"][0]["digest"];
    assert!(blobs
        .keys()
        .any(|d| d.to_string() == small_layer.as_str().unwrap()));
    // The manifest lists exactly the blobs the index names (the registry may drop the rest).
    let (_, bytes) = registry
        .get_manifest("team/cache", "compose-cache")
        .unwrap();
    let listed = artifact::parse_manifest(&bytes).unwrap().layers;
    assert_eq!(listed, blobs.keys().copied().collect());
    // Without a budget, a rebuild of Alpine adds its entries back.
    let again = build(
        &dir.path().join("a"),
        &alpine,
        &dir.path().join("out-a2"),
        &["--cache-to", &cache_ref],
        &[],
    );
    assert_eq!(again.meta["cache"]["exported"]["entries"], 3);
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_cache_behind_tls_and_basic_auth_needs_the_credentials() {
    let Some((reg, dir, cache_ref)) = setup(Some("ci:s3cret-pw")) else {
        return;
    };
    let manifest = project(&dir.path().join("p"), "auth");
    let ca = reg.ca.clone().expect("a CA");
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("ci:s3cret-pw")
    };
    let auth = dir.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"auths": {{"{}": {{"auth": "{b64}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let ca_s = ca.to_str().unwrap();
    let auth_s = auth.to_str().unwrap();
    let with_creds = [("SSL_CERT_FILE", ca_s), ("REGISTRY_AUTH_FILE", auth_s)];
    let a = build(
        &dir.path().join("a"),
        &manifest,
        &dir.path().join("out-a"),
        &["--cache-to", &cache_ref],
        &with_creds,
    );
    assert_eq!(a.meta["cache"]["exported"]["entries"], 2);
    let b = build(
        &dir.path().join("b"),
        &manifest,
        &dir.path().join("out-b"),
        &["--cache-from", &cache_ref],
        &with_creds,
    );
    assert_eq!(
        (b.digest.as_str(), b.cache("layers_built")),
        (a.digest.as_str(), 0)
    );
    assert!(!b.err.contains("s3cret"), "no credential in logs");

    // Without credentials: reading is a warning (the build goes on), writing an error.
    let c = build(
        &dir.path().join("c"),
        &manifest,
        &dir.path().join("out-c"),
        &["--cache-from", &cache_ref],
        &[("SSL_CERT_FILE", ca_s)],
    );
    assert_eq!(c.digest, a.digest);
    assert_eq!(c.cache("layers_built"), 2);
    assert!(
        c.err.contains("not used") && c.err.contains("denied"),
        "{}",
        c.err
    );
    let (_, err) = fails(
        compose_for(&dir.path().join("c"), dir.path())
            .env("SSL_CERT_FILE", ca_s)
            .arg("-f")
            .arg(&manifest)
            .args(["build", "-o"])
            .arg(dir.path().join("out-d"))
            .args(["--cache-to", &cache_ref]),
    );
    assert!(
        err.contains("writing the layer cache") && err.contains("denied"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_changed_top_layer_is_merged_over_the_cached_tree_snapshot_without_the_base_input() {
    let Some((_reg, dir, cache_ref)) = setup(None) else {
        return;
    };
    let first = project(&dir.path().join("p1"), "version 1");
    build(
        &dir.path().join("a"),
        &first,
        &dir.path().join("out-a"),
        &["--cache-to", &cache_ref],
        &[],
    );
    // The CI job of the next commit: only the app layer changed.
    let second = project(&dir.path().join("p2"), "version 2");
    let b = build(
        &dir.path().join("b"),
        &second,
        &dir.path().join("out-b"),
        &["--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(b.cache("layers_fetched"), 1);
    assert_eq!(b.cache("layers_built"), 1);
    assert!(b.err.contains("tree snapshot opened"), "{}", b.err);
    assert!(
        !dir.path()
            .join("b/blobs/sha256/a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211")
            .exists(),
        "the base input was neither fetched nor read"
    );
    // The same image as a build from nothing.
    let cold = build(
        &dir.path().join("cold"),
        &second,
        &dir.path().join("out-cold"),
        &[],
        &[],
    );
    assert_eq!(b.digest, cold.digest);

    // With a lock that records outputs, a snapshot (which the lock cannot check) is not
    // used: the base layer still comes from the cache, its tree from the input.
    ok(compose_for(&dir.path().join("cold"), dir.path())
        .arg("-f")
        .arg(&second)
        .arg("lock"));
    let locked = build(
        &dir.path().join("locked"),
        &second,
        &dir.path().join("out-locked"),
        &["--locked", "--cache-from", &cache_ref],
        &[],
    );
    assert_eq!(locked.digest, cold.digest);
    assert_eq!(locked.cache("layers_fetched"), 1);
    assert!(
        !locked.err.contains("tree snapshot opened"),
        "{}",
        locked.err
    );
}
