//! Downloads over http(s): one client per fetcher, retries with exponential backoff for
//! transient failures, redirects only to http(s), bodies streamed into the cache.

use super::limits::{self, Bounded, Exceeded, LowSpeed};
use super::FetchError;
use crate::digest::Sha256Digest;
use crate::store::{Blob, Cache, CopyError};
use crate::ui::Ui;
use reqwest::blocking::Client;
use std::error::Error as StdError;
use std::time::Duration;
use tempfile::NamedTempFile;

/// At most this many redirects are followed.
pub const MAX_REDIRECTS: usize = 10;

/// Builds the client: rustls with system and webpki roots, proxies from the environment,
/// `connect` for the connect phase and `read` for every wait on the server.
pub(crate) fn build_client(connect: Duration, read: Duration) -> Result<Client, FetchError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let target = attempt.url().to_string();
        if !matches!(attempt.url().scheme(), "http" | "https") {
            attempt.error(RefusedRedirect {
                target,
                reason: "only http:// and https:// redirects are followed".into(),
            })
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(RefusedRedirect {
                target,
                reason: format!("more than {MAX_REDIRECTS} redirects"),
            })
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .redirect(policy)
        .connect_timeout(connect)
        // In the blocking client this bounds each wait (headers, then every read), not the
        // whole transfer: a large download that keeps moving never times out.
        .timeout(read)
        .user_agent(concat!("scratch-compose/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Client(chain(&e)))
}

/// The redirect policy's refusal, found again in the error's source chain.
#[derive(Debug)]
struct RefusedRedirect {
    target: String,
    reason: String,
}

impl std::fmt::Display for RefusedRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused redirect to {}: {}", self.target, self.reason)
    }
}

impl StdError for RefusedRedirect {}

/// What to download and how hard to try.
pub(crate) struct Download<'a> {
    pub client: &'a Client,
    /// Basic-auth login and password for the URL's host (from netrc).
    pub auth: Option<(&'a str, &'a str)>,
    /// Where to stack this download's progress bar, when bars are drawn.
    pub bars: Option<&'a indicatif::MultiProgress>,
    pub cache: &'a Cache,
    pub ui: &'a Ui,
    /// The URL fetched (after mirror rules).
    pub url: &'a str,
    /// The URL as written, when a mirror rule rewrote it.
    pub original: Option<&'a str>,
    pub pin: Option<&'a Sha256Digest>,
    pub retries: u32,
    pub backoff: Duration,
    pub low_speed: LowSpeed,
    /// The most bytes the body may have, and whether that is the size the lock records.
    pub max: (u64, bool),
}

/// Why one attempt failed.
enum Failure {
    /// Worth another try: connection trouble, 5xx, timeouts, a short body.
    Transient { reason: String, status: Option<u16> },
    /// An error status that retrying will not fix (4xx).
    Status(u16),
    /// A network failure that retrying will not fix (a rejected TLS certificate).
    Permanent(String),
    /// Anything else that must stop at once.
    Fatal(FetchError),
}

impl Download<'_> {
    /// Downloads into the cache, verifying the pin; retries transient failures.
    pub(crate) fn run(&self) -> Result<Blob, FetchError> {
        let max = self.retries.saturating_add(1);
        let original = self.original.map(str::to_string);
        let mut attempt = 1;
        loop {
            match self.attempt() {
                Ok((tmp, digest, size)) => return self.finish(tmp, digest, size),
                Err(Failure::Status(status)) => {
                    return Err(FetchError::Http {
                        url: self.url.to_string(),
                        original,
                        status,
                        attempts: attempt,
                    })
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Permanent(reason)) => {
                    return Err(FetchError::Network {
                        url: self.url.to_string(),
                        original,
                        attempts: attempt,
                        reason,
                    })
                }
                Err(Failure::Transient { reason, status }) if attempt >= max => {
                    return Err(match status {
                        Some(status) => FetchError::Http {
                            url: self.url.to_string(),
                            original,
                            status,
                            attempts: attempt,
                        },
                        None => FetchError::Network {
                            url: self.url.to_string(),
                            original,
                            attempts: attempt,
                            reason,
                        },
                    });
                }
                Err(Failure::Transient { reason, .. }) => {
                    let wait = self.backoff.saturating_mul(1u32 << (attempt - 1).min(16));
                    self.ui.warn(format!(
                        "fetching {}: {reason}; retrying in {} ms (attempt {} of {max})",
                        self.url,
                        wait.as_millis(),
                        attempt + 1
                    ));
                    std::thread::sleep(wait);
                    attempt += 1;
                }
            }
        }
    }

    /// Checks the pin and moves the download into `blobs/`.
    fn finish(
        &self,
        tmp: NamedTempFile,
        digest: Sha256Digest,
        size: u64,
    ) -> Result<Blob, FetchError> {
        if let Some(pin) = self.pin {
            if *pin != digest {
                return Err(FetchError::Checksum {
                    url: self.url.to_string(),
                    original: self.original.map(str::to_string),
                    expected: *pin,
                    actual: digest,
                });
            }
        }
        let blob = self.cache.commit(tmp, &digest, size)?;
        if !self.ui.has_bars() {
            self.ui.info(format!("fetched {} ({size} bytes)", self.url));
        }
        Ok(blob)
    }

    /// One request: the body lands in a temporary file in the cache.
    fn attempt(&self) -> Result<(NamedTempFile, Sha256Digest, u64), Failure> {
        if !self.ui.has_bars() {
            self.ui.info(format!("fetching {}", self.url));
        }
        let mut req = self.client.get(self.url);
        if let Some((login, password)) = self.auth {
            req = req.basic_auth(login, Some(password));
        }
        let mut resp = req.send().map_err(|e| self.classify_send(e))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            // The client follows every redirect it can; one left here points somewhere it
            // cannot go (`file:///…`, another scheme, an unparsable location).
            if let Some(loc) = resp.headers().get(reqwest::header::LOCATION) {
                return Err(Failure::Fatal(FetchError::Redirect {
                    url: self.url.to_string(),
                    original: self.original.map(str::to_string),
                    target: String::from_utf8_lossy(loc.as_bytes()).into_owned(),
                    reason: "only http:// and https:// redirects are followed".into(),
                }));
            }
        }
        if !resp.status().is_success() {
            return Err(if is_transient_status(status) {
                Failure::Transient {
                    reason: format!("HTTP {status}"),
                    status: Some(status),
                }
            } else {
                Failure::Status(status)
            });
        }
        let expected_len = resp.content_length();
        let (max, recorded) = self.max;
        if let Some(len) = expected_len.filter(|len| *len > max) {
            return Err(Failure::Fatal(self.too_large(
                Exceeded::TooLarge {
                    limit: max,
                    recorded,
                },
                Some(len),
            )));
        }
        let mut body = Bounded::new(&mut resp, self.low_speed, max, recorded);
        let mut bar = self.ui.bytes_bar(expected_len, short_name(self.url));
        if let Some(multi) = self.bars {
            bar = multi.add(bar);
        }
        let received = self.cache.receive(&mut body, &mut |n| bar.inc(n));
        bar.finish_and_clear();
        if let Some(multi) = self.bars {
            multi.remove(&bar);
        }
        let (tmp, res) = received.map_err(|e| Failure::Fatal(e.into()))?;
        let (digest, size) = match res {
            Ok(v) => v,
            Err(CopyError::Read(e)) => {
                // `tmp` is dropped (and the partial file deleted) on every return below.
                match limits::exceeded(&e) {
                    Some(why @ Exceeded::TooLarge { .. }) => {
                        return Err(Failure::Fatal(self.too_large(why.clone(), expected_len)))
                    }
                    Some(why @ Exceeded::TooSlow { .. }) => {
                        return Err(Failure::Transient {
                            reason: why.to_string(),
                            status: None,
                        })
                    }
                    None => {}
                }
                let reason = if is_timeout(&e) {
                    "timed out reading the response body".to_string()
                } else {
                    format!("reading the response body failed: {}", chain(&e))
                };
                return Err(Failure::Transient {
                    reason,
                    status: None,
                });
            }
            Err(CopyError::Write(e)) => {
                return Err(Failure::Fatal(FetchError::cache(tmp.path(), e)))
            }
        };
        if let Some(len) = expected_len {
            if len != size {
                return Err(Failure::Transient {
                    reason: format!("body cut short: got {size} of {len} bytes"),
                    status: None,
                });
            }
        }
        Ok((tmp, digest, size))
    }

    /// The error for a body longer than it may be (`announced`: its Content-Length).
    fn too_large(&self, why: Exceeded, announced: Option<u64>) -> FetchError {
        FetchError::TooLarge {
            url: self.url.to_string(),
            original: self.original.map(str::to_string),
            announced,
            why,
        }
    }

    fn classify_send(&self, e: reqwest::Error) -> Failure {
        if let Some(r) = find_source::<RefusedRedirect>(&e) {
            return Failure::Fatal(FetchError::Redirect {
                url: self.url.to_string(),
                original: self.original.map(str::to_string),
                target: r.target.clone(),
                reason: r.reason.clone(),
            });
        }
        let e = e.without_url();
        let detail = chain(&e);
        if detail.to_ascii_lowercase().contains("certificate") {
            return Failure::Permanent(format!("TLS certificate rejected: {detail}"));
        }
        let reason = if is_timeout(&e) {
            "timed out waiting for the server".to_string()
        } else if e.is_connect() {
            format!("could not connect: {}", chain(&e))
        } else if e.is_builder() {
            return Failure::Fatal(FetchError::BadUrl {
                url: self.url.to_string(),
                original: self.original.map(str::to_string),
                reason: chain(&e),
            });
        } else {
            format!("request failed: {}", chain(&e))
        };
        Failure::Transient {
            reason,
            status: None,
        }
    }
}

/// 5xx, 408 Request Timeout and 429 Too Many Requests are worth retrying.
fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// The last path segment, for progress bars.
fn short_name(url: &str) -> String {
    url.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or(url)
        .to_string()
}

/// An error and its sources, joined by `: ` (reqwest's own message is terse).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

fn find_source<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

/// True when anything in the chain is a timeout.
fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                return true;
            }
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        assert!(is_transient_status(500) && is_transient_status(503));
        assert!(is_transient_status(429) && is_transient_status(408));
        assert!(!is_transient_status(404) && !is_transient_status(403));
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("https://h/a/b.tar.gz"), "b.tar.gz");
        assert_eq!(short_name("https://h/a/"), "a");
    }
}
