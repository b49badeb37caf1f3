//! Every process is killable and every cache is shared: a build killed at any moment
//! leaves the previous output intact (or absent) and the cache holding only verified
//! blobs; concurrent builds sharing one cache all succeed.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

fn alpine_manifest(dir: &Path, epoch: u64, extra: &str) -> PathBuf {
    let path = dir.join(format!("scratch-{epoch}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[image]
name = "crash-test"
source_date_epoch = {epoch}

[[layer]]
tar = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz"
sha256 = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211"
{extra}"#
        ),
    )
    .unwrap();
    path
}

/// Every blob in the cache has the digest its name claims.
fn assert_cache_verified(cache: &Path) {
    let blobs = cache.join("blobs/sha256");
    let Ok(rd) = std::fs::read_dir(&blobs) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            sha256_file(&p),
            name,
            "cache blob {} is corrupt",
            p.display()
        );
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_build_killed_at_any_moment_never_leaves_a_half_written_output() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old_manifest = alpine_manifest(dir.path(), 1, "");
    let new_manifest = alpine_manifest(
        dir.path(),
        2,
        "[[layer]]\n[[layer.file]]\ndest = \"/etc/marker\"\ncontent = \"x\"\n",
    );
    for format in ["oci-archive", "oci"] {
        let reference = dir.path().join(format!("reference-{format}"));
        run_ok(&mut build_cmd(
            &dir.path().join("cache-ref"),
            &new_manifest,
            format,
            &reference,
        ));
        let out = dir.path().join(format!("out-{format}"));
        let snapshot = |p: &Path| {
            if p.is_dir() {
                tree_digests(p)
            } else {
                vec![(String::new(), sha256_file(p))]
            }
        };
        let new_bytes = snapshot(&reference);
        // How long a cold build takes, to spread the kills over download, merge and write.
        let t0 = Instant::now();
        run_ok(&mut build_cmd(
            &dir.path().join("cache-time"),
            &new_manifest,
            format,
            &dir.path().join(format!("timing-{format}")),
        ));
        let full = t0.elapsed();
        let kills = 12;
        for i in 0..kills {
            let cache = dir.path().join(format!("cache-{format}-{}", i % 3));
            if i % 2 == 0 {
                let _ = std::fs::remove_dir_all(&cache);
            }
            if out.exists() && out.is_dir() {
                std::fs::remove_dir_all(&out).unwrap();
            }
            run_ok(&mut build_cmd(
                &dir.path().join("cache-old"),
                &old_manifest,
                format,
                &out,
            ));
            let old_bytes = snapshot(&out);
            let mut child = build_cmd(&cache, &new_manifest, format, &out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let at = full.mul_f64((i as f64 + 0.5) / kills as f64);
            std::thread::sleep(at);
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            if out.exists() {
                let now = snapshot(&out);
                assert!(
                    now == old_bytes || now == new_bytes,
                    "{format}: kill #{i} at {at:?} left a mixed output"
                );
            }
            assert_cache_verified(&cache);
            run_ok(&mut build_cmd(&cache, &new_manifest, format, &out));
            assert_eq!(
                snapshot(&out),
                new_bytes,
                "{format}: rebuild after kill #{i} differs"
            );
        }
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn four_builds_sharing_one_cache_at_once_all_succeed() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared-cache");
    let mut children = Vec::new();
    for i in 0..4u64 {
        let m = alpine_manifest(
            dir.path(),
            100 + i,
            &format!("[[layer]]\n[[layer.file]]\ndest = \"/etc/build-{i}\"\ncontent = \"{i}\"\n"),
        );
        let out = dir.path().join(format!("out-{i}.tar"));
        let child = build_cmd(&cache, &m, "oci-archive", &out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((m, out, child));
    }
    for (m, out, child) in children {
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            m.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        // Each output equals a build of the same manifest alone with its own cache.
        let alone = out.with_extension("alone.tar");
        run_ok(&mut build_cmd(
            &dir.path().join("own-cache"),
            &m,
            "oci-archive",
            &alone,
        ));
        assert_eq!(sha256_file(&out), sha256_file(&alone));
    }
    assert_cache_verified(&cache);
}

/// An OCI layout is updated in place when it exists: two builds of different images
/// into one layout take turns, so it always holds one whole image (never one's index
/// over a mix of blobs, nor blobs the other removed).
#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn two_builds_writing_the_same_layout_do_not_interleave() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = alpine_manifest(dir.path(), 7, "");
    let b = alpine_manifest(dir.path(), 8, "[[layer]]\nremove = [\"/etc/motd\"]\n");
    let out = dir.path().join("same");
    let refs: Vec<_> = [&a, &b]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let r = dir.path().join(format!("ref-{i}"));
            run_ok(&mut build_cmd(&dir.path().join("c"), m, "oci", &r));
            tree_digests(&r)
        })
        .collect();
    run_ok(&mut build_cmd(&dir.path().join("c"), &a, "oci", &out));
    for _ in 0..4 {
        let ca = build_cmd(&dir.path().join("c"), &a, "oci", &out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let cb = build_cmd(&dir.path().join("c"), &b, "oci", &out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        assert!(
            oa.status.success(),
            "{}",
            String::from_utf8_lossy(&oa.stderr)
        );
        assert!(
            ob.status.success(),
            "{}",
            String::from_utf8_lossy(&ob.stderr)
        );
        let got = tree_digests(&out);
        assert!(
            refs.contains(&got),
            "the layout is neither build's: {got:?}"
        );
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn two_builds_writing_the_same_output_do_not_interleave() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = alpine_manifest(dir.path(), 7, "");
    let b = alpine_manifest(dir.path(), 8, "[[layer]]\nremove = [\"/etc/motd\"]\n");
    let out = dir.path().join("same.tar");
    let refs: Vec<String> = [&a, &b]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let r = dir.path().join(format!("ref-{i}.tar"));
            run_ok(&mut build_cmd(&dir.path().join("c"), m, "oci-archive", &r));
            sha256_file(&r)
        })
        .collect();
    for _ in 0..3 {
        let ca = build_cmd(&dir.path().join("c"), &a, "oci-archive", &out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let cb = build_cmd(&dir.path().join("c"), &b, "oci-archive", &out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        assert!(oa.status.success() || ob.status.success());
        let got = sha256_file(&out);
        assert!(
            refs.contains(&got),
            "the output is neither build's: interleaved"
        );
    }
}
