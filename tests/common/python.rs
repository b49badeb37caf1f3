//! The Python validators of the supply-chain tests (`tests/data/sbom_check.py`):
//! spdx-tools, cyclonedx-python-lib, in-toto and securesystemslib.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The checker script.
pub const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sbom_check.py");

/// The Python with the validators: `$COMPOSE_TEST_PYTHON` (`.ci/run` makes a venv), else
/// `python3`. A test that needs them fails when they are missing (such tests are
/// `#[ignore]`d by default). Always `Some`.
pub fn python() -> Option<PathBuf> {
    let py = std::env::var_os("COMPOSE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args([CHECK, "probe"])
        .status()
        .is_ok_and(|s| s.success());
    match ok {
        true => Some(py),
        false => super::missing(&format!(
            "{}: spdx-tools, cyclonedx-python-lib, in-toto or securesystemslib (a venv named by $COMPOSE_TEST_PYTHON, as .ci/run makes)",
            py.display()
        )),
    }
}

/// Run the checker; returns stdout, panics with its stderr when it rejects the document.
pub fn check(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).arg(CHECK).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} rejected:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// True when the checker rejects the document.
pub fn rejects(py: &Path, args: &[&str]) -> bool {
    !Command::new(py)
        .arg(CHECK)
        .args(args)
        .status()
        .unwrap()
        .success()
}

/// The lines of `s`, sorted.
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}
