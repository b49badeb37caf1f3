//! The inputs of a build: each one's content digest, known as cheaply as it can be, and
//! its verified blob once a layer must be read from it. A build whose layers all come
//! from the layer cache never fetches its remote inputs nor copies its local ones.
//!
//! One map holds every input's [`State`]: known by digest only, remembered in place, or
//! ready to read.

use super::pins;
use super::{BuildError, Session};
use crate::digest::Sha256Digest;
use crate::fetch::FetchRequest;
use crate::layer::{self, local, InputFormat};
use crate::lock::{InputKind, Lock};
use crate::manifest::{InputRef, LayerSpec, Location};
use crate::platform::Platform;
use crate::store::{Blob, LocalInput, Snapshot};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An input's key: its kind and lock key (the URL or path as written).
pub type InputKey = (InputKind, String);

/// Where an input stands.
#[derive(Debug, Clone)]
pub enum State {
    /// Known by digest only: to be fetched, copied or packed when a layer needs it, with
    /// the pin to enforce then.
    Pending(InputRef, Option<Sha256Digest>),
    /// A local file known by a remembered digest, to be read in place when needed.
    Remembered(Blob, Snapshot),
    /// Ready to read: a verified blob of the store, or a local file read in place (with
    /// the snapshot to check once it has been read).
    Ready(Blob, Option<Snapshot>),
}

/// One input of a build.
#[derive(Debug, Clone)]
pub struct Input {
    /// The content digest the layer keys are made from.
    pub digest: Sha256Digest,
    /// Its size in bytes, when known (a remote input pinned only in the manifest and not
    /// fetched yet has none).
    pub size: Option<u64>,
    /// For a local file: the mode a `[[layer.file]]` gets when the manifest leaves it to
    /// the file, read once so that the layer keys and the layers agree.
    pub default_mode: Option<u32>,
    pub state: State,
}

/// Every input of a build, and the plain tars made of them.
#[derive(Debug, Default)]
pub struct Inputs {
    map: BTreeMap<InputKey, Input>,
    /// Tar inputs already made plain (inflated when compressed) by this build, by the
    /// input's digest.
    pub plain: BTreeMap<Sha256Digest, PathBuf>,
    /// Identified with memos (a build, not verify or lock): inflated inputs in the store
    /// are then verified with memos too.
    pub remembered: bool,
}

fn key_of(input: &InputRef) -> InputKey {
    (input.kind, input.key.clone())
}

fn default_mode(input: &InputRef) -> Option<u32> {
    match (input.kind, &input.location) {
        (InputKind::File, Location::Local { path, .. }) => Some(local::default_mode(path)),
        _ => None,
    }
}

impl Inputs {
    /// Inputs that are all ready to read, with their blobs in input order (and, for a
    /// local file read in place, the snapshot to check once it has been read).
    pub fn complete(
        inputs: &[(InputRef, Option<Sha256Digest>)],
        blobs: &[(Blob, Option<Snapshot>)],
    ) -> Inputs {
        let mut out = Inputs::default();
        for ((input, _), (blob, snapshot)) in inputs.iter().zip(blobs) {
            out.insert_ready_with(input, blob.clone(), snapshot.clone());
        }
        out
    }

    fn insert_ready(&mut self, input: &InputRef, blob: Blob) {
        self.insert_ready_with(input, blob, None);
    }

    fn insert_ready_with(&mut self, input: &InputRef, blob: Blob, snapshot: Option<Snapshot>) {
        let i = Input {
            digest: blob.sha256,
            size: Some(blob.size),
            default_mode: default_mode(input),
            state: State::Ready(blob, snapshot),
        };
        self.map.insert(key_of(input), i);
    }

    /// The input of this kind at `loc`.
    pub fn get(&self, kind: InputKind, loc: &Location) -> &Input {
        &self.map[&(kind, loc.key().to_string())]
    }

    /// The digest and size of the input of this kind and source, when this command
    /// identified it and knows both.
    pub fn known(&self, kind: InputKind, key: &str) -> Option<(Sha256Digest, u64)> {
        let i = self.map.get(&(kind, key.to_string()))?;
        Some((i.digest, i.size?))
    }

    /// The mode a `[[layer.file]]` from the local file at `loc` gets when the manifest
    /// leaves it to the file.
    pub fn default_mode(&self, loc: &Location) -> Option<u32> {
        self.map
            .get(&(InputKind::File, loc.key().to_string()))
            .and_then(|i| i.default_mode)
    }

    /// The digest of the input of this kind at `loc`.
    pub fn digest(&self, kind: InputKind, loc: &Location) -> Sha256Digest {
        self.get(kind, loc).digest
    }

    /// The readable blob of the input of this kind at `loc`; [`Session::ensure_blobs`]
    /// makes every input readable.
    pub fn blob(&self, kind: InputKind, loc: &Location) -> &Blob {
        match &self.get(kind, loc).state {
            State::Ready(b, _) => b,
            _ => panic!("{} read before it was brought in", loc.key()),
        }
    }

    /// An error when a local input read in place changed since it was hashed: what was
    /// read may not be what its digest (and the layer cache key) says.
    pub fn check_unchanged(&self) -> Result<()> {
        for i in self.map.values() {
            if let State::Ready(_, Some(s)) = &i.state {
                if !s.unchanged() {
                    return Err(BuildError::ChangedWhileReading(s.path.clone()).into());
                }
            }
        }
        Ok(())
    }
}

impl Session {
    /// Learn the digest of every input of the layers that apply to `platforms`, as cheaply
    /// as it can be known: a remote input's pin (it is fetched, and checked, only when a
    /// layer must be built); a local file's sha256, remembered from an earlier build while
    /// the file is unchanged (with `remember`), else hashed as it is copied into the store;
    /// a packed directory's.
    /// Pins in the manifest and pins of remote inputs are enforced (a mismatch is an
    /// error); a local input that no longer matches the lock only makes it stale (see
    /// [`super::staleness`]).
    pub fn identify(
        &self,
        lock: Option<&Lock>,
        platforms: &[Platform],
        remember: bool,
        in_place: bool,
    ) -> Result<Inputs> {
        let wanted = pins::wanted(self.manifest(), lock, platforms, &self.file_names())?;
        for p in &wanted {
            if let (Some(d), Some(n)) = (p.sha256, p.size) {
                self.fetcher().expect_size(d, n);
            }
        }
        // Local files are hashed (when not remembered) on up to `jobs` threads at once.
        let locals: Vec<(&Path, &InputRef)> = wanted
            .iter()
            .filter_map(|p| local_file(&p.input).map(|path| (path, &p.input)))
            .collect();
        let mut found_locals = crate::parallel::map(self.jobs(), &locals, |(path, input)| {
            self.local_input(path, input, remember, in_place)
        })
        .into_iter();
        let mut inputs = Inputs {
            remembered: remember,
            ..Inputs::default()
        };
        let mut now = Vec::new();
        for p in wanted {
            let pin = if p.enforced() { p.sha256 } else { None };
            let key = key_of(&p.input);
            let mode = default_mode(&p.input);
            let input = |digest, size, state| Input {
                digest,
                size,
                default_mode: mode,
                state,
            };
            match (&p.input.location, pin) {
                (Location::Url(_), Some(pin)) => {
                    let state = State::Pending(p.input.clone(), Some(pin));
                    inputs.map.insert(key, input(pin, p.size, state));
                }
                _ if local_file(&p.input).is_some() => {
                    let found = found_locals
                        .next()
                        .expect("one result for each local file")?;
                    let (digest, size) = match &found {
                        LocalInput::Known(blob, _)
                        | LocalInput::InPlace(blob, _)
                        | LocalInput::Stored(blob) => (blob.sha256, blob.size),
                        LocalInput::Hashed(digest, size) => (*digest, *size),
                    };
                    self.check_pin(&p.input, pin, &digest)?;
                    let state = match found {
                        LocalInput::Known(blob, snapshot) if in_place => {
                            State::Remembered(blob, snapshot)
                        }
                        LocalInput::Known(..) | LocalInput::Hashed(..) => {
                            State::Pending(p.input.clone(), pin)
                        }
                        LocalInput::InPlace(blob, snapshot) => State::Ready(blob, Some(snapshot)),
                        LocalInput::Stored(blob) => State::Ready(blob, None),
                    };
                    inputs.map.insert(key, input(digest, Some(size), state));
                }
                _ => now.push((p, pin)),
            }
        }
        let actual = self.materialise(now.iter().map(|(p, pin)| (&p.input, *pin)))?;
        for ((p, _), blob) in now.iter().zip(actual) {
            inputs.insert_ready(&p.input, blob);
        }
        Ok(inputs)
    }

    /// Like [`Session::identify`], with every input fetched, copied (never remembered) or
    /// packed into the store right away.
    pub fn resolve(&self, lock: Option<&Lock>, platforms: &[Platform]) -> Result<Inputs> {
        let mut inputs = self.identify(lock, platforms, false, false)?;
        self.ensure_blobs(&mut inputs)?;
        Ok(inputs)
    }

    /// Bring every input [`Session::identify`] only hashed into the store, verified, and
    /// check that each still has the digest the layer keys were made from.
    pub fn ensure_blobs(&self, inputs: &mut Inputs) -> Result<()> {
        self.ensure_where(inputs, |_| true)
    }

    /// Like [`Session::ensure_blobs`], for the inputs `layers` read only: the inputs of
    /// layers taken from the layer cache are never fetched, copied or read.
    pub fn ensure_layer_inputs(&self, inputs: &mut Inputs, layers: &[&LayerSpec]) -> Result<()> {
        let mut used: Vec<InputKey> = Vec::new();
        for l in layers {
            if let Some(t) = &l.tar {
                used.push((InputKind::Tar, t.location.key().to_string()));
            }
            for d in &l.dirs {
                if let Some(src) = &d.src {
                    used.push((InputKind::Dir, src.key().to_string()));
                }
            }
            for f in &l.files {
                if let crate::manifest::FileSource::Source(spec) = &f.source {
                    used.push((InputKind::File, spec.location.key().to_string()));
                }
            }
            for c in &l.copies {
                if let Some(input) = self.manifest().named_inputs.get(&c.from) {
                    for v in &input.variants {
                        used.push((InputKind::Tar, v.source.location.key().to_string()));
                    }
                }
            }
        }
        self.ensure_where(inputs, |k| used.contains(k))
    }

    fn ensure_where(&self, inputs: &mut Inputs, wanted: impl Fn(&InputKey) -> bool) -> Result<()> {
        let mut pending = Vec::new();
        for (_, i) in inputs.map.iter_mut().filter(|(k, _)| wanted(k)) {
            match &i.state {
                State::Remembered(blob, snapshot) => {
                    i.state = State::Ready(blob.clone(), Some(snapshot.clone()));
                }
                State::Pending(input, pin) => pending.push((input.clone(), *pin, i.digest)),
                State::Ready(..) => {}
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let actual = self.materialise(pending.iter().map(|(i, pin, _)| (i, *pin)))?;
        self.ui().debug("inputs in the cache");
        for ((input, _, before), blob) in pending.iter().zip(actual) {
            if blob.sha256 != *before {
                return Err(BuildError::InputChanged {
                    input: input.describe(),
                    before: *before,
                    now: blob.sha256,
                }
                .into());
            }
            inputs.insert_ready(input, blob);
        }
        Ok(())
    }

    /// Like [`Session::materialise`], except that a local file left alone for a while
    /// ([`crate::store::settle_time`]) is hashed and read where it is, with the snapshot to
    /// check once it has been read ([`Inputs::check_unchanged`]), never copied into the
    /// store: `compose lock` of a 200 MB local tar must not double its disk use. A file
    /// changed just now is copied, as its digest could not be trusted in place.
    pub fn materialise_in_place(
        &self,
        inputs: &[(InputRef, Option<Sha256Digest>)],
    ) -> Result<Vec<(Blob, Option<Snapshot>)>> {
        let locals: Vec<(&Path, &InputRef)> = inputs
            .iter()
            .filter_map(|(i, _)| local_file(i).map(|path| (path, i)))
            .collect();
        let mut found = crate::parallel::map(self.jobs(), &locals, |(path, input)| {
            self.local_input(path, input, false, true)
        })
        .into_iter();
        let mut out: Vec<Option<(Blob, Option<Snapshot>)>> = Vec::with_capacity(inputs.len());
        let mut rest = Vec::new();
        for (input, pin) in inputs {
            if local_file(input).is_some() {
                if let LocalInput::InPlace(blob, snapshot) =
                    found.next().expect("one result for each local file")?
                {
                    self.check_pin(input, *pin, &blob.sha256)?;
                    out.push(Some((blob, Some(snapshot))));
                    continue;
                }
            }
            rest.push((input, *pin));
            out.push(None);
        }
        let mut copied = self.materialise(rest.into_iter())?.into_iter();
        Ok(out
            .into_iter()
            .map(|b| b.unwrap_or_else(|| (copied.next().expect("one blob per input"), None)))
            .collect())
    }

    /// Fetch, copy or pack each input, checking `pin` when given; the blobs in input order.
    pub fn materialise<'a>(
        &self,
        inputs: impl Iterator<Item = (&'a InputRef, Option<Sha256Digest>)>,
    ) -> Result<Vec<Blob>> {
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
        let remote: Vec<&InputRef> = inputs
            .iter()
            .filter(|(i, _)| matches!(i.location, Location::Url(_)))
            .map(|(i, _)| *i)
            .collect();
        let mut fetched = self
            .fetcher()
            .fetch_all(&requests)
            .map_err(|e| self.explain_fetch(e, &remote))?
            .into_iter();
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
            crate::parallel::map(self.jobs(), &locals, |(path, input)| match input.kind {
                InputKind::Dir => self.pack_dir(path, input),
                _ => self.copy_local_file(path, input),
            })
            .into_iter();
        let mut in_order = Vec::with_capacity(inputs.len());
        for (input, pin) in inputs {
            let blob = match &input.location {
                Location::Url(_) => fetched.next().expect("one blob per request"),
                Location::Local { .. } => packed.next().expect("one blob per local input")?,
            };
            self.check_pin(input, pin, &blob.sha256)?;
            in_order.push(blob);
        }
        Ok(in_order)
    }

    fn copy_local_file(&self, path: &Path, input: &InputRef) -> Result<Blob> {
        match self.store().insert_file(path) {
            Err(crate::store::StoreError::Local { source, .. }) => {
                Err(unreadable_file(input, path, source))
            }
            other => Ok(other?),
        }
    }

    /// Pack a local directory into a canonical tar in the store; its digest is the pin.
    fn pack_dir(&self, path: &Path, input: &InputRef) -> Result<Blob> {
        if !path.exists() {
            return Err(BuildError::Missing {
                input: input.describe(),
                path: path.to_path_buf(),
            }
            .into());
        }
        if !path.is_dir() {
            return Err(BuildError::NotADirectory {
                input: input.describe(),
                path: path.to_path_buf(),
            }
            .into());
        }
        let mut tmp = self.store().temp_file()?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            local::pack_dir(path, &mut w)?;
            w.flush().map_err(|e| Error::io(path, e))?;
        }
        Ok(self.store().insert_file(tmp.path())?)
    }

    /// A local file input, remembered or copied into the store (see
    /// [`crate::store::Cache::local_input`]).
    fn local_input(
        &self,
        path: &Path,
        input: &InputRef,
        remember: bool,
        in_place: bool,
    ) -> Result<LocalInput> {
        match self.store().local_input(path, remember, in_place) {
            Err(crate::store::StoreError::Local { source, .. }) => {
                Err(unreadable_file(input, path, source))
            }
            other => Ok(other?),
        }
    }

    /// The plain tars of the tar inputs that `layers` read, made on up to `jobs` threads
    /// at once when there are several (one is made as its layer is read): inflating a
    /// compressed input is otherwise a stretch on one core.
    pub fn inflate_ahead(
        &self,
        layers: &[&LayerSpec],
        inputs: &Inputs,
    ) -> Result<BTreeMap<Sha256Digest, PathBuf>> {
        let mut tars: Vec<(&Blob, String)> = Vec::new();
        for layer in layers {
            let Some(t) = &layer.tar else { continue };
            let blob = inputs.blob(InputKind::Tar, &t.location);
            if !tars.iter().any(|(b, _)| b.sha256 == blob.sha256) {
                tars.push((blob, super::recipe::layer_label(layer)));
            }
        }
        if tars.len() < 2 {
            return Ok(BTreeMap::new());
        }
        let plain = crate::parallel::map(self.jobs(), &tars, |(blob, label)| {
            self.plain_tar(blob, label, inputs.remembered)
        });
        tars.iter()
            .zip(plain)
            .map(|((blob, _), path)| Ok((blob.sha256, path?)))
            .collect()
    }

    /// An input blob as a plain tar: itself, or decompressed once into the store (and
    /// verified there with memos when `remember`).
    pub fn plain_tar(&self, blob: &Blob, label: &str, remember: bool) -> Result<PathBuf> {
        let format = layer::detect_format(&blob.path).map_err(|e| e.named(label))?;
        if format == InputFormat::Tar {
            return Ok(blob.path.clone());
        }
        let limit = max_input_size(blob.size)?;
        // A bad input is the input's fault, not the store's: keep its own error and hint.
        let mut input_error = None;
        let derived = self
            .store()
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
            // The input's "could not write" is the disk's fault: name the disk.
            (Err(e @ crate::store::StoreError::DiskFull(_)), _) => return Err(e.into()),
            (Err(_), Some(e)) => return Err(e.into()),
            (Err(e), None) => return Err(e.into()),
        };
        self.ui()
            .debug(format!("{label}: {} input ready", format.name()));
        Ok(path)
    }
}

/// The path of an input that is a local file (a tar or a single file), not a directory.
fn local_file(input: &InputRef) -> Option<&Path> {
    match (&input.location, input.kind) {
        (Location::Local { path, .. }, InputKind::Tar | InputKind::File) => Some(path),
        _ => None,
    }
}

/// The error for a local file input that cannot be read: it does not exist, it is not a
/// regular file (the store's refusal names what it is), or the system's reason.
fn unreadable_file(input: &InputRef, path: &Path, e: std::io::Error) -> Error {
    let input = input.describe();
    match e.kind() {
        std::io::ErrorKind::NotFound => BuildError::Missing {
            input,
            path: path.to_path_buf(),
        }
        .into(),
        std::io::ErrorKind::InvalidInput => BuildError::NotAFile {
            input,
            reason: e.to_string(),
        }
        .into(),
        _ => crate::store::StoreError::Local {
            path: path.to_path_buf(),
            source: e,
        }
        .into(),
    }
}

/// The decompressed-size limit of an input of `compressed` bytes, a guard against
/// compression bombs: `SCRATCH_MAX_INPUT_SIZE` bytes when set, else
/// [`layer::default_limit`] (250 times the compressed size, at least 1 GiB).
fn max_input_size(compressed: u64) -> Result<u64> {
    match std::env::var("SCRATCH_MAX_INPUT_SIZE") {
        Err(_) => Ok(layer::default_limit(compressed)),
        Ok(v) => v.parse().map_err(|_| BuildError::MaxInputSize(v).into()),
    }
}
