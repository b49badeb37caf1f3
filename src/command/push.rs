//! `compose push`: have an OCI layout (built exactly as `compose build` builds it, into a
//! temporary directory, or given with `--from`), then push that layout to every reference.
//! The build is reached only through [`super::build()`], so push stays a thin layer over
//! the build on one side and [`crate::registry`] on the other.

use super::{build, BuildOptions, BuildResult};
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::image::OutputFormat;
use crate::platform::Platform;
use crate::registry::layout::LocalImage;
use crate::registry::push::{push_layout, PushOptions, PushReport};
use crate::registry::{ClientOptions, Reference, Registry};
use crate::session::Session;
use crate::ui::Ui;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The build settings `push` honours, as `build` takes them.
#[derive(Debug, Clone, Default)]
pub struct BuildSettings {
    pub platform: Option<Platform>,
    pub locked: bool,
    pub compression: Option<Compression>,
}

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The references as the user wrote them; empty means the manifest's `name:tag`.
    pub references: Vec<String>,
    /// How to reach registries (TLS, plain HTTP, credentials, retries).
    pub client: ClientOptions,
    /// Parallel blob uploads, at most.
    pub jobs: usize,
    /// Logs and progress.
    pub ui: Ui,
}

/// One reference pushed: what it now points to.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference, normalised, tag filled in (`docker.io/library/app:1`).
    pub reference: Reference,
    /// The digest it points to: the one `compose build` prints.
    pub digest: Sha256Digest,
    /// What the push did.
    pub report: PushReport,
}

/// Build the session's image as `compose build --format oci` would (same bytes, same layer
/// cache) into a temporary layout and push it. The build result comes back for
/// `--metadata-file`.
pub fn build_and_push(
    session: &Session,
    settings: &BuildSettings,
    request: &PushRequest,
) -> Result<(BuildResult, Vec<Pushed>)> {
    let image = &session.manifest().image;
    let references = resolve(&request.references, Some((&image.name, &image.tag)))?;
    let dir = tempfile::Builder::new()
        .prefix("compose-push-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let layout = dir.path().join("layout");
    let built = build(
        session,
        &BuildOptions {
            format: OutputFormat::Oci,
            output: layout.clone(),
            platform: settings.platform.clone(),
            locked: settings.locked,
            compression: settings.compression,
            sbom: None,
            sign_key: None,
            strict: false,
        },
    )?;
    let pushed = push_references(&layout, &references, request)?;
    Ok((built, pushed))
}

/// Push the OCI layout or oci-archive at `path` unchanged. Without references, the
/// manifest's `name:tag` when a manifest is given.
pub fn push_path(
    path: &Path,
    default: Option<(&str, &str)>,
    request: &PushRequest,
) -> Result<Vec<Pushed>> {
    let references = resolve(&request.references, default)?;
    push_references(path, &references, request)
}

/// The references to push to: as given (a missing tag is the manifest's), else the
/// manifest's `name:tag`.
fn resolve(given: &[String], manifest: Option<(&str, &str)>) -> Result<Vec<Reference>> {
    if given.is_empty() {
        let Some((name, tag)) = manifest else {
            return Err(Error::usage(
                "no reference to push to",
                Some("name one: compose push --from PATH REGISTRY/REPOSITORY[:TAG]"),
            ));
        };
        return Ok(vec![Reference::parse(&format!("{name}:{tag}"))?]);
    }
    let tag = manifest.map_or("latest", |(_, t)| t);
    given
        .iter()
        .map(|r| Ok(Reference::parse(r)?.or_tag(tag)))
        .collect()
}

/// Push one layout to every reference: one connection per registry; a later reference
/// on the same registry mounts the blobs the earlier ones uploaded.
fn push_references(
    path: &Path,
    references: &[Reference],
    request: &PushRequest,
) -> Result<Vec<Pushed>> {
    let image = LocalImage::open(path)?;
    let mut registries: BTreeMap<String, Registry> = BTreeMap::new();
    let mut repos_done: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in references {
        let host = r.api_host().to_string();
        if !registries.contains_key(&host) {
            registries.insert(host.clone(), Registry::connect(&host, &request.client)?);
        }
        let registry = &registries[&host];
        let done = repos_done.entry(host.clone()).or_default();
        let options = PushOptions {
            jobs: request.jobs,
            ui: request.ui.clone(),
            mount_from: done.clone(),
        };
        request
            .ui
            .info(format!("pushing {} to {r}", image.digest()));
        let report = push_layout(registry, &image, r, &options)?;
        request.ui.info(format!(
            "{r}: {} blobs uploaded ({} bytes), {} mounted, {} present; {} manifests written",
            report.uploaded,
            report.uploaded_bytes,
            report.mounted,
            report.existing,
            report.manifests_put
        ));
        done.push(r.repository.clone());
        out.push(Pushed {
            reference: Reference {
                digest: None,
                ..r.clone()
            },
            digest: image.digest(),
            report,
        });
    }
    Ok(out)
}
