//! What every command shares: one manifest, its lock's path, the store and fetcher, the
//! user interface and the thread budget, and the stages they run in common.
//!
//! * [`settings`]: the epoch and compression, from the command line, manifest and
//!   environment, or as a lock recorded them;
//! * [`pins`]: the pins of each input, from the manifest and the lock;
//! * [`base`]: `[image] base` and the images of `[[layer]] image`, resolved once per
//!   command with their pins, fetched and merged per platform when an image needs them;
//! * [`inputs`]: identifying each input (its digest, as cheaply as it can be known) and
//!   bringing it into the store when a layer must be built: one map of input states;
//! * [`recipe`]: a layer spec as entries, and its layer-cache description, side by side;
//! * [`produce`]: layers merged, written or taken from the layer cache, and assembled
//!   into images;
//! * [`staleness`]: the one judgement of whether the lock still holds;
//! * [`check`]: preflight of each platform's final tree, and merging a tree without
//!   writing it (`compose tree`).
//!
//! The commands (`crate::command`) are small verbs over a [`Session`]; none reaches into
//! another.

pub mod base;
pub mod check;
mod error;
pub mod inputs;
pub mod pins;
pub mod produce;
pub mod recipe;
mod removals;
pub mod settings;
pub mod staleness;
pub mod supply;

pub use error::BuildError;
pub use removals::NothingRemoved;
pub use settings::OutputSettings;

use crate::fetch::{self, FetchOptions, Fetcher, MirrorRule};
use crate::image::{self, ImageName};
use crate::manifest::Manifest;
use crate::store::{Cache, LayerCache};
use crate::ui::Ui;
use crate::Result;
use std::path::{Path, PathBuf};

/// What the front end passes in: the global command-line options.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    pub manifest: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub mirrors: Vec<MirrorRule>,
    pub offline: bool,
    pub jobs: Option<usize>,
    pub quiet: bool,
    pub verbose: bool,
    /// Refuse local sources outside the manifest's folder (see
    /// [`crate::manifest::confine`]); also `SCRATCH_CONFINE_SOURCES=1`.
    pub confine_sources: bool,
    /// The lock file, instead of the one named after the manifest
    /// ([`crate::lock::lock_path`]).
    pub lockfile: Option<PathBuf>,
    /// `NAME[:TAG]` names for the image instead of `[image] name:tag` (`build -t`); a
    /// missing tag is `[image] tag`. They change no digest, only what the outputs call it.
    pub names: Vec<String>,
    /// Registries a base image may be pulled from over plain HTTP or unverified TLS
    /// (`--insecure-registry`; `SCRATCH_INSECURE_REGISTRIES` applies too).
    pub insecure_registries: Vec<String>,
}

/// One manifest, its store and settings: the state every command works on.
pub struct Session {
    manifest: Manifest,
    lock_path: PathBuf,
    fetcher: Fetcher,
    ui: Ui,
    jobs: usize,
    names: Vec<ImageName>,
    insecure_registries: Vec<String>,
    /// The registry-backed layer cache `build` and `push` attach ([`Session::attach_remote_cache`]).
    remote_cache: std::sync::OnceLock<crate::cache::RemoteCache>,
    offline: bool,
    /// `[image] base`, once resolved ([`Session::base`]).
    base: std::sync::Mutex<Option<std::sync::Arc<base::SessionBase>>>,
    /// The images of `[[layer]] image`, by lock key, once resolved.
    images: std::sync::Mutex<std::collections::BTreeMap<String, std::sync::Arc<base::SessionBase>>>,
}

impl Session {
    /// Load the manifest and open the store.
    pub fn new(o: SessionOptions) -> Result<Session> {
        let ui = Ui::new(o.quiet, o.verbose);
        let manifest = Manifest::load(&o.manifest)?;
        let confine = crate::manifest::confine::wanted(o.confine_sources).map_err(|m| {
            crate::Error::usage(m, Some("set it to 1 to confine sources, or unset it"))
        })?;
        if confine {
            manifest.check_confined()?;
        }
        if let (Some(base), true) = (&manifest.image.base, manifest.image.squash) {
            return Err(crate::Error::usage(
                format!(
                    "{}: [image] squash cannot be used with [image] base `{base}`: the base's layers are kept as they are",
                    manifest.file.display()
                ),
                Some("remove `squash = true`, or take the base's root filesystem as a `tar` layer and squash that"),
            ));
        }
        let lock_path = o
            .lockfile
            .unwrap_or_else(|| crate::lock::lock_path(&manifest));
        let jobs = o
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut mirrors = fetch::mirrors_from_env()?;
        mirrors.extend(o.mirrors);
        let mut fetch_options =
            FetchOptions::new(o.cache_dir.unwrap_or_else(crate::store::default_cache_dir));
        fetch_options.mirrors = mirrors;
        fetch_options.offline = o.offline;
        let offline = o.offline;
        fetch_options.jobs = jobs;
        fetch_options.ui = ui.clone();
        let fetcher = Fetcher::new(fetch_options)?;
        let mut names: Vec<ImageName> = Vec::new();
        for n in &o.names {
            let name = ImageName::parse(n, &manifest.image.tag).map_err(|e| {
                crate::Error::usage(
                    format!("-t/--tag {n}: {e}"),
                    Some("write NAME[:TAG] with a lowercase name, e.g. -t registry.example.com/team/app:1.0 (a missing :TAG is [image] tag)"),
                )
            })?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Session {
            manifest,
            lock_path,
            fetcher,
            ui,
            jobs,
            names,
            insecure_registries: o.insecure_registries,
            remote_cache: std::sync::OnceLock::new(),
            offline,
            base: Default::default(),
            images: Default::default(),
        })
    }

    /// The manifest this session works on.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the manifest's lock lives.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// The manifest's lock, when there is one at this compose's compat level; a lock made
    /// from another manifest is refused.
    pub fn read_lock(&self) -> Result<Option<crate::lock::Lock>> {
        let lock = crate::lock::Lock::read(&self.lock_path)?;
        if let Some(l) = &lock {
            l.check_manifest(&self.lock_path, &self.manifest.file)?;
        }
        Ok(lock)
    }

    /// How the lock names this session's manifest ([`crate::lock::manifest_name`]).
    pub fn manifest_name(&self) -> String {
        crate::lock::manifest_name(&self.lock_path, &self.manifest.file)
    }

    /// The manifest's and the lock's file names, for messages.
    pub fn file_names(&self) -> crate::lock::FileNames {
        crate::lock::FileNames::of(&self.manifest.file, &self.lock_path)
    }

    /// The store (the cache directory).
    pub fn store(&self) -> &Cache {
        self.fetcher.cache()
    }

    /// The fetcher of remote inputs.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Where logs, warnings and progress go.
    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    /// Registries reached over plain HTTP or unverified TLS (besides the environment's).
    pub fn insecure_registries(&self) -> &[String] {
        &self.insecure_registries
    }

    /// Worker threads, at most.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The layer cache in this session's store.
    pub fn layer_cache(&self) -> LayerCache {
        LayerCache::new(self.store().clone())
    }

    /// Read (after the local layer cache misses) and write the layer cache in a registry
    /// for the builds of this session. Only `build` and `push` do: the digests `lock`
    /// records and `verify` proves come from the inputs alone. A second call is ignored.
    pub fn attach_remote_cache(&self, cache: crate::cache::RemoteCache) {
        let _ = self.remote_cache.set(cache);
    }

    /// The registry-backed layer cache, when one is attached.
    pub fn remote_cache(&self) -> Option<&crate::cache::RemoteCache> {
        self.remote_cache.get()
    }

    /// The image's name and tag from `[image]`.
    pub fn image_name(&self) -> Result<ImageName> {
        ImageName::new(&self.manifest.image.name, &self.manifest.image.tag).map_err(name_error)
    }

    /// The names this run gives the image: those of `build -t` when there are any, else
    /// `[image] name:tag`. Names change no digest: they go into `index.json`'s annotations
    /// and a docker-archive's `RepoTags`.
    pub fn image_names(&self) -> Result<Vec<ImageName>> {
        match self.names.is_empty() {
            true => Ok(vec![self.image_name()?]),
            false => Ok(self.names.clone()),
        }
    }
}

fn name_error(e: image::NameError) -> crate::Error {
    crate::Error::Image(image::ImageError::Name(e))
}
