//! Remembered digests: the one shortcut past re-hashing. [`Cache::local_digest`] remembers
//! a file's digest under `derived/stat/` with its identity (device, inode, size, mtime,
//! ctime), so a cached blob or a local input that no one wrote to since it was hashed is
//! not hashed again; likewise [`Cache::output_unchanged`] remembers under
//! `derived/output/` which build an archive output holds, so an unchanged one is not read
//! back.

use super::blobs::{Blob, Cache, CopyError};
use super::StoreError;
use crate::digest::Sha256Digest;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

impl Cache {
    /// The sha256 and size of the local file `path`, read in place. With `remember`, the
    /// digest is kept with the file's identity and reused while it is unchanged (see
    /// `Cache::remember`).
    pub fn local_digest(&self, path: &Path, remember: bool) -> io::Result<(Sha256Digest, u64)> {
        let started = SystemTime::now();
        let (file, identity) = open_regular(path)?;
        let memo = remember.then(|| self.memo_path("stat", path)).flatten();
        if let Some(d) = memo.as_deref().and_then(|m| read_memo(m, &identity)) {
            return Ok((d, file.metadata()?.len()));
        }
        let (digest, size) = Sha256Digest::of_reader(&file)?;
        if let (Some(m), Ok(after)) = (&memo, file.metadata()) {
            self.remember(m, &after, &identity, started, &digest);
        }
        Ok((digest, size))
    }

    /// A local input, as cheaply as it can be had. With `remember`, the digest of a file
    /// unchanged since an earlier build ([`LocalInput::Known`]). With `in_place`, a file
    /// left alone for a while ([`settle_time`]) is hashed where it is and read from there
    /// by the build ([`LocalInput::InPlace`]), which checks afterwards that it did not
    /// change ([`Snapshot::unchanged`]): any write moves its ctime past the one taken
    /// here; a file changed just now is only hashed ([`LocalInput::Hashed`]), to be
    /// copied if its bytes are needed. Without `in_place` it is copied into `blobs/` while
    /// it is hashed (one read for both).
    pub fn local_input(
        &self,
        path: &Path,
        remember: bool,
        in_place: bool,
    ) -> Result<LocalInput, StoreError> {
        let local = |e| StoreError::Local {
            path: path.to_path_buf(),
            source: e,
        };
        let started = SystemTime::now();
        let (file, identity) = open_regular(path).map_err(local)?;
        let before = file.metadata().map_err(local)?;
        let snapshot = Snapshot {
            path: path.to_path_buf(),
            identity: identity.clone(),
        };
        let memo = remember.then(|| self.memo_path("stat", path)).flatten();
        if let Some(d) = memo.as_deref().and_then(|m| read_memo(m, &identity)) {
            let blob = Blob {
                path: path.to_path_buf(),
                sha256: d,
                size: before.len(),
            };
            return Ok(LocalInput::Known(blob, snapshot));
        }
        if in_place {
            let (digest, size) = Sha256Digest::of_reader(&file).map_err(local)?;
            if !settled(&before, started) {
                return Ok(LocalInput::Hashed(digest, size));
            }
            if let (Some(m), Ok(after)) = (&memo, file.metadata()) {
                self.remember(m, &after, &identity, started, &digest);
            }
            let blob = Blob {
                path: path.to_path_buf(),
                sha256: digest,
                size,
            };
            return Ok(LocalInput::InPlace(blob, snapshot));
        }
        let (tmp, res) = self.receive(&mut &file, &mut |_| {})?;
        let (digest, size) = match res {
            Ok(v) => v,
            Err(CopyError::Read(e)) => return Err(local(e)),
            Err(CopyError::Write(e)) => {
                let need = crate::disk::Need::About(before.len());
                return Err(StoreError::cache(tmp.path(), e).needing(need));
            }
        };
        if let (Some(m), Ok(after)) = (&memo, file.metadata()) {
            self.remember(m, &after, &identity, started, &digest);
        }
        Ok(LocalInput::Stored(self.commit(tmp, &digest, size)?))
    }

    /// Where a memo about the file at `path` lives: `derived/stat/` for digest memos,
    /// `derived/output/` for output memos (what an output was built from, which is not
    /// the digest of its bytes and must never be taken for one).
    pub(super) fn memo_path(&self, namespace: &str, path: &Path) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let abs = std::path::absolute(path).ok()?;
        let name = Sha256Digest::of(abs.as_os_str().as_bytes()).hex();
        Some(self.root().join("derived").join(namespace).join(name))
    }

    /// Keep `digest` in the memo file `memo` for the file that had `identity` when it was
    /// opened (just after `started`) and has metadata `after` once read, as Bazel and git
    /// remember digests: by the file's identity (device, inode, size, mtime and ctime, to
    /// the nanosecond). Any write to a file moves its ctime to the current time, which no
    /// user can set back, so a changed file is never taken for the remembered one,
    /// provided the write cannot fall in the clock tick of the remembered ctime: only a
    /// file last changed [`settle_time`] or more before `started`, and unchanged since,
    /// is remembered. Best effort: a digest not remembered is computed again.
    fn remember(
        &self,
        memo: &Path,
        after: &fs::Metadata,
        identity: &str,
        started: SystemTime,
        digest: &Sha256Digest,
    ) {
        if settled(after, started) && file_identity(after) == identity {
            let _ = self.write_memo(memo, &format!("{identity} {}\n", digest.hex()));
        }
    }

    /// True when the file at `path` is untouched since [`Cache::remember_output`] saw it
    /// hold the output whose bytes `recipe` decides, so it need not be written, nor read to
    /// compare: a rebuild with nothing changed costs the same for any image size.
    pub fn output_unchanged(&self, path: &Path, recipe: &Sha256Digest) -> bool {
        let Some(memo) = self.memo_path("output", path) else {
            return false;
        };
        fs::symlink_metadata(path).is_ok_and(|m| {
            m.is_file() && read_memo(&memo, &file_identity(&m)).as_ref() == Some(recipe)
        })
    }

    /// Remember that the file at `path` holds the output `recipe` decides, when it is the
    /// very file that was there (`before`) when the build began writing at `started`
    /// (the writer found it already right and left it alone) and it had settled by then:
    /// the same rule as digest memos (`Cache::remember`). A file written just now is
    /// remembered by the next build that finds it unchanged. Best effort.
    pub fn remember_output(
        &self,
        path: &Path,
        before: &fs::Metadata,
        started: SystemTime,
        recipe: &Sha256Digest,
    ) {
        if !before.is_file() {
            return;
        }
        let (Some(memo), Ok(after)) = (self.memo_path("output", path), fs::symlink_metadata(path))
        else {
            return;
        };
        self.remember(&memo, &after, &file_identity(before), started, recipe);
    }

    fn write_memo(&self, dest: &Path, text: &str) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix(&crate::cleanup::temp_prefix(&tmp_dir, ".part-"))
            .tempfile_in(&tmp_dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// How long a file must have been left alone before its digest is remembered: 100 ms
/// (many clock ticks) where timestamps have sub-second precision, 2 s on file systems
/// whose timestamps are whole seconds (or two, as FAT's are).
pub fn settle_time(m: &fs::Metadata) -> Duration {
    use std::os::unix::fs::MetadataExt;
    if m.mtime_nsec() == 0 && m.ctime_nsec() == 0 {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(100)
    }
}

/// A local input as [`Cache::local_input`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalInput {
    /// Unchanged since an earlier build: its digest, not read. The blob is the file
    /// itself, to be read in place (then checked with the snapshot) or copied.
    Known(Blob, Snapshot),
    /// Hashed in place: the blob is the file itself, to be checked with the snapshot
    /// after the build has read it.
    InPlace(Blob, Snapshot),
    /// Changed moments ago: hashed in place, to be copied into the cache if needed.
    Hashed(Sha256Digest, u64),
    /// Read, and now a blob of the cache.
    Stored(Blob),
}

/// A file's identity when it was hashed: a build that reads it in place checks that it
/// still has it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    identity: String,
}

impl Snapshot {
    /// True when the file at the path is still the one that was hashed (same device,
    /// inode, size, mtime and ctime).
    pub fn unchanged(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| file_identity(&m) == self.identity)
    }
}

/// True when the file was last changed [`settle_time`] or more before `started`.
fn settled(m: &fs::Metadata, started: SystemTime) -> bool {
    started
        .checked_sub(settle_time(m))
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .is_some_and(|limit| last_change(m) <= limit)
}

/// Open a regular file (following symlinks) and take its identity. Anything else is
/// refused before it is opened: opening a FIFO waits for a writer, and a device such as
/// `/dev/zero` never ends.
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, String)> {
    check_regular(path, &fs::metadata(path)?)?;
    let file = File::open(path)?;
    let m = file.metadata()?;
    check_regular(path, &m)?;
    Ok((file, file_identity(&m)))
}

/// An `InvalidInput` error naming what `path` is, unless it is a regular file.
fn check_regular(path: &Path, m: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is {what}, not a regular file", path.display()),
    ))
}

/// The later of a file's mtime and ctime, since the Unix epoch.
fn last_change(m: &fs::Metadata) -> Duration {
    use std::os::unix::fs::MetadataExt;
    let at = |s: i64, ns: i64| Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32);
    at(m.ctime(), m.ctime_nsec()).max(at(m.mtime(), m.mtime_nsec()))
}

/// The digest a memo file records for a file of this identity.
fn read_memo(memo: &Path, identity: &str) -> Option<Sha256Digest> {
    parse_memo(&fs::read_to_string(memo).ok()?, identity)
}

/// What identifies one version of a file's bytes, in the form a digest memo records.
fn file_identity(m: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "v1 {} {} {} {}.{:09} {}.{:09}",
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

/// The digest a memo records for a file of this identity.
fn parse_memo(text: &str, identity: &str) -> Option<Sha256Digest> {
    let (id, digest) = text.trim_end().rsplit_once(' ')?;
    if id != identity {
        return None;
    }
    digest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_local_input_is_read_in_place_and_a_fresh_one_only_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c")).unwrap();
        let src = dir.path().join("in");
        fs::write(&src, b"local input").unwrap();
        // Just written: not settled, so only hashed, to be copied when needed.
        assert_eq!(
            cache.local_input(&src, true, true).unwrap(),
            LocalInput::Hashed(Sha256Digest::of(b"local input"), 11)
        );
        assert_eq!(fs::read_dir(cache.blobs_dir()).unwrap().count(), 0);
        std::thread::sleep(Duration::from_millis(150));
        let LocalInput::InPlace(blob, snapshot) = cache.local_input(&src, false, true).unwrap()
        else {
            panic!("a settled file is read in place");
        };
        assert_eq!(blob.path, src);
        assert_eq!(blob.sha256, Sha256Digest::of(b"local input"));
        assert_eq!(fs::read_dir(cache.blobs_dir()).unwrap().count(), 0);
        assert!(snapshot.unchanged());
        fs::write(&src, b"local inpuT").unwrap();
        assert!(!snapshot.unchanged(), "a write of the same size is seen");
        // Without in_place (lock, verify) it is always copied.
        std::thread::sleep(Duration::from_millis(150));
        assert!(matches!(
            cache.local_input(&src, false, false).unwrap(),
            LocalInput::Stored(_)
        ));
    }
}
