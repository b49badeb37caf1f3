//! A `remove` that removes nothing is an error naming the manifest position, the path, the
//! layer and the nearest existing paths; a trailing `?` makes it optional, and a trailing
//! slash means the same path.

mod common;

use common::cli::*;
use std::path::Path;

fn manifest(dir: &Path, removes: &str) -> std::path::PathBuf {
    let m = dir.join("scratch.toml");
    std::fs::write(
        &m,
        format!(
            r#"[image]
name = "remove-test"
source_date_epoch = 1

[[layer]]
[[layer.file]]
dest = "/etc/apk/keys/a.pub"
content = "key"
[[layer.file]]
dest = "/etc/apk/world"
content = "busybox"
[[layer.symlink]]
dest = "/lib"
target = "usr/lib"
[[layer.file]]
dest = "/usr/lib/libc.so"
content = "libc"

[[layer]]
comment = "cleanup"
remove = [{removes}]
"#
        ),
    )
    .unwrap();
    m
}

fn build(dir: &Path, m: &Path) -> std::process::Output {
    run(compose(&dir.join("cache"))
        .arg("-q")
        .arg("-f")
        .arg(m)
        .args(["build", "--format", "rootfs", "-o"])
        .arg(dir.join("rootfs.tar")))
}

#[test]
fn a_remove_that_removes_nothing_is_an_error_with_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), r#""/etc/apk/world", "/etc/apk/kees""#);
    let out = build(dir.path(), &m);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // The second entry of `remove` on line 21: `remove = ["/etc/apk/world", "/etc/apk/kees"]`.
    let col = r#"remove = ["/etc/apk/world", "#.len() + 1;
    assert!(
        err.contains(&format!("scratch.toml:21:{col}")),
        "position missing: {err}"
    );
    assert!(err.contains("/etc/apk/kees"), "{err}");
    assert!(err.contains("layer 2 (cleanup)"), "{err}");
    assert!(err.contains("/etc/apk/keys"), "no suggestion: {err}");
    assert!(
        err.contains('?'),
        "the hint should say how to make it optional: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn optional_removes_and_trailing_slashes() {
    let dir = tempfile::tempdir().unwrap();
    // A trailing `?` is optional; `/etc/apk/keys/` is `/etc/apk/keys`; a path reached
    // through a symlink (`/lib` -> `usr/lib`) is removed at its target.
    let m = manifest(
        dir.path(),
        r#""/etc/apk/keys/", "/var/cache/apk?", "/lib/libc.so""#,
    );
    let out = build(dir.path(), &m);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = run_ok(
        std::process::Command::new("tar")
            .arg("-tf")
            .arg(dir.path().join("rootfs.tar")),
    );
    assert!(!listing.contains("keys"), "{listing}");
    assert!(!listing.contains("libc.so"), "{listing}");
    assert!(listing.contains("etc/apk/world"), "{listing}");
}

#[test]
fn a_question_mark_alone_is_still_a_path_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), r#""?""#);
    let out = build(dir.path(), &m);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scratch.toml:21:"), "{err}");
}
