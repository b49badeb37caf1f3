//! `compose push` through a proxy that misbehaves: 429 with `Retry-After`, 503s, a
//! connection dropped in the middle of a blob, and refusals that must fail the push
//! with the registry's own message and leave no tag on an incomplete image.

mod common;
mod registry_support;

use common::cli::*;
use registry_support::proxy::{Action, Proxy, Rule};
use registry_support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Setup {
    reg: TestRegistry,
    proxy: Proxy,
    dir: tempfile::TempDir,
    layout: PathBuf,
    built: String,
}

fn setup(example_name: &str) -> Option<Setup> {
    fixtures()?;
    let reg = TestRegistry::start(false, None)?;
    let proxy = Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let built = build_ok(
        &dir.path().join("cache"),
        &example(example_name),
        "oci",
        &layout,
        &[],
    );
    Some(Setup {
        reg,
        proxy,
        dir,
        layout,
        built,
    })
}

impl Setup {
    fn push(&self, layout: &Path, reference: &str) -> std::process::Command {
        let mut c = compose_for(&self.dir.path().join("cache"), self.dir.path());
        c.args(["-v", "push", "--from"]).arg(layout).arg(reference);
        c
    }

    /// The manifest digest the registry itself (not the proxy) has under `tag`.
    fn tag_digest(&self, repo_tag: &str) -> Option<String> {
        let (repo, tag) = repo_tag.split_once(':').unwrap();
        let resp = reqwest::blocking::Client::new()
            .head(format!("http://{}/v2/{repo}/manifests/{tag}", self.reg.host))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )
            .send()
            .unwrap();
        if !resp.status().is_success() {
            return None;
        }
        resp.headers()
            .get("docker-content-digest")
            .map(|d| d.to_str().unwrap().to_string())
    }
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn throttling_and_unavailability_are_retried_honouring_retry_after() {
    let Some(s) = setup("alpine-multiarch") else {
        return;
    };
    s.proxy.fault(Rule {
        method: "POST",
        path: "/blobs/uploads/",
        times: 2,
        action: Action::Status(429, Some(2)),
    });
    s.proxy.fault(Rule {
        method: "HEAD",
        path: "/blobs/",
        times: 2,
        action: Action::Status(503, None),
    });
    s.proxy.fault(Rule {
        method: "PUT",
        path: "/manifests/",
        times: 2,
        action: Action::Status(502, None),
    });
    let target = format!("{}/faults/retry:1", s.proxy.addr);
    let (out, err) = ok(&mut s.push(&s.layout, &target));
    assert_eq!(out, format!("{target}@{}\n", s.built), "{err}");
    assert!(
        err.contains("HTTP 429") && err.contains("retrying"),
        "-v shows the retries: {err}"
    );
    // Retry-After: 2 was honoured: no upload started within 2 s of the first 429.
    let seen = s.proxy.seen();
    let posts: Vec<_> = seen.iter().filter(|x| x.method == "POST").collect();
    let first = posts[0].when;
    let waited = posts
        .iter()
        .skip(2)
        .map(|p| p.when.duration_since(first))
        .min()
        .unwrap();
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert_eq!(
        s.tag_digest("faults/retry:1").as_deref(),
        Some(s.built.as_str())
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_connection_reset_mid_upload_restarts_that_blob() {
    let Some(s) = setup("alpine") else { return };
    s.proxy.fault(Rule {
        method: "PUT",
        path: "/blobs/uploads/",
        times: 2,
        action: Action::ResetMidBody,
    });
    let target = format!("{}/faults/reset:1", s.proxy.addr);
    let (out, err) = ok(&mut s.push(&s.layout, &target));
    assert_eq!(out, format!("{target}@{}\n", s.built), "{err}");
    // Two blobs; two uploads dropped midway, each restarted with a new session.
    assert_eq!(s.proxy.count("POST", "/blobs/uploads/"), 4, "{err}");
    assert_eq!(s.proxy.count("PUT", "/blobs/uploads/"), 4, "{err}");
    assert_eq!(
        s.tag_digest("faults/reset:1").as_deref(),
        Some(s.built.as_str())
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_refused_index_fails_the_push_and_leaves_no_tag() {
    let Some(s) = setup("alpine-multiarch") else {
        return;
    };
    s.proxy.fault(Rule {
        method: "PUT",
        path: "/manifests/v1",
        times: 100,
        action: Action::Status(400, None),
    });
    let target = format!("{}/faults/refused:v1", s.proxy.addr);
    let (out, err) = fails(&mut s.push(&s.layout, &target));
    assert_eq!(out, "");
    assert!(
        err.contains(&format!(
            "putting manifest {} as faults/refused:v1",
            s.built
        )) && err.contains("HTTP 400: INJECTED: injected by the test proxy"),
        "{err}"
    );
    assert_eq!(s.tag_digest("faults/refused:v1"), None, "no tag");
    // The children went first, by digest.
    assert_eq!(s.proxy.count("PUT", "/manifests/sha256:"), 2);
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn persistent_server_errors_give_up_with_exit_2_before_any_tag() {
    let Some(s) = setup("alpine") else { return };
    s.proxy.fault(Rule {
        method: "PUT",
        path: "/blobs/uploads/",
        times: 1000,
        action: Action::Status(500, None),
    });
    let target = format!("{}/faults/down:1", s.proxy.addr);
    let (_, err) = fails(&mut s.push(&s.layout, &target));
    assert!(
        err.contains("uploading blob sha256:") && err.contains("after 5 attempts"),
        "{err}"
    );
    assert_eq!(s.proxy.count("PUT", "/manifests/"), 0, "{err}");
    assert_eq!(s.tag_digest("faults/down:1"), None);
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn a_blob_whose_bytes_do_not_match_is_named_with_the_registrys_message() {
    let Some(s) = setup("alpine") else { return };
    // Flip bytes in the layer, keeping its size: the registry's digest check refuses it.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.layout.join("index.json")).unwrap()).unwrap();
    let top = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.layout.join("blobs/sha256").join(&top)).unwrap())
            .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = s
        .layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let target = format!("{}/faults/corrupt:1", s.reg.host);
    let (_, err) = fails(&mut s.push(&s.layout, &target));
    assert!(
        err.contains(&format!("uploading blob {layer}")) && err.contains("DIGEST_INVALID"),
        "{err}"
    );
    assert_eq!(s.tag_digest("faults/corrupt:1"), None);
}
