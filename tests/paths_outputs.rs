//! Paths and outputs as a new user gives them: `-o` into folders that do not exist yet,
//! `-f` naming a folder, a folder given to a tar format, `-o -` into a pipe closed early,
//! and a missing local input.

mod common;

use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A project with one local file, in `dir/proj`.
fn project(dir: &Path) -> PathBuf {
    let p = dir.join("proj");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("hello.txt"), "hi\n").unwrap();
    std::fs::write(
        p.join("scratch.toml"),
        "[image]\nname = \"paths\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"hello.txt\"\ndest = \"/hello.txt\"\n",
    )
    .unwrap();
    p
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn output_creates_missing_parent_folders_for_every_format() {
    let work = tempfile::tempdir().unwrap();
    let p = project(work.path());
    let cache = work.path().join("cache");
    for (format, name) in [
        ("oci", "a/b/layout"),
        ("oci-archive", "c/d/img.tar"),
        ("docker-archive", "e/img.tar"),
        ("rootfs", "f/g/rootfs.tar"),
    ] {
        let out = work.path().join("outs").join(name);
        let digest = run_ok(
            compose(&cache)
                .current_dir(&p)
                .args(["build", "--format", format, "-o"])
                .arg(&out),
        );
        assert!(digest.starts_with("sha256:"), "{digest}");
        assert!(out.exists(), "{format}: {} not written", out.display());
    }
}

#[test]
fn file_naming_a_folder_means_its_scratch_toml() {
    let work = tempfile::tempdir().unwrap();
    let p = project(work.path());
    let cache = work.path().join("cache");
    let by_dir = run_ok(
        compose(&cache)
            .current_dir(work.path())
            .arg("-f")
            .arg("proj")
            .args(["build", "--format", "rootfs", "-o", "by-dir.tar"]),
    );
    let by_file = run_ok(compose(&cache).current_dir(&p).args([
        "build",
        "--format",
        "rootfs",
        "-o",
        "by-file.tar",
    ]));
    assert_eq!(by_dir, by_file);
    run_ok(
        compose(&cache)
            .current_dir(work.path())
            .args(["-f", "proj", "lock"]),
    );
    assert!(p.join("scratch.lock").exists());
}

#[test]
fn a_folder_given_to_a_tar_format_is_refused_before_building() {
    let work = tempfile::tempdir().unwrap();
    let p = project(work.path());
    let cache = work.path().join("cache");
    std::fs::create_dir(p.join("dist")).unwrap();
    for format in ["oci-archive", "docker-archive", "rootfs"] {
        let o = run(compose(&cache)
            .current_dir(&p)
            .args(["build", "--format", format, "-o", "dist"]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(
            e.contains(&format!(
                "dist: is a directory, but --format {format} writes one tar file"
            )),
            "{e}"
        );
        assert!(
            e.contains("hint: name a file, e.g. `-o dist/image.tar`"),
            "{e}"
        );
        assert!(!e.contains(".tmp-") && !e.contains(".compose-"), "{e}");
    }
    assert!(
        !cache.join("blobs").exists()
            || std::fs::read_dir(cache.join("blobs/sha256"))
                .map_or(true, |mut d| d.next().is_none()),
        "something was built"
    );
    assert_eq!(std::fs::read_dir(p.join("dist")).unwrap().count(), 0);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn output_to_a_pipe_closed_early_ends_quietly_as_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let work = tempfile::tempdir().unwrap();
    let p = project(work.path());
    // A rootfs big enough not to fit in the pipe's buffer.
    let big: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(p.join("hello.txt"), big).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .current_dir(&p)
        .args(["-q", "build", "--format", "rootfs", "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.signal(),
        Some(13),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    assert_eq!(stderr(&o), "", "nothing printed");
    assert!(
        std::fs::read_dir(&p).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "a temporary was left in the project"
    );
}

#[test]
fn a_missing_local_input_says_it_does_not_exist() {
    let work = tempfile::tempdir().unwrap();
    let p = project(work.path());
    std::fs::remove_file(p.join("hello.txt")).unwrap();
    for cmd in ["lock", "build"] {
        let o = run(compose(&work.path().join("cache")).current_dir(&p).arg(cmd));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains("hello.txt does not exist"), "{cmd}: {e}");
        assert!(!e.contains("not a file"), "{cmd}: {e}");
    }
}
