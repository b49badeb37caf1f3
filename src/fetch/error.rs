//! What can go wrong while fetching, with the URL, path, status and attempt count the user
//! needs to act on it.

use crate::digest::Sha256Digest;
use std::path::PathBuf;

/// ` (mirror of ORIGINAL)` when a mirror rule rewrote the URL, else nothing.
fn via(original: &Option<String>) -> String {
    match original {
        Some(o) => format!(" (mirror of {o})"),
        None => String::new(),
    }
}

/// Errors of the fetch stage and of the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status (after retries when it was transient).
    #[error("fetching {url}{}: HTTP {status} after {attempts} attempt{}", via(.original), if *.attempts == 1 { "" } else { "s" })]
    Http {
        url: String,
        original: Option<String>,
        status: u16,
        attempts: u32,
    },
    /// The connection failed, timed out or was cut short, on every attempt.
    #[error("fetching {url}{}: {reason} (after {attempts} attempt{})", via(.original), if *.attempts == 1 { "" } else { "s" })]
    Network {
        url: String,
        original: Option<String>,
        attempts: u32,
        reason: String,
    },
    /// The bytes do not match the pinned sha256. Nothing entered the cache.
    #[error("checksum mismatch for {url}{}: expected {expected}, got {actual}", via(.original))]
    Checksum {
        url: String,
        original: Option<String>,
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    /// A [`FetchError::Checksum`] explained by the caller that knows where the pin is
    /// written and how to fix it.
    #[error("{0}")]
    WrongPin(Box<crate::lock::WrongPin>),
    /// A redirect to a scheme other than http(s), or too many redirects.
    #[error("fetching {url}{}: refused redirect to {target}: {reason}", via(.original))]
    Redirect {
        url: String,
        original: Option<String>,
        target: String,
        reason: String,
    },
    /// `--offline` and these inputs are not in the cache.
    #[error("offline and {} input{} not in the cache:{}", .missing.len(), if .missing.len() == 1 { " is" } else { "s are" }, .missing.iter().map(|m| format!("\n  - {m}")).collect::<String>())]
    Offline { missing: Vec<String> },
    /// A URL this fetcher cannot handle (unknown scheme, malformed `file://`).
    #[error("cannot fetch `{url}`{}: {reason}", via(.original))]
    BadUrl {
        url: String,
        original: Option<String>,
        reason: String,
    },
    /// The body is longer than the lock records or than one download may be. The partial
    /// file was deleted; nothing entered the cache.
    #[error("fetching {url}{}: {why}{}", via(.original), .announced.map(|n| format!(" (it announced {n} bytes)")).unwrap_or_default())]
    TooLarge {
        url: String,
        original: Option<String>,
        /// The Content-Length the server sent, if any.
        announced: Option<u64>,
        why: super::limits::Exceeded,
    },
    /// A malformed `--mirror` or `SCRATCH_MIRRORS` rule.
    #[error("invalid mirror rule `{rule}`{}: {reason}", .origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default())]
    BadMirror {
        rule: String,
        origin: Option<String>,
        reason: String,
    },
    /// A local input could not be read.
    #[error("reading {}: {source}", .path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store (the cache directory) failed.
    #[error(transparent)]
    Store(crate::store::StoreError),
    /// The HTTP client could not be set up (TLS roots, proxy settings).
    #[error("setting up the HTTP client: {0}")]
    Client(String),
    /// Several inputs failed; each error in input order.
    #[error("{} inputs failed:{}", .0.len(), .0.iter().map(|e| format!("\n  - {}", e.to_string().replace('\n', "\n    "))).collect::<String>())]
    Several(Vec<FetchError>),
}

impl From<crate::store::StoreError> for FetchError {
    /// A local file the store could not read is the fetch's `Local` error, as when the
    /// fetcher reads it itself; anything else is the store's.
    fn from(e: crate::store::StoreError) -> FetchError {
        match e {
            crate::store::StoreError::Local { path, source } => FetchError::Local { path, source },
            e => FetchError::Store(e),
        }
    }
}

impl FetchError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            FetchError::Http { status, .. } if *status == 404 || *status == 410 => {
                "the file is not at this URL (moved or removed upstream?); check the URL, or fetch it from elsewhere with --mirror PREFIX=REPLACEMENT".to_string()
            }
            FetchError::Http { status, .. } if *status == 401 || *status == 403 => {
                "the server refused access; check the URL and credentials, or use a mirror with --mirror PREFIX=REPLACEMENT".to_string()
            }
            FetchError::Http { status, .. } if *status >= 500 || *status == 429 || *status == 408 => {
                "the server kept failing; try again later, or use a mirror with --mirror PREFIX=REPLACEMENT".to_string()
            }
            FetchError::Http { .. } => "check the URL, or use a mirror with --mirror PREFIX=REPLACEMENT".to_string(),
            FetchError::TooLarge { why: super::limits::Exceeded::TooLarge { recorded: true, .. }, .. } => {
                "the server sends other bytes than the ones pinned; use another mirror with --mirror PREFIX=REPLACEMENT, or if the input really changed, pin it again with `compose lock --update INPUT`".to_string()
            }
            FetchError::TooLarge { .. } => format!(
                "if the input really is that large, raise the limit with {}=SIZE (e.g. 20G)",
                super::limits::MAX_DOWNLOAD_ENV
            ),
            FetchError::Network { reason, .. } if reason.contains("bytes/s") => format!(
                "the server is too slow; try again later, use a mirror with --mirror PREFIX=REPLACEMENT, or allow slower transfers with {}=SECONDS or {}=0",
                super::limits::LOW_SPEED_TIME_ENV,
                super::limits::LOW_SPEED_LIMIT_ENV
            ),
            FetchError::Network { .. } => {
                "check the network, the proxy settings (HTTPS_PROXY, NO_PROXY), the system's CA certificates and the URL; try again later, use --mirror PREFIX=REPLACEMENT, or --offline with a warm cache".to_string()
            }
            FetchError::WrongPin(w) => w.hint(),
            FetchError::Checksum { .. } => {
                "the bytes differ from the pinned sha256: the file changed upstream or the download is corrupt; if the new bytes are expected, change the pin where it is written: the manifest's `sha256`, or `compose lock --update INPUT` for a pin only the lock holds".to_string()
            }
            FetchError::Redirect { .. } => {
                "only redirects to http:// or https:// are followed (at most 10); point the input or a --mirror rule at the final URL".to_string()
            }
            FetchError::Offline { .. } => {
                "run once without --offline to fill the cache, or serve these inputs from local files with --mirror PREFIX=file:///DIR/".to_string()
            }
            FetchError::BadUrl { .. } => {
                "inputs are http://, https://, file:// URLs or local paths".to_string()
            }
            FetchError::BadMirror { .. } => {
                "write mirror rules as PREFIX=REPLACEMENT, e.g. --mirror https://dl-cdn.alpinelinux.org/=https://mirror.example.org/ (SCRATCH_MIRRORS takes several, separated by whitespace)".to_string()
            }
            FetchError::Local { .. } => "check that the file exists and is readable".to_string(),
            FetchError::Store(e) => return e.hint(),
            FetchError::Client(m) if m.contains(super::HTTP_TIMEOUT_ENV) => {
                format!("set {} to a number of seconds, e.g. 60, or unset it", super::HTTP_TIMEOUT_ENV)
            }
            FetchError::Client(m) if m.starts_with("SCRATCH_") => {
                format!("fix or unset {}", m.split('=').next().unwrap_or(m))
            }
            FetchError::Client(_) => {
                "check the proxy settings (HTTPS_PROXY, NO_PROXY) and the system's CA certificates".to_string()
            }
            FetchError::Several(errs) => return errs.iter().find_map(FetchError::hint),
        };
        Some(h)
    }

    /// How many attempts were made, for errors that come from the network.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            FetchError::Http { attempts, .. } | FetchError::Network { attempts, .. } => {
                Some(*attempts)
            }
            _ => None,
        }
    }

    /// A cache I/O error about `path`.
    pub(crate) fn cache(path: impl Into<PathBuf>, source: std::io::Error) -> FetchError {
        FetchError::Store(crate::store::StoreError::cache(path, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_url_mirror_status_and_attempts() {
        let e = FetchError::Http {
            url: "http://127.0.0.1:1/x".into(),
            original: Some("https://example.org/x".into()),
            status: 503,
            attempts: 4,
        };
        let s = e.to_string();
        assert!(s.contains("http://127.0.0.1:1/x"), "{s}");
        assert!(s.contains("mirror of https://example.org/x"), "{s}");
        assert!(s.contains("HTTP 503"), "{s}");
        assert!(s.contains("4 attempts"), "{s}");
        assert!(e.hint().unwrap().contains("--mirror"));
        assert_eq!(e.attempts(), Some(4));

        let off = FetchError::Offline {
            missing: vec!["https://a/1".into(), "https://b/2".into()],
        };
        let s = off.to_string();
        assert!(s.contains("2 inputs are"), "{s}");
        assert!(
            s.contains("https://a/1") && s.contains("https://b/2"),
            "{s}"
        );
    }
}
