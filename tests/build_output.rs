//! What a build says on stderr when no terminal is attached (CI logs): nothing for a
//! small image, a line before and after each large layer so a long build is never
//! silent, and nothing at all with `--quiet`. stdout holds only the digest.

mod common;
use common::cli::*;
use std::path::Path;

/// A manifest with one layer holding `big` (a local file) and an inline file.
fn project(dir: &Path, big_len: u64) {
    let f = std::fs::File::create(dir.join("big.bin")).unwrap();
    f.set_len(big_len).unwrap();
    std::fs::write(
        dir.join("scratch.toml"),
        r#"[image]
name = "progress"
source_date_epoch = 0
compression = "none"

[[layer]]
[[layer.file]]
src = "big.bin"
dest = "/big.bin"

[[layer.file]]
content = "hello\n"
dest = "/etc/motd"
"#,
    )
    .unwrap();
}

fn build(dir: &Path, quiet: bool) -> std::process::Output {
    let mut c = compose(&dir.join("cache"));
    if quiet {
        c.arg("-q");
    }
    c.arg("-f")
        .arg(dir.join("scratch.toml"))
        .args(["build", "-o"])
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_large_layer_is_logged_before_and_after_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), 80 << 20);
    let o = build(dir.path(), false);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("layer 1: writing 80 MiB (none)"), "{err}");
    assert!(err.contains("layer 1: 80 MiB written"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.trim().starts_with("sha256:"), "stdout: {out}");
    assert_eq!(out.lines().count(), 1, "stdout: {out}");
}

#[test]
fn a_small_build_and_a_quiet_one_log_no_layers() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), 4096);
    let o = build(dir.path(), false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("writing"), "{}", stderr(&o));

    let big = tempfile::tempdir().unwrap();
    project(big.path(), 80 << 20);
    let o = build(big.path(), true);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "", "--quiet prints nothing on stderr");
}

#[test]
fn every_output_format_is_a_file_or_folder_readable_by_all() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), 4096);
    for (format, name) in [
        ("rootfs", "rootfs.tar"),
        ("oci-archive", "oci.tar"),
        ("docker-archive", "docker.tar"),
    ] {
        let out = dir.path().join(name);
        let o = compose(&dir.path().join("cache"))
            .arg("-f")
            .arg(dir.path().join("scratch.toml"))
            .args(["build", "--format", format, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{format}: {mode:o}");
    }
}
