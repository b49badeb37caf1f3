//! The orchestration of `compose lock` and `compose build`: the pipeline's stages in order.
//!
//! manifest → pins (manifest + lock) → fetch → read each layer's inputs → merge → write
//! layers → assemble the image → write the output. Each stage lives in its own module;
//! this one only wires them together and decides what is stale.

use crate::compression::Compression;
use crate::digest::{HashingWriter, Sha256Digest};
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::epoch::Epoch;
use crate::fetch::{self, Blob, FetchOptions, FetchRequest, Fetcher, MirrorRule};
use crate::image::{self, BlobStore, HistoryEntry, ImageConfig, ImageName, OutputFormat, PlatformImage};
use crate::layer::{self, local, read::InputFormat, write::TarWriter};
use crate::lock::{InputKind, Lock, LockedInput};
use crate::manifest::{FileSource, LayerSpec, Location, Manifest, SourceSpec};
use crate::merge::{MergeOptions, Tree};
use crate::platform::Platform;
use crate::ui::Ui;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest decompressed size of one input, a guard against compression bombs.
/// Override with `SCRATCH_MAX_INPUT_SIZE` (bytes).
pub const DEFAULT_MAX_INPUT_SIZE: u64 = 64 << 30;

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

/// A resolved input: the verified blob in the cache that stands for it.
#[derive(Debug, Clone)]
struct Resolved {
    kind: InputKind,
    source: String,
    blob: Blob,
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
        let fetcher = Fetcher::new(FetchOptions {
            cache_dir: o.cache_dir.unwrap_or_else(fetch::default_cache_dir),
            mirrors,
            offline: o.offline,
            jobs,
            ui: ui.clone(),
            ..FetchOptions::default()
        })?;
        Ok(Session { manifest, lock_path, fetcher, ui, jobs })
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

/// One input the selected layers need, with the pin the manifest gives it.
#[derive(Debug, Clone)]
struct Wanted<'m> {
    kind: InputKind,
    location: &'m Location,
    manifest_pin: Option<Sha256Digest>,
    /// The platforms of the layers using it; empty when a layer applies to all.
    platforms: Vec<String>,
    /// 1-based number of the first layer using it, for messages.
    layer: usize,
}

/// Why a build's lock is stale: one line each, for the warning or the `--locked` error.
type Staleness = Vec<String>;

impl Session {
    fn settings(&self, cli_compression: Option<Compression>) -> Result<OutputSettings> {
        let env = std::env::var("SOURCE_DATE_EPOCH").ok();
        let epoch = Epoch::resolve(self.manifest.image.source_date_epoch, env.as_deref())
            .map_err(|e| {
                Error::usage(
                    e.to_string(),
                    Some("set SOURCE_DATE_EPOCH to whole seconds, or set [image] source_date_epoch"),
                )
            })?;
        let compression = cli_compression
            .or(self.manifest.image.compression)
            .unwrap_or_default();
        Ok(OutputSettings { epoch, compression })
    }

    /// Every input of the layers that apply to one of `platforms`, each once, in manifest order.
    fn wanted(&self, platforms: &[Platform]) -> Vec<Wanted<'_>> {
        let mut out: Vec<Wanted<'_>> = Vec::new();
        for layer in &self.manifest.layers {
            if !platforms.iter().any(|p| layer_applies(layer, p)) {
                continue;
            }
            let layer_platforms: Vec<String> = match &layer.platforms {
                Some(ps) => ps.iter().map(|p| p.to_string()).collect(),
                None => Vec::new(),
            };
            for (kind, location, manifest_pin) in layer_inputs(layer) {
                let key = source_key(location);
                match out.iter_mut().find(|w| w.kind == kind && source_key(w.location) == key) {
                    Some(w) => {
                        // Used by an all-platform layer: it is needed everywhere.
                        if layer_platforms.is_empty() || w.platforms.is_empty() {
                            w.platforms.clear();
                        } else {
                            for p in &layer_platforms {
                                if !w.platforms.contains(p) {
                                    w.platforms.push(p.clone());
                                }
                            }
                            w.platforms.sort();
                        }
                        if w.manifest_pin.is_none() {
                            w.manifest_pin = manifest_pin;
                        }
                    }
                    None => out.push(Wanted {
                        kind,
                        location,
                        manifest_pin,
                        platforms: layer_platforms.clone(),
                        layer: layer.index + 1,
                    }),
                }
            }
        }
        out
    }

    /// Resolve every wanted input to a verified blob in the cache, and say what in `lock`
    /// is stale. Remote inputs are fetched with their pin (the manifest's, else the lock's);
    /// unpinned ones are an error unless `allow_unpinned` (`compose lock` pins them by
    /// downloading). Local files are hashed into the cache; directories are packed.
    fn resolve(
        &self,
        wanted: &[Wanted<'_>],
        lock: Option<&Lock>,
        allow_unpinned: bool,
    ) -> Result<(Vec<Resolved>, Staleness)> {
        let mut stale = Vec::new();
        let mut requests = Vec::new();
        let mut remote_index = Vec::new();
        for (i, w) in wanted.iter().enumerate() {
            let key = source_key(w.location);
            let locked = lock.and_then(|l| l.find(w.kind, key));
            if let (Some(m), Some(l)) = (w.manifest_pin, locked) {
                if m != l.sha256 {
                    return Err(Error::usage(
                        format!(
                            "layer {}: {key}: the manifest pins {m} but scratch.lock pins {}",
                            w.layer, l.sha256
                        ),
                        Some("run `compose lock` to re-pin it, or correct the sha256 in the manifest"),
                    ));
                }
            }
            if lock.is_some() && locked.is_none() {
                stale.push(format!("{key} is not in scratch.lock"));
            }
            if let Location::Url(url) = w.location {
                let pin = w.manifest_pin.or(locked.map(|l| l.sha256));
                if pin.is_none() && !allow_unpinned {
                    return Err(Error::usage(
                        format!("layer {}: {url} is pinned neither in the manifest nor in scratch.lock", w.layer),
                        Some("run `compose lock` to pin it, or add `sha256 = \"…\"` beside it in the manifest"),
                    ));
                }
                remote_index.push(i);
                requests.push(FetchRequest { url: url.clone(), pin });
            }
        }
        let fetched = self.fetcher.fetch_all(&requests)?;
        let mut blobs: Vec<Option<Blob>> = vec![None; wanted.len()];
        for (i, blob) in remote_index.into_iter().zip(fetched) {
            blobs[i] = Some(blob);
        }
        let mut resolved = Vec::with_capacity(wanted.len());
        for (w, blob) in wanted.iter().zip(blobs) {
            let key = source_key(w.location);
            let blob = match (blob, w.location) {
                (Some(b), _) => b,
                (None, Location::Local { path, .. }) => {
                    let b = match w.kind {
                        InputKind::Dir => self.pack_dir(path, w.layer)?,
                        _ => self.local_file(path, w.layer)?,
                    };
                    if let Some(m) = w.manifest_pin {
                        if m != b.sha256 {
                            return Err(Error::usage(
                                format!(
                                    "layer {}: {}: sha256 mismatch: the manifest pins {m}, the file has {}",
                                    w.layer,
                                    path.display(),
                                    b.sha256
                                ),
                                Some("correct the sha256 in the manifest, or restore the file"),
                            ));
                        }
                    }
                    if let Some(l) = lock.and_then(|l| l.find(w.kind, key)) {
                        if l.sha256 != b.sha256 {
                            stale.push(format!(
                                "{key} changed: scratch.lock has {}, the file now has {}",
                                l.sha256, b.sha256
                            ));
                        }
                    }
                    b
                }
                (None, Location::Url(_)) => unreachable!("every remote input was fetched"),
            };
            resolved.push(Resolved { kind: w.kind, source: key.to_string(), blob });
        }
        Ok((resolved, stale))
    }

    fn local_file(&self, path: &Path, layer: usize) -> Result<Blob> {
        if !path.is_file() {
            return Err(Error::usage(
                format!("layer {layer}: {}: no such file", path.display()),
                Some("local paths are relative to the folder of scratch.toml"),
            ));
        }
        Ok(self.fetcher.cache().insert_file(path)?)
    }

    /// Pack a local directory into a canonical tar in the cache; its digest is the pin.
    fn pack_dir(&self, path: &Path, layer: usize) -> Result<Blob> {
        if !path.is_dir() {
            return Err(Error::usage(
                format!("layer {layer}: {}: no such directory", path.display()),
                Some("local paths are relative to the folder of scratch.toml"),
            ));
        }
        let mut tmp = self.fetcher.cache().temp_file()?;
        local::pack_dir(path, tmp.as_file_mut())?;
        let blob = self.fetcher.cache().insert_file(tmp.path())?;
        Ok(blob)
    }

    /// The lock that describes this manifest now: every input of every platform.
    fn current_lock(&self, resolved: &[Resolved], wanted: &[Wanted<'_>], s: OutputSettings) -> Lock {
        let mut inputs: Vec<LockedInput> = resolved
            .iter()
            .zip(wanted)
            .map(|(r, w)| LockedInput {
                kind: r.kind,
                source: r.source.clone(),
                platforms: w.platforms.clone(),
                sha256: r.blob.sha256,
                size: r.blob.size,
            })
            .collect();
        inputs.sort_by(|a, b| (&a.source, a.kind).cmp(&(&b.source, b.kind)));
        Lock {
            version: crate::lock::LOCK_VERSION,
            compat_level: crate::COMPAT_LEVEL,
            source_date_epoch: s.epoch.0,
            compression: s.compression.to_string(),
            inputs,
            outputs: BTreeMap::new(),
        }
    }

    /// `compose lock`: pin every input; write scratch.lock unless `check`.
    pub fn lock(&self, check: bool) -> Result<LockOutcome> {
        let settings = self.settings(None)?;
        let old = Lock::read(&self.lock_path)?;
        let wanted = self.wanted(&self.manifest.image.platforms);
        let (resolved, _) = self.resolve(&wanted, old.as_ref(), true)?;
        let lock = self.current_lock(&resolved, &wanted, settings);
        let text = lock.to_toml();
        let before = std::fs::read_to_string(&self.lock_path).ok();
        let changed = before.as_deref() != Some(text.as_str());
        if check {
            if changed {
                self.ui.warn(format!("{} is stale: run `compose lock`", self.lock_path.display()));
            }
        } else if changed {
            lock.write(&self.lock_path)?;
            self.ui.info(format!("wrote {}", self.lock_path.display()));
        } else {
            self.ui.info(format!("{} is up to date", self.lock_path.display()));
        }
        Ok(LockOutcome { changed, lock })
    }
}

/// The verified blobs of the resolved inputs, by kind and lock key.
type Blobs = BTreeMap<(InputKind, String), Blob>;

impl Session {
    /// The platforms to build: `--platform` (which must be one of the manifest's), else all.
    fn select_platforms(&self, o: &BuildOptions) -> Result<Vec<Platform>> {
        let all = &self.manifest.image.platforms;
        match &o.platform {
            Some(p) if all.contains(p) => Ok(vec![p.clone()]),
            Some(p) => Err(Error::usage(
                format!("--platform {p} is not one of the manifest's platforms ({})", join(all)),
                Some("pick one of [image] platforms, or add it there"),
            )),
            None if all.len() > 1 && matches!(o.format, Format::DockerArchive | Format::Rootfs) => {
                Err(Error::usage(
                    format!(
                        "the manifest lists several platforms ({}); --format {} holds one",
                        join(all),
                        if o.format == Format::Rootfs { "rootfs" } else { "docker-archive" }
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
        let platforms = self.select_platforms(o)?;
        let lock = Lock::read(&self.lock_path)?;
        let wanted = self.wanted(&platforms);
        let (resolved, mut stale) = self.resolve(&wanted, lock.as_ref(), false)?;
        match &lock {
            None => stale.insert(0, format!("{} does not exist", self.lock_path.display())),
            Some(l) => {
                if l.source_date_epoch != settings.epoch.0 {
                    stale.push(format!(
                        "the epoch is {} but scratch.lock records {}",
                        settings.epoch.0, l.source_date_epoch
                    ));
                }
                if l.compression != settings.compression.to_string() {
                    stale.push(format!(
                        "the compression is {} but scratch.lock records {}",
                        settings.compression, l.compression
                    ));
                }
                let every = self.wanted(&self.manifest.image.platforms);
                for li in &l.inputs {
                    if !every.iter().any(|w| w.kind == li.kind && source_key(w.location) == li.source) {
                        stale.push(format!("scratch.lock pins {}, which the manifest no longer uses", li.source));
                    }
                }
            }
        }
        if !stale.is_empty() {
            if o.locked {
                return Err(Error::usage(
                    format!("scratch.lock is stale (--locked):\n  {}", stale.join("\n  ")),
                    Some("run `compose lock` and commit scratch.lock"),
                ));
            }
            for s in &stale {
                self.ui.warn(format!("stale lock: {s}"));
            }
        }
        let blobs: Blobs = resolved
            .into_iter()
            .map(|r| ((r.kind, r.source), r.blob))
            .collect();

        let digest = if o.format == Format::Rootfs {
            let tree = self.merge_platform(&platforms[0], &blobs, |_, _| Ok(()))?;
            write_rootfs(&tree.entries(), settings.epoch, &o.output)?
        } else {
            let staging = self.fetcher.cache().temp_dir()?;
            let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
            let images = platforms
                .iter()
                .map(|p| self.build_platform(p, &store, settings, &blobs))
                .collect::<Result<Vec<_>>>()?;
            let name = ImageName::new(&self.manifest.image.name, &self.manifest.image.tag)?;
            let assembled = image::assemble(
                &store,
                &images,
                &name,
                settings.epoch,
                &self.manifest.image.annotations,
            )?;
            let format = match o.format {
                Format::Oci => OutputFormat::Oci,
                Format::OciArchive => OutputFormat::OciArchive,
                _ => OutputFormat::DockerArchive,
            };
            image::write_output(&store, &assembled, format, &name, settings.epoch, &o.output)?;
            assembled.top.digest
        };
        Ok(BuildResult { digest })
    }

    /// Merge the layers of one platform, calling `on_layer` with each layer's canonical
    /// entries as it is applied.
    fn merge_platform(
        &self,
        p: &Platform,
        blobs: &Blobs,
        mut on_layer: impl FnMut(&LayerSpec, &[Entry]) -> Result<()>,
    ) -> Result<Tree> {
        let mut tree = Tree::new();
        let opts = MergeOptions::default();
        for layer in self.manifest.layers_for(p) {
            let label = layer_label(layer);
            let entries = self.layer_entries(layer, blobs, &label)?;
            let applied = tree.apply(&label, entries, &opts)?;
            for w in &applied.warnings {
                self.ui.warn(format!("{label}: {w}"));
            }
            on_layer(layer, &applied.layer)?;
        }
        Ok(tree)
    }

    /// Build one platform's image: each layer written as it is merged (or one squashed layer).
    fn build_platform(
        &self,
        p: &Platform,
        store: &BlobStore,
        s: OutputSettings,
        blobs: &Blobs,
    ) -> Result<PlatformImage> {
        let squash = self.manifest.image.squash;
        let mut layers = Vec::new();
        let mut history = Vec::new();
        let tree = self.merge_platform(p, blobs, |layer, entries| {
            if !squash {
                let blob = image::write_layer(store, s.compression, self.jobs, |w| {
                    write_tar(entries, s.epoch, w)
                })?;
                layers.push(blob);
                history.push(HistoryEntry {
                    created_by: created_by(layer),
                    comment: None,
                    empty_layer: false,
                });
            }
            Ok(())
        })?;
        if squash {
            let entries = tree.entries();
            let blob = image::write_layer(store, s.compression, self.jobs, |w| {
                write_tar(&entries, s.epoch, w)
            })?;
            layers.push(blob);
            history.push(HistoryEntry {
                created_by: format!(
                    "compose: {} layers squashed",
                    self.manifest.layers_for(p).count()
                ),
                comment: None,
                empty_layer: false,
            });
        }
        let c = &self.manifest.config;
        Ok(PlatformImage {
            platform: p.clone(),
            config: ImageConfig {
                entrypoint: c.entrypoint.clone(),
                cmd: c.cmd.clone(),
                env: c.env.clone(),
                workdir: c.workdir.clone(),
                user: c.user.clone(),
                labels: c.labels.clone(),
                exposed_ports: c.exposed_ports.clone(),
                volumes: c.volumes.clone(),
                stop_signal: c.stop_signal.clone(),
            },
            layers,
            history,
        })
    }

    /// An input blob as a plain tar: itself, or decompressed once into the cache.
    fn plain_tar(&self, blob: &Blob, label: &str) -> Result<PathBuf> {
        let format = layer::read::detect_format(&blob.path)?;
        if format == InputFormat::Tar {
            return Ok(blob.path.clone());
        }
        let limit = max_input_size()?;
        let path = self.fetcher.cache().derived("tar", &blob.sha256.hex(), |f| {
            let mut w = std::io::BufWriter::new(f);
            layer::read::decompress(&blob.path, format, &mut w, limit, label)
                .map_err(std::io::Error::other)?;
            w.flush()
        })?;
        Ok(path)
    }

    /// The entries of one layer, in the order the merger applies them: the tar, then
    /// `remove` whiteouts, directories, files and symlinks.
    fn layer_entries(&self, layer: &LayerSpec, blobs: &Blobs, label: &str) -> Result<Vec<Entry>> {
        let blob = |kind: InputKind, loc: &Location| -> &Blob {
            &blobs[&(kind, source_key(loc).to_string())]
        };
        let mut entries = Vec::new();
        if let Some(t) = &layer.tar {
            let plain = self.plain_tar(blob(InputKind::Tar, &t.location), label)?;
            entries.extend(layer::read::read_tar(&plain, label)?);
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
                for mut e in layer::read::read_tar(&packed.path, label)? {
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
            let (content, default_mode) = match &f.source {
                FileSource::Inline(text) => (inline(text.as_bytes()), 0o644),
                FileSource::Source(spec) => {
                    let b = blob(InputKind::File, &spec.location);
                    let mode = match &spec.location {
                        Location::Local { path, .. } => local::default_mode(path),
                        Location::Url(_) => 0o644,
                    };
                    (Content::whole_file(b.path.clone(), b.size), mode)
                }
            };
            let mut e = Entry::new(f.dest.clone(), Kind::File(content), f.mode.unwrap_or(default_mode));
            e.uid = f.uid.unwrap_or(0);
            e.gid = f.gid.unwrap_or(0);
            entries.push(e);
        }
        for s in &layer.symlinks {
            let mut e = Entry::new(s.dest.clone(), Kind::Symlink(s.target.as_bytes().to_vec()), 0o777);
            e.uid = s.uid.unwrap_or(0);
            e.gid = s.gid.unwrap_or(0);
            entries.push(e);
        }
        Ok(entries)
    }
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
        Some(t) => format!("layer {} ({})", layer.index + 1, source_key(&t.location)),
        None => format!("layer {}", layer.index + 1),
    }
}

/// The history `created_by` of a layer: its comment, else what it is made of.
fn created_by(layer: &LayerSpec) -> String {
    if let Some(c) = &layer.comment {
        return c.clone();
    }
    let mut parts = Vec::new();
    if let Some(t) = &layer.tar {
        parts.push(format!("tar {}", source_key(&t.location)));
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
    let tmp = bw.into_inner().map_err(|e| Error::io(out, e.into_error()))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(out, e))?;
    tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
    Ok(digest)
}

/// The decompressed-size limit: `SCRATCH_MAX_INPUT_SIZE` bytes, else the default.
fn max_input_size() -> Result<u64> {
    match std::env::var("SCRATCH_MAX_INPUT_SIZE") {
        Err(_) => Ok(DEFAULT_MAX_INPUT_SIZE),
        Ok(v) => v.parse().map_err(|_| {
            Error::usage(
                format!("SCRATCH_MAX_INPUT_SIZE=`{v}` is not a number of bytes"),
                None,
            )
        }),
    }
}

fn join(ps: &[Platform]) -> String {
    ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

fn layer_applies(layer: &LayerSpec, p: &Platform) -> bool {
    layer.platforms.as_ref().is_none_or(|ps| ps.contains(p))
}

/// The pinnable inputs of one layer: its tar, file sources and directory sources.
fn layer_inputs(layer: &LayerSpec) -> Vec<(InputKind, &Location, Option<Sha256Digest>)> {
    let mut v = Vec::new();
    if let Some(t) = &layer.tar {
        v.push((InputKind::Tar, &t.location, t.sha256));
    }
    for f in &layer.files {
        if let FileSource::Source(s) = &f.source {
            v.push((InputKind::File, &s.location, s.sha256));
        }
    }
    for d in &layer.dirs {
        if let Some(loc) = &d.src {
            v.push((InputKind::Dir, loc, None));
        }
    }
    v
}

/// The lock key of a source: the URL as written, or the manifest-relative path.
fn source_key(loc: &Location) -> &str {
    match loc {
        Location::Url(u) => u,
        Location::Local { written, .. } => written,
    }
}
