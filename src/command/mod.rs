//! The commands, one file each, as small verbs over a [`crate::session::Session`]:
//! [`build()`], [`lock()`], [`verify()`] and [`prune()`] (`compose cache prune`). None reaches into
//! another; what they share lives in [`crate::session`].
//!
//! A new command that publishes (`push`) belongs beside them: it takes a build's blob
//! store and assembled index from [`crate::session::produce`] and checks the lock with
//! [`crate::session::pins`] first, as `build --locked` does.

mod build;
pub mod documents;
mod lock;
mod prune;
mod verify;

pub use build::{build, BuildOptions, BuildResult};
pub use lock::{lock, LockOptions, LockOutcome};
pub use prune::{prune, PruneOptions, Pruned};
pub use verify::{verify, verify_with, VerifyOptions, VerifyOutcome};
