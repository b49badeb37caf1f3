//! Helpers shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)]

pub mod cli;
pub mod python;
pub mod server;

use std::path::PathBuf;

/// The shared folder: `$SCRATCH_SHARED` when set, else `../shared` beside the checkout
/// (`$CARGO_MANIFEST_DIR/../shared`). No machine path is assumed.
pub fn shared_root() -> PathBuf {
    match std::env::var_os("SCRATCH_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// The shared fixtures directory (`fixtures/` in [`shared_root`]), when it exists.
pub fn fixtures_dir() -> Option<PathBuf> {
    Some(shared_root().join("fixtures")).filter(|p| p.is_dir())
}

/// The fixtures directory; panics when it is missing and `CI` is set (tests must not
/// silently skip there), else `None` so the caller can skip.
pub fn require_fixtures() -> Option<PathBuf> {
    match fixtures_dir() {
        Some(d) => Some(d),
        None if std::env::var_os("CI").is_some() => {
            panic!("the shared fixtures are missing (looked in $SCRATCH_SHARED/fixtures, else ../shared/fixtures) and CI is set")
        }
        None => {
            eprintln!("skipping: shared fixtures not found");
            None
        }
    }
}
