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

/// The fixtures directory; a test that needs it fails when it is missing. (Always
/// `Some`: the `Option` lets callers keep `?`.)
pub fn require_fixtures() -> Option<PathBuf> {
    match fixtures_dir() {
        Some(d) => Some(d),
        None => missing("the shared fixtures ($SCRATCH_SHARED/fixtures, else ../shared/fixtures)"),
    }
}

/// The reason given to `#[ignore = …]` ends with this: how to run the test.
pub const HOW: &str = "cargo test -- --ignored runs it; CI does";

/// Fail a test that needs `what` where it is absent. Tests that need the shared fixtures,
/// a container tool, a registry or the Python validators are `#[ignore = "needs …"]`, so
/// `cargo test` counts and names them as ignored instead of passing them silently; they
/// run with `cargo test -- --ignored` (`.ci/run` does, after installing every tool), where
/// anything missing is a failure, never a skip.
pub fn missing(what: &str) -> ! {
    panic!(
        "{what} is missing, and this test needs it: it is #[ignore]d by default and runs with \
         `cargo test -- --ignored` where the tools exist (.ci/run installs them: \
         ../shared/tools/setup-container-tools, start-dockerd)"
    )
}
