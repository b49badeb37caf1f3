//! What can go wrong in the store: a file of it, or a local file being brought in.

use std::path::PathBuf;

/// Errors of the content store, the memos and the layer cache.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A local file could not be read while it was hashed or copied in.
    #[error("reading {}: {source}", .path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache directory or a file in it could not be read or written.
    #[error("cache {}: {source}", .path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache's file system is full.
    #[error("{0}")]
    DiskFull(crate::disk::DiskFull),
    /// A cache key or namespace that is not a plain file name.
    #[error("invalid cache key `{0}`: use a plain name without `/`, `\\` or `..`")]
    BadKey(String),
}

impl StoreError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::Local { .. } => Some("check that the file exists and is readable".into()),
            StoreError::Cache { .. } => Some(
                "check the permissions and free space of the cache directory, or choose another with --cache-dir or SCRATCH_CACHE_DIR".into(),
            ),
            StoreError::BadKey(_) => None,
            StoreError::DiskFull(d) => Some(d.hint()),
        }
    }

    /// A store I/O error about `path`.
    pub(crate) fn cache(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        let path = path.into();
        if crate::disk::is_full(&source) {
            let d = crate::disk::DiskFull::new(&path, "writing into the cache", None);
            return StoreError::DiskFull(d);
        }
        StoreError::Cache { path, source }
    }

    /// The same error, saying how much room the step needs when it is a full disk.
    pub(crate) fn needing(self, need: crate::disk::Need) -> StoreError {
        match self {
            StoreError::DiskFull(mut d) => {
                d.needed = d.needed.or(Some(need));
                StoreError::DiskFull(d)
            }
            other => other,
        }
    }
}
