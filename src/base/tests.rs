//! Resolving bases from layouts and archives written here, byte by byte.

use super::*;
use crate::digest::Sha256Digest;
use crate::manifest::BaseSpec;
use crate::platform::Platform;
use crate::registry::ClientOptions;
use crate::store::Cache;
use crate::ui::Ui;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An OCI layout being written: blobs by digest, descriptors returned.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let d = Sha256Digest::of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        json!({"mediaType": media_type, "digest": d.to_string(), "size": bytes.len()})
    }

    /// One image: a gzip layer holding `file`, a config naming `platform`.
    fn image(&self, arch: &str, file: &str) -> (Value, Sha256Digest) {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, file, &b"hi"[..]).unwrap();
        let tar = tar.into_inner().unwrap();
        let diff_id = Sha256Digest::of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let layer = self.blob("application/vnd.docker.image.rootfs.diff.tar.gzip", &gz);
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "ADD x"}],
        });
        let config = self.blob(
            "application/vnd.docker.container.image.v1+json",
            &serde_json::to_vec(&config).unwrap(),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": oci::DOCKER_MANIFEST,
            "config": config, "layers": [layer],
        });
        let mut d = self.blob(
            oci::DOCKER_MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        );
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        let layer_digest = Sha256Digest::of(&gz);
        (d, layer_digest)
    }

    fn index_json(&self, manifests: Vec<Value>) {
        let index = json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

fn spec(text: &str, dir: &Path) -> BaseSpec {
    BaseSpec::parse(text, dir).unwrap()
}

fn platforms(list: &[&str]) -> Vec<Platform> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn cache(dir: &Path) -> BlobCache {
    BlobCache::new(Cache::open(&dir.join("cache")).unwrap())
}

const LOCAL: ResolveOptions = ResolveOptions {
    offline: false,
    allow_tag: false,
};

/// A two-platform base behind a nested index, as buildx writes it.
fn two_platforms(dir: &Path) -> (Layout, Sha256Digest, Sha256Digest) {
    let l = Layout::new(&dir.join("layout"));
    let (amd, amd_layer) = l.image("amd64", "amd");
    let (arm, arm_layer) = l.image("arm64", "arm");
    let attestation = json!({
        "mediaType": oci::OCI_MANIFEST, "digest": amd["digest"], "size": amd["size"],
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    });
    let index = json!({"schemaVersion": 2, "mediaType": oci::DOCKER_LIST,
        "manifests": [amd, arm, attestation]});
    let top = l.blob(oci::DOCKER_LIST, &serde_json::to_vec(&index).unwrap());
    l.index_json(vec![top]);
    (l, amd_layer, arm_layer)
}

#[test]
fn a_layout_index_gives_each_platform_its_image() {
    let t = tempfile::tempdir().unwrap();
    let (_l, amd_layer, arm_layer) = two_platforms(t.path());
    let s = spec("oci:layout", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let c = cache(t.path());
    let ps = platforms(&["linux/arm64", "linux/amd64"]);
    let base = resolve(&s, None, &ps, &src, &c, LOCAL).unwrap();
    assert_eq!(base.kind, oci::DocumentKind::Index);
    assert_eq!(base.images.len(), 2);
    assert_eq!(base.images[0].platform, ps[0]);
    assert_eq!(base.images[0].layers[0].blob.digest, arm_layer);
    assert_eq!(base.images[1].layers[0].blob.digest, amd_layer);
    let layer = &base.images[1].layers[0];
    assert_eq!(
        layer.blob.media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(layer.compression, oci::LayerCompression::Gzip);
    assert_eq!(base.images[1].manifest.media_type, oci::DOCKER_MANIFEST);
    assert_eq!(base.images[1].config.cmd, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(base.images[1].history.len(), 1);

    // The layers land in the cache byte for byte.
    let paths = fetch_layers(&base, &src, &c, false, 2, &Ui::silent()).unwrap();
    let bytes = std::fs::read(&paths[1][0]).unwrap();
    assert_eq!(Sha256Digest::of(&bytes), amd_layer);

    // Pinned by the digest resolve found, the same answer.
    let again = resolve(&s, Some(base.digest), &ps, &src, &c, LOCAL).unwrap();
    assert_eq!(again, base);
    let locked = LockedBase::of(&base);
    assert_eq!(locked.source, "oci:layout");
    assert_eq!(locked.platforms["linux/amd64"].layers[0].digest, amd_layer);
}

#[test]
fn a_missing_platform_names_what_the_index_offers() {
    let t = tempfile::tempdir().unwrap();
    two_platforms(t.path());
    let s = spec("oci:layout", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let e = resolve(
        &s,
        None,
        &platforms(&["linux/s390x"]),
        &src,
        &cache(t.path()),
        LOCAL,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "base `oci:layout` has no image for linux/s390x; it offers linux/amd64, linux/arm64"
    );
    assert!(e.hint().unwrap().contains("[image] platforms"));
}

#[test]
fn an_oci_archive_resolves_like_its_layout_and_a_pin_selects() {
    let t = tempfile::tempdir().unwrap();
    let (l, amd_layer, _) = two_platforms(t.path());
    let archive = t.path().join("base.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    b.append_dir_all(".", &l.dir).unwrap();
    b.finish().unwrap();
    drop(b);
    let from_dir = {
        let s = spec("oci:layout", t.path());
        let src = Source::open(&s, &ClientOptions::default()).unwrap();
        resolve(
            &s,
            None,
            &platforms(&["linux/amd64"]),
            &src,
            &cache(t.path()),
            LOCAL,
        )
        .unwrap()
    };
    let s = spec(
        &format!("oci-archive:base.tar@{}", from_dir.digest),
        t.path(),
    );
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let c = BlobCache::new(Cache::open(&t.path().join("other-cache")).unwrap());
    let base = resolve(&s, None, &platforms(&["linux/amd64"]), &src, &c, LOCAL).unwrap();
    assert_eq!(base.digest, from_dir.digest);
    assert_eq!(base.images, from_dir.images);
    let paths = fetch_layers(&base, &src, &c, false, 1, &Ui::silent()).unwrap();
    assert_eq!(
        Sha256Digest::of(&std::fs::read(&paths[0][0]).unwrap()),
        amd_layer
    );

    // A pin the archive does not hold is an error naming the digest.
    let wrong = Sha256Digest::of(b"nothing");
    let s = spec(&format!("oci-archive:base.tar@{wrong}"), t.path());
    let e = resolve(&s, None, &platforms(&["linux/amd64"]), &src, &c, LOCAL).unwrap_err();
    assert!(e.to_string().contains(&wrong.hex()), "{e}");
}

#[test]
fn a_docker_archive_gets_a_manifest_made_from_manifest_json() {
    let t = tempfile::tempdir().unwrap();
    let l = Layout::new(&t.path().join("layout"));
    let (_, _) = l.image("amd64", "f");
    // docker save: config as <hex>.json, the layer as an uncompressed <id>/layer.tar.
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_cksum();
    layer.append_data(&mut h, "etc/x", &b"x"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let diff_id = Sha256Digest::of(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/x"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([{
        "Config": format!("{}.json", Sha256Digest::of(&config).hex()),
        "RepoTags": ["x:1"], "Layers": ["abc/layer.tar"],
    }]))
    .unwrap();
    let path = t.path().join("saved.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, bytes) in [
        ("manifest.json".to_string(), &manifest),
        (format!("{}.json", Sha256Digest::of(&config).hex()), &config),
        ("abc/layer.tar".to_string(), &layer),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let s = spec("docker-archive:saved.tar", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let c = cache(t.path());
    let base = resolve(&s, None, &platforms(&["linux/amd64"]), &src, &c, LOCAL).unwrap();
    let img = &base.images[0];
    assert_eq!(
        img.layers[0].blob.digest, diff_id,
        "an uncompressed layer is its diff_id"
    );
    assert_eq!(
        img.layers[0].blob.media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(img.config.entrypoint, Some(vec!["/x".to_string()]));
    let paths = fetch_layers(&base, &src, &c, false, 1, &Ui::silent()).unwrap();
    assert_eq!(std::fs::read(&paths[0][0]).unwrap(), layer);
}

#[test]
fn schema1_is_refused_clearly() {
    let t = tempfile::tempdir().unwrap();
    let l = Layout::new(&t.path().join("layout"));
    let m = l.blob(
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#,
    );
    l.index_json(vec![m]);
    let s = spec("oci:layout", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let e = resolve(
        &s,
        None,
        &platforms(&["linux/amd64"]),
        &src,
        &cache(t.path()),
        LOCAL,
    )
    .unwrap_err();
    assert!(matches!(e, BaseError::Schema1 { .. }), "{e}");
    assert!(e.to_string().contains("schema 1"), "{e}");
    assert!(e.hint().unwrap().contains("skopeo copy"));
}

#[test]
fn a_base_blob_that_does_not_match_its_digest_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (l, amd_layer, _) = two_platforms(t.path());
    let s = spec("oci:layout", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let c = cache(t.path());
    let base = resolve(&s, None, &platforms(&["linux/amd64"]), &src, &c, LOCAL).unwrap();
    std::fs::write(
        l.dir.join("blobs/sha256").join(amd_layer.hex()),
        b"tampered",
    )
    .unwrap();
    let e = fetch_layers(&base, &src, &c, false, 1, &Ui::silent()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "base `oci:layout`: blob {amd_layer} does not match its digest: its bytes hash to {}",
            Sha256Digest::of(b"tampered")
        )
    );
    assert!(
        c.get(&amd_layer).unwrap().is_none(),
        "nothing unverified is kept"
    );
}

#[test]
fn a_registry_tag_is_refused_unpinned_and_offline_needs_the_cache() {
    let t = tempfile::tempdir().unwrap();
    let s = spec("127.0.0.1:9/base:1", t.path());
    let src = Source::open(&s, &ClientOptions::default()).unwrap();
    let c = cache(t.path());
    let ps = platforms(&["linux/amd64"]);
    let e = resolve(&s, None, &ps, &src, &c, LOCAL).unwrap_err();
    assert!(matches!(e, BaseError::NotPinned { .. }), "{e}");
    let offline = ResolveOptions {
        offline: true,
        allow_tag: false,
    };
    let pin = Sha256Digest::of(b"x");
    let e = resolve(&s, Some(pin), &ps, &src, &c, offline).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("base `127.0.0.1:9/base:1`: manifest {pin} is not in the cache and --offline forbids fetching it")
    );
}
