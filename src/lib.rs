//! scratch-compose: compose reproducible container root filesystems from a pinned,
//! declarative manifest.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! manifest ─▶ lock ─▶ fetch ─▶ layer (read inputs) ─▶ merge ─▶ image (write) ─▶ verify
//! ```
//!
//! `src/main.rs` is a thin command-line front end over [`build`] and friends, so tests
//! and other programs drive the same code.

pub mod build;
pub mod compression;
pub mod diff;
pub mod digest;
pub mod entry;
pub mod epoch;
pub mod error;
pub mod fetch;
pub mod image;
pub mod layer;
pub mod layer_cache;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod parallel;
pub mod platform;
pub mod ui;

pub use error::{Error, Result};

/// The version of the output format. Bumped whenever the bytes of any output can change
/// for the same inputs (tar canonical form, compressor, block size, JSON shape). A lock
/// recorded at another level is refused rather than silently rebuilt differently.
///
/// History: 1, the first format; 2, gzip members of 256 KiB instead of 1 MiB.
pub const COMPAT_LEVEL: u32 = 2;
