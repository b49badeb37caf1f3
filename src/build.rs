//! The orchestration of `compose lock` and `compose build`: the pipeline's stages in order.
//!
//! manifest → pins (manifest + lock) → fetch → read each layer's inputs → merge → write
//! layers → assemble the image → write the output. Each stage lives in its own module;
//! this one only wires them together and decides what is stale.

use crate::compression::Compression;
use crate::diff::{self, DiffOptions};
use crate::digest::{HashingWriter, Sha256Digest};
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::epoch::Epoch;
use crate::fetch::cache::{LocalInput, Snapshot};
use crate::fetch::{self, Blob, FetchOptions, FetchRequest, Fetcher, MirrorRule};
use crate::image::LayerBlob;
use crate::image::{self, BlobStore, HistoryEntry, ImageName, OutputFormat, PlatformImage};
use crate::layer::{self, local, InputFormat, TarWriter};
use crate::layer_cache::{CachedLayer, KeyBuilder, LayerCache, LayerKey};
use crate::lock::{self, InputKind, Lock};
use crate::lock::{LayerRecord, OutputRecord, PinnedInput, Staleness};
use crate::manifest::InputRef;
use crate::manifest::{FileSource, FileSpec, LayerSpec, Location, Manifest, SourceSpec};
use crate::merge::{MergeOptions, Tree};
use crate::platform::Platform;
use crate::ui::Ui;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
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
}

/// The output formats of `compose build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oci,
    OciArchive,
    DockerArchive,
    Rootfs,
}

impl Format {
    /// `out` for a layout directory, `out.tar` for the tar formats.
    pub fn default_output(&self) -> PathBuf {
        match self {
            Format::Oci => PathBuf::from("out"),
            _ => PathBuf::from("out.tar"),
        }
    }
}

/// The options of one `compose build`.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub format: Format,
    pub output: PathBuf,
    pub platform: Option<Platform>,
    pub locked: bool,
    pub compression: Option<Compression>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image manifest digest (the nested index with several platforms; the tar for rootfs).
    pub digest: Sha256Digest,
    /// Per platform, the digests written (empty for rootfs), as the lock records them.
    pub outputs: BTreeMap<String, OutputRecord>,
}

/// What `compose lock` found.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    /// True when the lock file differs (or would differ, with `--check`) from before.
    pub changed: bool,
    pub lock: Lock,
}

/// One manifest, its cache and settings: the state shared by lock and build.
pub struct Session {
    manifest: Manifest,
    lock_path: PathBuf,
    fetcher: Fetcher,
    ui: Ui,
    jobs: usize,
}

impl Session {
    /// Load the manifest and open the cache.
    pub fn new(o: SessionOptions) -> Result<Session> {
        let ui = Ui::new(o.quiet, o.verbose);
        let manifest = Manifest::load(&o.manifest)?;
        let lock_path = manifest.dir.join("scratch.lock");
        let jobs = o
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut mirrors = fetch::mirrors_from_env()?;
        mirrors.extend(o.mirrors);
        let mut fetch_options =
            FetchOptions::new(o.cache_dir.unwrap_or_else(fetch::default_cache_dir));
        fetch_options.mirrors = mirrors;
        fetch_options.offline = o.offline;
        fetch_options.jobs = jobs;
        fetch_options.ui = ui.clone();
        let fetcher = Fetcher::new(fetch_options)?;
        Ok(Session {
            manifest,
            lock_path,
            fetcher,
            ui,
            jobs,
        })
    }

    /// The manifest this session works on.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// The settings that shape the output bytes, from the command line, manifest and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OutputSettings {
    epoch: Epoch,
    compression: Compression,
}

/// The verified blobs of the resolved inputs, by kind and lock key.
type Blobs = BTreeMap<(InputKind, String), Blob>;

/// The inputs of a build: each one's content digest, and its verified blob in the cache
/// once it is there. A build whose layers all come from the layer cache never fetches
/// its remote inputs nor copies its local ones.
#[derive(Default)]
struct Inputs {
    /// Inputs known by digest only, with the pin to enforce when bringing them in.
    pending: Vec<(InputRef, Option<Sha256Digest>)>,
    /// Every input's sha256, by kind and lock key.
    digests: BTreeMap<(InputKind, String), Sha256Digest>,
    blobs: Blobs,
    /// The mode of each local `[[layer.file]]` source whose mode the manifest leaves to
    /// the file (by lock key), read once so that the layer keys and the layers agree.
    modes: BTreeMap<String, u32>,
    /// Local inputs known by a remembered digest, to be read in place when needed.
    local: BTreeMap<(InputKind, String), (Blob, Snapshot)>,
    /// The local inputs read in place, checked after they were read.
    snapshots: Vec<Snapshot>,
    /// Tar inputs already made plain (inflated when compressed) by this build, by the
    /// input's digest.
    plain: BTreeMap<Sha256Digest, PathBuf>,
    /// Identified with memos (a build, not verify or lock): inflated inputs in the cache
    /// are then verified with memos too.
    remembered: bool,
}

impl Inputs {
    /// Inputs that are all in the cache already.
    fn complete<'a>(blobs: Blobs, refs: impl Iterator<Item = &'a InputRef>) -> Inputs {
        let mut modes = BTreeMap::new();
        for r in refs {
            if let (InputKind::File, Location::Local { path, .. }) = (r.kind, &r.location) {
                modes.insert(r.key.clone(), local::default_mode(path));
            }
        }
        Inputs {
            digests: blobs.iter().map(|(k, b)| (k.clone(), b.sha256)).collect(),
            blobs,
            modes,
            ..Inputs::default()
        }
    }

    /// An error when a local input read in place changed since it was hashed: what was
    /// read may not be what its digest (and the layer cache key) says.
    fn check_unchanged(&self) -> Result<()> {
        match self.snapshots.iter().find(|s| !s.unchanged()) {
            None => Ok(()),
            Some(s) => Err(Error::usage(
                format!("{} changed while compose was reading it", s.path.display()),
                Some("build again once the input stays unchanged"),
            )),
        }
    }

    fn digest(&self, kind: InputKind, loc: &Location) -> Sha256Digest {
        self.digests[&(kind, loc.key().to_string())]
    }

    /// The mode a `[[layer.file]]` gets: the manifest's, else 0755 for a local source its
    /// owner may execute, else 0644.
    fn file_mode(&self, f: &FileSpec) -> u32 {
        f.mode.unwrap_or(match &f.source {
            FileSource::Source(SourceSpec {
                location: Location::Local { written, .. },
                ..
            }) => self.modes.get(written).copied().unwrap_or(0o644),
            _ => 0o644,
        })
    }
}

/// One platform's layers, their layer-cache keys and what the layer cache has of them
/// (with `squash`, one entry: the squashed layer).
struct Plan<'m> {
    specs: Vec<&'m LayerSpec>,
    keys: Vec<LayerKey>,
    found: Vec<Option<CachedLayer>>,
}

impl Plan<'_> {
    /// How many of `found` must be built: every one up to the last one missing, as a
    /// layer's canonical form depends on the tree below it.
    fn missing(&self) -> usize {
        self.found
            .iter()
            .rposition(Option::is_none)
            .map_or(0, |i| i + 1)
    }

    /// The layers this platform must merge: with `squash`, all of them unless the
    /// squashed layer is cached; otherwise those up to the last one missing.
    fn to_merge(&self, squash: bool) -> &[&LayerSpec] {
        match self.missing() {
            0 => &[],
            _ if squash => &self.specs,
            n => &self.specs[..n],
        }
    }
}

/// The images of one build, in a blob store, and the index that ties them together.
struct Built {
    images: Vec<PlatformImage>,
    assembled: image::Assembled,
}

/// What `compose lock` should download again instead of keeping the old lock's pin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// Keep every pin the old lock has.
    #[default]
    Nothing,
    /// Re-pin every input the manifest does not pin itself.
    All,
    /// Re-pin inputs whose source is, or ends with, this string.
    Input(String),
}

/// The options of `compose lock`.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// Write nothing; report whether the lock would change.
    pub check: bool,
    pub update: Update,
}

/// What `compose verify` found.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    /// True when every recorded digest was reproduced.
    pub reproduced: bool,
    /// The one-line summary, or the explanation starting at the first difference.
    pub report: String,
}

impl Session {
    /// The epoch and compression this build would use: the command line, then the
    /// manifest, then the environment (`SOURCE_DATE_EPOCH`), then the defaults.
    fn settings(&self, cli_compression: Option<Compression>) -> Result<OutputSettings> {
        let env = std::env::var("SOURCE_DATE_EPOCH").ok();
        let epoch =
            Epoch::resolve(self.manifest.image.source_date_epoch, env.as_deref()).map_err(|e| {
                Error::usage(
                    e.to_string(),
                    Some(
                        "set SOURCE_DATE_EPOCH to whole seconds, or set [image] source_date_epoch",
                    ),
                )
            })?;
        let compression = cli_compression
            .or(self.manifest.image.compression)
            .unwrap_or_default();
        Ok(OutputSettings { epoch, compression })
    }

    /// The settings a lock recorded.
    fn recorded_settings(lock: &Lock) -> Result<OutputSettings> {
        let compression =
            lock.compression
                .parse()
                .map_err(|e: crate::compression::CompressionParseError| {
                    Error::usage(
                        format!("scratch.lock: {e}"),
                        Some("run `compose lock` to rewrite it"),
                    )
                })?;
        Ok(OutputSettings {
            epoch: Epoch(lock.source_date_epoch),
            compression,
        })
    }

    /// The inputs of the layers that apply to `platforms`, each once, with the pins of the
    /// manifest and `lock`, and everything stale about `lock` found without reading them.
    fn wanted(
        &self,
        lock: Option<&Lock>,
        platforms: &[Platform],
    ) -> Result<(Vec<PinnedInput>, Vec<Staleness>)> {
        let pins = lock::resolve_pins(&self.manifest, lock)?;
        let stale = lock::stale_report(&self.manifest, lock, &pins);
        let mut wanted: Vec<PinnedInput> = Vec::new();
        for p in pins {
            let used = p
                .input
                .platforms
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|x| platforms.contains(x)));
            if used
                && !wanted
                    .iter()
                    .any(|w| w.input.kind == p.input.kind && w.input.key == p.input.key)
            {
                wanted.push(p);
            }
        }
        Ok((wanted, stale))
    }

    /// Learn the digest of every input of the layers that apply to `platforms`, as cheaply
    /// as it can be known: a remote input's pin (it is fetched, and checked, only when a
    /// layer must be built); a local file's sha256, remembered from an earlier build while
    /// the file is unchanged (with `remember`), else hashed as it is copied into the cache;
    /// a packed directory's.
    /// Pins in the manifest and pins of remote inputs are enforced (a mismatch is an
    /// error); a local input that no longer matches the lock only makes it stale. Returns
    /// the inputs and everything stale about `lock`.
    fn identify(
        &self,
        lock: Option<&Lock>,
        platforms: &[Platform],
        remember: bool,
        in_place: bool,
    ) -> Result<(Inputs, Vec<Staleness>)> {
        let (wanted, mut stale) = self.wanted(lock, platforms)?;
        // Local files are hashed (when not remembered) on up to `jobs` threads at once.
        let locals: Vec<(&Path, &InputRef)> = wanted
            .iter()
            .filter_map(|p| local_file(p).map(|path| (path, &p.input)))
            .collect();
        let mut found_locals = crate::parallel::map(self.jobs, &locals, |(path, input)| {
            local_input(self.fetcher.cache(), path, input, remember, in_place)
        })
        .into_iter();
        let mut inputs = Inputs {
            remembered: remember,
            ..Inputs::default()
        };
        let mut now = Vec::new();
        for p in wanted {
            let pin = if p.enforced() { p.sha256 } else { None };
            let key = (p.input.kind, p.input.key.clone());
            match (&p.input.location, p.input.kind, pin) {
                (Location::Url(_), _, Some(pin)) => {
                    inputs.digests.insert(key, pin);
                    inputs.pending.push((p.input, Some(pin)));
                }
                (Location::Local { path, .. }, InputKind::Tar | InputKind::File, _) => {
                    let found = found_locals
                        .next()
                        .expect("one result for each local file")?;
                    let digest = match &found {
                        LocalInput::Known(blob, _)
                        | LocalInput::InPlace(blob, _)
                        | LocalInput::Stored(blob) => blob.sha256,
                        LocalInput::Hashed(digest, _) => *digest,
                    };
                    check_pin(&p.input, pin, &digest)?;
                    stale.extend(p.check_local(&digest));
                    if p.input.kind == InputKind::File {
                        inputs
                            .modes
                            .insert(p.input.key.clone(), local::default_mode(path));
                    }
                    inputs.digests.insert(key.clone(), digest);
                    match found {
                        LocalInput::Known(blob, snapshot) if in_place => {
                            inputs.local.insert(key, (blob, snapshot));
                        }
                        LocalInput::Known(..) | LocalInput::Hashed(..) => {
                            inputs.pending.push((p.input, pin))
                        }
                        LocalInput::InPlace(blob, snapshot) => {
                            inputs.blobs.insert(key, blob);
                            inputs.snapshots.push(snapshot);
                        }
                        LocalInput::Stored(blob) => {
                            inputs.blobs.insert(key, blob);
                        }
                    }
                }
                _ => now.push((p, pin)),
            }
        }
        let (blobs, actual) = self.materialise(now.iter().map(|(p, pin)| (&p.input, *pin)))?;
        for ((p, _), blob) in now.iter().zip(&actual) {
            stale.extend(p.check_local(&blob.sha256));
            inputs
                .digests
                .insert((p.input.kind, p.input.key.clone()), blob.sha256);
        }
        inputs.blobs.extend(blobs);
        Ok((inputs, stale))
    }

    /// Like [`Session::identify`], with every input fetched, copied (never remembered) or
    /// packed into the cache right away.
    fn resolve(
        &self,
        lock: Option<&Lock>,
        platforms: &[Platform],
    ) -> Result<(Inputs, Vec<Staleness>)> {
        let (mut inputs, stale) = self.identify(lock, platforms, false, false)?;
        self.ensure_blobs(&mut inputs)?;
        Ok((inputs, stale))
    }

    /// Bring every input [`Session::identify`] only hashed into the cache, verified, and
    /// check that each still has the digest the layer keys were made from.
    fn ensure_blobs(&self, inputs: &mut Inputs) -> Result<()> {
        for (key, (blob, snapshot)) in std::mem::take(&mut inputs.local) {
            inputs.blobs.insert(key, blob);
            inputs.snapshots.push(snapshot);
        }
        if inputs.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut inputs.pending);
        let (blobs, actual) = self.materialise(pending.iter().map(|(i, pin)| (i, *pin)))?;
        self.ui.debug("inputs in the cache");
        for ((input, _), blob) in pending.iter().zip(&actual) {
            let before = inputs.digests[&(input.kind, input.key.clone())];
            if blob.sha256 != before {
                return Err(Error::usage(
                    format!(
                        "{}: changed while compose was building: it had sha256 {}, now {}",
                        input.describe(),
                        before.hex(),
                        blob.sha256.hex()
                    ),
                    Some("build again once the input stays unchanged"),
                ));
            }
        }
        inputs.blobs.extend(blobs);
        Ok(())
    }

    /// Fetch, hash or pack each input, checking `pin` when given; blobs in input order too.
    fn materialise<'a>(
        &self,
        inputs: impl Iterator<Item = (&'a InputRef, Option<Sha256Digest>)>,
    ) -> Result<(Blobs, Vec<Blob>)> {
        let inputs: Vec<_> = inputs.collect();
        let mut requests = Vec::new();
        for (input, pin) in &inputs {
            if let Location::Url(url) = &input.location {
                requests.push(FetchRequest {
                    url: url.clone(),
                    pin: *pin,
                });
            }
        }
        let mut fetched = self.fetcher.fetch_all(&requests)?.into_iter();
        // Local directories are packed (and files copied) on up to `jobs` threads at once:
        // twenty small directories took a millisecond or more each, one after another.
        let locals: Vec<(&Path, &InputRef)> = inputs
            .iter()
            .filter_map(|(input, _)| match &input.location {
                Location::Local { path, .. } => Some((path.as_path(), *input)),
                Location::Url(_) => None,
            })
            .collect();
        let mut packed =
            crate::parallel::map(self.jobs, &locals, |(path, input)| match input.kind {
                InputKind::Dir => self.pack_dir(path, input),
                _ => self.local_file(path, input),
            })
            .into_iter();
        let mut blobs = Blobs::new();
        let mut in_order = Vec::with_capacity(inputs.len());
        for (input, pin) in inputs {
            let blob = match &input.location {
                Location::Url(_) => fetched.next().expect("one blob per request"),
                Location::Local { .. } => packed.next().expect("one blob per local input")?,
            };
            check_pin(input, pin, &blob.sha256)?;
            blobs.insert((input.kind, input.key.clone()), blob.clone());
            in_order.push(blob);
        }
        Ok((blobs, in_order))
    }

    fn local_file(&self, path: &Path, input: &InputRef) -> Result<Blob> {
        if !path.is_file() {
            return Err(Error::usage(
                format!("{}: {} is not a file", input.describe(), path.display()),
                Some("local paths are relative to the folder of scratch.toml"),
            ));
        }
        Ok(self.fetcher.cache().insert_file(path)?)
    }

    /// Pack a local directory into a canonical tar in the cache; its digest is the pin.
    fn pack_dir(&self, path: &Path, input: &InputRef) -> Result<Blob> {
        if !path.is_dir() {
            return Err(Error::usage(
                format!(
                    "{}: {} is not a directory",
                    input.describe(),
                    path.display()
                ),
                Some("local paths are relative to the folder of scratch.toml"),
            ));
        }
        let mut tmp = self.fetcher.cache().temp_file()?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            local::pack_dir(path, &mut w)?;
            w.flush().map_err(|e| Error::io(path, e))?;
        }
        Ok(self.fetcher.cache().insert_file(tmp.path())?)
    }

    /// `compose lock`: pin every input, build every platform to record the output
    /// digests, and write scratch.lock (unless `check`).
    pub fn lock(&self, o: &LockOptions) -> Result<LockOutcome> {
        let settings = self.settings(None)?;
        // An old lock at another compat level still supplies pins.
        let old = Lock::read_any_level(&self.lock_path)?;
        let mut seen: Vec<(InputKind, String)> = Vec::new();
        let mut inputs = Vec::new();
        for input in self.manifest.inputs() {
            if seen.contains(&(input.kind, input.key.clone())) {
                continue;
            }
            seen.push((input.kind, input.key.clone()));
            let updating = match &o.update {
                Update::Nothing => false,
                Update::All => true,
                Update::Input(s) => input.key == *s || input.key.ends_with(s.as_str()),
            };
            let old_pin = old
                .as_ref()
                .and_then(|l| l.find(input.kind, &input.key))
                .filter(|_| !updating && input.location.is_remote())
                .map(|e| e.sha256);
            let pin = input.pin.or(old_pin);
            inputs.push((input, pin));
        }
        if let Update::Input(s) = &o.update {
            if !inputs
                .iter()
                .any(|(i, _)| i.key == *s || i.key.ends_with(s.as_str()))
            {
                return Err(Error::usage(
                    format!("--update {s}: no input of the manifest has that source"),
                    Some("name an input by its URL or path as written in scratch.toml"),
                ));
            }
        }
        let (blobs, actual) = self.materialise(inputs.iter().map(|(i, p)| (i, *p)))?;
        let mut resolved = Inputs::complete(blobs, inputs.iter().map(|(i, _)| i));
        let locked = inputs
            .iter()
            .zip(&actual)
            .map(|((input, _), blob)| lock::locked_input(input, blob.sha256, blob.size))
            .collect();
        let mut new = Lock::new(settings.epoch.0, settings.compression, locked);
        let staging = self.fetcher.cache().temp_dir()?;
        let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
        let built = self.produce(
            &self.manifest.image.platforms,
            settings,
            &mut resolved,
            &store,
            Some(&self.layer_cache()),
        )?;
        new.outputs = output_records(&built);
        new.normalise();
        // The recorded image stays in the cache, so `verify` can later name the entries
        // and config fields a rebuild changed.
        for (d, _) in &built.assembled.blobs {
            self.fetcher.cache().keep_blob(&store.path(d), d)?;
        }
        let changes = match &old {
            Some(old) => lock::staleness(old, &new),
            None => vec![Staleness::NoLock],
        };
        let changed = !changes.is_empty()
            || std::fs::read_to_string(&self.lock_path).ok().as_deref()
                != Some(new.to_toml().as_str());
        if o.check {
            if changed {
                for c in &changes {
                    self.ui.warn(format!("stale lock: {c}"));
                }
            } else {
                self.ui
                    .info(format!("{} is up to date", self.lock_path.display()));
            }
        } else if new.write(&self.lock_path)? {
            self.ui.info(format!("wrote {}", self.lock_path.display()));
        } else {
            self.ui
                .info(format!("{} is up to date", self.lock_path.display()));
        }
        Ok(LockOutcome { changed, lock: new })
    }

    /// `compose verify`: rebuild from the lock (its pins and recorded settings) and compare
    /// with the recorded output digests.
    pub fn verify(&self) -> Result<VerifyOutcome> {
        let Some(lock) = Lock::read(&self.lock_path)? else {
            return Err(Error::usage(
                format!(
                    "{} does not exist: there is nothing to verify",
                    self.lock_path.display()
                ),
                Some("run `compose lock` to pin the inputs and record the output digests"),
            ));
        };
        if lock.outputs.is_empty() {
            return Err(Error::usage(
                format!("{} records no output digests", self.lock_path.display()),
                Some("run `compose lock` to record them"),
            ));
        }
        let recorded = Self::recorded_settings(&lock)?;
        let mut differences = Vec::new();
        let current = self.settings(None)?;
        if current.epoch != recorded.epoch {
            differences.push(format!(
                "setting source_date_epoch: scratch.lock records {}, the manifest and environment now give {}",
                recorded.epoch.0, current.epoch.0
            ));
        }
        if current.compression != recorded.compression {
            differences.push(format!(
                "setting compression: scratch.lock records {}, the manifest now gives {}",
                recorded.compression, current.compression
            ));
        }
        let platforms = &self.manifest.image.platforms;
        let (mut inputs, stale) = match self.resolve(Some(&lock), platforms) {
            Ok(v) => v,
            Err(Error::Fetch(e @ crate::fetch::FetchError::Checksum { .. })) => {
                differences.push(format!("input changed: {e}"));
                return Ok(VerifyOutcome {
                    reproduced: false,
                    report: differences.join("\n"),
                });
            }
            Err(e) => return Err(e),
        };
        for s in &stale {
            differences.push(format!("input: {s}"));
        }
        let staging = self.fetcher.cache().temp_dir()?;
        let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
        // Never the layer cache: verify proves the digests from the inputs alone.
        let built = self.produce(platforms, recorded, &mut inputs, &store, None)?;
        let rebuilt = output_records(&built);
        if let Some(first) = diff::first_mismatch(&digests_of(&lock.outputs), &digests_of(&rebuilt))
        {
            differences.push(first);
            differences.extend(self.explain_entries(
                &lock.outputs,
                &rebuilt,
                &store,
                &built,
                recorded,
            ));
        }
        if differences.is_empty() {
            let summary: Vec<String> = rebuilt
                .iter()
                .map(|(p, r)| {
                    let n = r.layers.len();
                    format!(
                        "{p} {} ({n} layer{})",
                        r.manifest,
                        if n == 1 { "" } else { "s" }
                    )
                })
                .collect();
            Ok(VerifyOutcome {
                reproduced: true,
                report: format!("reproduced: {}", summary.join(", ")),
            })
        } else {
            Ok(VerifyOutcome {
                reproduced: false,
                report: differences.join("\n"),
            })
        }
    }

    /// The entries and config fields behind the digests a rebuild changed: the recorded
    /// image (kept in the cache by `compose lock`) compared with the rebuild by `diff`.
    /// Best effort: what cannot be compared is said, never an error.
    fn explain_entries(
        &self,
        recorded: &BTreeMap<String, OutputRecord>,
        rebuilt: &BTreeMap<String, OutputRecord>,
        store: &BlobStore,
        built: &Built,
        s: OutputSettings,
    ) -> Vec<String> {
        let attempt = || -> Result<Vec<String>> {
            let scratch = self.fetcher.cache().temp_dir()?;
            let rebuilt_dir = scratch.path().join("rebuilt");
            image::write_output(
                store,
                &built.assembled,
                OutputFormat::Oci,
                &self.image_name()?,
                s.epoch,
                &rebuilt_dir,
            )?;
            let mut lines = Vec::new();
            for (i, (platform, rec)) in recorded.iter().enumerate() {
                if rebuilt
                    .get(platform)
                    .is_none_or(|r| r.manifest == rec.manifest)
                {
                    continue;
                }
                let recorded_dir = scratch.path().join(format!("recorded-{i}"));
                if !layout_from_cache(self.fetcher.cache(), &rec.manifest, &recorded_dir)? {
                    lines.push(format!(
                        "platform {platform}: the recorded image is not in this cache, so its entries cannot be compared (`compose lock` keeps it there)"
                    ));
                    continue;
                }
                let p: Platform =
                    platform
                        .parse()
                        .map_err(|e: crate::platform::PlatformParseError| {
                            Error::usage(e.to_string(), None)
                        })?;
                let a = diff::open(
                    &recorded_dir,
                    Some(&p),
                    &scratch.path().join(format!("a-{i}")),
                )?;
                let b = diff::open(
                    &rebuilt_dir,
                    Some(&p),
                    &scratch.path().join(format!("b-{i}")),
                )?;
                for d in diff::diff(&a, &b, &DiffOptions::default())?.differences {
                    match &d.platform {
                        Some(_) => lines.push(format!("recorded → rebuilt: {d}")),
                        None => lines.push(format!("platform {platform}: recorded → rebuilt: {d}")),
                    }
                }
            }
            Ok(lines)
        };
        attempt().unwrap_or_else(|e| vec![format!("(the entries could not be compared: {e})")])
    }

    /// The platforms to build: `--platform` (which must be one of the manifest's), else all.
    fn select_platforms(&self, o: &BuildOptions) -> Result<Vec<Platform>> {
        let all = &self.manifest.image.platforms;
        match &o.platform {
            Some(p) if all.contains(p) => Ok(vec![p.clone()]),
            Some(p) => Err(Error::usage(
                format!(
                    "--platform {p} is not one of the manifest's platforms ({})",
                    join(all)
                ),
                Some("pick one of [image] platforms, or add it there"),
            )),
            None if all.len() > 1 && matches!(o.format, Format::DockerArchive | Format::Rootfs) => {
                Err(Error::usage(
                    format!(
                        "the manifest lists several platforms ({}); --format {} holds one",
                        join(all),
                        if o.format == Format::Rootfs {
                            "rootfs"
                        } else {
                            "docker-archive"
                        }
                    ),
                    Some("add --platform, for example --platform linux/amd64"),
                ))
            }
            None => Ok(all.clone()),
        }
    }

    /// `compose build`: fetch, merge, write; returns the digest to print.
    pub fn build(&self, o: &BuildOptions) -> Result<BuildResult> {
        if o.output.as_os_str() == "-" && o.format == Format::Oci {
            return Err(Error::usage(
                "-o - writes to stdout, which cannot hold an OCI layout directory",
                Some("use --format oci-archive (the same layout as one tar) with -o -"),
            ));
        }
        let settings = self.settings(o.compression)?;
        if o.format == Format::DockerArchive && matches!(settings.compression, Compression::Zstd(_))
        {
            return Err(Error::usage(
                "docker-archive cannot hold zstd layers: Docker 20.10 fails to load them",
                Some("use --compression gzip, or --format oci-archive for zstd"),
            ));
        }
        let platforms = self.select_platforms(o)?;
        let lock = Lock::read(&self.lock_path)?;
        // Local inputs are read in place (and checked afterwards) except for a rootfs,
        // which is written before such a check could stop it.
        let in_place = o.format != Format::Rootfs;
        let (mut inputs, mut stale) = self.identify(lock.as_ref(), &platforms, true, in_place)?;
        self.ui.debug("inputs identified");
        if let Some(l) = &lock {
            stale.extend(lock::settings_staleness(
                l,
                settings.epoch.0,
                settings.compression,
            ));
        }
        if !stale.is_empty() {
            if o.locked {
                return Err(lock::LockError::Stale(stale).into());
            }
            for s in &stale {
                self.ui.warn(format!("stale lock: {s}"));
            }
        }
        let mut outputs = BTreeMap::new();
        let digest = if o.format == Format::Rootfs {
            self.ensure_blobs(&mut inputs)?;
            let specs: Vec<&LayerSpec> = self.manifest.layers_for(&platforms[0]).collect();
            let tree = self
                .merge_layers(&specs, &inputs, true, |_, _, _| Ok(()))?
                .unwrap_or_default();
            write_rootfs(&tree.entries(), settings.epoch, &o.output)?
        } else {
            let staging = self.fetcher.cache().temp_dir()?;
            let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
            let built = self.produce(
                &platforms,
                settings,
                &mut inputs,
                &store,
                Some(&self.layer_cache()),
            )?;
            inputs.check_unchanged()?;
            outputs = output_records(&built);
            let assembled = built.assembled;
            let format = match o.format {
                Format::Oci => OutputFormat::Oci,
                Format::OciArchive => OutputFormat::OciArchive,
                _ => OutputFormat::DockerArchive,
            };
            self.ui.debug("image assembled");
            self.write_output(&store, &assembled, format, settings.epoch, &o.output)?;
            assembled.top.digest
        };
        Ok(BuildResult { digest, outputs })
    }

    /// Write the output, unless it is an archive file this cache saw holding exactly
    /// these bytes and nobody has touched since (then a rebuild with nothing changed reads
    /// and writes nothing, whatever the image's size).
    fn write_output(
        &self,
        store: &BlobStore,
        assembled: &image::Assembled,
        format: OutputFormat,
        epoch: Epoch,
        out: &Path,
    ) -> Result<()> {
        let name = self.image_name()?;
        let cache = self.fetcher.cache();
        let recipe = match out.as_os_str() == "-" {
            true => None,
            false => image::archive_recipe(assembled, format, &name, epoch)?,
        };
        if let Some(r) = &recipe {
            if cache.output_unchanged(out, r) {
                self.ui
                    .debug(format!("{} unchanged since it was written", out.display()));
                return Ok(());
            }
        }
        let started = std::time::SystemTime::now();
        let before = std::fs::symlink_metadata(out).ok();
        image::write_output(store, assembled, format, &name, epoch, out)?;
        if let (Some(r), Some(before)) = (&recipe, &before) {
            cache.remember_output(out, before, started, r);
        }
        self.ui.debug(format!("{} written", out.display()));
        Ok(())
    }

    fn image_name(&self) -> Result<ImageName> {
        ImageName::new(&self.manifest.image.name, &self.manifest.image.tag)
            .map_err(|e| Error::Image(image::ImageError::Name(e)))
    }

    /// The layer cache in this session's cache.
    fn layer_cache(&self) -> LayerCache {
        LayerCache::new(self.fetcher.cache().clone())
    }

    /// Build every platform's image into `store` and assemble the index; layers come from
    /// `layer_cache` when it has them, and go into it when built.
    fn produce(
        &self,
        platforms: &[Platform],
        s: OutputSettings,
        inputs: &mut Inputs,
        store: &BlobStore,
        layer_cache: Option<&LayerCache>,
    ) -> Result<Built> {
        let plans = platforms
            .iter()
            .map(|p| self.plan(p, s, inputs, store, layer_cache))
            .collect::<Result<Vec<_>>>()?;
        let to_merge: Vec<&LayerSpec> = plans
            .iter()
            .flat_map(|pl| pl.to_merge(self.manifest.image.squash).iter().copied())
            .collect();
        if !to_merge.is_empty() {
            self.ensure_blobs(inputs)?;
            inputs.plain = self.inflate_ahead(&to_merge, inputs)?;
        }
        let mut images = Vec::with_capacity(platforms.len());
        for (p, plan) in platforms.iter().zip(plans) {
            images.push(self.build_platform(p, plan, store, s, inputs, layer_cache)?);
        }
        let assembled = image::assemble(
            store,
            &images,
            &self.image_name()?,
            s.epoch,
            &self.manifest.image.annotations,
        )?;
        Ok(Built { images, assembled })
    }

    /// Merge `specs` in order, calling `on_layer` with each layer's position, the
    /// warnings its merge gave (already shown) and its canonical entries. Returns the
    /// merged tree with `keep_tree`; without, the tree is dropped before the last layer
    /// is handed over, so writing it does not hold the whole tree in memory too.
    fn merge_layers(
        &self,
        specs: &[&LayerSpec],
        inputs: &Inputs,
        keep_tree: bool,
        mut on_layer: impl FnMut(usize, &[String], &[Entry]) -> Result<()>,
    ) -> Result<Option<Tree>> {
        let mut tree = Tree::new();
        let opts = MergeOptions::default();
        for (i, layer) in specs.iter().enumerate() {
            let label = layer_label(layer);
            let entries = self.layer_entries(layer, inputs, &label)?;
            self.ui
                .debug(format!("{label}: {} entries read", entries.len()));
            let applied = tree.apply(&label, entries, &opts)?;
            self.ui.debug(format!("{label}: merged"));
            let warnings: Vec<String> = applied
                .warnings
                .iter()
                .map(|w| format!("{label}: {w}"))
                .collect();
            for w in &warnings {
                self.ui.warn(w);
            }
            if !keep_tree && i + 1 == specs.len() {
                drop(std::mem::take(&mut tree));
            }
            on_layer(i, &warnings, &applied.layer)?;
        }
        Ok(keep_tree.then_some(tree))
    }

    /// The cache key of each of `specs` (the layers of platform `p`, in order).
    fn layer_keys(
        &self,
        p: &Platform,
        s: OutputSettings,
        specs: &[&LayerSpec],
        inputs: &Inputs,
    ) -> Vec<LayerKey> {
        let mut keys: Vec<LayerKey> = Vec::with_capacity(specs.len());
        for layer in specs {
            let mut k = KeyBuilder::layer(keys.last(), s.compression, s.epoch, p);
            describe_layer(&mut k, layer, inputs);
            keys.push(k.finish());
        }
        keys
    }

    /// The layer cached under `key`, linked into `store`.
    fn cached(
        &self,
        layer_cache: Option<&LayerCache>,
        key: Option<&LayerKey>,
        store: &BlobStore,
    ) -> Result<Option<CachedLayer>> {
        let (Some(c), Some(k)) = (layer_cache, key) else {
            return Ok(None);
        };
        let Some(hit) = c.get(k)? else {
            return Ok(None);
        };
        store.link(&hit.path, &hit.blob.digest);
        Ok(Some(hit))
    }

    /// Compress one layer's entries into `store`, and keep it in the layer cache with the
    /// merge warnings it gave (once the local inputs it was read from are known not to
    /// have changed meanwhile). `label` names it in progress output.
    fn write_layer(
        &self,
        entries: &[Entry],
        s: OutputSettings,
        store: &BlobStore,
        inputs: &Inputs,
        remember: Option<(&LayerCache, &LayerKey, &[String])>,
        label: &str,
    ) -> Result<LayerBlob> {
        let total = tar_size_estimate(entries);
        let bar = self.ui.bytes_bar(Some(total), label);
        let logged = !self.ui.has_bars() && total >= LOGGED_LAYER_SIZE;
        if logged {
            self.ui.info(format!(
                "{label}: writing {} MiB ({})",
                total >> 20,
                s.compression
            ));
        }
        let jobs = image::compress::jobs_for(s.compression, self.jobs, total);
        let blob = image::write_layer(store, s.compression, jobs, |w| {
            write_tar(entries, s.epoch, &mut bar.wrap_write(w))
        })?;
        bar.finish_and_clear();
        if logged {
            self.ui
                .info(format!("{label}: {} MiB written", blob.size >> 20));
        }
        if let Some((c, k, warnings)) = remember {
            inputs.check_unchanged()?;
            c.put(k, &blob, &store.path(&blob.digest), warnings)?;
        }
        Ok(blob)
    }

    /// What one platform's build will take from the layer cache, and so what it must
    /// merge: known for every platform before any is built, so that the inputs they will
    /// read can be prepared together.
    fn plan<'m>(
        &'m self,
        p: &'m Platform,
        s: OutputSettings,
        inputs: &Inputs,
        store: &BlobStore,
        layer_cache: Option<&LayerCache>,
    ) -> Result<Plan<'m>> {
        let specs: Vec<&LayerSpec> = self.manifest.layers_for(p).collect();
        let keys = match layer_cache {
            Some(_) => self.layer_keys(p, s, &specs, inputs),
            None => Vec::new(),
        };
        let found = if self.manifest.image.squash {
            let key = keys.last().map(LayerKey::squashed);
            vec![self.cached(layer_cache, key.as_ref(), store)?]
        } else {
            let mut found = Vec::with_capacity(specs.len());
            for i in 0..specs.len() {
                found.push(self.cached(layer_cache, keys.get(i), store)?);
            }
            found
        };
        Ok(Plan { specs, keys, found })
    }

    /// The plain tars of the tar inputs that `layers` read, made on up to `jobs` threads
    /// at once when there are several (one is made as its layer is read): inflating a
    /// compressed input is otherwise a stretch on one core.
    fn inflate_ahead(
        &self,
        layers: &[&LayerSpec],
        inputs: &Inputs,
    ) -> Result<BTreeMap<Sha256Digest, PathBuf>> {
        let mut tars: Vec<(&Blob, String)> = Vec::new();
        for layer in layers {
            let Some(t) = &layer.tar else { continue };
            let blob = &inputs.blobs[&(InputKind::Tar, t.location.key().to_string())];
            if !tars.iter().any(|(b, _)| b.sha256 == blob.sha256) {
                tars.push((blob, layer_label(layer)));
            }
        }
        if tars.len() < 2 {
            return Ok(BTreeMap::new());
        }
        let plain = crate::parallel::map(self.jobs, &tars, |(blob, label)| {
            self.plain_tar(blob, label, inputs.remembered)
        });
        tars.iter()
            .zip(plain)
            .map(|((blob, _), path)| Ok((blob.sha256, path?)))
            .collect()
    }

    /// Build one platform's image as `plan` says: each layer taken from the layer cache or
    /// written as it is merged (or one squashed layer).
    fn build_platform(
        &self,
        p: &Platform,
        plan: Plan,
        store: &BlobStore,
        s: OutputSettings,
        inputs: &mut Inputs,
        layer_cache: Option<&LayerCache>,
    ) -> Result<PlatformImage> {
        let merged = plan.missing();
        let Plan { specs, keys, found } = plan;
        let mut layers = Vec::new();
        let mut history = Vec::new();
        if self.manifest.image.squash {
            let key = keys.last().map(LayerKey::squashed);
            let hit = found.into_iter().next().flatten();
            let blob = match hit {
                Some(hit) => {
                    self.ui.debug(format!(
                        "squashed layer: from the layer cache ({})",
                        hit.blob.digest
                    ));
                    for w in &hit.warnings {
                        self.ui.warn(w);
                    }
                    hit.blob
                }
                None => {
                    self.ensure_blobs(inputs)?;
                    let mut warnings = Vec::new();
                    let entries = self
                        .merge_layers(&specs, inputs, true, |_, w, _| {
                            warnings.extend_from_slice(w);
                            Ok(())
                        })?
                        .map(|tree| tree.entries())
                        .unwrap_or_default();
                    let blob = self.write_layer(
                        &entries,
                        s,
                        store,
                        inputs,
                        layer_cache
                            .zip(key.as_ref())
                            .map(|(c, k)| (c, k, &warnings[..])),
                        "squashed layer",
                    )?;
                    self.ui
                        .debug(format!("squashed layer: built ({})", blob.digest));
                    blob
                }
            };
            layers.push(blob);
            history.push(HistoryEntry {
                created_by: format!("compose: {} layers squashed", specs.len()),
                comment: None,
                empty_layer: false,
            });
        } else {
            // Every layer up to the last one missing is merged; cached layers above it are
            // used as they are.
            let mut written: Vec<Option<LayerBlob>> = vec![None; specs.len()];
            if merged > 0 {
                self.ensure_blobs(inputs)?;
                self.merge_layers(&specs[..merged], inputs, false, |i, warnings, entries| {
                    if found[i].is_none() {
                        let blob = self.write_layer(
                            entries,
                            s,
                            store,
                            inputs,
                            layer_cache.zip(keys.get(i)).map(|(c, k)| (c, k, warnings)),
                            &layer_label(specs[i]),
                        )?;
                        self.ui.debug(format!(
                            "{}: built ({})",
                            layer_label(specs[i]),
                            blob.digest
                        ));
                        written[i] = Some(blob);
                    }
                    Ok(())
                })?;
            }
            for (i, (hit, built)) in found.into_iter().zip(written).enumerate() {
                let blob = match (hit, built) {
                    (_, Some(b)) => b,
                    (Some(hit), None) => {
                        self.ui.debug(format!(
                            "{}: from the layer cache ({})",
                            layer_label(specs[i]),
                            hit.blob.digest
                        ));
                        if i >= merged {
                            for w in &hit.warnings {
                                self.ui.warn(w);
                            }
                        }
                        hit.blob
                    }
                    (None, None) => unreachable!("every layer up to the last miss is written"),
                };
                layers.push(blob);
                history.push(HistoryEntry {
                    created_by: created_by(specs[i]),
                    comment: None,
                    empty_layer: false,
                });
            }
        }
        Ok(PlatformImage {
            platform: p.clone(),
            config: self.manifest.config.clone(),
            layers,
            history,
        })
    }

    /// An input blob as a plain tar: itself, or decompressed once into the cache (and
    /// verified there with memos when `remember`).
    fn plain_tar(&self, blob: &Blob, label: &str, remember: bool) -> Result<PathBuf> {
        let format = layer::detect_format(&blob.path)?;
        if format == InputFormat::Tar {
            return Ok(blob.path.clone());
        }
        let limit = max_input_size(blob.size)?;
        // A bad input is the input's fault, not the cache's: keep its own error and hint.
        let mut input_error = None;
        let derived = self
            .fetcher
            .cache()
            .derived("tar", &blob.sha256.hex(), remember, |mut w| {
                if let Err(e) = layer::decompress(&blob.path, format, &mut w, limit, label) {
                    let message = e.to_string();
                    input_error = Some(e);
                    return Err(std::io::Error::other(message));
                }
                Ok(())
            });
        let path = match (derived, input_error) {
            (Ok(path), _) => path,
            (Err(_), Some(e)) => return Err(e.into()),
            (Err(e), None) => return Err(e.into()),
        };
        self.ui
            .debug(format!("{label}: {} input ready", format.name()));
        Ok(path)
    }

    /// The entries of one layer, in the order the merger applies them: the tar, then
    /// `remove` whiteouts, directories, files and symlinks.
    fn layer_entries(&self, layer: &LayerSpec, inputs: &Inputs, label: &str) -> Result<Vec<Entry>> {
        let blob = |kind: InputKind, loc: &Location| -> &Blob {
            &inputs.blobs[&(kind, loc.key().to_string())]
        };
        let mut entries = Vec::new();
        if let Some(t) = &layer.tar {
            let tar = blob(InputKind::Tar, &t.location);
            let plain = match inputs.plain.get(&tar.sha256) {
                Some(path) => path.clone(),
                None => self.plain_tar(tar, label, inputs.remembered)?,
            };
            entries.extend(layer::read_tar(&plain, label)?);
        }
        for r in &layer.remove {
            entries.push(whiteout(r));
        }
        for d in &layer.dirs {
            let mut top = Entry::dir(d.dest.clone());
            top.mode = d.mode.unwrap_or(0o755);
            top.uid = d.uid.unwrap_or(0);
            top.gid = d.gid.unwrap_or(0);
            entries.push(top);
            if let Some(src) = &d.src {
                let packed = blob(InputKind::Dir, src);
                for mut e in layer::read_tar(&packed.path, label)? {
                    if e.path.is_root() {
                        continue;
                    }
                    e.path = rebase(&d.dest, &e.path);
                    if let Kind::HardLink(t) = &e.kind {
                        e.kind = Kind::HardLink(rebase(&d.dest, t));
                    }
                    e.uid = d.uid.unwrap_or(e.uid);
                    e.gid = d.gid.unwrap_or(e.gid);
                    entries.push(e);
                }
            }
        }
        for f in &layer.files {
            let content = match &f.source {
                FileSource::Inline(text) => inline(text.as_bytes()),
                FileSource::Source(spec) => {
                    let b = blob(InputKind::File, &spec.location);
                    Content::whole_file(b.path.clone(), b.size)
                }
            };
            let mut e = Entry::new(f.dest.clone(), Kind::File(content), inputs.file_mode(f));
            e.uid = f.uid.unwrap_or(0);
            e.gid = f.gid.unwrap_or(0);
            entries.push(e);
        }
        for s in &layer.symlinks {
            let mut e = Entry::new(
                s.dest.clone(),
                Kind::Symlink(s.target.as_bytes().to_vec()),
                0o777,
            );
            e.uid = s.uid.unwrap_or(0);
            e.gid = s.gid.unwrap_or(0);
            entries.push(e);
        }
        Ok(entries)
    }
}

/// Describe into `k` everything [`Session::layer_entries`] makes a layer's entries from;
/// the two must stay in step, or the layer cache would serve stale layers.
fn describe_layer(k: &mut KeyBuilder, layer: &LayerSpec, inputs: &Inputs) {
    let path = |p: &ImagePath| p.as_bytes().to_vec();
    if let Some(t) = &layer.tar {
        k.digest("tar", &inputs.digest(InputKind::Tar, &t.location));
    }
    for r in &layer.remove {
        k.field("remove", &path(r));
    }
    for d in &layer.dirs {
        k.field("dir", &path(&d.dest));
        k.optional("mode", d.mode.map(u64::from));
        k.optional("uid", d.uid);
        k.optional("gid", d.gid);
        match &d.src {
            Some(src) => k.digest("dir-src", &inputs.digest(InputKind::Dir, src)),
            None => k.field("dir-src", b""),
        }
    }
    for f in &layer.files {
        k.field("file", &path(&f.dest));
        match &f.source {
            FileSource::Inline(text) => {
                k.digest("file-content", &Sha256Digest::of(text.as_bytes()))
            }
            FileSource::Source(spec) => {
                k.digest("file-src", &inputs.digest(InputKind::File, &spec.location))
            }
        }
        k.number("mode", u64::from(inputs.file_mode(f)));
        k.optional("uid", f.uid);
        k.optional("gid", f.gid);
    }
    for s in &layer.symlinks {
        k.field("symlink", &path(&s.dest));
        k.field("target", s.target.as_bytes());
        k.optional("uid", s.uid);
        k.optional("gid", s.gid);
    }
}

/// The path of an input that is a local file (a tar or a single file), not a directory.
fn local_file(p: &PinnedInput) -> Option<&Path> {
    match (&p.input.location, p.input.kind) {
        (Location::Local { path, .. }, InputKind::Tar | InputKind::File) => Some(path),
        _ => None,
    }
}

/// A local file input, remembered or copied into the cache (see
/// [`fetch::Cache::local_input`]).
fn local_input(
    cache: &fetch::Cache,
    path: &Path,
    input: &InputRef,
    remember: bool,
    in_place: bool,
) -> Result<LocalInput> {
    match cache.local_input(path, remember, in_place) {
        Err(fetch::FetchError::Local { source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
            ) =>
        {
            Err(Error::usage(
                format!("{}: {} is not a file", input.describe(), path.display()),
                Some("local paths are relative to the folder of scratch.toml"),
            ))
        }
        other => Ok(other?),
    }
}

/// An error when `actual` is not the `pin` (when there is one).
fn check_pin(input: &InputRef, pin: Option<Sha256Digest>, actual: &Sha256Digest) -> Result<()> {
    match pin {
        Some(pin) if pin != *actual => Err(Error::usage(
            format!(
                "{}: sha256 mismatch: pinned {}, the input has {}",
                input.describe(),
                pin.hex(),
                actual.hex()
            ),
            Some("restore the input, or re-pin it with `compose lock` if the change is intended"),
        )),
        _ => Ok(()),
    }
}

/// The digests a lock records for each platform of an assembled image.
fn output_records(built: &Built) -> BTreeMap<String, OutputRecord> {
    built
        .assembled
        .images
        .iter()
        .zip(&built.images)
        .map(|(img, platform_image)| {
            let layers = platform_image
                .layers
                .iter()
                .map(|l| LayerRecord {
                    diff_id: l.diff_id,
                    digest: l.digest,
                    size: l.size,
                })
                .collect();
            (
                img.platform.to_string(),
                OutputRecord {
                    manifest: img.manifest.digest,
                    config: img.config.digest,
                    layers,
                },
            )
        })
        .collect()
}

/// The recorded digests in the form `diff::first_mismatch` compares.
fn digests_of(outputs: &BTreeMap<String, OutputRecord>) -> Vec<(String, diff::ImageDigests)> {
    outputs
        .iter()
        .map(|(p, r)| {
            let layers = r
                .layers
                .iter()
                .map(|l| (l.diff_id.to_string(), l.digest.to_string()))
                .collect();
            let d = diff::ImageDigests {
                manifest: r.manifest.to_string(),
                config: r.config.to_string(),
                layers,
            };
            (p.clone(), d)
        })
        .collect()
}

/// Write an OCI layout holding the image whose manifest is `manifest`, from the blobs in
/// `cache`; false when the cache no longer has one of them.
fn layout_from_cache(cache: &fetch::Cache, manifest: &Sha256Digest, dir: &Path) -> Result<bool> {
    let Some(manifest_path) = cache.get_verified(manifest)? else {
        return Ok(false);
    };
    let bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::usage(format!("{}: {e}", manifest_path.display()), None))?;
    let mut wanted = vec![*manifest];
    let named =
        std::iter::once(&json["config"]).chain(json["layers"].as_array().into_iter().flatten());
    for desc in named {
        match desc["digest"].as_str().map(str::parse::<Sha256Digest>) {
            Some(Ok(d)) => wanted.push(d),
            _ => return Ok(false),
        }
    }
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    for d in &wanted {
        let Some(src) = cache.get_verified(d)? else {
            return Ok(false);
        };
        let dest = blobs.join(d.hex());
        if std::fs::hard_link(&src, &dest).is_err() {
            std::fs::copy(&src, &dest).map_err(|e| Error::io(&dest, e))?;
        }
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": json["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json"),
            "digest": manifest.to_string(),
            "size": bytes.len(),
        }],
    });
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))
    };
    write("index.json", index.to_string())?;
    write(
        "oci-layout",
        r#"{"imageLayoutVersion":"1.0.0"}"#.to_string(),
    )?;
    Ok(true)
}

fn inline(bytes: &[u8]) -> Content {
    if bytes.is_empty() {
        Content::Empty
    } else {
        Content::Inline(bytes.into())
    }
}

/// The whiteout entry that removes `path` from lower layers.
fn whiteout(path: &ImagePath) -> Entry {
    let mut name = b".wh.".to_vec();
    name.extend_from_slice(path.file_name());
    let parent = path.parent().unwrap_or_default();
    Entry::new(parent.join(&name), Kind::File(Content::Empty), 0o644)
}

/// `inner` placed below `dest`.
fn rebase(dest: &ImagePath, inner: &ImagePath) -> ImagePath {
    inner.components().fold(dest.clone(), |p, c| p.join(c))
}

/// A layer's name in messages: its number and main source.
fn layer_label(layer: &LayerSpec) -> String {
    match &layer.tar {
        Some(t) => format!("layer {} ({})", layer.index + 1, t.location.key()),
        None => format!("layer {}", layer.index + 1),
    }
}

/// Layers whose tar is at least this large get a log line when no progress bar is drawn:
/// small builds stay quiet, long ones say what they are doing.
const LOGGED_LAYER_SIZE: u64 = 64 << 20;

/// About how many bytes the canonical tar of `entries` has (headers, padded contents,
/// the end marker); only for progress.
fn tar_size_estimate(entries: &[Entry]) -> u64 {
    let body: u64 = entries
        .iter()
        .map(|e| 512 + e.size().div_ceil(512) * 512)
        .sum();
    body + 1024
}

/// The history `created_by` of a layer: its comment, else what it is made of.
fn created_by(layer: &LayerSpec) -> String {
    if let Some(c) = &layer.comment {
        return c.clone();
    }
    let mut parts = Vec::new();
    if let Some(t) = &layer.tar {
        parts.push(format!("tar {}", t.location.key()));
    }
    if !layer.remove.is_empty() {
        let r: Vec<String> = layer.remove.iter().map(|p| p.display()).collect();
        parts.push(format!("remove {}", r.join(" ")));
    }
    for d in &layer.dirs {
        parts.push(format!("dir {}", d.dest.display()));
    }
    for f in &layer.files {
        parts.push(format!("file {}", f.dest.display()));
    }
    for s in &layer.symlinks {
        parts.push(format!("symlink {} -> {}", s.dest.display(), s.target));
    }
    format!("compose: {}", parts.join(", "))
}

/// Write entries as one canonical tar stream.
fn write_tar(entries: &[Entry], epoch: Epoch, w: &mut dyn Write) -> std::io::Result<()> {
    let mut t = TarWriter::new(w, epoch);
    for e in entries {
        t.append(e)?;
    }
    t.finish()?;
    Ok(())
}

/// Write the merged filesystem as one tar to `out` (atomically) or stdout; its digest.
fn write_rootfs(entries: &[Entry], epoch: Epoch, out: &Path) -> Result<Sha256Digest> {
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout().lock();
        let mut w = HashingWriter::new(std::io::BufWriter::new(stdout));
        write_tar(entries, epoch, &mut w).map_err(|e| Error::io("<stdout>", e))?;
        let (mut bw, digest, _) = w.finish();
        bw.flush().map_err(|e| Error::io("<stdout>", e))?;
        return Ok(digest);
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".compose-")
        .tempfile_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let mut w = HashingWriter::new(std::io::BufWriter::new(tmp));
    write_tar(entries, epoch, &mut w).map_err(|e| Error::io(out, e))?;
    let (bw, digest, _) = w.finish();
    let tmp = bw
        .into_inner()
        .map_err(|e| Error::io(out, e.into_error()))?;
    // Readable by all, as the other outputs and `cp` leave files; not the temp file's 0600.
    image::blobs::set_readable(tmp.path()).map_err(|e| Error::io(out, e))?;
    tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
    Ok(digest)
}

/// The decompressed-size limit of an input of `compressed` bytes, a guard against
/// compression bombs: `SCRATCH_MAX_INPUT_SIZE` bytes when set, else
/// [`layer::decompress::default_limit`] (250 times the compressed size, at least 1 GiB).
fn max_input_size(compressed: u64) -> Result<u64> {
    match std::env::var("SCRATCH_MAX_INPUT_SIZE") {
        Err(_) => Ok(layer::decompress::default_limit(compressed)),
        Ok(v) => v.parse().map_err(|_| {
            Error::usage(
                format!("SCRATCH_MAX_INPUT_SIZE=`{v}` is not a number of bytes"),
                Some("give the largest decompressed size of one input in bytes, e.g. 21474836480"),
            )
        }),
    }
}

fn join(ps: &[Platform]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
