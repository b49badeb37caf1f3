//! Listing pushed artifacts (SBOMs, provenance) by the manifest they describe, so that
//! tools (`oras discover`, `cosign tree`, `regctl artifact list`) find them: a registry
//! serving the OCI 1.1 referrers API (`GET /v2/NAME/referrers/DIGEST` answering 200 with
//! an index) lists them itself once their manifests are pushed; for one that does not,
//! such as distribution 2.8, the referrers tag scheme: an index of their descriptors under
//! the tag `sha256-<hex>` of the subject, merged with what that tag already lists.

use super::client::{error_chain, Registry, Scope};
use super::layout::{Blob, Manifest};
use super::push::{put_manifest, PushOptions};
use super::RegistryError;
use crate::digest::Sha256Digest;
use crate::image::referrer::referrers_tag;
use crate::image::MEDIA_TYPE_INDEX;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// How the artifacts were listed, for the push report.
pub const BY_API: &str = "referrers API";
/// See [`BY_API`].
pub const BY_TAG: &str = "tag scheme";

/// List every manifest of `referrers` (each with a subject, already pushed to `repo`)
/// under its subject: nothing more where the registry serves the referrers API, else
/// by the tag scheme. Returns which way.
pub fn attach(
    registry: &Registry,
    repo: &str,
    referrers: &[&Manifest],
    options: &PushOptions,
) -> Result<&'static str, RegistryError> {
    let mut by_subject: BTreeMap<Sha256Digest, Vec<&Manifest>> = BTreeMap::new();
    for m in referrers {
        if let Some(s) = m.subject {
            by_subject.entry(s).or_default().push(m);
        }
    }
    let mut by = BY_TAG;
    for (subject, artifacts) in by_subject {
        if let Some(listed) = referrers_api(registry, repo, &subject)? {
            by = BY_API;
            let missing = artifacts
                .iter()
                .filter(|m| !listed.contains(&m.descriptor.digest))
                .count();
            options.ui.debug(format!(
                "{repo}: the referrers API lists the artifacts of {subject} ({missing} not yet)"
            ));
            continue;
        }
        tag_scheme(registry, repo, &subject, &artifacts, options)?;
    }
    Ok(by)
}

/// GET …/referrers/SUBJECT: the digests listed when the registry serves the API (200
/// with an image index), `None` when it does not (404 or any other answer).
fn referrers_api(
    registry: &Registry,
    repo: &str,
    subject: &Sha256Digest,
) -> Result<Option<Vec<Sha256Digest>>, RegistryError> {
    let url = registry.url(&format!("/v2/{repo}/referrers/{subject}"));
    let what = format!("listing the referrers of {subject} in {repo}");
    let resp = registry.send(&Scope::push(repo), &what, None, &|c| {
        c.get(&url)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE_INDEX)
    })?;
    let is_index = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(MEDIA_TYPE_INDEX));
    if resp.status().as_u16() != 200 || !is_index {
        return Ok(None);
    }
    let bytes = resp
        .bytes()
        .map_err(|e| registry.connect_error(&what, &e))?;
    let Ok(index) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(None);
    };
    Ok(Some(digests(&index)))
}

fn digests(index: &Value) -> Vec<Sha256Digest> {
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["digest"].as_str()?.parse().ok())
        .collect()
}

/// The descriptor a referrers list holds for an artifact manifest.
fn descriptor(m: &Manifest) -> Value {
    let mut d = Map::new();
    d.insert("mediaType".into(), json!(m.descriptor.media_type));
    d.insert("digest".into(), json!(m.descriptor.digest.to_string()));
    d.insert("size".into(), json!(m.descriptor.size));
    if let Some(t) = &m.artifact_type {
        d.insert("artifactType".into(), json!(t));
    }
    if let Some(a) = m.annotations.as_ref().filter(|a| !a.is_empty()) {
        d.insert("annotations".into(), Value::Object(a.clone()));
    }
    Value::Object(d)
}

/// PUT under `sha256-<hex>` an index of what that tag already lists plus `artifacts`
/// (nothing is written when it lists them all).
fn tag_scheme(
    registry: &Registry,
    repo: &str,
    subject: &Sha256Digest,
    artifacts: &[&Manifest],
    options: &PushOptions,
) -> Result<(), RegistryError> {
    let tag = referrers_tag(subject);
    let mut list = existing(registry, repo, &tag)?;
    let listed = digests(&json!({ "manifests": list.clone() }));
    let new: Vec<Value> = artifacts
        .iter()
        .filter(|m| !listed.contains(&m.descriptor.digest))
        .map(|m| descriptor(m))
        .collect();
    if new.is_empty() {
        options
            .ui
            .debug(format!("{repo}:{tag} already lists the artifacts"));
        return Ok(());
    }
    list.extend(new);
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": list,
    });
    let bytes = crate::image::to_canonical(&doc).map_err(|e| RegistryError::Status {
        registry: registry.name().to_string(),
        what: format!("writing the referrers index {repo}:{tag}"),
        status: 0,
        message: e.to_string(),
    })?;
    let index = Manifest {
        descriptor: Blob {
            media_type: MEDIA_TYPE_INDEX.to_string(),
            digest: Sha256Digest::of(&bytes),
            size: bytes.len() as u64,
        },
        bytes,
        subject: None,
        artifact_type: None,
        annotations: None,
    };
    put_manifest(registry, repo, &index, &tag, options)?;
    options.ui.info(format!(
        "{repo}:{tag}: {} artifacts listed for {subject} (referrers tag scheme)",
        list.len()
    ));
    Ok(())
}

/// The descriptors the referrers tag already lists (none when it does not exist).
fn existing(registry: &Registry, repo: &str, tag: &str) -> Result<Vec<Value>, RegistryError> {
    let url = registry.url(&format!("/v2/{repo}/manifests/{tag}"));
    let what = format!("reading the referrers index {repo}:{tag}");
    let resp = registry.send(&Scope::push(repo), &what, None, &|c| {
        c.get(&url)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE_INDEX)
    })?;
    match resp.status().as_u16() {
        404 => return Ok(Vec::new()),
        200 => {}
        _ => return Err(registry.status_error(&what, resp)),
    }
    let bytes = resp.bytes().map_err(|e| RegistryError::Connect {
        registry: registry.name().to_string(),
        what: what.clone(),
        why: error_chain(&e),
    })?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Status {
        registry: registry.name().to_string(),
        what: what.clone(),
        status: 200,
        message: format!("the tag holds no image index ({e}); it is not a referrers list"),
    })?;
    match index["manifests"].as_array() {
        Some(list) if index["mediaType"] == MEDIA_TYPE_INDEX => Ok(list.clone()),
        _ => Err(RegistryError::Status {
            registry: registry.name().to_string(),
            what,
            status: 200,
            message:
                "the tag holds something other than an image index; it is not a referrers list"
                    .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ClientOptions;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A registry that serves the referrers API (or answers 404 to it, like
    /// distribution 2.8), has no referrers tag yet, and accepts manifests. Returns its
    /// address and the requests seen (`METHOD PATH`).
    fn registry(api: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let request: Vec<&str> = first.split_whitespace().take(2).collect();
                let request = request.join(" ");
                log.lock().unwrap().push(request.clone());
                let (status, kind, body) = if request.contains("/referrers/") && api {
                    let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
                    ("200 OK", MEDIA_TYPE_INDEX, index)
                } else if request.starts_with("PUT ") {
                    ("201 Created", "text/plain", "")
                } else if request == "GET /v2/" {
                    ("200 OK", "application/json", "{}")
                } else {
                    ("404 Not Found", "application/json", r#"{"errors":[]}"#)
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (addr, seen)
    }

    fn artifact() -> Manifest {
        let bytes = b"{\"artifact\":1}".to_vec();
        Manifest {
            descriptor: Blob {
                media_type: crate::image::MEDIA_TYPE_MANIFEST.into(),
                digest: Sha256Digest::of(&bytes),
                size: bytes.len() as u64,
            },
            bytes,
            subject: Some(Sha256Digest::of(b"image")),
            artifact_type: Some("application/spdx+json".into()),
            annotations: None,
        }
    }

    fn attach_to(api: bool) -> (&'static str, Vec<String>) {
        let (addr, seen) = registry(api);
        let reg = Registry::connect(&addr, &ClientOptions::default()).unwrap();
        let options = PushOptions {
            jobs: 1,
            ui: crate::ui::Ui::silent(),
            mount_from: Vec::new(),
            known_sources: BTreeMap::new(),
        };
        let a = artifact();
        let by = attach(&reg, "r", &[&a], &options).unwrap();
        let seen = seen.lock().unwrap().clone();
        (by, seen)
    }

    #[test]
    fn a_registry_serving_the_referrers_api_gets_no_referrers_tag() {
        let (by, seen) = attach_to(true);
        assert_eq!(by, BY_API);
        assert!(seen.iter().all(|r| !r.starts_with("PUT")), "{seen:?}");
    }

    #[test]
    fn without_the_api_the_artifacts_go_under_the_referrers_tag() {
        let (by, seen) = attach_to(false);
        assert_eq!(by, BY_TAG);
        let tag = referrers_tag(&Sha256Digest::of(b"image"));
        assert!(
            seen.contains(&format!("PUT /v2/r/manifests/{tag}")),
            "{seen:?}"
        );
    }
}
