//! `compose push`: have an image (built exactly as `compose build` builds it and read
//! where the build keeps its blobs, or an OCI layout given with `--from`), then push it to
//! every reference. The build is reached only through [`super::build_staged()`], so
//! push stays a thin layer over the build on one side and [`crate::registry`] on the
//! other. Blob origins (the store's record) let a push mount blobs that another
//! repository of the same registry holds, across commands.

use super::build_staged;
use super::{BuildOptions, BuildResult};
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::image::OutputFormat;
use crate::platform::Platform;
use crate::registry::layout::LocalImage;
use crate::registry::push::{push_layout, PushOptions, PushReport};
use crate::registry::{ClientOptions, Reference, Registry};
use crate::sbom::SbomFormat;
use crate::session::Session;
use crate::store::Origins;
use crate::ui::Ui;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The build settings `push` honours, as `build` takes them.
#[derive(Debug, Clone, Default)]
pub struct BuildSettings {
    pub platform: Option<Platform>,
    pub locked: bool,
    pub compression: Option<Compression>,
    /// `--sbom`: the SBOM formats (else the manifest's `[image] sbom`).
    pub sbom: Option<SbomFormat>,
    /// `--sign-key`: sign the provenance with this Ed25519 key.
    pub sign_key: Option<PathBuf>,
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
    /// The store's record of where blobs live: read to mount, written after each push.
    pub origins: Option<Origins>,
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
/// cache, the SBOM and provenance the manifest or the settings ask for) and push it from
/// where the build keeps its blobs. The build result comes back for `--metadata-file`.
pub fn build_and_push(
    session: &Session,
    settings: &BuildSettings,
    request: &PushRequest,
) -> Result<(BuildResult, Vec<Pushed>)> {
    let image = &session.manifest().image;
    let references = resolve(&request.references, Some((&image.name, &image.tag)))?;
    let (built, staged) = build_staged(
        session,
        &BuildOptions {
            format: OutputFormat::Oci,
            output: PathBuf::new(),
            platform: settings.platform.clone(),
            locked: settings.locked,
            compression: settings.compression,
            sbom: settings.sbom,
            sign_key: settings.sign_key.clone(),
            strict: false,
            load: None,
        },
    )?;
    let local = LocalImage::from_store(&staged.store, &staged.built.assembled.index_json)?;
    let pushed = push_references(&local, &references, request)?;
    super::build::export_remote_cache(session)?;
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
    push_references(&LocalImage::open(path)?, &references, request)
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

/// Push one image to every reference: one connection per registry; a blob is mounted
/// from a repository of the same registry that an earlier reference of this command, or
/// the record of origins, says holds it. Each successful push is recorded there.
fn push_references(
    image: &LocalImage,
    references: &[Reference],
    request: &PushRequest,
) -> Result<Vec<Pushed>> {
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
            known_sources: known_sources(request.origins.as_ref(), image, &host),
        };
        request
            .ui
            .info(format!("pushing {} to {r}", image.digest()));
        let report = push_layout(registry, image, r, &options)?;
        let attached = match report.referrers_by {
            Some(by) => format!("; {} artifacts attached ({by})", report.referrers),
            None => String::new(),
        };
        request.ui.info(format!(
            "{r}: {} blobs uploaded ({} bytes), {} mounted, {} present; {} manifests written{attached}",
            report.uploaded,
            report.uploaded_bytes,
            report.mounted,
            report.existing,
            report.manifests_put
        ));
        if let Some(origins) = &request.origins {
            let digests = image.blobs.iter().map(|b| &b.digest);
            if let Err(e) = origins.record(digests, &host, &r.repository) {
                request
                    .ui
                    .debug(format!("the record of blob origins was not updated: {e}"));
            }
        }
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

/// Per blob of `image`, the repositories of `host` the record of origins names.
fn known_sources(
    origins: Option<&Origins>,
    image: &LocalImage,
    host: &str,
) -> BTreeMap<Sha256Digest, Vec<String>> {
    let Some(origins) = origins else {
        return BTreeMap::new();
    };
    image
        .blobs
        .iter()
        .map(|b| {
            let repos = origins
                .lookup(&b.digest)
                .into_iter()
                .filter(|o| o.registry == host)
                .map(|o| o.repository)
                .collect::<Vec<_>>();
            (b.digest, repos)
        })
        .filter(|(_, repos)| !repos.is_empty())
        .collect()
}
