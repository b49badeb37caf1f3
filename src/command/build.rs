//! `compose build`: identify the inputs, check the lock, produce the image (or merge the
//! rootfs) and write the output.

use super::load::{Engine, Loaded};
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::image::{self, BlobStore, OutputFormat};
use crate::lock::{self, OutputRecord, Staleness};
use crate::manifest::LayerSpec;
use crate::platform::Platform;
use crate::preflight::{self, report as findings_report, Finding};
use crate::sbom::SbomFormat;
use crate::session::inputs::Inputs;
use crate::session::produce::Built;
use crate::session::staleness;
use crate::session::supply::{PlatformDocuments, Request};
use crate::session::{OutputSettings, Session};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The options of one `compose build`.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub format: OutputFormat,
    pub output: PathBuf,
    pub platform: Option<Platform>,
    pub locked: bool,
    pub compression: Option<Compression>,
    /// `--sbom`: the SBOM formats (else the manifest's `[image] sbom`).
    pub sbom: Option<SbomFormat>,
    /// `--sign-key`: an Ed25519 private key (PKCS#8 PEM) to sign the provenance with.
    pub sign_key: Option<PathBuf>,
    /// Preflight findings are errors (`--strict`; `[image] strict = true` also sets it).
    pub strict: bool,
    /// `--load`: also load the image into this engine.
    pub load: Option<Engine>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image manifest digest (the nested index with several platforms; the tar for rootfs).
    pub digest: Sha256Digest,
    /// Per platform, the digests written (empty for rootfs), as the lock records them.
    pub outputs: BTreeMap<String, OutputRecord>,
    /// The SBOM and provenance files written beside the output.
    pub documents: Vec<PathBuf>,
    /// Per platform, what preflight found (warnings; a strict build with any fails).
    pub preflight: BTreeMap<String, Vec<Finding>>,
    /// The names the outputs carry (`NAME:TAG`; none for rootfs).
    pub names: Vec<String>,
    /// What `--load` loaded.
    pub loaded: Option<Loaded>,
}

/// `compose build`: fetch, merge, write; returns the digest to print.
pub fn build(s: &Session, o: &BuildOptions) -> Result<BuildResult> {
    let (mut result, staged) = match run(s, o)? {
        Outcome::Written(result) => return Ok(result),
        Outcome::Staged(result, staged) => (result, staged),
    };
    write_output(
        s,
        &staged.store,
        &staged.built,
        o.format,
        staged.settings,
        &o.output,
    )?;
    if !staged.docs.is_empty() && o.output.as_os_str() != "-" {
        result.documents = super::documents::write_beside(&o.output, &staged.docs)?;
        for d in &result.documents {
            s.ui().debug(format!("{} written", d.display()));
        }
    }
    export_remote_cache(s)?;
    if let Some(engine) = o.load {
        let names = s.image_names()?;
        let epoch = staged.settings.epoch;
        let assembled = &staged.built.assembled;
        result.loaded = Some(super::load::load(
            engine,
            &staged.store,
            assembled,
            &names,
            epoch,
        )?);
    }
    Ok(result)
}

/// Write every layer the build used to the registry-backed cache (`--cache-to`), when
/// one is attached: after the output, so a cache that cannot be written costs no output.
pub(super) fn export_remote_cache(s: &Session) -> Result<()> {
    if let Some(remote) = s.remote_cache() {
        remote.export(&s.layer_cache())?;
    }
    Ok(())
}

/// Build the image as `compose build --format oci` would (same checks, same bytes) but
/// write no output: the image stays in the staging store, for `compose push`.
pub fn build_staged(s: &Session, o: &BuildOptions) -> Result<(BuildResult, Staged)> {
    match run(
        s,
        &BuildOptions {
            format: OutputFormat::Oci,
            ..o.clone()
        },
    )? {
        Outcome::Staged(result, staged) => Ok((result, *staged)),
        Outcome::Written(_) => unreachable!("an OCI build is staged, not written"),
    }
}

/// What [`run`] came to: a rootfs tar written, or an image staged.
enum Outcome {
    Written(BuildResult),
    Staged(BuildResult, Box<Staged>),
}

/// Everything of a build but writing the image.
fn run(s: &Session, o: &BuildOptions) -> Result<Outcome> {
    if o.output.as_os_str() == "-" && o.format == OutputFormat::Oci {
        return Err(Error::usage(
            "-o - writes to stdout, which cannot hold an OCI layout directory",
            Some("use --format oci-archive (the same layout as one tar) with -o -"),
        ));
    }
    let settings = OutputSettings::current(s, o.compression)?;
    if o.format == OutputFormat::DockerArchive
        && matches!(settings.compression, Compression::Zstd(_))
    {
        return Err(Error::usage(
            "docker-archive cannot hold zstd layers: Docker 20.10 fails to load them",
            Some("use --compression gzip, or --format oci-archive for zstd"),
        ));
    }
    check_load(o, settings.compression)?;
    let platforms = select_platforms(s, o)?;
    if o.format == OutputFormat::DockerArchive {
        refuse_zstd_base(s, &platforms)?;
    }
    let request = request(s, o)?;
    let lock = s.read_lock()?;
    // Local inputs are read in place (and checked afterwards) except for a rootfs,
    // which is written before such a check could stop it.
    let in_place = o.format != OutputFormat::Rootfs;
    let mut inputs = s.identify(lock.as_ref(), &platforms, true, in_place)?;
    s.ui().debug("inputs identified");
    let judge = |inputs: &Inputs, outputs, built| {
        let current = staleness::current_lock(s, lock.as_ref(), settings, inputs, outputs)?;
        Ok::<_, Error>(staleness::judge(s, lock.as_ref(), &current, built))
    };
    // Inputs and settings first: when they differ, so do the images, and building them
    // only to say so would be wasted.
    let stale = judge(&inputs, BTreeMap::new(), None)?;
    report(s, o, &stale)?;
    if let (Some(remote), Some(l), true) = (s.remote_cache(), &lock, stale.is_empty()) {
        // The lock's digests hold for this build: a cached layer must match them.
        remote.expect(l.outputs.clone());
    }
    let staging = s.store().temp_dir()?;
    let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    let layer_cache = s.layer_cache();
    // Then the images, once the inputs and settings are known to be the recorded ones:
    // those of this build, and with `--locked` every other platform's too (the lock is
    // law for all of them); a rootfs has no image of its own to compare.
    let checked = match (&lock, stale.is_empty()) {
        (Some(_), true) if o.locked => s.manifest().image.platforms.clone(),
        (Some(_), true) => platforms.clone(),
        _ => Vec::new(),
    };
    let others: Vec<Platform> = match o.format {
        OutputFormat::Rootfs => checked,
        _ => checked
            .into_iter()
            .filter(|p| !platforms.contains(p))
            .collect(),
    };
    let mut outputs = BTreeMap::new();
    if !others.is_empty() {
        let built = s.produce(&others, settings, &mut inputs, &store, Some(&layer_cache))?;
        outputs = built.records();
    }
    let strict = o.strict || s.manifest().image.strict;
    if o.format == OutputFormat::Rootfs {
        if lock.is_some() && stale.is_empty() {
            report(s, o, &judge(&inputs, outputs, Some(&store))?)?;
        }
        s.ensure_blobs(&mut inputs)?;
        let p = &platforms[0];
        let specs: Vec<&LayerSpec> = s.manifest().layers_for(p).collect();
        let bottom = s.bottom_tree(p)?;
        let tree = s
            .merge_layers(&specs, &inputs, bottom, true, p, None, |_, _, _, _| Ok(()))?
            .unwrap_or_default();
        let entries = tree.entries();
        drop(tree);
        let findings: BTreeMap<String, Vec<Finding>> = [(
            p.to_string(),
            preflight::check(&entries, &s.image_config(p)?, p),
        )]
        .into();
        findings_report::enforce(&findings, strict, |w| s.ui().warn(w))?;
        let digest = image::write_rootfs(&entries, settings.epoch, &o.output)?;
        return Ok(Outcome::Written(BuildResult {
            digest,
            outputs: BTreeMap::new(),
            documents: Vec::new(),
            preflight: findings,
            names: Vec::new(),
            loaded: None,
        }));
    }
    let stage = Stage {
        staging,
        store,
        platforms,
        inputs,
        request,
        settings,
        strict,
        stale,
        outputs,
    };
    let (result, staged) = assemble(s, o, lock.as_ref(), stage)?;
    Ok(Outcome::Staged(result, Box::new(staged)))
}

/// An image assembled (with its SBOM and provenance attached when asked for) in the
/// build's staging store and not written anywhere: `compose push` reads its blobs where
/// they are (the staging store, the content store, the layer cache).
pub struct Staged {
    /// Removed when dropped.
    _staging: tempfile::TempDir,
    /// Every blob of the image, and `index.json`'s bytes in `built.assembled`.
    pub store: BlobStore,
    pub built: Built,
    docs: Vec<PlatformDocuments>,
    settings: OutputSettings,
}

/// What `build` has gathered before assembling the image.
struct Stage {
    staging: tempfile::TempDir,
    store: BlobStore,
    platforms: Vec<Platform>,
    inputs: Inputs,
    request: Request,
    settings: OutputSettings,
    strict: bool,
    stale: Vec<Staleness>,
    outputs: BTreeMap<String, OutputRecord>,
}

/// Produce the images, attach the documents, run preflight and judge the lock.
fn assemble(
    s: &Session,
    o: &BuildOptions,
    lock: Option<&crate::lock::Lock>,
    stage: Stage,
) -> Result<(BuildResult, Staged)> {
    let Stage {
        staging,
        store,
        platforms,
        mut inputs,
        request,
        settings,
        strict,
        stale,
        mut outputs,
    } = stage;
    let layer_cache = s.layer_cache();
    let judge = |inputs: &Inputs, outputs, built| {
        let current = staleness::current_lock(s, lock, settings, inputs, outputs)?;
        Ok::<_, Error>(staleness::judge(s, lock, &current, built))
    };
    let built = s.produce(
        &platforms,
        settings,
        &mut inputs,
        &store,
        Some(&layer_cache),
    )?;
    let mut built = built;
    let mut docs: Vec<PlatformDocuments> = Vec::new();
    if !request.is_empty() {
        s.ensure_blobs(&mut inputs)?;
        docs = s.supply_chain(&built, &inputs, settings, &request)?;
        if matches!(o.format, OutputFormat::Oci | OutputFormat::OciArchive) {
            let attachments = super::documents::attachments(&docs);
            image::referrer::attach(&store, &mut built.assembled, &attachments, settings.epoch)?;
        }
    }
    let findings = s.preflight(&platforms, settings, &mut inputs)?;
    inputs.check_unchanged()?;
    findings_report::enforce(&findings, strict, |w| s.ui().warn(w))?;
    let mut records = built.records();
    // The SBOM digests the lock records: those of the formats `[image] sbom` names.
    let locked_formats = s.manifest().image.sbom;
    for d in &docs {
        if let Some(r) = records.get_mut(&d.platform.to_string()) {
            let pick = |f: SbomFormat| {
                locked_formats
                    .is_some_and(|l| l.formats().contains(&f))
                    .then(|| d.sbom_digest(f))
                    .flatten()
            };
            r.spdx = pick(SbomFormat::Spdx);
            r.cyclonedx = pick(SbomFormat::CycloneDx);
        }
    }
    s.ui().debug("image assembled");
    if lock.is_some() && stale.is_empty() {
        outputs.extend(records.clone());
        report(s, o, &judge(&inputs, outputs, Some(&store))?)?;
    }
    let result = BuildResult {
        digest: built.assembled.top.digest,
        outputs: records,
        documents: Vec::new(),
        preflight: findings,
        names: s.image_names()?.iter().map(|n| n.repo_tag()).collect(),
        loaded: None,
    };
    let staged = Staged {
        _staging: staging,
        store,
        built,
        docs,
        settings,
    };
    Ok((result, staged))
}

/// `--load` needs an image of one platform that the engine can read.
fn check_load(o: &BuildOptions, compression: Compression) -> Result<()> {
    let Some(engine) = o.load else {
        return Ok(());
    };
    if o.format == OutputFormat::Rootfs {
        return Err(Error::usage(
            "--load needs an image, but --format rootfs writes only the merged tree",
            Some("leave out --format rootfs (or --load); `docker import rootfs.tar` makes an image of a rootfs tar"),
        ));
    }
    if engine == Engine::Docker && matches!(compression, Compression::Zstd(_)) {
        return Err(Error::usage(
            "--load=docker loads a docker-archive, which cannot hold zstd layers: Docker 20.10 fails to load them",
            Some("use --compression gzip with --load, or --load=podman"),
        ));
    }
    Ok(())
}

/// A docker-archive cannot hold a base's zstd layers (Docker 20.10 fails to load them), and
/// the base's blobs are never re-encoded.
fn refuse_zstd_base(s: &Session, platforms: &[Platform]) -> Result<()> {
    let Some(base) = s.base()? else {
        return Ok(());
    };
    for p in platforms {
        let image = base.image(p)?;
        if let Some(l) = image
            .layers
            .iter()
            .find(|l| l.compression == crate::base::oci::LayerCompression::Zstd)
        {
            return Err(Error::usage(
                format!(
                    "base `{}` has a zstd layer ({}) for {p}: docker-archive cannot hold zstd layers (Docker 20.10 fails to load them), and a base's layers are kept as they are",
                    base.written(),
                    l.blob.digest
                ),
                Some("use --format oci or oci-archive, or a base with gzip layers"),
            ));
        }
    }
    Ok(())
}

/// A stale lock: an error with `--locked`, else a warning per difference.
fn report(s: &Session, o: &BuildOptions, stale: &[Staleness]) -> Result<()> {
    if stale.is_empty() {
        return Ok(());
    }
    if o.locked {
        return Err(lock::LockError::Stale {
            items: stale.to_vec(),
            names: s.file_names(),
        }
        .into());
    }
    let names = s.file_names();
    for st in stale {
        s.ui().warn(format!("stale lock: {}", st.describe(&names)));
    }
    Ok(())
}

/// What to write besides the image: `--sbom` (else `[image] sbom`), and the provenance
/// whenever an SBOM or a signature is asked for.
fn request(s: &Session, o: &BuildOptions) -> Result<Request> {
    let sbom = o.sbom.or(s.manifest().image.sbom);
    let sign_key = match &o.sign_key {
        Some(path) => Some(crate::attest::keys::read_signing_key(path)?),
        None => None,
    };
    let req = Request {
        sbom,
        provenance: sbom.is_some() || sign_key.is_some(),
        sign_key,
    };
    if !req.is_empty() && o.format == OutputFormat::Rootfs {
        return Err(Error::usage(
            "--format rootfs writes no image, so there is no image manifest for an SBOM or provenance to describe",
            Some("build an oci, oci-archive or docker-archive image, or leave out --sbom, --sign-key and [image] sbom"),
        ));
    }
    Ok(req)
}

/// The platforms to build: `--platform` (which must be one of the manifest's), else all.
fn select_platforms(s: &Session, o: &BuildOptions) -> Result<Vec<Platform>> {
    let all = &s.manifest().image.platforms;
    match &o.platform {
        Some(p) if all.contains(p) => Ok(vec![p.clone()]),
        Some(p) => Err(Error::usage(
            format!(
                "--platform {p} is not one of the manifest's platforms ({})",
                join(all)
            ),
            Some("pick one of [image] platforms, or add it there"),
        )),
        None if all.len() > 1
            && matches!(o.format, OutputFormat::DockerArchive | OutputFormat::Rootfs) =>
        {
            Err(Error::usage(
                format!(
                    "the manifest lists several platforms ({}); --format {} holds one",
                    join(all),
                    o.format.name()
                ),
                Some("add --platform, for example --platform linux/amd64"),
            ))
        }
        None if all.len() > 1 && o.load.is_some() => Err(Error::usage(
            format!(
                "the manifest lists several platforms ({}); --load loads one",
                join(all)
            ),
            Some("add --platform, for example --platform linux/amd64"),
        )),
        None => Ok(all.clone()),
    }
}

/// Write the output, unless it is an archive file this store saw holding exactly these
/// bytes and nobody has touched since (then a rebuild with nothing changed reads and
/// writes nothing, whatever the image's size).
fn write_output(
    s: &Session,
    store: &BlobStore,
    built: &Built,
    format: OutputFormat,
    settings: OutputSettings,
    out: &Path,
) -> Result<()> {
    let names = s.image_names()?;
    let assembled = &built.assembled;
    let epoch = settings.epoch;
    let recipe = match out.as_os_str() == "-" {
        true => None,
        false => image::archive_recipe(assembled, format, &names, epoch)?,
    };
    if let Some(r) = &recipe {
        if s.store().output_unchanged(out, r) {
            s.ui()
                .debug(format!("{} unchanged since it was written", out.display()));
            return Ok(());
        }
    }
    let started = std::time::SystemTime::now();
    let before = std::fs::symlink_metadata(out).ok();
    // A blob an earlier build wrote into the layout and nobody changed since: its digest
    // is remembered with its identity (hashed once, the first time it is found settled).
    let known = |path: &Path, d: &Sha256Digest| {
        s.store()
            .local_digest(path, true)
            .is_ok_and(|(found, _)| found == *d)
    };
    image::write_output(store, assembled, format, &names, epoch, out, &known)?;
    if let (Some(r), Some(before)) = (&recipe, &before) {
        s.store().remember_output(out, before, started, r);
    }
    s.ui().debug(format!("{} written", out.display()));
    Ok(())
}

fn join(ps: &[Platform]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
