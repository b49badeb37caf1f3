//! scratch-compose: compose reproducible container root filesystems from a pinned,
//! declarative manifest.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! manifest ─▶ lock ─▶ fetch ─▶ layer (read inputs) ─▶ merge ─▶ image (write) ─▶ verify
//! ```
//!
//! Beside the stages: [`store`] keeps what lasts between runs (blobs, memos, the layer
//! cache); [`session`] holds what the commands share (settings, pins, inputs, the recipe
//! of a layer, producing images); [`command`] has one small file per command. `src/main.rs`
//! is a thin command-line front end over [`command`], so tests and other programs drive
//! the same code. [`compat`] is the ground floor: the output format's version.

pub mod accounts;
pub mod attest;
pub mod base;
pub mod cache;
pub mod cleanup;
pub mod cli;
pub mod command;
pub mod compat;
pub mod compression;
pub mod diff;
pub mod digest;
pub mod disk;
pub mod entry;
pub mod epoch;
pub mod error;
pub mod escape;
pub mod fetch;
pub mod image;
pub mod layer;
pub mod listing;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod parallel;
pub mod platform;
pub mod preflight;
pub mod registry;
pub mod sbom;
pub mod select;
pub mod session;
pub mod sparse;
pub mod store;
pub mod treeview;
pub mod ui;

pub use compat::COMPAT_LEVEL;
pub use error::{Error, Result};
