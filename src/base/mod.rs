//! Base images: `[image] base = "REF"` resolved to the base's manifest or index, each
//! platform's image picked from it, its layers brought into the cache byte for byte, its
//! configuration inherited under `[config]`, and what the lock records for it.
//!
//! ```text
//! BaseSpec ─▶ source (registry │ oci: │ oci-archive: │ docker-archive:)
//!          ─▶ resolve (top digest, per platform: manifest, config, layers, diff_ids)
//!          ─▶ fetch_layers (cache, verified, parallel, resumed) ─▶ build
//!             inherit (config)   lock (LockedBase)
//! ```
//!
//! The base's blobs are never rewritten: a build copies them into its output as they are
//! and reads them only to learn the tree its own layers merge over.

pub mod apply;
mod archive;
pub mod cache;
mod error;
pub mod filter;
pub mod inherit;
pub mod lock;
pub mod oci;
pub(crate) mod pull;
pub mod resolve;
pub mod source;

pub use cache::BlobCache;
pub use error::BaseError;
pub use lock::LockedBase;
pub use resolve::{
    fetch_layers, resolve, BaseImage, BaseLayer, BlobRef, ResolveOptions, ResolvedBase,
};
pub use source::Source;

#[cfg(test)]
mod tests;
