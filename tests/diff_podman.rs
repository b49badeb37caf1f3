//! The seeds' scenario: the image podman builds from `seed-alpine/Containerfile`, compared
//! with an image of the same minirootfs built the way compose builds (every mtime and
//! `created` at the epoch, one history entry, no buildah label).

mod common;

mod diff_common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use diff_common::*;
use scratch_compose::diff::{self, DiffOptions, Field, Format, Report};
use serde_json::json;

fn fixtures() -> Option<PathBuf> {
    let found = Some(common::shared_root().join("fixtures"))
        .filter(|p| p.join("seed-alpine/Containerfile").is_file());
    if found.is_none() {
        common::missing("../shared/fixtures/seed-alpine");
    }
    found
}

fn have_podman() -> bool {
    let ok = Command::new("podman")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::missing("podman");
    }
    ok
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run podman");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The minirootfs as one uncompressed layer with every mtime at 0, as compose writes it.
fn layer_at_epoch(tarball: &Path) -> Vec<u8> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(tarball).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut a = tar::Archive::new(&raw[..]);
    let mut b = tar::Builder::new(Vec::new());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().into_owned();
        let mut h = e.header().clone();
        h.set_mtime(0);
        match h.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e.link_name().unwrap().unwrap().into_owned();
                b.append_link(&mut h, &path, &target).unwrap();
            }
            _ => b.append_data(&mut h, &path, &mut e).unwrap(),
        }
    }
    b.into_inner().unwrap()
}

fn kinds(r: &Report) -> std::collections::BTreeSet<Field> {
    r.fields().into_iter().collect()
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn podman_seed_image_differs_only_in_times_history_and_buildah_label() {
    let Some(fx) = fixtures() else { return };
    if !have_podman() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let tarball = fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz");
    std::fs::copy(
        fx.join("seed-alpine/Containerfile"),
        ctx.join("Containerfile"),
    )
    .unwrap();
    std::fs::copy(&tarball, ctx.join("alpine-minirootfs-3.19.4-x86_64.tar.gz")).unwrap();
    let tag = "localhost/seed-diff-test";
    run(Command::new("podman")
        // No cache: a layer cached from another image would carry its timestamps.
        .args(["build", "-q", "--no-cache", "--network=none", "-t", tag])
        .arg(&ctx));
    let oci = t.path().join("podman-oci.tar");
    let docker = t.path().join("podman-docker.tar");
    run(Command::new("podman")
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&oci)
        .arg(tag));
    run(Command::new("podman")
        .args(["save", "--format", "docker-archive", "-o"])
        .arg(&docker)
        .arg(tag));
    let _ = Command::new("podman").args(["rmi", "-f", tag]).output();

    let ours = t.path().join("ours");
    let cfg = json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"]
        },
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "compose build"}]
    });
    oci_layout(&ours, cfg, &[layer_at_epoch(&tarball)]);

    let relaxed = DiffOptions {
        ignore_mtime: true,
        ignore_history: true,
        ignore_labels: vec!["io.buildah.version".into()],
        ..Default::default()
    };
    for (theirs, format) in [(&oci, Format::OciArchive), (&docker, Format::DockerArchive)] {
        let s = tempfile::tempdir().unwrap();
        let a = diff::open(&ours, None, &s.path().join("a")).unwrap();
        let b = diff::open(theirs, None, &s.path().join("b")).unwrap();
        assert_eq!(b.format, format);

        let r = diff::diff(&a, &b, &relaxed).unwrap();
        assert!(r.is_equal(), "{}: {r}", theirs.display());

        let strict = diff::diff(&a, &b, &DiffOptions::default()).unwrap();
        assert_eq!(
            kinds(&strict),
            [Field::Created, Field::History, Field::Label, Field::Mtime]
                .into_iter()
                .collect(),
            "{strict}"
        );
        for d in &strict.differences {
            match d.field {
                Field::Label => assert_eq!(d.location, "config.Labels.io.buildah.version"),
                Field::Mtime => {
                    assert!(d.location.starts_with("layer 1 /"), "{d}");
                    assert_eq!(d.left, "1970-01-01T00:00:00Z");
                }
                Field::Created | Field::History => {
                    assert!(d.location.starts_with("config."), "{d}")
                }
                _ => unreachable!(),
            }
        }
        // Every entry of the minirootfs but the root carries podman's mtime.
        let mtimes = strict
            .fields()
            .iter()
            .filter(|f| **f == Field::Mtime)
            .count();
        assert!(mtimes > 500, "{mtimes} mtime differences");
        assert_eq!(strict.same_filesystem[0].1, Some(false));

        let mut out = Vec::new();
        assert!(diff::run_diff(&ours, theirs, None, &relaxed, false, &mut out).unwrap());
        assert_eq!(String::from_utf8(out).unwrap(), "no differences\n");
    }
}
