//! The commands, one file each, as small verbs over a [`crate::session::Session`]:
//! [`build()`], [`lock()`], [`verify()`], [`tree()`] and [`prune()`] (`compose cache prune`). None reaches into
//! another; what they share lives in [`crate::session`].
//!
//! [`push`] publishes what [`build_staged()`] assembles (the image [`build()`] writes, left
//! where its blobs are) through [`crate::registry`]; [`load`] hands it to Docker or podman
//! (`build --load`).

mod build;
pub mod documents;
pub mod load;
mod lock;
mod prune;
pub mod push;
mod tree;
mod verify;

pub use build::{build, build_staged, BuildOptions, BuildResult, Staged};
pub use lock::{lock, LockOptions, LockOutcome};
pub use prune::{prune, PruneOptions, Pruned};
pub use tree::tree;
pub use verify::{verify, verify_with, VerifyOptions, VerifyOutcome};
