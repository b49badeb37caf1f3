//! The base's blobs in the content-addressed cache: manifests, configs and layers kept
//! under their digests, verified on every use, so a second build (or `--offline`) needs
//! neither the registry nor the local layout.

use crate::digest::{HashingWriter, Sha256Digest};
use crate::store::{Cache, Lookup};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use tempfile::NamedTempFile;

/// A blob that arrived with other bytes than its digest names.
#[derive(Debug)]
pub struct Mismatch {
    pub actual: Sha256Digest,
    pub size: u64,
}

/// Why a blob could not be stored.
#[derive(Debug)]
pub enum StoreError {
    /// Reading the source failed.
    Read(io::Error),
    /// The cache failed.
    Cache(String),
    /// The bytes are not the blob.
    Mismatch(Mismatch),
}

/// The cache, seen as a store of blobs by digest.
#[derive(Debug, Clone)]
pub struct BlobCache {
    cache: Cache,
}

impl BlobCache {
    /// Use `cache`.
    pub fn new(cache: Cache) -> BlobCache {
        BlobCache { cache }
    }

    /// Remember that `registry`/`repository` serves blob `d`, so a later push to another
    /// repository of that registry can mount it. A hint: failing to write it is ignored.
    pub fn note_origin(&self, d: &Sha256Digest, registry: &str, repository: &str) {
        let _ = self.cache.origins().record([d], registry, repository);
    }

    /// The verified blob `d`, when the cache has it (a corrupt entry is removed).
    pub fn get(&self, d: &Sha256Digest) -> Result<Option<PathBuf>, String> {
        match self.cache.lookup_remembered(d).map_err(|e| e.to_string())? {
            Lookup::Hit(b) => Ok(Some(b.path)),
            Lookup::Miss | Lookup::Corrupt => Ok(None),
        }
    }

    /// The verified bytes of the small blob `d` (a manifest or config), when present.
    pub fn get_bytes(&self, d: &Sha256Digest) -> Result<Option<Vec<u8>>, String> {
        let path = self.cache.blob_path(d);
        match std::fs::read(&path) {
            Ok(b) if Sha256Digest::of(&b) == *d => Ok(Some(b)),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Keep `bytes` (already verified by the caller) under their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Sha256Digest, String> {
        let d = Sha256Digest::of(bytes);
        if self.cache.blob_path(&d).exists() {
            return Ok(d);
        }
        let tmp = self.temp()?;
        tmp.as_file()
            .write_all(bytes)
            .map_err(|e| format!("{}: {e}", tmp.path().display()))?;
        self.commit(tmp, &d, bytes.len() as u64)?;
        Ok(d)
    }

    /// Stream `src` into the cache as blob `d`; refused (and nothing kept) when the bytes
    /// hash otherwise. `progress` receives each chunk's length.
    pub fn put_stream(
        &self,
        src: &mut dyn Read,
        d: &Sha256Digest,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PathBuf, StoreError> {
        let tmp = self.temp().map_err(StoreError::Cache)?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 16, tmp.as_file()));
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::Read(e)),
            };
            w.write_all(&buf[..n])
                .map_err(|e| StoreError::Cache(e.to_string()))?;
            progress(n as u64);
        }
        let (mut inner, actual, size) = w.finish();
        inner
            .flush()
            .map_err(|e| StoreError::Cache(e.to_string()))?;
        drop(inner);
        if actual != *d {
            return Err(StoreError::Mismatch(Mismatch { actual, size }));
        }
        self.commit(tmp, d, size).map_err(StoreError::Cache)
    }

    /// A temporary file in the cache, for a download in progress.
    pub fn temp(&self) -> Result<NamedTempFile, String> {
        self.cache.temp_file().map_err(|e| e.to_string())
    }

    /// Move a verified temporary file into place as blob `d`.
    pub fn commit(
        &self,
        tmp: NamedTempFile,
        d: &Sha256Digest,
        size: u64,
    ) -> Result<PathBuf, String> {
        self.cache
            .commit(tmp, d, size)
            .map(|b| b.path)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_verified_going_in_and_coming_out() {
        let dir = tempfile::tempdir().unwrap();
        let c = BlobCache::new(Cache::open(dir.path()).unwrap());
        let d = c.put_bytes(b"{}").unwrap();
        assert_eq!(c.get_bytes(&d).unwrap().unwrap(), b"{}");
        let other = Sha256Digest::of(b"x");
        let err = c
            .put_stream(&mut &b"y"[..], &other, &mut |_| {})
            .unwrap_err();
        assert!(matches!(err, StoreError::Mismatch(m) if m.actual == Sha256Digest::of(b"y")));
        assert_eq!(c.get(&other).unwrap(), None);
        let p = c.put_stream(&mut &b"x"[..], &other, &mut |_| {}).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        std::fs::write(&p, b"tampered").unwrap();
        assert_eq!(
            c.get_bytes(&other).unwrap(),
            None,
            "a corrupt entry is dropped"
        );
    }
}
