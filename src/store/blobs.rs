//! The content-addressed store: inputs and outputs under `blobs/sha256/<hex>` and data
//! derived from them under `derived/<namespace>/<key>`.
//!
//! Everything is written to a uniquely named temporary file in `tmp/` and renamed into
//! place, so several processes can share one store and no partial file is ever visible.
//! Everything is re-hashed before use: a corrupt entry is removed and produced again (the
//! one shortcut, remembered digests, lives in `memo.rs`).

use super::StoreError;
use crate::cleanup::{remove_any, usage};
use crate::digest::{hash_in_background, HashingWriter, Sha256Digest};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tempfile::NamedTempFile;

/// Temporary files older than this belong to a process that died; no download or
/// derivation runs this long between writes.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The cache directory when none is given: `$SCRATCH_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/scratch-compose`, else `$HOME/.cache/scratch-compose`.
pub fn default_cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("SCRATCH_CACHE_DIR") {
        return d;
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(d) = var("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return d.join("scratch-compose");
    }
    match var("HOME") {
        Some(h) => h.join(".cache").join("scratch-compose"),
        None => std::env::temp_dir().join("scratch-compose-cache"),
    }
}

/// A file in the cache and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// What a look-up of a blob found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Hit(Blob),
    Miss,
    /// It was there but its bytes did not match its name; it has been removed.
    Corrupt,
}

/// A temporary file that received a stream, and the stream's digest and length (or why
/// copying failed).
pub(crate) type Received = (NamedTempFile, Result<(Sha256Digest, u64), CopyError>);

/// Why copying a stream into the cache failed: the source or the cache side.
#[derive(Debug)]
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// A handle on a cache directory. Cheap to clone; safe to share between threads and
/// processes.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating as needed) the cache at `root`, removing what killed processes
    /// left in `tmp/`: at once when their owner is gone, after a day when it cannot be
    /// told.
    pub fn open(root: &Path) -> Result<Cache, StoreError> {
        let cache = Cache::open_unswept(root)?;
        cache.remove_stale_temps(STALE_TEMP_AGE);
        Ok(cache)
    }

    /// Like [`Cache::open`], leaving `tmp/` as it is: for `compose cache prune`, which
    /// removes (and counts) the leftovers itself.
    pub fn open_unswept(root: &Path) -> Result<Cache, StoreError> {
        let cache = Cache {
            root: root.to_path_buf(),
        };
        for dir in [
            cache.blobs_dir(),
            cache.tmp_dir(),
            cache.root.join("derived"),
        ] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::cache(&dir, e))?;
        }
        Ok(cache)
    }

    /// Removes what killed processes left in `tmp/`: temporary files and staging
    /// directories whose owner is gone ([`crate::cleanup::Owner::Gone`]), and those whose
    /// owner cannot be told (no owner tag, another pid namespace) once older than `age`.
    /// Best effort: another process may be removing them too. Returns the files and
    /// bytes removed.
    fn remove_stale_temps(&self, age: Duration) -> (u64, u64) {
        use crate::cleanup::{owner_of, Owner};
        let mut freed = (0, 0);
        let Ok(rd) = fs::read_dir(self.tmp_dir()) else {
            return freed;
        };
        let now = SystemTime::now();
        for e in rd.flatten() {
            let stale = match owner_of(&e.file_name().to_string_lossy()) {
                Owner::Gone => true,
                Owner::Me | Owner::Alive => false,
                Owner::Unknown => e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|d| d > age),
            };
            if stale {
                // A killed `compose build` leaves its `.stage-*` directory behind.
                let (files, bytes) = usage(&e.path());
                if remove_any(&e.path()).is_ok() {
                    freed.0 += files;
                    freed.1 += bytes;
                }
            }
        }
        freed
    }

    /// `compose cache prune`: remove what killed builds left in `tmp/` (at once when
    /// their process is gone; an hour after when it cannot be told, so running builds
    /// keep theirs), all derived data (re-created when needed) and the record of blob
    /// origins (a hint for mounts, learnt again by the next pushes), and, with `blobs`,
    /// every blob not in `keep`. Returns the files and bytes freed. Derived data may be in
    /// use by a running build: prune between builds.
    pub fn prune(
        &self,
        keep: &std::collections::BTreeSet<Sha256Digest>,
        blobs: bool,
    ) -> Result<(u64, u64), StoreError> {
        let mut freed = self.remove_stale_temps(Duration::from_secs(3600));
        let mut count = |p: &Path| {
            let (files, bytes) = usage(p);
            freed.0 += files;
            freed.1 += bytes;
        };
        let origins = self.origins_dir();
        for dir in [self.root.join("derived"), origins.clone()] {
            if dir == origins && !dir.exists() {
                continue;
            }
            for e in fs::read_dir(&dir)
                .map_err(|e| StoreError::cache(&dir, e))?
                .flatten()
            {
                count(&e.path());
                remove_any(&e.path()).map_err(|err| StoreError::cache(e.path(), err))?;
            }
        }
        if blobs {
            let dir = self.blobs_dir();
            for e in fs::read_dir(&dir)
                .map_err(|e| StoreError::cache(&dir, e))?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if name
                    .parse::<Sha256Digest>()
                    .is_ok_and(|d| keep.contains(&d))
                {
                    continue;
                }
                count(&e.path());
                remove_any(&e.path()).map_err(|err| StoreError::cache(e.path(), err))?;
            }
        }
        Ok(freed)
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub(super) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the blob with digest `d` lives (whether or not it is there).
    pub fn blob_path(&self, d: &Sha256Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// The blob `d` after re-hashing it; `None` when absent or corrupt (then removed).
    pub fn get_verified(&self, d: &Sha256Digest) -> Result<Option<PathBuf>, StoreError> {
        Ok(match self.lookup(d)? {
            Lookup::Hit(b) => Some(b.path),
            Lookup::Miss | Lookup::Corrupt => None,
        })
    }

    /// Like [`Cache::get_verified`], telling a corrupt entry apart from a missing one.
    pub(crate) fn lookup(&self, d: &Sha256Digest) -> Result<Lookup, StoreError> {
        let path = self.blob_path(d);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Miss),
            Err(e) => return Err(StoreError::cache(&path, e)),
        };
        let (actual, size) = Sha256Digest::of_reader(io::BufReader::new(file))
            .map_err(|e| StoreError::cache(&path, e))?;
        if actual == *d {
            return Ok(Lookup::Hit(Blob {
                path,
                sha256: actual,
                size,
            }));
        }
        remove_if_present(&path)?;
        Ok(Lookup::Corrupt)
    }

    /// Like [`Cache::lookup`], but the digest of a blob unchanged since an earlier
    /// verification (same inode, size, mtime and ctime; see [`Cache::local_digest`]) is
    /// not computed again. A blob written to, truncated or replaced is re-hashed.
    pub(crate) fn lookup_remembered(&self, d: &Sha256Digest) -> Result<Lookup, StoreError> {
        let path = self.blob_path(d);
        match self.local_digest(&path, true) {
            Ok((actual, size)) if actual == *d => Ok(Lookup::Hit(Blob {
                path,
                sha256: actual,
                size,
            })),
            Ok(_) => {
                remove_if_present(&path)?;
                Ok(Lookup::Corrupt)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Lookup::Miss),
            Err(e) => Err(StoreError::cache(&path, e)),
        }
    }

    /// A new, uniquely named temporary file in the cache's `tmp/`; removed when dropped.
    pub fn temp_file(&self) -> Result<NamedTempFile, StoreError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(&crate::cleanup::temp_prefix(&dir, ".part-"))
            .tempfile_in(&dir)
            .map_err(|e| StoreError::cache(&dir, e))
    }

    /// A new, uniquely named temporary directory in the cache's `tmp/` (a build's staging
    /// area); removed when dropped.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(&crate::cleanup::temp_prefix(&dir, ".stage-"))
            .tempdir_in(&dir)
            .map_err(|e| StoreError::cache(&dir, e))
    }

    /// Keep a file the caller already knows to have digest `d` (a blob this process
    /// wrote, such as an output of `compose lock`) as a blob: hard-linked when it can be,
    /// copied otherwise; nothing happens when the blob is already there.
    pub fn keep_blob(&self, src: &Path, d: &Sha256Digest) -> Result<(), StoreError> {
        let dest = self.blob_path(d);
        if dest.exists() {
            return Ok(());
        }
        match fs::hard_link(src, &dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) => self.insert_file(src).map(|_| ()),
        }
    }

    /// Copies `src` into a new temporary file while hashing it, calling `progress` with
    /// each chunk's length.
    pub(crate) fn receive(
        &self,
        src: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Received, StoreError> {
        let tmp = self.temp_file()?;
        let res = copy_hashing(src, tmp.as_file(), progress);
        Ok((tmp, res))
    }

    /// Moves a verified temporary file into `blobs/` under `digest`.
    pub(crate) fn commit(
        &self,
        tmp: NamedTempFile,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<Blob, StoreError> {
        let path = self.blob_path(digest);
        finish_file(tmp, &path)?;
        Ok(Blob {
            path,
            sha256: *digest,
            size,
        })
    }
}

impl Cache {
    /// Keeps `bytes` as a blob; their digest.
    pub fn insert_bytes(&self, bytes: &[u8]) -> Result<Sha256Digest, StoreError> {
        let (tmp, res) = self.receive(&mut &bytes[..], &mut |_| {})?;
        let (digest, size) = match res {
            Ok(v) => v,
            Err(CopyError::Read(e) | CopyError::Write(e)) => {
                return Err(StoreError::cache(tmp.path(), e))
            }
        };
        self.commit(tmp, &digest, size)?;
        Ok(digest)
    }

    /// Hashes the local file `src` and copies it into `blobs/` (replacing any copy there,
    /// which is the same bytes or corrupt).
    pub fn insert_file(&self, src: &Path) -> Result<Blob, StoreError> {
        let local = |e| StoreError::Local {
            path: src.to_path_buf(),
            source: e,
        };
        let (mut f, _) = super::memo::open_regular(src).map_err(local)?;
        let (tmp, res) = self.receive(&mut f, &mut |_| {})?;
        let (digest, size) = match res {
            Ok(v) => v,
            Err(CopyError::Read(e)) => return Err(local(e)),
            Err(CopyError::Write(e)) => return Err(StoreError::cache(tmp.path(), e)),
        };
        // Renaming over an existing blob is atomic and leaves the same (or repaired) bytes.
        self.commit(tmp, &digest, size)
    }

    /// Data derived from inputs (e.g. `("uncompressed", input digest)`), produced once by
    /// `produce` into a temporary file (hashed on the way) and renamed into place; its
    /// digest is recorded in `KEY.sha256` beside it and re-verified on every later use (a
    /// mismatch reproduces it). With `remember`, a file unchanged since an earlier
    /// verification is not hashed again (see [`Cache::local_digest`]), as for cached
    /// blobs: a build on top of an inflated base otherwise re-reads the whole base.
    pub fn derived(
        &self,
        namespace: &str,
        key: &str,
        remember: bool,
        produce: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<PathBuf, StoreError> {
        check_name(namespace)?;
        check_name(key)?;
        let dir = self.root.join("derived").join(namespace);
        fs::create_dir_all(&dir).map_err(|e| StoreError::cache(&dir, e))?;
        let path = dir.join(key);
        let sidecar = dir.join(format!("{key}.sha256"));
        if self.derived_is_valid(&path, &sidecar, remember)? {
            return Ok(path);
        }

        let mut tmp = self.temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        // Hashing and writing overlap with producing (often inflating an input).
        let (_, _, digest, _) = hash_in_background(tmp.as_file_mut(), produce).map_err(|e| {
            let written = fs::metadata(&tmp_path).map_or(0, |m| m.len());
            StoreError::cache(&tmp_path, e).needing(crate::disk::Need::MoreThan(written))
        })?;
        finish_file(tmp, &path)?;

        let mut side = self.temp_file()?;
        let side_path = side.path().to_path_buf();
        writeln!(side, "{}", digest.hex()).map_err(|e| StoreError::cache(&side_path, e))?;
        finish_file(side, &sidecar)?;
        Ok(path)
    }

    /// True when the derived file exists and hashes to what its sidecar records (by its
    /// remembered digest, with `remember`, while the file is unchanged).
    fn derived_is_valid(
        &self,
        path: &Path,
        sidecar: &Path,
        remember: bool,
    ) -> Result<bool, StoreError> {
        let recorded = match fs::read_to_string(sidecar) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::cache(sidecar, e)),
        };
        let Ok(recorded) = recorded.trim().parse::<Sha256Digest>() else {
            return Ok(false);
        };
        match self.local_digest(path, remember) {
            Ok((actual, _)) => Ok(actual == recorded),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::cache(path, e)),
        }
    }
}

/// Namespaces and keys are single path components.
fn check_name(name: &str) -> Result<(), StoreError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || name.ends_with(".sha256");
    if bad {
        return Err(StoreError::BadKey(name.to_string()));
    }
    Ok(())
}

/// Copies while hashing; tells read failures from write failures.
fn copy_hashing(
    src: &mut dyn Read,
    dst: &File,
    progress: &mut dyn FnMut(u64),
) -> Result<(Sha256Digest, u64), CopyError> {
    let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 16, dst));
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
        progress(n as u64);
    }
    let (mut inner, digest, size) = w.finish();
    inner.flush().map_err(CopyError::Write)?;
    Ok((digest, size))
}

/// Makes a finished temporary file world-readable and renames it to `dest`. There is no
/// fsync: every entry is re-hashed before use, so one a crash left damaged is produced
/// again, and the rename alone keeps a killed process from leaving a partial one.
fn finish_file(tmp: NamedTempFile, dest: &Path) -> Result<(), StoreError> {
    let tmp_path = tmp.path().to_path_buf();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp_path, fs::Permissions::from_mode(0o644))
            .map_err(|e| StoreError::cache(&tmp_path, e))?;
    }
    tmp.persist(dest)
        .map_err(|e| StoreError::cache(dest, e.error))?;
    Ok(())
}

/// Remove the file at `path` if there is one.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::cache(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_entries(c: &Cache) -> usize {
        fs::read_dir(c.tmp_dir()).unwrap().count()
    }

    #[test]
    fn insert_then_verify_then_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c")).unwrap();
        let src = dir.path().join("in");
        fs::write(&src, b"hello cache").unwrap();
        let blob = cache.insert_file(&src).unwrap();
        assert_eq!(blob.sha256, Sha256Digest::of(b"hello cache"));
        assert_eq!(blob.size, 11);
        assert_eq!(blob.path, cache.blob_path(&blob.sha256));
        assert_eq!(fs::read(&blob.path).unwrap(), b"hello cache");
        assert_eq!(
            cache.get_verified(&blob.sha256).unwrap(),
            Some(blob.path.clone())
        );
        assert_eq!(tmp_entries(&cache), 0);

        fs::write(&blob.path, b"tampered").unwrap();
        assert_eq!(cache.get_verified(&blob.sha256).unwrap(), None);
        assert!(!blob.path.exists(), "corrupt blob must be removed");
        // Inserting again repairs it.
        assert_eq!(cache.insert_file(&src).unwrap(), blob);
        assert!(cache.get_verified(&blob.sha256).unwrap().is_some());
    }

    #[test]
    fn missing_local_file_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let e = cache.insert_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(e, StoreError::Local { .. }));
        assert!(e.to_string().contains("nope"), "{e}");
        assert_eq!(tmp_entries(&cache), 0);
    }

    #[test]
    fn derived_produces_once_and_reproduces_when_tampered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let mut calls = 0;
        let make = |calls: &mut i32| {
            cache
                .derived("uncompressed", "abc", false, |f| {
                    *calls += 1;
                    f.write_all(b"derived bytes")
                })
                .unwrap()
        };
        let p = make(&mut calls);
        assert_eq!(fs::read(&p).unwrap(), b"derived bytes");
        let p2 = make(&mut calls);
        assert_eq!((p2, calls), (p.clone(), 1));
        fs::write(&p, b"tampered").unwrap();
        make(&mut calls);
        assert_eq!(calls, 2);
        assert_eq!(fs::read(&p).unwrap(), b"derived bytes");
        assert_eq!(tmp_entries(&cache), 0);
    }

    #[test]
    fn a_derived_file_is_remembered_once_settled_and_hashed_again_once_changed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let mut calls = 0;
        let make = |calls: &mut i32, remember: bool| {
            cache
                .derived("tar", "abc", remember, |f| {
                    *calls += 1;
                    f.write_all(b"inflated bytes")
                })
                .unwrap()
        };
        let p = make(&mut calls, true);
        let memo = cache.memo_path("stat", &p).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        // Without `remember` (verify, lock) the digest is not kept.
        make(&mut calls, false);
        assert!(!memo.exists());
        // Settled: hashed once more and remembered by identity.
        make(&mut calls, true);
        assert!(memo.is_file());
        assert_eq!(calls, 1);
        // Any write changes the identity: the memo no longer applies, the file is hashed,
        // found wrong and made again.
        fs::write(&p, b"tampered bytes").unwrap();
        make(&mut calls, true);
        assert_eq!(calls, 2);
        assert_eq!(fs::read(&p).unwrap(), b"inflated bytes");
    }

    #[test]
    fn derived_failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let e = cache
            .derived("ns", "k", false, |f| {
                f.write_all(b"partial")?;
                Err(io::Error::other("boom"))
            })
            .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        assert!(!dir.path().join("derived/ns/k").exists());
        assert_eq!(tmp_entries(&cache), 0);
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        for k in ["", "..", "a/b", "x.sha256"] {
            assert!(matches!(
                cache.derived("ns", k, false, |_| Ok(())),
                Err(StoreError::BadKey(_))
            ));
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // Ours (this process runs) and an untagged one (an older compose's) stay while
        // fresh; the untagged one goes once old.
        let mine = cache.temp_file().unwrap().keep().unwrap().1;
        let fresh = cache.tmp_dir().join(".part-fresh1");
        let stale = cache.tmp_dir().join(".part-stale1");
        fs::write(&fresh, b"").unwrap();
        fs::write(&stale, b"").unwrap();
        let two_days = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        File::options()
            .write(true)
            .open(&mine)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        Cache::open(dir.path()).unwrap();
        assert!(fresh.exists() && mine.exists());
        assert!(!stale.exists());
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_cache_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"").unwrap();
        let e = Cache::open(&file.join("cache")).unwrap_err();
        assert!(matches!(e, StoreError::Cache { .. }));
        assert!(e.to_string().contains("not-a-dir"), "{e}");
        assert!(e.hint().unwrap().contains("--cache-dir"));
    }
}
