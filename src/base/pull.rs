//! Pulling from a registry: manifests by tag or digest, and blobs streamed into the cache,
//! verified by digest and resumed with `Range` after a dropped connection.

use super::cache::{BlobCache, Mismatch};
use crate::digest::Sha256Digest;
use crate::registry::client::Scope;
use crate::registry::{Registry, RegistryError};
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// How many times a transfer that broke off is resumed before giving up.
const RESUMES: u32 = 5;

/// Why a blob could not be pulled.
#[derive(Debug)]
pub enum PullError {
    Registry(RegistryError),
    Cache(String),
    Mismatch(Mismatch),
}

/// Pull blob `digest` (`size` bytes) of `repository` into `cache`. A connection that
/// drops mid-body is resumed from the bytes already received (`Range`); a registry that
/// ignores `Range` (answers 200) starts over. `progress` receives each chunk's length.
pub fn pull_blob(
    registry: &Registry,
    repository: &str,
    digest: &Sha256Digest,
    size: u64,
    cache: &BlobCache,
    progress: &dyn Fn(u64),
) -> Result<PathBuf, PullError> {
    let url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
    let what = format!("fetching blob {digest} from {repository}");
    let scope = Scope::pull(repository);
    let mut tmp = cache.temp().map_err(PullError::Cache)?;
    let mut hasher = Sha256::new();
    let mut have: u64 = 0;
    // Bytes shown as progress: a transfer that starts over is not counted twice.
    let mut reported: u64 = 0;
    let mut resumes = 0;
    loop {
        let from = have;
        let resp = registry
            .send(&scope, &what, None, &|c| {
                let r = c.get(&url);
                if from > 0 {
                    r.header(RANGE, format!("bytes={from}-"))
                } else {
                    r
                }
            })
            .map_err(PullError::Registry)?;
        let status = resp.status().as_u16();
        match status {
            200 if have > 0 => {
                // The registry (or a redirect target) ignores Range: start over.
                have = 0;
                hasher = Sha256::new();
                restart(&mut tmp).map_err(PullError::Cache)?;
            }
            200 => {}
            206 if from > 0 && starts_at(&resp) == Some(from) => {}
            416 if have == size && size > 0 => break,
            _ => return Err(PullError::Registry(registry.status_error(&what, resp))),
        }
        let mut resp = resp;
        let mut buf = vec![0u8; 1 << 16];
        let broke = loop {
            match resp.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    tmp.as_file_mut()
                        .write_all(&buf[..n])
                        .map_err(|e| PullError::Cache(e.to_string()))?;
                    have += n as u64;
                    if have > reported {
                        progress(have - reported);
                        reported = have;
                    }
                    if have > size {
                        break None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        match broke {
            None => break,
            Some(e) if resumes < RESUMES && have < size => {
                resumes += 1;
                registry.pause(resumes - 1, None);
                drop(e);
            }
            Some(e) => {
                return Err(PullError::Registry(RegistryError::Connect {
                    registry: registry.name().to_string(),
                    what,
                    why: format!("{e} (after {have} of {size} bytes, {resumes} resumes)"),
                }))
            }
        }
    }
    tmp.as_file_mut()
        .flush()
        .map_err(|e| PullError::Cache(e.to_string()))?;
    let actual = Sha256Digest(hasher.finalize().into());
    if actual != *digest || have != size {
        return Err(PullError::Mismatch(Mismatch { actual, size: have }));
    }
    cache.commit(tmp, digest, size).map_err(PullError::Cache)
}

fn restart(tmp: &mut tempfile::NamedTempFile) -> Result<(), String> {
    let f = tmp.as_file_mut();
    f.set_len(0).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

/// The first byte of a 206 answer's `Content-Range: bytes FROM-TO/SIZE`.
fn starts_at(resp: &reqwest::blocking::Response) -> Option<u64> {
    let v = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = v.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// GET a manifest by tag or digest: its served media type and bytes.
pub fn pull_manifest(
    registry: &Registry,
    repository: &str,
    reference: &str,
) -> Result<(String, Vec<u8>), RegistryError> {
    registry.get_manifest(repository, reference)
}
