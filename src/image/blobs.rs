//! A content-addressed blob store: `DIR/blobs/sha256/<hex>`, written atomically.
//!
//! It knows nothing about tar or images: bytes go in, a digest comes out. Blobs are
//! written to a temporary file in the same directory and renamed into place, so a reader
//! never sees a partial blob, and a blob that already exists is left untouched.

use crate::digest::{HashingWriter, Sha256Digest};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tempfile::NamedTempFile;

/// A directory holding `blobs/sha256/<hex>` files, and blobs that live elsewhere (see
/// [`BlobStore::link`]).
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    dir: PathBuf,
    elsewhere: Arc<Mutex<BTreeMap<Sha256Digest, PathBuf>>>,
}

/// A blob being written; [`PendingBlob::commit`] hashes and stores it.
pub struct PendingBlob {
    file: HashingWriter<io::BufWriter<NamedTempFile>>,
    dir: PathBuf,
}

impl BlobStore {
    /// Open (creating when needed) the store rooted at `dir`.
    pub fn new(dir: &Path) -> io::Result<BlobStore> {
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| with_path(&blobs, e))?;
        Ok(BlobStore {
            root: dir.to_path_buf(),
            dir: blobs,
            elsewhere: Arc::default(),
        })
    }

    /// The directory the store was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with digest `d` lives (whether or not it exists).
    pub fn path(&self, d: &Sha256Digest) -> PathBuf {
        let linked = self.elsewhere.lock().ok().and_then(|m| m.get(d).cloned());
        linked.unwrap_or_else(|| self.dir.join(d.hex()))
    }

    /// Store `bytes`; returns their digest and length.
    pub fn put_bytes(&self, bytes: &[u8]) -> io::Result<(Sha256Digest, u64)> {
        let mut p = self.begin()?;
        p.write_all(bytes)?;
        p.commit()
    }

    /// Serve the blob `d` from the file `src` (a verified blob of another store, such as
    /// the cache, that stays in place while the store is used), without copying it. The
    /// file is not touched: not even a hard link, which would change its ctime.
    pub fn link(&self, src: &Path, d: &Sha256Digest) {
        if let Ok(mut m) = self.elsewhere.lock() {
            m.insert(*d, src.to_path_buf());
        }
    }

    /// Start writing a blob whose digest is not known yet.
    pub fn begin(&self) -> io::Result<PendingBlob> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(|e| with_path(&self.dir, e))?;
        Ok(PendingBlob {
            file: HashingWriter::new(io::BufWriter::with_capacity(1 << 16, tmp)),
            dir: self.dir.clone(),
        })
    }
}

impl PendingBlob {
    /// Flush, hash and move the blob into place; returns its digest and length.
    pub fn commit(self) -> io::Result<(Sha256Digest, u64)> {
        let (buf, digest, len) = self.file.finish();
        let tmp = buf.into_inner().map_err(|e| e.into_error())?;
        let dest = self.dir.join(digest.hex());
        if dest.is_file() {
            // Content addressing: the same name means the same bytes.
            return Ok((digest, len));
        }
        // No fsync: the store is a build's staging area, which outputs are copied from
        // and the cache re-verifies.
        set_readable(tmp.path())?;
        tmp.persist(&dest).map_err(|e| with_path(&dest, e.error))?;
        Ok((digest, len))
    }
}

impl Write for PendingBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Blobs are 0644 whatever the umask or the temporary file's 0600 said.
pub(crate) fn set_readable(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o644))
            .map_err(|e| with_path(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Prefix an I/O error with the path it is about.
pub(crate) fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_digest_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::new(dir.path()).unwrap();
        let (d, n) = s.put_bytes(b"hello").unwrap();
        assert_eq!(d, Sha256Digest::of(b"hello"));
        assert_eq!(n, 5);
        assert_eq!(fs::read(s.path(&d)).unwrap(), b"hello");
        assert_eq!(s.put_bytes(b"hello").unwrap(), (d, 5));
        let names: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(d.hex())]);
    }
}
