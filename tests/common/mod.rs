//! Helpers shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)]

pub mod cli;
pub mod python;
pub mod server;

use std::path::PathBuf;

/// The shared fixtures directory (`$CARGO_MANIFEST_DIR/../shared/fixtures`, else
/// `/work/shared/fixtures`), when it exists.
pub fn fixtures_dir() -> Option<PathBuf> {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    [beside, PathBuf::from("/work/shared/fixtures")]
        .into_iter()
        .find(|p| p.is_dir())
}

/// The fixtures directory; panics when it is missing and `CI` is set (tests must not
/// silently skip there), else `None` so the caller can skip.
pub fn require_fixtures() -> Option<PathBuf> {
    match fixtures_dir() {
        Some(d) => Some(d),
        None if std::env::var_os("CI").is_some() => {
            panic!("the shared fixtures are missing (looked in ../shared/fixtures and /work/shared/fixtures) and CI is set")
        }
        None => {
            eprintln!("skipping: shared fixtures not found");
            None
        }
    }
}
