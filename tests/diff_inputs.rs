//! `compose diff` on what users have at hand: one image in different containers (an OCI
//! layout, an oci-archive, a docker-archive, each naming it differently) is equal;
//! `--ignore-annotation` leaves out one manifest annotation; an unpacked root filesystem
//! folder compares as a tree with images, rootfs tars and other folders.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn project(dir: &Path, annotation: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let m = dir.join("scratch.toml");
    std::fs::write(
        &m,
        format!(
            "[image]\nname = \"diff-test\"\nannotations = {{ \"org.example.k\" = \"{annotation}\" }}\n\
             [config]\ncmd = [\"/bin/true\"]\n\
             [[layer]]\n[[layer.file]]\ndest = \"/etc/hello\"\ncontent = \"hi\\n\"\n\
             [[layer.file]]\ndest = \"/usr/bin/tool\"\ncontent = \"#!/bin/sh\\n\"\nmode = \"0755\"\n\
             [[layer.dir]]\ndest = \"/tmp\"\nmode = \"1777\"\n\
             [[layer.symlink]]\ndest = \"/etc/link\"\ntarget = \"hello\"\n"
        ),
    )
    .unwrap();
    m
}

fn build(cache: &Path, m: &Path, format: &str, out: &Path, extra: &[&str]) {
    let mut c = compose(cache);
    c.arg("-q")
        .arg("-f")
        .arg(m)
        .args(["build", "--format", format, "-o"])
        .arg(out)
        .args(extra);
    run_ok(&mut c);
}

fn diff(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
    c.arg("diff").args(args);
    let o = run(&mut c);
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn one_image_in_any_container_under_any_name_is_equal() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let m = project(&t.path().join("p"), "v");
    let layout = t.path().join("layout");
    let oci = t.path().join("oci.tar");
    let docker = t.path().join("docker.tar");
    build(&cache, &m, "oci", &layout, &[]);
    build(&cache, &m, "oci-archive", &oci, &["-t", "other:1"]);
    build(
        &cache,
        &m,
        "docker-archive",
        &docker,
        &["-t", "registry.example.com/x:2", "-t", "y"],
    );
    for (a, b) in [(&layout, &oci), (&layout, &docker), (&oci, &docker)] {
        let (code, text) = diff(&[a.as_os_str(), b.as_os_str()]);
        assert_eq!(code, Some(0), "{} vs {}: {text}", a.display(), b.display());
    }
}

#[test]
fn ignore_annotation_leaves_out_that_key_only() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let a = t.path().join("a");
    let b = t.path().join("b.tar");
    build(&cache, &project(&t.path().join("pa"), "v1"), "oci", &a, &[]);
    build(
        &cache,
        &project(&t.path().join("pb"), "v2"),
        "docker-archive",
        &b,
        &[],
    );
    let (code, text) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("manifest.annotations.org.example.k"),
        "{text}"
    );
    assert!(text.contains("v1") && text.contains("v2"), "{text}");
    let other = ["--ignore-annotation", "org.example.other"].map(std::ffi::OsStr::new);
    let (code, text) = diff(&[other[0], other[1], a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("manifest.annotations.org.example.k"),
        "{text}"
    );
    let this = ["--ignore-annotation", "org.example.k"].map(std::ffi::OsStr::new);
    let (code, text) = diff(&[this[0], this[1], a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(0), "{text}");
}

fn is_root() -> bool {
    run_ok(Command::new("id").arg("-u")).trim() == "0"
}

#[test]
fn an_unpacked_folder_compares_as_a_tree() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let m = project(&t.path().join("p"), "v");
    let layout = t.path().join("layout");
    let rootfs = t.path().join("rootfs.tar");
    build(&cache, &m, "oci", &layout, &[]);
    build(&cache, &m, "rootfs", &rootfs, &[]);
    let dir = t.path().join("unpacked");
    std::fs::create_dir(&dir).unwrap();
    let mut x = Command::new("tar");
    x.arg("-xpf").arg(&rootfs).arg("-C").arg(&dir);
    run_ok(&mut x);
    // Unpacked by someone other than root, the files are theirs.
    let owner = if is_root() {
        None
    } else {
        Some(std::ffi::OsStr::new("--ignore-owner"))
    };
    let with = |args: &[&std::ffi::OsStr]| {
        let mut v: Vec<&std::ffi::OsStr> = owner.into_iter().collect();
        v.extend_from_slice(args);
        diff(&v)
    };
    for other in [&layout, &rootfs, &dir] {
        let (code, text) = with(&[dir.as_os_str(), other.as_os_str()]);
        assert_eq!(code, Some(0), "folder vs {}: {text}", other.display());
    }
    let (code, text) = with(&[layout.as_os_str(), dir.as_os_str()]);
    assert_eq!(code, Some(0), "{text}");
    // A changed file and a new one are named.
    std::fs::write(dir.join("etc/hello"), "bye\n").unwrap();
    std::fs::write(dir.join("etc/new"), "").unwrap();
    let mut touch = Command::new("touch");
    run_ok(
        touch
            .args(["-h", "-d", "@0"])
            .arg(dir.join("etc"))
            .arg(dir.join("etc/hello"))
            .arg(dir.join("etc/new")),
    );
    let (code, text) = with(&[dir.as_os_str(), layout.as_os_str()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/etc/hello"), "{text}");
    assert!(text.contains("/etc/new"), "{text}");
    // A folder that looks like an OCI layout but lacks index.json is not taken for a tree.
    let broken = t.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(layout.join("oci-layout"), broken.join("oci-layout")).unwrap();
    let (code, text) = diff(&[broken.as_os_str(), layout.as_os_str()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("without index.json"), "{text}");
}
