//! What can go wrong getting a base image, each error naming the base as written and the
//! manifest, config or blob concerned.

use crate::registry::RegistryError;

/// A base image that cannot be resolved, fetched or used.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The registry failed or refused (after its retries).
    #[error("base `{base}`: {source}")]
    Registry {
        base: String,
        #[source]
        source: RegistryError,
    },
    /// A local layout or archive that cannot be read, or a cache failure.
    #[error("base `{base}`: {why}")]
    Read { base: String, why: String },
    /// A Docker v2 schema 1 manifest: unsigned layers and no content-addressed config.
    #[error("base `{base}`: manifest {what} is Docker's schema 1, which compose does not read")]
    Schema1 { base: String, what: String },
    /// A manifest, index or config that is not what its media type says.
    #[error("base `{base}`: {what}: {why}")]
    BadDocument {
        base: String,
        what: String,
        why: String,
    },
    /// A media type that is not an image, an index or a layer compose can keep.
    #[error("base `{base}`: {what} has the media type `{media_type}`, which compose cannot use")]
    MediaType {
        base: String,
        what: String,
        media_type: String,
    },
    /// The base has no image for a platform of `[image] platforms`.
    #[error("base `{base}` has no image for {platform}; it offers {}", if offered.is_empty() { "none".to_string() } else { offered.join(", ") })]
    MissingPlatform {
        base: String,
        platform: String,
        offered: Vec<String>,
    },
    /// A manifest or blob whose bytes do not match the digest that names it.
    #[error(
        "base `{base}`: {what} {expected} does not match its digest: its bytes hash to {actual}"
    )]
    DigestMismatch {
        base: String,
        what: String,
        expected: String,
        actual: String,
    },
    /// A tag with no digest in the manifest or the lock.
    #[error(
        "base `{base}` is not pinned: it names a tag and scratch.lock records no digest for it"
    )]
    NotPinned { base: String },
    /// `--offline` and something the build needs is not in the cache.
    #[error(
        "base `{base}`: {what} {digest} is not in the cache and --offline forbids fetching it"
    )]
    Offline {
        base: String,
        what: String,
        digest: String,
    },
}

impl BaseError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            BaseError::Registry { source, .. } => return source.hint(),
            BaseError::Read { .. } => {
                "check the path after oci:, oci-archive: or docker-archive: (relative to scratch.toml)".into()
            }
            BaseError::Schema1 { .. } => {
                "pull and push the image again with a current tool (`skopeo copy` converts it to schema 2), or pin a newer tag".into()
            }
            BaseError::BadDocument { .. } | BaseError::MediaType { .. } => {
                "the base must be an OCI or Docker v2 schema 2 image or index".into()
            }
            BaseError::MissingPlatform { .. } => {
                "remove the platform from [image] platforms, or choose a base that has it".into()
            }
            BaseError::DigestMismatch { .. } => {
                "the source or the cache holds altered bytes; if the digest came from scratch.lock, run `compose lock --update base` after checking why it changed".into()
            }
            BaseError::NotPinned { .. } => {
                "run `compose lock` to record the tag's digest, or write REF@sha256:… in [image] base".into()
            }
            BaseError::Offline { .. } => {
                "run the same command once without --offline to fill the cache".into()
            }
        })
    }
}
