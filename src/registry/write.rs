//! Writing single blobs and manifests by hand, for artifacts that are not an OCI layout on
//! disk (the registry-backed layer cache): a blob from a file (HEAD, else a mount from
//! another repository of the same registry, else a streamed upload), a manifest's bytes
//! under a tag or digest.

use super::client::{Registry, Scope};
use super::RegistryError;
use crate::digest::Sha256Digest;
use std::path::Path;

/// How a blob came to be in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// It was there already.
    Existed,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Uploaded (its size in bytes).
    Uploaded(u64),
}

/// Make sure `repo` holds blob `digest` (`size` bytes): HEAD first, then a mount from each
/// of `mount_from`, then an upload of `file` (when there is one). `None` when the blob is
/// neither there, nor mountable, nor available locally.
pub fn ensure_blob(
    registry: &Registry,
    repo: &str,
    digest: &Sha256Digest,
    size: u64,
    mount_from: &[String],
    file: Option<&Path>,
) -> Result<Option<Placed>, RegistryError> {
    if let Some(have) = registry.blob_size(repo, digest)? {
        if have == size || have == 0 {
            return Ok(Some(Placed::Existed));
        }
    }
    for from in mount_from.iter().filter(|f| f.as_str() != repo) {
        if mount(registry, repo, from, digest)? {
            return Ok(Some(Placed::Mounted));
        }
    }
    let Some(file) = file else {
        return Ok(None);
    };
    upload_file(registry, repo, digest, size, file)?;
    Ok(Some(Placed::Uploaded(size)))
}

/// POST …/uploads/?mount=DIGEST&from=REPO: true when the registry mounted it (201); a
/// 202 opens an upload session that is left to expire.
pub fn mount(
    registry: &Registry,
    repo: &str,
    from: &str,
    digest: &Sha256Digest,
) -> Result<bool, RegistryError> {
    let url = registry.url(&format!(
        "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
    ));
    let what = format!("mounting blob {digest} from {from} into {repo}");
    let scope = Scope::push(repo).and_pull(from);
    let resp = registry.send(&scope, &what, None, &|c| {
        c.post(&url).header("content-length", "0")
    })?;
    match resp.status().as_u16() {
        201 => Ok(true),
        202 => Ok(false),
        // A registry that knows no such source (or may not read it) just does not mount.
        401 | 403 | 404 => Ok(false),
        _ => Err(registry.status_error(&what, resp)),
    }
}

/// Upload `file` as blob `digest` in one streamed PUT; a transfer that fails midway (a
/// reset, a 5xx) starts a new upload session, up to 5 times.
pub fn upload_file(
    registry: &Registry,
    repo: &str,
    digest: &Sha256Digest,
    size: u64,
    file: &Path,
) -> Result<(), RegistryError> {
    let scope = Scope::push(repo);
    let what = format!("uploading blob {digest} to {repo}");
    let mut attempt = 0u32;
    loop {
        let put_url = open_upload(registry, &scope, repo, &what, digest)?;
        let put = registry.send(&scope, &what, Some(1), &|c| {
            let body = match std::fs::File::open(file) {
                Ok(f) => reqwest::blocking::Body::sized(f, size),
                Err(e) => reqwest::blocking::Body::from(format!("unreadable: {e}")),
            };
            c.put(&put_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(body)
        });
        let failure = match put {
            Ok(resp) if matches!(resp.status().as_u16(), 201 | 204) => return Ok(()),
            Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                format!("HTTP {}", resp.status().as_u16())
            }
            Ok(resp) => return Err(registry.status_error(&what, resp)),
            Err(RegistryError::Connect { why, .. }) => why,
            Err(e) => return Err(e),
        };
        attempt += 1;
        if attempt >= 5 {
            return Err(RegistryError::Connect {
                registry: registry.name().to_string(),
                what,
                why: format!("{failure} (after {attempt} attempts)"),
            });
        }
        registry.pause(attempt - 1, None);
    }
}

/// Upload `bytes` as a blob unless the repository has it; their digest.
pub fn ensure_bytes(
    registry: &Registry,
    repo: &str,
    bytes: &[u8],
) -> Result<Sha256Digest, RegistryError> {
    let digest = Sha256Digest::of(bytes);
    if registry.blob_size(repo, &digest)?.is_some() {
        return Ok(digest);
    }
    let scope = Scope::push(repo);
    let what = format!("uploading blob {digest} to {repo}");
    let put_url = open_upload(registry, &scope, repo, &what, &digest)?;
    let resp = registry.send(&scope, &what, None, &|c| {
        c.put(&put_url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec())
    })?;
    if !matches!(resp.status().as_u16(), 201 | 204) {
        return Err(registry.status_error(&what, resp));
    }
    Ok(digest)
}

/// PUT manifest `bytes` of `media_type` under `key` (a tag or `sha256:…`); the registry
/// must store it as `bytes`' digest.
pub fn put_manifest(
    registry: &Registry,
    repo: &str,
    key: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<Sha256Digest, RegistryError> {
    let digest = Sha256Digest::of(bytes);
    let url = registry.url(&format!("/v2/{repo}/manifests/{key}"));
    let what = format!("putting manifest {digest} as {repo}:{key}");
    let resp = registry.send(&Scope::push(repo), &what, None, &|c| {
        c.put(&url)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(bytes.to_vec())
    })?;
    if !resp.status().is_success() {
        return Err(registry.status_error(&what, resp));
    }
    let echoed = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Sha256Digest>().ok());
    if let Some(d) = echoed.filter(|d| *d != digest) {
        return Err(RegistryError::Status {
            registry: registry.name().to_string(),
            what,
            status: resp.status().as_u16(),
            message: format!("the registry stored it as {d}: it rewrote the manifest"),
        });
    }
    Ok(digest)
}

/// Start an upload session in `repo`: the URL that finishes it with one PUT of the blob
/// whose digest is `digest`.
fn open_upload(
    registry: &Registry,
    scope: &Scope,
    repo: &str,
    what: &str,
    digest: &Sha256Digest,
) -> Result<String, RegistryError> {
    let start_url = registry.url(&format!("/v2/{repo}/blobs/uploads/"));
    let resp = registry.send(scope, what, None, &|c| {
        c.post(&start_url).header("content-length", "0")
    })?;
    if !matches!(resp.status().as_u16(), 201 | 202) {
        return Err(registry.status_error(what, resp));
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| RegistryError::Status {
            registry: registry.name().to_string(),
            what: what.to_string(),
            status: resp.status().as_u16(),
            message: "the upload session has no Location".into(),
        })?;
    let sep = if location.contains('?') { '&' } else { '?' };
    Ok(format!("{}{sep}digest={digest}", registry.url(&location)))
}
