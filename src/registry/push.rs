//! Pushing a [`LocalImage`] to a repository: every blob the registry lacks (HEAD first,
//! a cross-repository mount when a source is known, else a streamed upload, in parallel),
//! then the manifests children first, the tagged one last, so a failed push never leaves
//! a tag on an incomplete image.

use super::client::{Registry, Scope};
use super::layout::{Blob, LocalImage, Manifest};
use super::write::{self, mount_any, upload, Failing, Mount, Placed};
use super::{Reference, RegistryError};
use crate::digest::Sha256Digest;
use crate::ui::Ui;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The manifest media types a push or pull accepts.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once, at most.
    pub jobs: usize,
    /// Log lines and progress bars.
    pub ui: Ui,
    /// Repositories of the same registry that may already hold the blobs: tried as
    /// cross-repository mount sources (`?mount=…&from=…`) before uploading.
    pub mount_from: Vec<String>,
    /// Per blob, more repositories of the same registry known to hold it (from the
    /// store's record of origins), tried after `mount_from`.
    pub known_sources: BTreeMap<Sha256Digest, Vec<String>>,
}

/// Mount sources tried per blob, at most: each refused mount costs a round trip.
const MOUNT_TRIES: usize = 3;

/// What a push did, for the caller's summary and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The digest the reference now points to.
    pub digest: Option<Sha256Digest>,
    /// Blobs uploaded, and their bytes.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Blobs the repository already had.
    pub existing: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Manifests written (those already present are not).
    pub manifests_put: usize,
    /// Artifacts (SBOMs, provenance) attached to the image's manifests.
    pub referrers: usize,
    /// How they were listed: `"referrers API"` or `"tag scheme"` (none when there are
    /// no artifacts).
    pub referrers_by: Option<&'static str>,
}

/// Push `image` to `target` on `registry` (connected to `target`'s registry). A target
/// that pins a digest must match the image's.
pub fn push_layout(
    registry: &Registry,
    image: &LocalImage,
    target: &Reference,
    options: &PushOptions,
) -> Result<PushReport, RegistryError> {
    let digest = image.digest();
    if let Some(want) = target.digest.filter(|d| *d != digest) {
        return Err(RegistryError::DigestMismatch {
            reference: target.to_string(),
            expected: want.to_string(),
            actual: digest.to_string(),
        });
    }
    let repo = target.repository.as_str();
    let key = target.manifest_key().unwrap_or_else(|| digest.to_string());
    // The registry checked every blob and child manifest when it accepted this manifest:
    // if the tag already names it, there is nothing to do (one request) but to make sure
    // its artifacts are listed (an earlier push may have stopped before). Artifacts listed
    // beside the image are not under the tag: they are checked one by one below.
    if image.artifacts.is_empty()
        && registry.manifest_digest(repo, &key, &Scope::push(repo))? == Some(digest)
    {
        options.ui.info(format!(
            "{}: {repo}:{key} is already this image",
            short(&digest)
        ));
        let mut report = PushReport {
            digest: Some(digest),
            ..PushReport::default()
        };
        attach_referrers(registry, repo, image, options, &mut report)?;
        return Ok(report);
    }
    let bars = MultiProgress::with_draw_target(if options.ui.has_bars() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let failed = AtomicBool::new(false);
    let results = crate::parallel::map(options.jobs, &image.blobs, |b| {
        if failed.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let r = push_blob(registry, image, repo, b, options, &bars).map(Some);
        if r.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        r
    });
    let mut report = PushReport::default();
    for r in results {
        match r? {
            Some(Placed::Existed) => report.existing += 1,
            Some(Placed::Mounted) => report.mounted += 1,
            Some(Placed::Uploaded(n)) => {
                report.uploaded += 1;
                report.uploaded_bytes += n;
            }
            None => {}
        }
    }
    let (top, children) = image
        .manifests
        .split_last()
        .expect("an image has a manifest");
    for m in children.iter().chain(&image.artifacts) {
        if put_manifest(registry, repo, m, &m.descriptor.digest.to_string(), options)? {
            report.manifests_put += 1;
        }
    }
    if put_manifest(registry, repo, top, &key, options)? {
        report.manifests_put += 1;
    }
    attach_referrers(registry, repo, image, options, &mut report)?;
    report.digest = Some(digest);
    Ok(report)
}

/// List the image's artifacts under their subjects (see [`super::referrers`]).
fn attach_referrers(
    registry: &Registry,
    repo: &str,
    image: &LocalImage,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    let referrers: Vec<&Manifest> = image.referrers().collect();
    if !referrers.is_empty() {
        report.referrers = referrers.len();
        report.referrers_by = Some(super::referrers::attach(
            registry, repo, &referrers, options,
        )?);
    }
    Ok(())
}

fn short(d: &Sha256Digest) -> String {
    d.to_string()[..19].to_string()
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Make sure the repository has `blob`: HEAD, else mount, else upload.
fn push_blob(
    registry: &Registry,
    image: &LocalImage,
    repo: &str,
    blob: &Blob,
    options: &PushOptions,
    bars: &MultiProgress,
) -> Result<Placed, RegistryError> {
    if let Some(size) = registry.blob_size(repo, &blob.digest)? {
        if size == blob.size || size == 0 {
            log(options, bars, format!("{}: exists", short(&blob.digest)));
            return Ok(Placed::Existed);
        }
    }
    let known = options
        .known_sources
        .get(&blob.digest)
        .into_iter()
        .flatten();
    let mut sources: Vec<&String> = Vec::new();
    for from in options.mount_from.iter().chain(known) {
        if from.as_str() != repo && !sources.contains(&from) {
            sources.push(from);
        }
    }
    let tried = sources.len().min(MOUNT_TRIES);
    let session = match mount_any(
        registry,
        repo,
        &blob.digest,
        sources.into_iter().take(MOUNT_TRIES),
    )? {
        Mount::Mounted(from) => {
            let line = format!("{}: mounted from {from}", short(&blob.digest));
            log(options, bars, line);
            return Ok(Placed::Mounted);
        }
        Mount::Refused(session) => {
            if tried > 0 {
                let line = format!(
                    "{}: {tried} mount source(s) refused; uploading",
                    short(&blob.digest)
                );
                options.ui.debug(line);
            }
            session
        }
    };
    let started = Instant::now();
    let bar = bars.add(options.ui.bytes_bar(Some(blob.size), short(&blob.digest)));
    upload(registry, repo, &blob.digest, blob.size, session, &|| {
        // Opened afresh for every attempt, so a re-sent PUT streams from the start.
        let reader: Box<dyn Read + Send> = match image.open_blob(&blob.digest) {
            Ok(r) => r,
            Err(e) => Box::new(Failing(Some(e))),
        };
        bar.set_position(0);
        Box::new(Progress {
            inner: reader,
            bar: bar.clone(),
        })
    })?;
    bar.finish_and_clear();
    log(
        options,
        bars,
        format!(
            "{}: pushed {} in {:.1} s",
            short(&blob.digest),
            human(blob.size),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Placed::Uploaded(blob.size))
}

/// A line per blob in logs; with bars on a terminal, above them.
fn log(options: &PushOptions, bars: &MultiProgress, line: String) {
    if options.ui.has_bars() {
        let _ = bars.println(line);
    } else {
        options.ui.info(line);
    }
}

/// Counts bytes into the blob's progress bar as reqwest reads them.
struct Progress {
    inner: Box<dyn Read + Send>,
    bar: ProgressBar,
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// PUT a manifest under `key` (tag or digest) unless it is there already; true when put.
pub(super) fn put_manifest(
    registry: &Registry,
    repo: &str,
    m: &Manifest,
    key: &str,
    options: &PushOptions,
) -> Result<bool, RegistryError> {
    let scope = Scope::push(repo);
    if registry.manifest_digest(repo, key, &scope)? == Some(m.descriptor.digest) {
        options.ui.debug(format!(
            "{}: manifest {repo}:{key} exists",
            short(&m.descriptor.digest)
        ));
        return Ok(false);
    }
    write::put_manifest(
        registry,
        repo,
        key,
        m.descriptor.media_type.as_str(),
        &m.bytes,
    )?;
    Ok(true)
}
