//! The base image of a session (`[image] base`): resolved once per command with the pin
//! the manifest or the lock gives (for `compose lock`, a tag may be resolved again), its
//! layers brought into the store per platform when an image is produced, its merged tree
//! (the bottom our layers merge over) and its configuration under `[config]`.
//!
//! The library that does the work is [`crate::base`]; this module only decides what to
//! ask of it for a command, and keeps what it answered for the rest of the command.

use super::Session;
use crate::base::{self, apply, BaseImage, BlobCache, LockedBase, ResolveOptions, Source};
use crate::digest::Sha256Digest;
use crate::image::ImageConfig;
use crate::lock::{Lock, LockError};
use crate::manifest::BaseSpec;
use crate::merge::Tree;
use crate::platform::Platform;
use crate::registry::ClientOptions;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How a command pins the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasePinning {
    /// A build: the manifest's `@sha256:` or the lock's digest; a registry tag pinned
    /// nowhere is an error.
    Locked,
    /// `compose lock`: like [`BasePinning::Locked`], but a tag pinned nowhere is resolved;
    /// with `update`, a tag is resolved again even when the old lock pins it.
    Lock { update: bool },
}

/// A resolved base and what the command fetched and merged of it so far.
pub struct SessionBase {
    /// The base, resolved for every platform of the manifest.
    pub resolved: base::ResolvedBase,
    source: Source,
    cache: BlobCache,
    offline: bool,
    /// Per platform, the cache files of the layer blobs, once fetched.
    paths: Mutex<BTreeMap<String, Vec<PathBuf>>>,
    /// Per platform, the base's merged tree, once read.
    trees: Mutex<BTreeMap<String, Tree>>,
    /// The decompressed base layers the trees read file contents from.
    scratch: tempfile::TempDir,
}

impl SessionBase {
    /// `[image] base` as written, for messages.
    pub fn written(&self) -> &str {
        &self.resolved.spec.written
    }

    /// The base's image for `p` (resolution covered every platform of the manifest).
    pub fn image(&self, p: &Platform) -> Result<&BaseImage> {
        self.resolved.image(p).ok_or_else(|| {
            Error::usage(
                format!("base `{}` was not resolved for {p}", self.written()),
                Some("add the platform to [image] platforms"),
            )
        })
    }

    /// What the lock records for this base.
    pub fn locked(&self) -> LockedBase {
        LockedBase::of(&self.resolved)
    }

    /// The cache files of the base's layers for `p` (fetched, verified, in parallel,
    /// when the cache lacks them).
    pub fn layer_paths(&self, s: &Session, p: &Platform) -> Result<Vec<PathBuf>> {
        let key = p.to_string();
        if let Some(paths) = lock(&self.paths).get(&key) {
            return Ok(paths.clone());
        }
        let one = base::ResolvedBase {
            images: vec![self.image(p)?.clone()],
            ..self.resolved.clone()
        };
        let mut fetched = base::fetch_layers(
            &one,
            &self.source,
            &self.cache,
            self.offline,
            s.jobs(),
            s.ui(),
        )?;
        let paths = fetched.pop().unwrap_or_default();
        lock(&self.paths).insert(key, paths.clone());
        Ok(paths)
    }

    /// The base's merged tree for `p`, read from its layers (file contents included).
    pub fn tree(&self, s: &Session, p: &Platform) -> Result<Tree> {
        let key = p.to_string();
        if let Some(t) = lock(&self.trees).get(&key) {
            return Ok(t.clone());
        }
        let paths = self.layer_paths(s, p)?;
        s.ui().debug(format!(
            "base `{}`: reading its layers for {p}",
            self.written()
        ));
        let (tree, warnings) =
            apply::tree(self.image(p)?, &paths, self.scratch.path(), self.written())?;
        for w in warnings {
            s.ui().debug(w);
        }
        lock(&self.trees).insert(key, tree.clone());
        Ok(tree)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The registry options a base is pulled with: the credentials podman and Docker keep,
/// `--insecure-registry` and `SCRATCH_INSECURE_REGISTRIES`, and the session's log.
fn client_options(s: &Session) -> ClientOptions {
    let env = std::env::var("SCRATCH_INSECURE_REGISTRIES").unwrap_or_default();
    ClientOptions {
        insecure: s
            .insecure_registries()
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(env.as_str()))
            .flat_map(crate::registry::client::parse_insecure)
            .collect(),
        ui: s.ui().clone(),
        ..ClientOptions::default()
    }
}

impl Session {
    /// The base, resolved with the lock's pins on first use; `None` without `[image] base`.
    pub fn base(&self) -> Result<Option<Arc<SessionBase>>> {
        if self.manifest().image.base.is_none() {
            return Ok(None);
        }
        if let Some(b) = lock(&self.base).as_ref() {
            return Ok(Some(b.clone()));
        }
        let recorded = self.read_lock()?;
        self.resolve_base(recorded.as_ref(), BasePinning::Locked)
    }

    /// Resolve the base with `pinning` against the lock `recorded` (replacing any earlier
    /// resolution of this session); `None` without `[image] base`.
    pub fn resolve_base(
        &self,
        recorded: Option<&Lock>,
        pinning: BasePinning,
    ) -> Result<Option<Arc<SessionBase>>> {
        let Some(spec) = &self.manifest().image.base else {
            return Ok(None);
        };
        let pin = super::pins::base_pin(spec, recorded, pinning).map_err(|e| self.named(e))?;
        let platforms = &self.manifest().image.platforms;
        let b = Arc::new(self.open_image(spec, pin, pinning, platforms)?);
        *lock(&self.base) = Some(b.clone());
        Ok(Some(b))
    }

    /// Resolve `spec` from `pin` (a tag too when `pinning` allows) for `platforms`.
    fn open_image(
        &self,
        spec: &BaseSpec,
        pin: Option<Sha256Digest>,
        pinning: BasePinning,
        platforms: &[Platform],
    ) -> Result<SessionBase> {
        let source = Source::open(spec, &client_options(self))?;
        let cache = BlobCache::new(self.store().clone());
        let options = ResolveOptions {
            offline: self.offline,
            allow_tag: matches!(pinning, BasePinning::Lock { .. }),
        };
        let resolved = base::resolve(spec, pin, platforms, &source, &cache, options)?;
        self.ui().debug(format!(
            "`{}` resolved to {}",
            spec.written, resolved.digest
        ));
        Ok(SessionBase {
            resolved,
            source,
            cache,
            offline: self.offline,
            paths: Mutex::default(),
            trees: Mutex::default(),
            scratch: self.store().temp_dir()?,
        })
    }

    /// The image of a `[[layer]] image`, resolved with the lock's pins on first use, for
    /// every platform a layer takes it on.
    pub fn layer_image(&self, spec: &BaseSpec) -> Result<Arc<SessionBase>> {
        if let Some(b) = lock(&self.images).get(&spec.lock_key()) {
            return Ok(b.clone());
        }
        let recorded = self.read_lock()?;
        self.resolve_layer_image(spec, recorded.as_ref(), BasePinning::Locked)
    }

    /// Resolve the image of a `[[layer]] image` with `pinning` against the lock `recorded`.
    pub fn resolve_layer_image(
        &self,
        spec: &BaseSpec,
        recorded: Option<&Lock>,
        pinning: BasePinning,
    ) -> Result<Arc<SessionBase>> {
        let key = spec.lock_key();
        let mut platforms: Vec<Platform> = Vec::new();
        for layer in &self.manifest().layers {
            if layer
                .image
                .as_ref()
                .is_some_and(|i| i.source.lock_key() == key)
            {
                for p in &self.manifest().image.platforms {
                    if layer.applies_to(p) && !platforms.contains(p) {
                        platforms.push(p.clone());
                    }
                }
            }
        }
        let pin =
            super::pins::layer_image_pin(spec, recorded, pinning).map_err(|e| self.named(e))?;
        let b = Arc::new(self.open_image(spec, pin, pinning, &platforms)?);
        lock(&self.images).insert(key, b.clone());
        Ok(b)
    }

    /// Every `[[layer]] image` of the manifest, once each by its lock key.
    pub fn image_layer_specs(&self) -> Vec<&BaseSpec> {
        let mut out: Vec<&BaseSpec> = Vec::new();
        for l in &self.manifest().layers {
            if let Some(i) = &l.image {
                if !out.iter().any(|s| s.lock_key() == i.source.lock_key()) {
                    out.push(&i.source);
                }
            }
        }
        out
    }

    /// What the lock records for the images of `[[layer]] image` (each resolved).
    pub fn locked_images(&self) -> Result<Vec<LockedBase>> {
        self.image_layer_specs()
            .into_iter()
            .map(|spec| Ok(self.layer_image(spec)?.locked()))
            .collect()
    }

    /// The tree a platform's first layer merges over: the base's, else an empty one.
    pub fn bottom_tree(&self, p: &Platform) -> Result<Tree> {
        match self.base()? {
            Some(b) => b.tree(self, p),
            None => Ok(Tree::new()),
        }
    }

    /// The image configuration of platform `p`: `[config]` over the base's, key by key.
    pub fn image_config(&self, p: &Platform) -> Result<ImageConfig> {
        match self.base()? {
            Some(b) => Ok(apply::config(b.image(p)?, &self.manifest().config)),
            None => Ok(self.manifest().config.clone()),
        }
    }

    /// The base's image manifest digest for `p`, which keys our first layer.
    pub fn base_manifest(&self, p: &Platform) -> Result<Option<Sha256Digest>> {
        match self.base()? {
            Some(b) => Ok(Some(b.image(p)?.manifest.digest)),
            None => Ok(None),
        }
    }
}

impl Session {
    /// A pin error naming this session's manifest and lock files.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::Lock(l) => Error::Lock(l.named(&self.file_names())),
            other => other,
        }
    }
}

/// A base pin that disagrees between scratch.toml and scratch.lock.
pub(super) fn pin_mismatch(spec: &BaseSpec, manifest: Sha256Digest, lock: Sha256Digest) -> Error {
    LockError::PinMismatch {
        input: format!("base `{}`", spec.written),
        manifest,
        lock,
        // The pin is the `@sha256:` of the reference; the files get their real names
        // where the session renames pin errors (`LockError::named`).
        at: None,
        names: Box::default(),
    }
    .into()
}
