//! Why writing the remote cache failed (reading never fails a build: a cache that cannot
//! be read is a warning, and the layers are built here).

use crate::registry::RegistryError;

/// A failed `--cache-to`, naming the cache reference.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A cache reference or setting that does not parse.
    #[error("remote cache: {0}")]
    Setting(String),
    /// The registry refused or failed.
    #[error("writing the layer cache {reference}: {source}")]
    Registry {
        reference: String,
        #[source]
        source: RegistryError,
    },
    /// A blob the export needs is neither here nor in the registry.
    #[error("writing the layer cache {reference}: {why}")]
    Incomplete { reference: String, why: String },
}

impl CacheError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            CacheError::Setting(_) => Some(
                "write --cache-from HOST[:PORT]/REPOSITORY[:TAG] and --cache-to \
                 HOST[:PORT]/REPOSITORY[:TAG][,max=SIZE]"
                    .into(),
            ),
            CacheError::Registry { source, .. } => source.hint(),
            CacheError::Incomplete { .. } => {
                Some("build again: the layers are rebuilt and the cache written whole".into())
            }
        }
    }
}
