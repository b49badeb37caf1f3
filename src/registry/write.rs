//! Writing blobs and manifests to a repository, the steps `compose push` and the
//! registry-backed layer cache share: a blob (HEAD, else a mount from another repository
//! of the same registry, else a streamed upload with retries), a manifest's bytes under a
//! tag or digest.

use super::client::{Registry, Scope};
use super::RegistryError;
use crate::digest::Sha256Digest;
use std::io::Read;
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
    let sources = mount_from.iter().filter(|f| f.as_str() != repo);
    let session = match mount_any(registry, repo, digest, sources)? {
        Mount::Mounted(_) => return Ok(Some(Placed::Mounted)),
        Mount::Refused(session) => session,
    };
    let Some(file) = file else {
        if let Some(s) = session {
            cancel(registry, repo, &s);
        }
        return Ok(None);
    };
    upload(
        registry,
        repo,
        digest,
        size,
        session,
        &|| match std::fs::File::open(file) {
            Ok(f) => Box::new(f),
            Err(e) => Box::new(Failing(Some(e))),
        },
    )?;
    Ok(Some(Placed::Uploaded(size)))
}

/// What a mount request came to.
pub(super) enum Mount {
    /// 201: the blob is now in the repository, mounted from this one.
    Mounted(String),
    /// The registry did not mount it: with the upload session it opened instead (202
    /// with a `Location`), which the upload can use.
    Refused(Option<String>),
}

/// Try to mount `digest` into `repo` from each of `sources` in turn, until one mounts it;
/// of the sessions refused mounts open, only the last is kept (for the upload) and the
/// others are cancelled.
pub(super) fn mount_any<'a>(
    registry: &Registry,
    repo: &str,
    digest: &Sha256Digest,
    sources: impl IntoIterator<Item = &'a String>,
) -> Result<Mount, RegistryError> {
    let mut session: Option<String> = None;
    for from in sources {
        if let Some(abandoned) = session.take() {
            cancel(registry, repo, &abandoned);
        }
        match mount(registry, repo, from, digest)? {
            Mount::Refused(location) => session = location,
            mounted => return Ok(mounted),
        }
    }
    Ok(Mount::Refused(session))
}

/// POST …/uploads/?mount=DIGEST&from=REPO. A 202 (the source lacks the blob, or the
/// registry does not mount), a source the registry does not know, and a denied pull on
/// the source are refusals, not errors: the blob is uploaded instead.
fn mount(
    registry: &Registry,
    repo: &str,
    from: &str,
    digest: &Sha256Digest,
) -> Result<Mount, RegistryError> {
    let url = registry.url(&format!(
        "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
    ));
    let what = format!("mounting blob {digest} from {from} into {repo}");
    let scope = Scope::push(repo).and_pull(from);
    let resp = match registry.send(&scope, &what, None, &|c| {
        c.post(&url).header("content-length", "0")
    }) {
        Ok(resp) => resp,
        Err(RegistryError::Unauthorized { .. }) => return Ok(Mount::Refused(None)),
        Err(e) => return Err(e),
    };
    match resp.status().as_u16() {
        201 => Ok(Mount::Mounted(from.to_string())),
        202 => Ok(Mount::Refused(location(&resp))),
        401 | 403 | 404 => Ok(Mount::Refused(None)),
        _ => Err(registry.status_error(&what, resp)),
    }
}

/// DELETE an upload session nobody will use (best effort: it expires anyway).
pub(super) fn cancel(registry: &Registry, repo: &str, location: &str) {
    let url = registry.url(location);
    let _ = registry.send(
        &Scope::push(repo),
        "cancelling an unused upload",
        Some(1),
        &|c| c.delete(&url),
    );
}

/// PUT blob `digest` (`size` bytes), streamed from what `open` gives (called afresh for
/// every attempt, so a re-sent PUT streams from the start), into `session` (an upload a
/// refused mount opened) or a new session; a failure midway (a reset, a 5xx, a 429)
/// starts a new session and sends the blob again, up to 5 times.
pub(super) fn upload(
    registry: &Registry,
    repo: &str,
    digest: &Sha256Digest,
    size: u64,
    mut session: Option<String>,
    open: &(dyn Fn() -> Box<dyn Read + Send> + Sync),
) -> Result<(), RegistryError> {
    let scope = Scope::push(repo);
    let what = format!("uploading blob {digest} to {repo}");
    let mut attempt = 0u32;
    loop {
        let location = match session.take() {
            Some(l) => l,
            None => start_session(registry, repo, &what)?,
        };
        let put_url = put_url(registry, &location, digest);
        let put = registry.send(&scope, &what, Some(1), &|c| {
            c.put(&put_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::blocking::Body::sized(open(), size))
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

/// A blob that could not be opened: the request fails with the reason.
pub(super) struct Failing(pub(super) Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("the blob could not be read")))
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
    let what = format!("uploading blob {digest} to {repo}");
    let location = start_session(registry, repo, &what)?;
    let put_url = put_url(registry, &location, &digest);
    let resp = registry.send(&Scope::push(repo), &what, None, &|c| {
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

/// POST …/uploads/: the new session's `Location`.
fn start_session(registry: &Registry, repo: &str, what: &str) -> Result<String, RegistryError> {
    let start_url = registry.url(&format!("/v2/{repo}/blobs/uploads/"));
    let resp = registry.send(&Scope::push(repo), what, None, &|c| {
        c.post(&start_url).header("content-length", "0")
    })?;
    if !matches!(resp.status().as_u16(), 201 | 202) {
        return Err(registry.status_error(what, resp));
    }
    location(&resp).ok_or_else(|| RegistryError::Status {
        registry: registry.name().to_string(),
        what: what.to_string(),
        status: resp.status().as_u16(),
        message: "the upload session has no Location".into(),
    })
}

/// The URL that finishes upload session `location` with one PUT of blob `digest`.
fn put_url(registry: &Registry, location: &str, digest: &Sha256Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{}{sep}digest={digest}", registry.url(location))
}

/// A response's `Location` header.
fn location(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
