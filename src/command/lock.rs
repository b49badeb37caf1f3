//! `compose lock`: pin every input, build every platform to record the output digests,
//! and write the lock (or, with `--check`, say whether it would change).

use crate::image::BlobStore;
use crate::lock::{Lock, Staleness};
use crate::sbom::SbomFormat;
use crate::session::base::BasePinning;
use crate::session::inputs::Inputs;
use crate::session::pins::{self, Update};
use crate::session::supply::Request;
use crate::session::{staleness, OutputSettings, Session};
use crate::{Error, Result};

/// The options of `compose lock`.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// Write nothing; report whether the lock would change.
    pub check: bool,
    pub update: Update,
    /// Resolve `[image] base`'s tag again even when the lock pins it, so that `--check`
    /// reports a tag that moved (never done by default: a lock is a lock).
    pub refresh: bool,
}

/// What `compose lock` found.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    /// True when the lock file differs (or would differ, with `--check`) from before.
    pub changed: bool,
    /// What differs between the lock on disk and the one the manifest makes now
    /// ([`Staleness::NoLock`] when there is none); empty when it is fresh.
    pub findings: Vec<Staleness>,
    pub lock: Lock,
}

/// `compose lock`: pin every input, build every platform to record the output digests,
/// and write the lock (unless `check`).
pub fn lock(s: &Session, o: &LockOptions) -> Result<LockOutcome> {
    let settings = OutputSettings::current(s, None)?;
    let lock_path = s.lock_path();
    // An old lock at another compat level still supplies pins.
    let old = Lock::read_any_level(lock_path)?;
    if let Some(old) = &old {
        old.check_manifest(lock_path, &s.manifest().file)?;
    }
    let wanted = pins::for_lock(s.manifest(), old.as_ref(), &o.update);
    // A download of a pin the old lock records stops at the size it records.
    for e in old.iter().flat_map(|l| &l.inputs) {
        s.fetcher().expect_size(e.sha256, e.size);
    }
    let base_spec = s.manifest().image.base.as_ref();
    let update_base = base_spec.is_some_and(|b| o.update.covers_base(b));
    let update_image = |spec: &crate::manifest::BaseSpec| {
        !matches!(o.update, Update::Input(ref n) if n == "base") && o.update.covers_base(spec)
    };
    let images = s.image_layer_specs();
    if let Update::Input(name) = &o.update {
        if !wanted.iter().any(|(i, _)| o.update.covers(i))
            && !update_base
            && !images.iter().any(|i| update_image(i))
        {
            return Err(Error::usage(
                format!("--update {name}: no input of the manifest has that source"),
                Some("name an input by its URL or path as written in scratch.toml"),
            ));
        }
    }
    // The base: a tag pinned nowhere is resolved now, and again with --update/--refresh.
    let base = s.resolve_base(
        old.as_ref(),
        BasePinning::Lock {
            update: update_base || o.refresh,
        },
    )?;
    let mut locked_images = Vec::new();
    for spec in images {
        let pinning = BasePinning::Lock {
            update: update_image(spec) || o.refresh,
        };
        locked_images.push(s.resolve_layer_image(spec, old.as_ref(), pinning)?.locked());
    }
    // Local files are read in place, never copied into the store.
    let blobs = s.materialise_in_place(&wanted)?;
    let mut resolved = Inputs::complete(&wanted, &blobs);
    // Every use of an input, so that it is recorded for all the platforms using it.
    let locked = staleness::locked_inputs(s.manifest(), None, |i| resolved.known(i.kind, &i.key));
    let mut new = Lock::new(settings.epoch.0, settings.compression, locked);
    new.manifest = Some(s.manifest_name());
    new.base = base.map(|b| b.locked());
    new.images = locked_images;
    let staging = s.store().temp_dir()?;
    let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    let built = s.produce(
        &s.manifest().image.platforms,
        settings,
        &mut resolved,
        &store,
        Some(&s.layer_cache()),
    )?;
    resolved.check_unchanged()?;
    new.outputs = built.records();
    if let Some(sbom) = s.manifest().image.sbom {
        // The SBOM digests, so that `compose verify` proves them too.
        let req = Request {
            sbom: Some(sbom),
            ..Request::default()
        };
        for d in s.supply_chain(&built, &resolved, settings, &req)? {
            if let Some(r) = new.outputs.get_mut(&d.platform.to_string()) {
                r.spdx = d.sbom_digest(SbomFormat::Spdx);
                r.cyclonedx = d.sbom_digest(SbomFormat::CycloneDx);
            }
        }
    }
    new.normalise();
    // The recorded image stays in the store, so `verify` can later name the entries and
    // config fields a rebuild changed.
    for (d, _) in &built.assembled.blobs {
        s.store().keep_blob(&store.path(d), d)?;
    }
    let changes = staleness::judge(s, old.as_ref(), &new, Some(&store));
    // A lock written before locks recorded their manifest is not stale for that alone:
    // the next `compose lock` adds the line.
    let mut compared = new.clone();
    if old.as_ref().is_some_and(|o| o.manifest.is_none()) {
        compared.manifest = None;
    }
    let same_text =
        std::fs::read_to_string(lock_path).ok().as_deref() == Some(compared.to_toml().as_str());
    let changed = !changes.is_empty() || !same_text;
    if o.check {
        // The findings are results: the front end prints them.
        if !changed {
            s.ui()
                .info(format!("{} is up to date", lock_path.display()));
        }
    } else if new.write(lock_path)? {
        s.ui().info(format!("wrote {}", lock_path.display()));
    } else {
        s.ui()
            .info(format!("{} is up to date", lock_path.display()));
    }
    Ok(LockOutcome {
        changed,
        findings: changes,
        lock: new,
    })
}
