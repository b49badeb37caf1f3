//! `compose push` of an image with an SBOM and signed provenance to CNCF distribution 2.8
//! (`../shared/tools/start-registry`), which does not serve the referrers API: the
//! artifacts are listed by the referrers tag scheme (`sha256-<hex>` of the image
//! manifest), merged with what the tag already lists, and read back over HTTP.

mod common;
mod registry_support;

use common::cli::*;
use registry_support::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = r#"[image]
name = "sbom/alpine"
tag = "3.19"
source_date_epoch = 1700000000
sbom = "both"

[config]
cmd = ["/bin/sh"]

[[layer]]
tar = "alpine-minirootfs-3.19.4-x86_64.tar.gz"
"#;

/// A project with the manifest, the tarball and an Ed25519 key (None: skip).
fn project(fx: &Path) -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scratch.toml"), MANIFEST).unwrap();
    std::fs::copy(
        fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"),
        dir.path().join("alpine-minirootfs-3.19.4-x86_64.tar.gz"),
    )
    .unwrap();
    let key = dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        common::missing("openssl");
    }
    Some((dir, key))
}

/// Plain HTTP to the test registry.
struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

impl Http {
    fn new(host: &str) -> Http {
        Http {
            base: format!("http://{host}"),
            client: reqwest::blocking::Client::new(),
        }
    }

    fn get(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", accept)
            .send()
            .unwrap();
        (r.status().as_u16(), r.bytes().unwrap().to_vec())
    }

    fn json(&self, path: &str) -> Value {
        let (status, bytes) = self.get(path, INDEX_OR_MANIFEST);
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap()
    }

    fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let r = self
            .client
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("{}{loc}", self.base)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = self
            .client
            .put(format!("{url}{sep}digest={digest}"))
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        digest
    }

    fn put_manifest(&self, repo: &str, key: &str, media_type: &str, bytes: &[u8]) {
        let r = self
            .client
            .put(format!("{}/v2/{repo}/manifests/{key}", self.base))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    }
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_OR_MANIFEST: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

fn hex(d: &str) -> &str {
    d.trim_start_matches("sha256:")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(hex(digest))
}

/// Each artifact the referrers index lists: its manifest names `subject` and its one
/// layer holds the bytes of the file written beside the build output.
fn check_artifacts(http: &Http, repo: &str, listed: &[Value], subject: &str, beside: &Path) {
    let files = [
        ("application/spdx+json", "out.spdx.json"),
        ("application/vnd.cyclonedx+json", "out.cdx.json"),
        ("application/vnd.in-toto+json", "out.intoto.json"),
    ];
    assert_eq!(listed.len(), files.len(), "{listed:?}");
    for (d, (artifact_type, file)) in listed.iter().zip(files) {
        assert_eq!(d["artifactType"], artifact_type, "{d}");
        assert_eq!(d["mediaType"], MANIFEST_TYPE);
        let m = http.json(&format!(
            "/v2/{repo}/manifests/{}",
            d["digest"].as_str().unwrap()
        ));
        assert_eq!(m["subject"]["digest"], subject);
        assert_eq!(m["artifactType"], artifact_type);
        let layer = m["layers"][0]["digest"].as_str().unwrap();
        let (status, bytes) = http.get(&format!("/v2/{repo}/blobs/{layer}"), "*/*");
        assert_eq!(status, 200);
        assert_eq!(bytes, std::fs::read(beside.join(file)).unwrap(), "{file}");
    }
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), podman, skopeo (cargo test -- --ignored runs it; CI does)"]
fn push_attaches_the_sbom_and_signed_provenance_by_the_referrers_tag_scheme() {
    let Some(fx) = fixtures() else { return };
    let Some((proj, key)) = project(&fx) else {
        return;
    };
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let p = proj.path();
    let cache = p.join("cache");
    let http = Http::new(&reg.host);
    let compose_here = || {
        let mut c = compose_for(&cache, p);
        c.arg("-f").arg(p.join("scratch.toml"));
        c
    };
    // The build, for the digests and the documents' bytes.
    let out = p.join("out");
    let (built, _) = ok(compose_here()
        .args(["-q", "build", "--sign-key"])
        .arg(&key)
        .arg("-o")
        .arg(&out));
    let built = built.trim().to_string();
    let index = read_json(&blob_path(&out, &built));
    let image = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // distribution 2.8 has no referrers API.
    let (status, _) = http.get(&format!("/v2/team/app/referrers/{image}"), INDEX);
    assert_eq!(status, 404);

    // Another tool already listed an artifact of its own under the referrers tag.
    let empty = http.put_blob("team/app", b"{}");
    let foreign = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": "application/example",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": index["manifests"][0].clone(),
    }))
    .unwrap();
    let foreign_digest = digest_of(&foreign);
    http.put_manifest("team/app", &foreign_digest, MANIFEST_TYPE, &foreign);
    let tag = format!("sha256-{}", hex(&image));
    let existing = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{"mediaType": MANIFEST_TYPE, "digest": foreign_digest,
            "size": foreign.len(), "artifactType": "application/example"}],
    }))
    .unwrap();
    http.put_manifest("team/app", &tag, INDEX, &existing);

    let target = format!("{}/team/app:1", reg.host);
    let (said, err) = ok(compose_here()
        .args(["push", "--sign-key"])
        .arg(&key)
        .arg(&target));
    assert_eq!(said, format!("{target}@{built}\n"), "{err}");
    assert!(err.contains("3 artifacts attached (tag scheme)"), "{err}");

    // The tag names the index build printed; its image is the subject of the artifacts.
    let (_, raw) = http.get("/v2/team/app/manifests/1", INDEX_OR_MANIFEST);
    assert_eq!(digest_of(&raw), built);
    let referrers = http.json(&format!("/v2/team/app/manifests/{tag}"));
    assert_eq!(referrers["mediaType"], INDEX);
    let listed = referrers["manifests"].as_array().unwrap();
    assert_eq!(
        listed[0]["digest"],
        foreign_digest.as_str(),
        "merged, kept first"
    );
    check_artifacts(&http, "team/app", &listed[1..], &image, p);

    // Pushing again writes nothing: the tag already lists them.
    let (_, raw_before) = http.get(&format!("/v2/team/app/manifests/{tag}"), INDEX);
    let (_, err) = ok(compose_here()
        .args(["push", "--sign-key"])
        .arg(&key)
        .arg(&target));
    assert!(err.contains("already this image"), "{err}");
    let (_, raw_after) = http.get(&format!("/v2/team/app/manifests/{tag}"), INDEX);
    assert_eq!(raw_before, raw_after);

    // skopeo reads the pushed image by platform, passing over the artifacts.
    if have_tool("skopeo") {
        let o = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "-f", "{{.Architecture}}"])
            .arg(format!("docker://{target}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "amd64");
    }

    // podman pulls it and runs the image, not an artifact.
    if have_tool("podman") {
        let pulled = Command::new("podman")
            .args(["pull", "-q", "--tls-verify=false", &target])
            .output()
            .unwrap();
        assert!(
            pulled.status.success(),
            "{}",
            String::from_utf8_lossy(&pulled.stderr)
        );
        let said = Command::new("podman")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                &target,
                "cat",
                "/etc/alpine-release",
            ])
            .output()
            .unwrap();
        let _ = Command::new("podman").args(["rmi", "-f", &target]).output();
        assert_eq!(String::from_utf8_lossy(&said.stdout).trim(), "3.19.4");
    }

    // A layout whose index.json lists the image and, beside it, the artifacts (as older
    // layouts and other tools write them): the image is pushed, the artifacts attached.
    let flat = p.join("flat");
    std::fs::create_dir_all(flat.join("blobs")).unwrap();
    Command::new("cp")
        .arg("-r")
        .arg(out.join("blobs/sha256"))
        .arg(flat.join("blobs"))
        .status()
        .unwrap();
    std::fs::copy(out.join("oci-layout"), flat.join("oci-layout")).unwrap();
    let mut entries: Vec<Value> = index["manifests"].as_array().unwrap().clone();
    for e in &mut entries {
        e.as_object_mut().unwrap().remove("platform");
    }
    std::fs::write(
        flat.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}))
            .unwrap(),
    )
    .unwrap();
    let flat_target = format!("{}/team/flat:1", reg.host);
    let (said, err) = ok(compose_for(&cache, p)
        .args(["push", "--from"])
        .arg(&flat)
        .arg(&flat_target));
    assert_eq!(said, format!("{flat_target}@{image}\n"), "{err}");
    let referrers = http.json(&format!("/v2/team/flat/manifests/{tag}"));
    check_artifacts(
        &http,
        "team/flat",
        referrers["manifests"].as_array().unwrap(),
        &image,
        p,
    );
}
