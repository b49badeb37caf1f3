//! The store: everything compose keeps between runs, in one directory that several
//! processes may share.
//!
//! * `blobs/sha256/<hex>`: content-addressed blobs (fetched inputs, local inputs copied in,
//!   outputs `compose lock` keeps), re-hashed before every use;
//! * `derived/<namespace>/<key>`: data derived from blobs (inflated tars), with the
//!   digest it had when made;
//! * remembered digests (`derived/stat/`, `derived/output/`): the one shortcut past
//!   re-hashing, for files whose identity has not changed;
//! * `layers/`: the layer cache, built layers by the key of what they were made from;
//! * `origins/`: which registries and repositories hold which blobs (push mounts from them).
//!
//! The store knows nothing about tar, HTTP or manifests: `fetch` fills it, the commands
//! read from it.

mod blobs;
mod error;
mod layers;
mod memo;
mod origins;

pub use blobs::{default_cache_dir, Blob, Cache};
pub(crate) use blobs::{CopyError, Lookup};
pub use error::StoreError;
pub use layers::{CachedLayer, KeyBuilder, LayerCache, LayerKey};
pub(crate) use memo::open_regular;
pub use memo::{settle_time, LocalInput, Snapshot};
pub use origins::{Origin, Origins};
