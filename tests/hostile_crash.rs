//! Crash safety during the download phase, which `tests/robustness.rs` (file:// inputs)
//! cannot reach: `compose build` is killed with SIGKILL at 20 moments spread over a slow
//! HTTP download (a server trickling the body), the merge and the write. After each kill
//! the previous output is intact or absent (never half-written), the cache's `blobs/`
//! holds only verified blobs, and the next build succeeds with the same bytes. Also: temp
//! files and staging directories left by killed builds are swept once stale, and two
//! builds downloading the same input into one cache at once both succeed.

mod common;
mod hostile_support;
use common::cli::{sha256_file, tree_digests};
use common::server::{Fault, TestServer};
use hostile_support::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const UPSTREAM: &str = "https://upstream.invalid/dist/";

/// A 1 MiB layer of varied files (so that merge and write take measurable time too).
fn payload() -> Vec<u8> {
    let mut t = RawTar::new();
    for i in 0..256u32 {
        let body: Vec<u8> = (0..4000u32).map(|j| (i * 31 + j * 7) as u8).collect();
        t.file(format!("usr/share/data/{i:03}").as_bytes(), &body);
    }
    t.finish()
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn manifest(dir: &Path, epoch: u64, digest: &str) -> PathBuf {
    let p = dir.join(format!("scratch-{epoch}.toml"));
    std::fs::write(
        &p,
        format!(
            "[image]\nname = \"crash\"\nsource_date_epoch = {epoch}\n[[layer]]\ntar = \"{UPSTREAM}a.tar\"\nsha256 = \"{digest}\"\n"
        ),
    )
    .unwrap();
    p
}

fn build_cmd(
    sb: &Sandbox,
    cache: &Path,
    srv: &TestServer,
    m: &Path,
    format: &str,
    out: &Path,
) -> Command {
    let mut c = sb.compose_with_cache(cache);
    c.arg("--mirror")
        .arg(format!("{UPSTREAM}={}", srv.url("/")))
        .arg("-q")
        .arg("-f")
        .arg(m)
        .args(["build", "--format", format, "-o"])
        .arg(out);
    c
}

fn run_ok(mut c: Command) {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn snapshot(p: &Path) -> Vec<(String, String)> {
    if p.is_dir() {
        tree_digests(p)
    } else {
        vec![(String::new(), sha256_file(p))]
    }
}

fn copy_output(from: &Path, to: &Path) {
    if to.is_dir() {
        std::fs::remove_dir_all(to).unwrap();
    } else if to.exists() {
        std::fs::remove_file(to).unwrap();
    }
    if from.is_dir() {
        let st = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Every blob is named by its digest, and nothing but blobs lives under `blobs/`.
fn assert_blobs_verified(cache: &Path) {
    let Ok(rd) = std::fs::read_dir(cache.join("blobs/sha256")) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(sha256_file(&p), name, "unverified blob {}", p.display());
    }
    for e in std::fs::read_dir(cache.join("blobs")).unwrap() {
        assert_eq!(e.unwrap().file_name(), "sha256", "stray file under blobs/");
    }
}

#[test]
fn builds_killed_during_download_merge_and_write_never_leave_half_outputs() {
    let data = payload();
    let digest = sha256(&data);
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("a.tar"), &data).unwrap();
    let srv = TestServer::serve_dir(served.path());
    // About 1.2 s per download: 16 chunks of 64 KiB, 75 ms apart.
    srv.set_fault(
        "/a.tar",
        Fault::Trickle {
            chunk: 64 * 1024,
            delay: Duration::from_millis(75),
        },
    );
    let sb = Sandbox::new();
    let old_m = manifest(&sb.ws(), 1, &digest);
    let new_m = manifest(&sb.ws(), 2, &digest);
    let refs = sb.root.path().join("refs");
    std::fs::create_dir_all(&refs).unwrap();
    let kills_per_format = 10;
    let mut moments = Vec::new();
    for format in ["oci-archive", "oci"] {
        let old_ref = refs.join(format!("old-{format}"));
        let new_ref = refs.join(format!("new-{format}"));
        let ref_cache = sb.root.path().join("cache-ref");
        run_ok(build_cmd(&sb, &ref_cache, &srv, &old_m, format, &old_ref));
        // A cold build, timed: the kills are spread over it.
        let timing_cache = sb.root.path().join(format!("cache-timing-{format}"));
        let c = build_cmd(&sb, &timing_cache, &srv, &new_m, format, &new_ref);
        let t0 = Instant::now();
        run_ok(c);
        let full = t0.elapsed();
        let old_bytes = snapshot(&old_ref);
        let new_bytes = snapshot(&new_ref);
        assert_ne!(old_bytes, new_bytes);
        let out = sb.victim().join(format!("out/{format}"));
        for i in 0..kills_per_format {
            let cache = sb.root.path().join(format!("cache-{format}-{}", i % 3));
            // Every kill hits a cold build: the blob must be downloaded again. Half of
            // them keep the rest of the cache (derived data, temporaries of killed runs).
            if i % 2 == 0 {
                let _ = std::fs::remove_dir_all(&cache);
            } else {
                let _ = std::fs::remove_dir_all(cache.join("blobs"));
            }
            copy_output(&old_ref, &out);
            let mut c = build_cmd(&sb, &cache, &srv, &new_m, format, &out);
            let mut child = c
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Moments from 3% to 97% of a cold build; most of it is the download.
            let at = full.mul_f64(0.03 + 0.94 * i as f64 / (kills_per_format - 1) as f64);
            std::thread::sleep(at);
            let finished = child.try_wait().unwrap().is_some();
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            moments.push((format, at, finished));
            if out.exists() {
                let now = snapshot(&out);
                assert!(
                    now == old_bytes || now == new_bytes,
                    "{format}: kill #{i} at {at:?} left a mixed output"
                );
            }
            assert_blobs_verified(&cache);
            run_ok(build_cmd(&sb, &cache, &srv, &new_m, format, &out));
            assert_eq!(
                snapshot(&out),
                new_bytes,
                "{format}: rebuild after kill #{i}"
            );
            assert_blobs_verified(&cache);
        }
    }
    let killed = moments.iter().filter(|(_, _, done)| !done).count();
    eprintln!("kill moments: {moments:?}");
    assert!(
        killed >= 16,
        "only {killed} of 20 kills hit a running build"
    );
    sb.assert_only_outputs(&["oci-archive", "oci"]);
}

#[test]
fn temporaries_left_by_killed_builds_are_swept_once_stale() {
    let sb = Sandbox::new();
    let tmp = sb.cache().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    let stale_part = tmp.join(".part-killed");
    std::fs::write(&stale_part, b"half a download").unwrap();
    let stale_stage = tmp.join(".stage-killed");
    std::fs::create_dir_all(stale_stage.join("blobs/sha256")).unwrap();
    std::fs::write(stale_stage.join("blobs/sha256/x"), b"half a layer").unwrap();
    let fresh_stage = tmp.join(".stage-running");
    std::fs::create_dir_all(&fresh_stage).unwrap();
    for p in [&stale_part, &stale_stage] {
        std::fs::File::open(p)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    let tar = RawTar::new().file(b"x", b"x").finish();
    sb.put("l.tar", &tar);
    let m = sb.manifest_for(&["l.tar"]);
    let (o, _) = sb.build(&m, "rootfs", "rootfs.tar");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale_part.exists(), "stale .part file kept");
    assert!(!stale_stage.exists(), "stale staging directory kept");
    assert!(
        fresh_stage.exists(),
        "a running build's staging directory was removed"
    );
}

#[test]
fn two_builds_downloading_the_same_input_into_one_cache_both_succeed() {
    let data = payload();
    let digest = sha256(&data);
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("a.tar"), &data).unwrap();
    let srv = TestServer::serve_dir(served.path());
    srv.set_fault(
        "/a.tar",
        Fault::Trickle {
            chunk: 128 * 1024,
            delay: Duration::from_millis(50),
        },
    );
    let sb = Sandbox::new();
    let m = manifest(&sb.ws(), 7, &digest);
    let outs: Vec<PathBuf> = (0..2)
        .map(|i| sb.victim().join(format!("out/img{i}.tar")))
        .collect();
    let children: Vec<_> = outs
        .iter()
        .map(|o| {
            build_cmd(&sb, &sb.cache(), &srv, &m, "oci-archive", o)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(sha256_file(&outs[0]), sha256_file(&outs[1]));
    assert_blobs_verified(&sb.cache());
    assert_eq!(srv.hits("/a.tar"), 2);
}
