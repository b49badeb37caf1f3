//! Image output: layer blobs, config/manifest/index, the OCI layout directory and the
//! canonical oci-archive and docker-archive (REPRODUCIBILITY.md 18, 23-32).

mod common;

use scratch_compose::compression::Compression;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::epoch::Epoch;
use scratch_compose::image::{
    assemble, write_archive_to, write_layer, write_output, Assembled, BlobStore, HistoryEntry,
    ImageConfig, ImageError, ImageName, OutputFormat, PlatformImage,
};
use scratch_compose::platform::Platform;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const EPOCH: Epoch = Epoch(1_700_000_000);

/// A small layer tar, different per `seed`.
fn layer_tar(seed: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let body = format!("hello from {seed}\n").repeat(100);
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("etc/{seed}.txt")).unwrap();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(EPOCH.0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, body.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

fn config() -> ImageConfig {
    ImageConfig {
        cmd: Some(vec!["/bin/sh".into()]),
        env: vec!["PATH=/usr/bin:/bin".into()],
        workdir: Some("/srv".into()),
        labels: [("a.b", "1"), ("c", "<&>"), ("z", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        exposed_ports: vec!["8080".into(), "53/udp".into(), "443/tcp".into()],
        volumes: vec!["/data".into(), "/cache".into(), "/logs".into()],
        ..Default::default()
    }
}

fn annotations() -> BTreeMap<String, String> {
    [("org.example.z", "last"), ("org.example.a", "first")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Built {
    store: BlobStore,
    assembled: Assembled,
    name: ImageName,
    tars: Vec<Vec<u8>>,
}

/// Write two layers per platform and assemble them.
fn build(dir: &Path, jobs: usize, platforms: &[&str]) -> Built {
    let store = BlobStore::new(&dir.join("store")).unwrap();
    let name = ImageName::new("acc/app", "1.2").unwrap();
    let mut images = Vec::new();
    let mut tars = Vec::new();
    for p in platforms {
        let mut layers = Vec::new();
        for seed in ["base", p.rsplit('/').next().unwrap()] {
            let tar = layer_tar(seed);
            let l = write_layer(&store, Compression::Gzip(6), jobs, |w| {
                // Awkward write sizes on purpose.
                for chunk in tar.chunks(77) {
                    w.write_all(chunk)?;
                }
                Ok(())
            })
            .unwrap();
            tars.push(tar);
            layers.push(l);
        }
        images.push(PlatformImage {
            platform: p.parse().unwrap(),
            config: config(),
            base_history: Vec::new(),
            history: vec![
                HistoryEntry {
                    created_by: "compose: base".into(),
                    comment: None,
                    empty_layer: false,
                },
                HistoryEntry {
                    created_by: "compose: app".into(),
                    comment: Some("the app".into()),
                    empty_layer: false,
                },
            ],
            layers,
        });
    }
    let assembled = assemble(
        &store,
        &images,
        std::slice::from_ref(&name),
        EPOCH,
        &annotations(),
    )
    .unwrap();
    Built {
        store,
        assembled,
        name,
        tars,
    }
}

fn out(b: &Built, format: OutputFormat, path: &Path) {
    write_output(
        &b.store,
        &b.assembled,
        format,
        std::slice::from_ref(&b.name),
        EPOCH,
        path,
        &|_, _| false,
    )
    .unwrap();
}

/// Every file under `dir`, relative, sorted.
fn list_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// A JSON blob must be its own canonical re-serialization.
fn canonical_json(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(serde_json::to_vec(&v).unwrap(), bytes, "not canonical JSON");
    v
}

/// The blob a descriptor points to, checked against its digest and size.
fn follow(files: &dyn Fn(&str) -> Vec<u8>, desc: &Value) -> Vec<u8> {
    let digest: Sha256Digest = desc["digest"].as_str().unwrap().parse().unwrap();
    let bytes = files(&format!("blobs/sha256/{}", digest.hex()));
    assert_eq!(Sha256Digest::of(&bytes), digest);
    assert_eq!(desc["size"].as_u64().unwrap(), bytes.len() as u64);
    bytes
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// Check one image manifest and its config and layers; returns the config.
fn check_image(files: &dyn Fn(&str) -> Vec<u8>, desc: &Value, tars: &[Vec<u8>]) -> Value {
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest = canonical_json(&follow(files, desc));
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let ann = &manifest["annotations"];
    assert_eq!(ann["org.opencontainers.image.created"], EPOCH.rfc3339());
    assert_eq!(ann["org.example.a"], "first");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config = canonical_json(&follow(files, &manifest["config"]));
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(layers.len(), diff_ids.len());
    for (l, d) in layers.iter().zip(diff_ids) {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let tar = gunzip(&follow(files, l));
        assert_eq!(Sha256Digest::of(&tar).to_string(), d.as_str().unwrap());
        assert!(tars.contains(&tar));
    }
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    for h in config["history"].as_array().unwrap() {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z");
    }
    assert_eq!(config["history"][1]["comment"], "the app");
    let c = &config["config"];
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Labels"]["c"], "<&>");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(c["Volumes"]["/logs"].is_object());
    assert!(c.get("Entrypoint").is_none() && c.get("User").is_none());
    config
}

fn dir_reader(dir: PathBuf) -> impl Fn(&str) -> Vec<u8> {
    move |name| std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn oci_layout_directory_is_complete_and_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    let dir = tmp.path().join("out");
    out(&b, OutputFormat::Oci, &dir);

    let files = list_files(&dir);
    assert!(files
        .iter()
        .all(|f| f == "oci-layout" || f == "index.json" || f.starts_with("blobs/sha256/")));
    // 2 layers + config + manifest.
    assert_eq!(files.len(), 2 + 4);
    assert_eq!(
        std::fs::read(dir.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let read = dir_reader(dir.clone());
    let index = canonical_json(&read("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    let top = &manifests[0];
    assert_eq!(
        top["annotations"]["io.containerd.image.name"],
        "docker.io/acc/app:1.2"
    );
    assert_eq!(
        top["annotations"]["org.opencontainers.image.ref.name"],
        "1.2"
    );
    assert_eq!(top["platform"]["architecture"], "amd64");
    assert_eq!(top["digest"], b.assembled.top.digest.to_string());
    let config = check_image(&read, top, &b.tars);
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert!(config.get("variant").is_none());
}

#[test]
fn several_platforms_get_a_nested_index_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 1, &["linux/arm64", "linux/amd64"]);
    let dir = tmp.path().join("out");
    out(&b, OutputFormat::Oci, &dir);
    let read = dir_reader(dir.clone());
    let index = canonical_json(&read("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    let top = &manifests[0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert!(top.get("platform").is_none());
    assert_eq!(
        top["annotations"]["io.containerd.image.name"],
        "docker.io/acc/app:1.2"
    );
    let nested = canonical_json(&follow(&read, top));
    assert_eq!(nested["annotations"]["org.example.z"], "last");
    let entries = nested["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["platform"]["architecture"], "arm64");
    assert_eq!(entries[0]["platform"]["variant"], "v8");
    assert_eq!(entries[1]["platform"]["architecture"], "amd64");
    assert!(entries[1]["platform"].get("variant").is_none());
    let arm = check_image(&read, &entries[0], &b.tars);
    assert_eq!(arm["variant"], "v8");
    check_image(&read, &entries[1], &b.tars);
    // The shared base layer is stored once.
    assert_eq!(list_files(&dir).len(), 2 + 1 + 2 * 3 + 1);
    assert_eq!(b.assembled.manifests.len(), 2);
    assert_eq!(b.assembled.top.digest.to_string(), top["digest"]);
}

/// Name → bytes of every entry, after checking the archive is canonical.
fn read_canonical_archive(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(bytes);
    let mut files = BTreeMap::new();
    let mut names = Vec::new();
    let mut end = 0u64;
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert!(h.as_ustar().is_some(), "not ustar");
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert_eq!(h.mtime().unwrap(), EPOCH.0);
        let name = String::from_utf8(h.path_bytes().into_owned()).unwrap();
        match h.entry_type() {
            tar::EntryType::Directory => {
                assert_eq!(h.mode().unwrap(), 0o755);
                assert!(name.ends_with('/'));
            }
            tar::EntryType::Regular => assert_eq!(h.mode().unwrap(), 0o644),
            t => panic!("unexpected entry type {t:?}"),
        }
        end = e.raw_file_position() + h.size().unwrap().div_ceil(512) * 512;
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        names.push(name.trim_end_matches('/').to_string());
        files.insert(name, v);
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "entries not sorted or duplicated");
    assert_eq!(
        bytes.len() as u64,
        end + 1024,
        "not exactly two zero blocks"
    );
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    assert_eq!(&names[..2], &["blobs", "blobs/sha256"]);
    files
}

#[test]
fn oci_archive_is_canonical_and_matches_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    let dir = tmp.path().join("out");
    let tar_path = tmp.path().join("out.tar");
    out(&b, OutputFormat::Oci, &dir);
    out(&b, OutputFormat::OciArchive, &tar_path);
    let files = read_canonical_archive(&std::fs::read(&tar_path).unwrap());
    let in_tar: Vec<&String> = files.keys().filter(|k| !k.ends_with('/')).collect();
    assert_eq!(in_tar, list_files(&dir).iter().collect::<Vec<_>>());
    for f in list_files(&dir) {
        assert_eq!(files[&f], std::fs::read(dir.join(&f)).unwrap(), "{f}");
    }
}

#[test]
fn docker_archive_is_consistent_with_the_oci_index() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    let path = tmp.path().join("docker.tar");
    out(&b, OutputFormat::DockerArchive, &path);
    let files = read_canonical_archive(&std::fs::read(&path).unwrap());
    let names: Vec<&str> = files
        .keys()
        .filter(|k| !k.starts_with("blobs/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        ["index.json", "manifest.json", "oci-layout", "repositories"]
    );
    let read = |n: &str| files[n].clone();
    let index = canonical_json(&files["index.json"]);
    assert_eq!(files["index.json"], b.assembled.index_json);
    let manifest = canonical_json(&follow(&read, &index["manifests"][0]));
    let config_desc = &manifest["config"];

    let dm = canonical_json(&files["manifest.json"]);
    let dm = dm.as_array().unwrap();
    assert_eq!(dm.len(), 1);
    let config_path = dm[0]["Config"].as_str().unwrap();
    assert_eq!(
        config_path,
        format!(
            "blobs/sha256/{}",
            config_desc["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
        )
    );
    let config = canonical_json(&files[config_path]);
    assert_eq!(dm[0]["RepoTags"], serde_json::json!(["acc/app:1.2"]));
    let layers = dm[0]["Layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        config["rootfs"]["diff_ids"].as_array().unwrap().len()
    );
    for (l, d) in layers.iter().zip(manifest["layers"].as_array().unwrap()) {
        let p = l.as_str().unwrap();
        assert!(files.contains_key(p), "{p} missing");
        assert_eq!(
            p.trim_start_matches("blobs/sha256/"),
            d["digest"].as_str().unwrap().trim_start_matches("sha256:")
        );
    }
    let repos = canonical_json(&files["repositories"]);
    let top_layer = layers.last().unwrap().as_str().unwrap();
    assert_eq!(
        repos["acc/app"]["1.2"],
        top_layer.trim_start_matches("blobs/sha256/")
    );
}

#[test]
fn docker_archive_refuses_several_platforms() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 1, &["linux/amd64", "linux/arm64"]);
    let path = tmp.path().join("docker.tar");
    let err = write_output(
        &b.store,
        &b.assembled,
        OutputFormat::DockerArchive,
        std::slice::from_ref(&b.name),
        EPOCH,
        &path,
        &|_, _| false,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::DockerArchiveMultiPlatform(ref p) if p.len() == 2));
    assert!(err.hint().unwrap().contains("--platform"));
    assert!(!path.exists());
}

/// All outputs of one build, by relative name.
fn all_outputs(root: &Path, jobs: usize, platforms: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let b = build(root, jobs, platforms);
    let mut m = BTreeMap::new();
    let dir = root.join("out");
    out(&b, OutputFormat::Oci, &dir);
    for f in list_files(&dir) {
        m.insert(format!("oci/{f}"), std::fs::read(dir.join(&f)).unwrap());
    }
    out(&b, OutputFormat::OciArchive, &root.join("oci.tar"));
    m.insert(
        "oci.tar".into(),
        std::fs::read(root.join("oci.tar")).unwrap(),
    );
    if platforms.len() == 1 {
        out(&b, OutputFormat::DockerArchive, &root.join("d.tar"));
        m.insert("d.tar".into(), std::fs::read(root.join("d.tar")).unwrap());
    }
    m
}

#[test]
fn outputs_are_byte_identical_across_runs_and_thread_counts() {
    for platforms in [&["linux/amd64"][..], &["linux/amd64", "linux/arm64"][..]] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = all_outputs(a.path(), 1, platforms);
        let second = all_outputs(b.path(), 2, platforms);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>()
        );
        for (k, v) in &first {
            assert!(second[k] == *v, "{k} differs");
        }
    }
}

#[test]
fn existing_layout_is_replaced_but_other_directories_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 1, &["linux/amd64"]);
    let dir = tmp.path().join("out");
    out(&b, OutputFormat::Oci, &dir);
    std::fs::write(dir.join("blobs/sha256/stale"), b"x").unwrap();
    out(&b, OutputFormat::Oci, &dir);
    assert!(!dir.join("blobs/sha256/stale").exists());

    let precious = tmp.path().join("home");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), b"keep").unwrap();
    let err = write_output(
        &b.store,
        &b.assembled,
        OutputFormat::Oci,
        std::slice::from_ref(&b.name),
        EPOCH,
        &precious,
        &|_, _| false,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::OutputExists(_)));
    assert_eq!(std::fs::read(precious.join("notes.txt")).unwrap(), b"keep");

    let err = write_output(
        &b.store,
        &b.assembled,
        OutputFormat::Oci,
        std::slice::from_ref(&b.name),
        EPOCH,
        Path::new("-"),
        &|_, _| false,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::DirectoryToStdout));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn history_must_match_the_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BlobStore::new(tmp.path()).unwrap();
    let layer = write_layer(&store, Compression::None, 1, |w| w.write_all(&[0u8; 1024])).unwrap();
    assert_eq!(layer.diff_id, Sha256Digest::of(&[0u8; 1024]));
    assert_eq!(layer.digest, layer.diff_id);
    assert_eq!(
        std::fs::read(store.path(&layer.digest)).unwrap(),
        [0u8; 1024]
    );
    assert_eq!(layer.media_type, "application/vnd.oci.image.layer.v1.tar");
    let img = PlatformImage {
        platform: Platform::linux_amd64(),
        config: ImageConfig::default(),
        layers: vec![layer],
        base_history: Vec::new(),
        history: vec![HistoryEntry {
            created_by: "nothing".into(),
            comment: None,
            empty_layer: true,
        }],
    };
    let name = ImageName::new("x", "latest").unwrap();
    let err = assemble(
        &store,
        &[img],
        std::slice::from_ref(&name),
        EPOCH,
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ImageError::HistoryMismatch {
            layers: 1,
            history: 0,
            ..
        }
    ));
}

#[test]
fn empty_layer_has_the_well_known_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BlobStore::new(tmp.path()).unwrap();
    let l = write_layer(&store, Compression::Gzip(6), 2, |w| {
        w.write_all(&[0u8; 1024])
    })
    .unwrap();
    assert_eq!(
        l.diff_id.hex(),
        "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    );
    let blob = std::fs::read(store.path(&l.digest)).unwrap();
    assert_eq!(Sha256Digest::of(&blob), l.digest);
    assert_eq!(blob.len() as u64, l.size);
    assert_eq!(gunzip(&blob), vec![0u8; 1024]);
}

/// skopeo is the independent reader of record; absent, the test fails (tests that use it
/// are `#[ignore]`d by default).
fn skopeo() -> Option<Command> {
    let ok = Command::new("skopeo").arg("--version").output().is_ok();
    if !ok {
        common::missing("skopeo");
    }
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    Some(c)
}

fn skopeo_inspect(args: &[&str]) -> Vec<u8> {
    let mut c = skopeo().unwrap();
    let o = c.arg("inspect").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo inspect {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
#[ignore = "needs skopeo (cargo test -- --ignored runs it; CI does)"]
fn skopeo_reads_the_layout_and_the_archives() {
    if skopeo().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    let dir = tmp.path().join("out");
    let oci_tar = tmp.path().join("oci.tar");
    let docker_tar = tmp.path().join("docker.tar");
    out(&b, OutputFormat::Oci, &dir);
    out(&b, OutputFormat::OciArchive, &oci_tar);
    out(&b, OutputFormat::DockerArchive, &docker_tar);
    let top = b.assembled.top.digest;
    for target in [
        format!("oci:{}", dir.display()),
        format!("oci-archive:{}", oci_tar.display()),
    ] {
        let raw = skopeo_inspect(&["--raw", &target]);
        assert_eq!(Sha256Digest::of(&raw), top, "{target}");
    }
    // docker-archive: skopeo synthesizes its own manifest, but the config is ours.
    let raw = skopeo_inspect(&["--raw", &format!("docker-archive:{}", docker_tar.display())]);
    let m: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        m["config"]["digest"],
        b.assembled.manifests[0].2.to_string()
    );
    let info = skopeo_inspect(&[&format!("docker-archive:{}", docker_tar.display())]);
    let info: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
}

#[test]
#[ignore = "needs skopeo (cargo test -- --ignored runs it; CI does)"]
fn skopeo_picks_a_platform_from_the_nested_index() {
    if skopeo().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 1, &["linux/amd64", "linux/arm64"]);
    let oci_tar = tmp.path().join("oci.tar");
    out(&b, OutputFormat::OciArchive, &oci_tar);
    let target = format!("oci-archive:{}", oci_tar.display());
    let raw = skopeo_inspect(&["--raw", &target]);
    assert_eq!(Sha256Digest::of(&raw), b.assembled.top.digest);
    let arm = skopeo_inspect(&[
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "--config",
        &target,
    ]);
    let arm: Value = serde_json::from_slice(&arm).unwrap();
    assert_eq!(arm["architecture"], "arm64");
    assert_eq!(arm["variant"], "v8");
}

#[test]
fn archive_stream_equals_the_archive_file() {
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    for format in [OutputFormat::OciArchive, OutputFormat::DockerArchive] {
        let path = tmp.path().join("x.tar");
        out(&b, format, &path);
        let streamed = write_archive_to(
            &b.store,
            &b.assembled,
            format,
            std::slice::from_ref(&b.name),
            EPOCH,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(streamed, std::fs::read(&path).unwrap(), "{format:?}");
    }
    let err = write_archive_to(
        &b.store,
        &b.assembled,
        OutputFormat::Oci,
        std::slice::from_ref(&b.name),
        EPOCH,
        Vec::new(),
    );
    assert!(matches!(err, Err(ImageError::DirectoryToStdout)));
}

#[test]
fn docker_archive_refuses_zstd_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BlobStore::new(tmp.path()).unwrap();
    let layer = write_layer(&store, Compression::Zstd(3), 1, |w| {
        w.write_all(&layer_tar("z"))
    })
    .unwrap();
    assert_eq!(
        layer.media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let img = PlatformImage {
        platform: Platform::linux_amd64(),
        config: ImageConfig::default(),
        layers: vec![layer],
        base_history: Vec::new(),
        history: vec![HistoryEntry {
            created_by: "z".into(),
            comment: None,
            empty_layer: false,
        }],
    };
    let name = ImageName::new("x", "latest").unwrap();
    let a = assemble(
        &store,
        &[img],
        std::slice::from_ref(&name),
        EPOCH,
        &BTreeMap::new(),
    )
    .unwrap();
    let path = tmp.path().join("d.tar");
    let err = write_output(
        &store,
        &a,
        OutputFormat::DockerArchive,
        std::slice::from_ref(&name),
        EPOCH,
        &path,
        &|_, _| false,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::DockerArchiveZstd));
    assert!(err.hint().unwrap().contains("gzip"));
    assert!(!path.exists());
    // The OCI formats carry zstd layers.
    write_output(
        &store,
        &a,
        OutputFormat::OciArchive,
        std::slice::from_ref(&name),
        EPOCH,
        &path,
        &|_, _| false,
    )
    .unwrap();
    assert!(path.is_file());
}

#[test]
#[ignore = "needs umoci (cargo test -- --ignored runs it; CI does)"]
fn umoci_unpacks_the_layout_by_tag() {
    let ok = Command::new("umoci").arg("--version").output().is_ok();
    if !ok {
        common::missing("umoci");
    }
    let tmp = tempfile::tempdir().unwrap();
    let b = build(tmp.path(), 2, &["linux/amd64"]);
    let dir = tmp.path().join("out");
    out(&b, OutputFormat::Oci, &dir);
    let bundle = tmp.path().join("bundle");
    let o = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:1.2", dir.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let body = std::fs::read_to_string(bundle.join("rootfs/etc/amd64.txt")).unwrap();
    assert!(body.starts_with("hello from amd64"));
    assert!(bundle.join("rootfs/etc/base.txt").is_file());
}
