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
/// The blob's origin (registry and repository) is remembered for push's mounts.
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
    let path = cache.commit(tmp, digest, size).map_err(PullError::Cache)?;
    cache.note_origin(digest, registry.name(), repository);
    Ok(path)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ClientOptions;
    use crate::store::Cache;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A registry serving one blob that cuts the first transfer halfway; it honours
    /// `Range` unless `ignore_range`. Returns its address and the Range headers it saw.
    fn flaky_registry(blob: Vec<u8>, ignore_range: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        std::thread::spawn(move || {
            let mut blob_requests = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = v.trim().trim_end_matches('-').parse::<usize>().ok();
                    }
                }
                if !first.contains("/blobs/") {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                    continue;
                }
                blob_requests += 1;
                seen.lock().unwrap().push(format!("{range:?}"));
                let (status, from) = match range {
                    Some(k) if !ignore_range => ("206 Partial Content", k),
                    _ => ("200 OK", 0),
                };
                let body = &blob[from..];
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if from > 0 {
                    head.push_str(&format!(
                        "Content-Range: bytes {from}-{}/{}\r\n",
                        blob.len() - 1,
                        blob.len()
                    ));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                if blob_requests == 1 {
                    // Half the body, then the connection drops.
                    let _ = stream.write_all(&body[..body.len() / 2]);
                    let _ = stream.flush();
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let _ = stream.write_all(body);
            }
        });
        (addr, ranges)
    }

    fn options() -> ClientOptions {
        ClientOptions {
            base_delay: Duration::from_millis(1),
            ..ClientOptions::default()
        }
    }

    /// Pull `blob` through a registry that cuts the first transfer (and, with
    /// `ignore_range`, answers every request from the start): the bytes pulled, the Range
    /// headers the registry saw, and the bytes reported as progress.
    fn pull_through_cut(blob: &[u8], ignore_range: bool) -> (Vec<u8>, Vec<String>, u64) {
        let digest = Sha256Digest::of(blob);
        let (addr, ranges) = flaky_registry(blob.to_vec(), ignore_range);
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(Cache::open(dir.path()).unwrap());
        let reg = Registry::connect(&addr, &options()).unwrap();
        let shown = std::sync::atomic::AtomicU64::new(0);
        let path = pull_blob(&reg, "r", &digest, blob.len() as u64, &cache, &|n| {
            shown.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        let pulled = std::fs::read(path).unwrap();
        let ranges = ranges.lock().unwrap().clone();
        (pulled, ranges, shown.into_inner())
    }

    #[test]
    fn a_transfer_cut_midway_resumes_from_where_it_stopped() {
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (pulled, ranges, shown) = pull_through_cut(&blob, false);
        assert_eq!(pulled, blob);
        assert_eq!(ranges.len(), 2, "{ranges:?}");
        assert_eq!(ranges[0], "None");
        assert_ne!(
            ranges[1], "None",
            "the second request asks for the rest: {ranges:?}"
        );
        assert_eq!(shown, blob.len() as u64);
    }

    #[test]
    fn a_registry_ignoring_range_is_read_again_from_the_start() {
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
        let (pulled, _, shown) = pull_through_cut(&blob, true);
        assert_eq!(pulled, blob);
        assert_eq!(shown, blob.len() as u64, "counted once");
    }

    #[test]
    fn bytes_that_do_not_hash_to_the_digest_are_refused() {
        let blob = vec![7u8; 10_000];
        let wrong = Sha256Digest::of(b"other");
        let (addr, _) = flaky_registry(blob.clone(), false);
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(Cache::open(dir.path()).unwrap());
        let reg = Registry::connect(&addr, &options()).unwrap();
        let e = pull_blob(&reg, "r", &wrong, blob.len() as u64, &cache, &|_| {}).unwrap_err();
        assert!(matches!(e, PullError::Mismatch(m) if m.actual == Sha256Digest::of(&blob)));
        assert!(cache.get(&wrong).unwrap().is_none());
    }
}
