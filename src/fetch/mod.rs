//! The fetcher: brings every input (http, https, `file://`, local path) into the
//! content-addressed store ([`crate::store`]), verified against its pin.
//!
//! - `mirror`: `PREFIX=REPLACEMENT` rules ([`MirrorRule`]) applied to URLs before fetching.
//! - `netrc`: credentials for hosts, from `~/.netrc` ([`Netrc`]).
//! - `http`: downloads with retries, backoff, timeouts and a strict redirect policy.
//! - `limits`: the low-speed limit ([`LowSpeed`]) and the most bytes one download may have.
//!
//! Nothing unverified ever appears under `blobs/`: downloads stream into a temporary file
//! while being hashed and are renamed into place only when they match.

mod error;
mod http;
mod limits;
mod mirror;
mod netrc;

pub use error::FetchError;
pub use http::MAX_REDIRECTS;
pub use limits::{
    max_download_from_env, parse_size, Exceeded, LowSpeed, DEFAULT_LOW_SPEED_LIMIT,
    DEFAULT_LOW_SPEED_TIME, DEFAULT_MAX_DOWNLOAD, LOW_SPEED_LIMIT_ENV, LOW_SPEED_TIME_ENV,
    MAX_DOWNLOAD_ENV,
};
pub use mirror::{mirrors_from_env, MirrorRule, MIRRORS_ENV};
pub use netrc::Netrc;

use crate::digest::Sha256Digest;
use crate::store::{Blob, Cache, CopyError, Lookup};
use crate::ui::Ui;
use reqwest::blocking::Client;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How to fetch: where the cache is, mirrors, offline mode, parallelism, retry and timeout
/// settings, and where progress goes.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    pub cache_dir: PathBuf,
    /// Mirror rules; longest matching prefix wins, the earlier rule on a tie.
    pub mirrors: Vec<MirrorRule>,
    /// Never touch the network: cache hits, `file://` and local paths only.
    pub offline: bool,
    /// How many inputs download at once (at least 1).
    pub jobs: usize,
    /// Extra attempts after the first for transient failures.
    pub retries: u32,
    /// The wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// The longest wait for the server to answer or send more of the body.
    pub read_timeout: Duration,
    /// Give up on a transfer that stays slower than this.
    pub low_speed: LowSpeed,
    /// The most bytes one download may have when the lock does not record its size.
    pub max_download: u64,
    pub ui: Ui,
}

impl FetchOptions {
    /// Defaults: no mirrors, online, one job per CPU, 3 retries from 200 ms, connect
    /// timeout 15 s, read timeout 30 s (or [`HTTP_TIMEOUT_ENV`] seconds), the low-speed
    /// limit ([`LOW_SPEED_LIMIT_ENV`], [`LOW_SPEED_TIME_ENV`]) and download maximum
    /// ([`MAX_DOWNLOAD_ENV`]), default [`Ui`].
    pub fn new(cache_dir: impl Into<PathBuf>) -> FetchOptions {
        FetchOptions {
            cache_dir: cache_dir.into(),
            mirrors: Vec::new(),
            offline: false,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            retries: 3,
            backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(15),
            read_timeout: http_timeout_from_env()
                .ok()
                .flatten()
                .unwrap_or(DEFAULT_READ_TIMEOUT),
            low_speed: LowSpeed::from_env().unwrap_or_default(),
            max_download: max_download_from_env().unwrap_or(DEFAULT_MAX_DOWNLOAD),
            ui: Ui::default(),
        }
    }
}

/// The read timeout when [`HTTP_TIMEOUT_ENV`] is not set.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Overrides the read timeout (seconds, fractions allowed, more than 0), so a stalled
/// server can be given up on sooner (tests, CI) or a slow one waited for longer.
pub const HTTP_TIMEOUT_ENV: &str = "SCRATCH_HTTP_TIMEOUT";

/// The read timeout from [`HTTP_TIMEOUT_ENV`]: `Ok(None)` when unset, an error message
/// when it is not a positive number of seconds.
pub fn http_timeout_from_env() -> Result<Option<Duration>, String> {
    let Some(v) = std::env::var_os(HTTP_TIMEOUT_ENV) else {
        return Ok(None);
    };
    let text = v.to_string_lossy();
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => {
            Ok(Some(Duration::from_secs_f64(secs)))
        }
        _ => Err(format!(
            "{HTTP_TIMEOUT_ENV}=`{text}` is not a number of seconds between 0 and 86400"
        )),
    }
}

/// One input to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// As written in the manifest (an http(s) or `file://` URL, or a local path, relative
    /// to the current directory); mirror rules are applied by the fetcher.
    pub url: String,
    /// The expected sha256; `None` only when locking (the computed digest is returned).
    pub pin: Option<Sha256Digest>,
}

impl FetchRequest {
    /// A request verified against `pin`.
    pub fn pinned(url: impl Into<String>, pin: Sha256Digest) -> FetchRequest {
        FetchRequest {
            url: url.into(),
            pin: Some(pin),
        }
    }

    /// A request whose digest is learnt by fetching it (`compose lock`).
    pub fn unpinned(url: impl Into<String>) -> FetchRequest {
        FetchRequest {
            url: url.into(),
            pin: None,
        }
    }
}

/// Where an input really comes from, after mirror rules.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Remote {
        url: String,
        original: Option<String>,
    },
    Local {
        path: PathBuf,
        original: Option<String>,
    },
}

/// Fetches inputs into a cache. Share one per build; `fetch` may be called from several
/// threads.
pub struct Fetcher {
    opts: FetchOptions,
    cache: Cache,
    client: OnceLock<Result<Client, String>>,
    netrc: Option<Netrc>,
    /// Stacks the progress bars of concurrent downloads instead of letting them overwrite
    /// each other; used only when the [`Ui`] draws bars.
    bars: indicatif::MultiProgress,
    /// The size of each blob whose size a lock records: its download stops there.
    sizes: Mutex<HashMap<Sha256Digest, u64>>,
}

impl Fetcher {
    /// Opens the cache and reads netrc credentials (`$NETRC`, else `~/.netrc`, when
    /// present); the HTTP client is set up on first use.
    pub fn new(opts: FetchOptions) -> Result<Fetcher, FetchError> {
        http_timeout_from_env().map_err(FetchError::Client)?;
        LowSpeed::from_env().map_err(FetchError::Client)?;
        max_download_from_env().map_err(FetchError::Client)?;
        let cache = Cache::open(&opts.cache_dir)?;
        let netrc = netrc::default_netrc_path().and_then(|p| match Netrc::load(&p) {
            Ok(n) => Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                opts.ui.warn(format!("ignoring {}: {e}", p.display()));
                None
            }
        });
        Ok(Fetcher {
            opts,
            cache,
            client: OnceLock::new(),
            netrc,
            bars: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            sizes: Mutex::new(HashMap::new()),
        })
    }

    /// Record that the blob `pin` has `size` bytes (as a lock says): its download then
    /// stops there, and one byte more is an error, instead of at the download maximum.
    pub fn expect_size(&self, pin: Sha256Digest, size: u64) {
        self.sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pin, size);
    }

    /// The size recorded for `pin` by [`Fetcher::expect_size`].
    fn expected_size(&self, pin: Option<&Sha256Digest>) -> Option<u64> {
        let sizes = self.sizes.lock().unwrap_or_else(|p| p.into_inner());
        pin.and_then(|p| sizes.get(p).copied())
    }

    /// Replaces the netrc credentials (`None`: send none).
    pub fn with_netrc(mut self, netrc: Option<Netrc>) -> Fetcher {
        self.netrc = netrc;
        self
    }

    /// The cache, for later stages' derived data.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options this fetcher was made with.
    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// True when a verified copy of `pin` is in the cache.
    pub fn is_cached(&self, pin: &Sha256Digest) -> bool {
        matches!(self.cache.get_verified(pin), Ok(Some(_)))
    }

    /// The URL after mirror rules (what would be fetched).
    pub fn effective_url(&self, url: &str) -> String {
        mirror::apply(&self.opts.mirrors, url).unwrap_or_else(|| url.to_string())
    }

    /// Fetches one input into the cache, verified against its pin when it has one.
    pub fn fetch(&self, req: &FetchRequest) -> Result<Blob, FetchError> {
        match self.resolve(&req.url)? {
            Source::Local { path, original } => self.store_local(&path, original, req.pin.as_ref()),
            Source::Remote { url, original } => {
                if let Some(pin) = &req.pin {
                    match self.cache.lookup(pin)? {
                        Lookup::Hit(b) => {
                            self.opts.ui.debug(format!("cached {} ({pin})", req.url));
                            return Ok(b);
                        }
                        Lookup::Corrupt => self.opts.ui.warn(format!(
                            "the cached copy of {} was corrupt and has been removed; fetching it again",
                            req.url
                        )),
                        Lookup::Miss => {}
                    }
                }
                if self.opts.offline {
                    return Err(FetchError::Offline {
                        missing: vec![describe_missing(req, &url, original.is_some())],
                    });
                }
                let host = reqwest::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string));
                let auth = match (&self.netrc, &host) {
                    (Some(n), Some(h)) => n.credentials(h),
                    _ => None,
                };
                http::Download {
                    client: self.client()?,
                    auth,
                    bars: self.opts.ui.has_bars().then_some(&self.bars),
                    cache: &self.cache,
                    ui: &self.opts.ui,
                    url: &url,
                    original: original.as_deref(),
                    pin: req.pin.as_ref(),
                    retries: self.opts.retries,
                    backoff: self.opts.backoff,
                    low_speed: self.opts.low_speed,
                    max: match self.expected_size(req.pin.as_ref()) {
                        Some(size) => (size, true),
                        None => (self.opts.max_download, false),
                    },
                }
                .run()
            }
        }
    }

    /// Fetches several inputs, at most `jobs` at once; results in input order. Every input
    /// is attempted; offline misses are reported together in one error, and several
    /// failures as [`FetchError::Several`].
    pub fn fetch_all(&self, reqs: &[FetchRequest]) -> Result<Vec<Blob>, FetchError> {
        let results = crate::parallel::map(self.opts.jobs, reqs, |req| self.fetch(req));
        let mut blobs = Vec::with_capacity(reqs.len());
        let mut errors = Vec::new();
        let mut missing: Option<(usize, Vec<String>)> = None;
        for r in results {
            match r {
                Ok(b) => blobs.push(b),
                Err(FetchError::Offline { missing: m }) => match &mut missing {
                    Some((_, all)) => all.extend(m),
                    None => {
                        missing = Some((errors.len(), m));
                        errors.push(FetchError::Offline {
                            missing: Vec::new(),
                        });
                    }
                },
                Err(e) => errors.push(e),
            }
        }
        if let Some((at, all)) = missing {
            errors[at] = FetchError::Offline { missing: all };
        }
        match errors.len() {
            0 => Ok(blobs),
            1 => Err(errors.remove(0)),
            _ => Err(FetchError::Several(errors)),
        }
    }

    fn client(&self) -> Result<&Client, FetchError> {
        self.client
            .get_or_init(|| {
                http::build_client(self.opts.connect_timeout, self.opts.read_timeout)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| FetchError::Client(e.clone()))
    }

    /// Applies mirror rules and tells remote URLs from local files.
    fn resolve(&self, written: &str) -> Result<Source, FetchError> {
        let (url, original) = match mirror::apply(&self.opts.mirrors, written) {
            Some(m) => (m, Some(written.to_string())),
            None => (written.to_string(), None),
        };
        classify(url, original)
    }

    /// Copies a local file into the cache, checking the pin before it enters `blobs/`.
    fn store_local(
        &self,
        path: &Path,
        original: Option<String>,
        pin: Option<&Sha256Digest>,
    ) -> Result<Blob, FetchError> {
        let local = |e| FetchError::Local {
            path: path.to_path_buf(),
            source: e,
        };
        let Some(pin) = pin else {
            return Ok(self.cache.insert_file(path)?);
        };
        let (mut f, _) = crate::store::open_regular(path).map_err(local)?;
        let (tmp, res) = self.cache.receive(&mut f, &mut |_| {})?;
        let (digest, size) = match res {
            Ok(v) => v,
            Err(CopyError::Read(e)) => return Err(local(e)),
            Err(CopyError::Write(e)) => return Err(FetchError::cache(tmp.path(), e)),
        };
        if digest != *pin {
            return Err(FetchError::Checksum {
                url: path.display().to_string(),
                original,
                expected: *pin,
                actual: digest,
            });
        }
        Ok(self.cache.commit(tmp, &digest, size)?)
    }
}

/// How an offline miss is listed: the input as written, where it would come from, its pin.
fn describe_missing(req: &FetchRequest, url: &str, mirrored: bool) -> String {
    let via = if mirrored {
        format!(" (via {url})")
    } else {
        String::new()
    };
    match &req.pin {
        Some(p) => format!("{}{via} ({p})", req.url),
        None => format!("{}{via} (not pinned, so it must be downloaded)", req.url),
    }
}

/// http(s) URLs are remote; `file://` URLs and plain paths are local; other schemes are
/// refused.
fn classify(url: String, original: Option<String>) -> Result<Source, FetchError> {
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| {
            s.len() > 1
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .map(str::to_ascii_lowercase);
    let bad = |url: &str, original: Option<String>, reason: String| FetchError::BadUrl {
        url: url.to_string(),
        original,
        reason,
    };
    match scheme.as_deref() {
        Some("http" | "https") => Ok(Source::Remote { url, original }),
        Some("file") => {
            let parsed = reqwest::Url::parse(&url)
                .map_err(|e| bad(&url, original.clone(), format!("malformed file URL: {e}")))?;
            match parsed.to_file_path() {
                Ok(path) => Ok(Source::Local { path, original }),
                Err(()) => Err(bad(
                    &url,
                    original,
                    "a file URL must be absolute and name a local file (file:///PATH)".into(),
                )),
            }
        }
        // `C:\x` style paths have a one-letter "scheme"; anything else with `://` is a URL.
        Some(s) if url[s.len()..].starts_with("://") => Err(bad(
            &url,
            original,
            format!("unsupported scheme `{s}` (use http, https or file)"),
        )),
        _ => Ok(Source::Local {
            path: PathBuf::from(url),
            original,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        let remote = |u: &str| Source::Remote {
            url: u.into(),
            original: None,
        };
        assert_eq!(
            classify("https://h/x".into(), None).unwrap(),
            remote("https://h/x")
        );
        assert_eq!(
            classify("HTTP://h/x".into(), None).unwrap(),
            remote("HTTP://h/x")
        );
        assert_eq!(
            classify("file:///tmp/a%20b".into(), None).unwrap(),
            Source::Local {
                path: "/tmp/a b".into(),
                original: None
            }
        );
        assert_eq!(
            classify("dir/x:y.tar".into(), None).unwrap(),
            Source::Local {
                path: "dir/x:y.tar".into(),
                original: None
            }
        );
        let e = classify("ftp://h/x".into(), Some("https://o/x".into())).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("ftp") && s.contains("mirror of https://o/x"),
            "{s}"
        );
        assert!(classify("file://host/x".into(), None).is_err());
    }

    #[test]
    fn local_pin_mismatch_leaves_cache_clean() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.bin");
        std::fs::write(&src, b"local bytes").unwrap();
        let mut opts = FetchOptions::new(dir.path().join("cache"));
        opts.ui = Ui::silent();
        opts.offline = true;
        let f = Fetcher::new(opts).unwrap();
        let wrong = Sha256Digest::of(b"other");
        let e = f
            .fetch(&FetchRequest::pinned(src.to_str().unwrap(), wrong))
            .unwrap_err();
        assert!(matches!(e, FetchError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains("in.bin"));
        assert!(!f.is_cached(&Sha256Digest::of(b"local bytes")));
        let right = Sha256Digest::of(b"local bytes");
        let url = reqwest::Url::from_file_path(&src).unwrap().to_string();
        let b = f.fetch(&FetchRequest::pinned(url, right)).unwrap();
        assert_eq!(b.sha256, right);
        assert!(f.is_cached(&right));
    }
}
