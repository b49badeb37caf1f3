//! `compose lock` and `compose build --locked` as a new user meets them: the upstream
//! Alpine URL reached through a mirror rule to a local server, with and without a pin,
//! with a tampered server, offline with an empty cache, and two processes at once.

mod common;
mod fetch_support;

use common::cli::*;
use common::server::Fault;
use fetch_support::{Env, ALPINE_PATH, ALPINE_SHA256, ALPINE_URL};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest(dir: &Path, pin: Option<&str>) -> PathBuf {
    let path = dir.join("scratch.toml");
    let pin = pin
        .map(|p| format!("sha256 = \"{p}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "[image]\nname = \"lock-test\"\nsource_date_epoch = 1\n\n[config]\ncmd = [\"/bin/sh\"]\n\n\
             [[layer]]\ntar = \"{ALPINE_URL}\"\n{pin}\n[[layer]]\n[[layer.file]]\nsrc = \"motd\"\ndest = \"/etc/motd\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("motd"), "welcome\n").unwrap();
    path
}

fn compose_via(env: &Env, cache: &Path) -> Command {
    let mut c = compose(cache);
    c.arg("--mirror").arg(format!(
        "https://dl-cdn.alpinelinux.org/alpine/={}/alpine/",
        env.srv.base()
    ));
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn blobs_in(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache.join("blobs/sha256"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn lock_pins_the_upstream_alpine_through_a_mirror_and_is_stable() {
    let Some(env) = Env::alpine() else { return };
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), None);
    let cache = work.path().join("cache");
    run_ok(
        compose_via(&env, &cache)
            .arg("-q")
            .arg("-f")
            .arg(&m)
            .arg("lock"),
    );
    let lock = std::fs::read_to_string(work.path().join("scratch.lock")).unwrap();
    assert!(lock.contains(ALPINE_SHA256), "{lock}");
    assert!(
        lock.contains(ALPINE_URL),
        "the lock keys the URL as written, not the mirror: {lock}"
    );
    assert!(!lock.contains("127.0.0.1"), "{lock}");
    assert!(lock.contains("motd"));
    // Unchanged manifest: byte-identical, and --check agrees.
    run_ok(
        compose_via(&env, &cache)
            .arg("-q")
            .arg("-f")
            .arg(&m)
            .arg("lock"),
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("scratch.lock")).unwrap(),
        lock
    );
    let check = run(compose_via(&env, &cache)
        .arg("-q")
        .arg("-f")
        .arg(&m)
        .args(["lock", "--check"]));
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    // The locked build works offline from the warm cache.
    let out = work.path().join("img.tar");
    run_ok(
        compose(&cache)
            .args(["--offline", "-q", "-f"])
            .arg(&m)
            .args(["build", "--locked", "--format", "oci-archive", "-o"])
            .arg(&out),
    );
    // A changed local input makes the lock stale: --check exits 1, --locked refuses and names it.
    std::fs::write(work.path().join("motd"), "changed\n").unwrap();
    let check = run(compose_via(&env, &cache)
        .arg("-q")
        .arg("-f")
        .arg(&m)
        .args(["lock", "--check"]));
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert_eq!(
        std::fs::read_to_string(work.path().join("scratch.lock")).unwrap(),
        lock,
        "--check wrote"
    );
    let locked = run(compose(&cache)
        .arg("-f")
        .arg(&m)
        .args(["build", "--locked", "-o"])
        .arg(&out));
    assert_eq!(locked.status.code(), Some(2));
    assert!(stderr(&locked).contains("motd"), "{}", stderr(&locked));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_manifest_pin_is_checked_against_the_download() {
    let Some(env) = Env::alpine() else { return };
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let good = manifest(work.path(), Some(ALPINE_SHA256));
    run_ok(
        compose_via(&env, &cache)
            .arg("-q")
            .arg("-f")
            .arg(&good)
            .arg("lock"),
    );
    let wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    let dir2 = tempfile::tempdir().unwrap();
    let bad = manifest(dir2.path(), Some(wrong));
    let cache2 = dir2.path().join("cache");
    let out = run(compose_via(&env, &cache2).arg("-f").arg(&bad).arg("lock"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(wrong) && err.contains(ALPINE_SHA256),
        "names expected and actual: {err}"
    );
    assert!(err.contains(ALPINE_URL), "names the URL: {err}");
    assert!(blobs_in(&cache2).is_empty(), "nothing enters the cache");
    assert!(!dir2.path().join("scratch.lock").exists());
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_tampered_server_is_refused_and_the_cache_stays_clean() {
    let Some(env) = Env::alpine() else { return };
    env.srv
        .set_fault(ALPINE_PATH, Fault::Replace(b"not the minirootfs".to_vec()));
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), Some(ALPINE_SHA256));
    let cache = work.path().join("cache");
    let out = run(compose_via(&env, &cache)
        .arg("-f")
        .arg(&m)
        .args(["build", "-o"])
        .arg(work.path().join("out")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not match"), "{}", stderr(&out));
    assert!(
        !blobs_in(&cache)
            .iter()
            .any(|b| b != &ALPINE_SHA256.to_string()),
        "{:?}",
        blobs_in(&cache)
    );
    assert!(
        !work.path().join("out").exists(),
        "no output on a checksum error"
    );
    let tmp: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .map(|r| r.collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "no temp leftovers: {tmp:?}");
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn offline_with_an_empty_cache_names_every_missing_input() {
    let Some(env) = Env::alpine() else { return };
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), Some(ALPINE_SHA256));
    let cache = work.path().join("cache");
    let out = run(compose_via(&env, &cache)
        .arg("--offline")
        .arg("-f")
        .arg(&m)
        .arg("lock"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(ALPINE_URL), "{}", stderr(&out));
    assert_eq!(env.srv.total_hits(), 0, "--offline touched the network");
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn an_unpinned_remote_input_cannot_be_built_without_a_lock() {
    let Some(env) = Env::alpine() else { return };
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), None);
    let out = run(compose_via(&env, &work.path().join("cache"))
        .arg("-f")
        .arg(&m)
        .args(["build", "-o"])
        .arg(work.path().join("o")));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("scratch.toml:") && err.contains(ALPINE_URL),
        "{err}"
    );
    assert!(err.contains("compose lock"), "hints at compose lock: {err}");
    assert_eq!(env.srv.total_hits(), 0, "never a silent download");
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn transient_server_errors_are_retried() {
    let Some(env) = Env::alpine() else { return };
    env.srv.set_fault_times(ALPINE_PATH, Fault::Status(500), 2);
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), None);
    run_ok(
        compose_via(&env, &work.path().join("cache"))
            .arg("-q")
            .arg("-f")
            .arg(&m)
            .arg("lock"),
    );
    assert_eq!(env.srv.hits(ALPINE_PATH), 3);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn two_lock_processes_share_one_cache() {
    let Some(env) = Env::alpine() else { return };
    let cache = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            let m = manifest(d.path(), None);
            compose_via(&env, cache.path())
                .arg("-q")
                .arg("-f")
                .arg(m)
                .arg("lock")
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let a = std::fs::read(dirs[0].path().join("scratch.lock")).unwrap();
    let b = std::fs::read(dirs[1].path().join("scratch.lock")).unwrap();
    assert_eq!(a, b);
    for blob in blobs_in(cache.path()) {
        assert_eq!(
            sha256_file(&cache.path().join("blobs/sha256").join(&blob)),
            blob
        );
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn cache_prune_keeps_what_the_lock_pins() {
    let Some(env) = Env::alpine() else { return };
    let work = tempfile::tempdir().unwrap();
    let m = manifest(work.path(), None);
    let cache = work.path().join("cache");
    run_ok(
        compose_via(&env, &cache)
            .arg("-q")
            .arg("-f")
            .arg(&m)
            .arg("lock"),
    );
    // A blob nobody pins, and a leftover of a killed build older than an hour.
    std::fs::write(cache.join("blobs/sha256").join("0".repeat(64)), b"stray").unwrap();
    let stale = cache.join("tmp/.stage-old");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("blob"), b"partial").unwrap();
    let _ = Command::new("touch")
        .args(["-d", "2000-01-01"])
        .arg(&stale)
        .status();
    let pruned = run_ok(
        compose(&cache)
            .arg("-f")
            .arg(&m)
            .args(["cache", "prune", "--blobs"]),
    );
    assert!(pruned.starts_with("freed "), "{pruned}");
    assert!(!stale.exists());
    assert!(!blobs_in(&cache).contains(&"0".repeat(64)));
    assert!(blobs_in(&cache).contains(&ALPINE_SHA256.to_string()));
    // Everything the lock pins is still there: verify works offline.
    let v = run(compose(&cache)
        .arg("--offline")
        .arg("-f")
        .arg(&m)
        .arg("verify"));
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

/// What the local inputs of [`local_inputs_project`] are.
#[derive(Clone, Copy)]
enum Local {
    /// `[[layer.file]]` sources `f0`, `f1`, …
    Files,
    /// `[[layer.dir]]` sources `d0`, `d1`, …
    Dirs,
}

/// A project of `n` local inputs, one layer each, with different contents.
fn local_inputs_project(dir: &Path, kind: Local, n: usize) -> PathBuf {
    let name = match kind {
        Local::Files => "many-files",
        Local::Dirs => "many-dirs",
    };
    let mut m = format!("[image]\nname = \"{name}\"\nsource_date_epoch = 1\n");
    for i in 0..n {
        match kind {
            Local::Files => {
                std::fs::write(
                    dir.join(format!("f{i}")),
                    format!("file {i}\n").repeat(1000 * (i + 1)),
                )
                .unwrap();
                m.push_str(&format!(
                    "[[layer]]\n[[layer.file]]\nsrc = \"f{i}\"\ndest = \"/opt/{i}\"\n"
                ));
            }
            Local::Dirs => {
                let d = dir.join(format!("d{i}"));
                std::fs::create_dir_all(d.join("sub")).unwrap();
                std::fs::write(d.join("a.txt"), format!("dir {i}\n").repeat(500 * (i + 1)))
                    .unwrap();
                std::fs::write(d.join("sub/b.txt"), format!("{i}")).unwrap();
                m.push_str(&format!(
                    "[[layer]]\n[[layer.dir]]\nsrc = \"d{i}\"\ndest = \"/srv/{i}\"\n"
                ));
            }
        }
    }
    let path = dir.join("scratch.toml");
    std::fs::write(&path, m).unwrap();
    path
}

/// Inputs handled on several threads act as one at a time: the project locked with one
/// job and with four gives the same lock, and with the inputs `gone` missing, the error
/// names only `first` (the first of them in the manifest), as "/`first` `problem`".
fn check_parallel_acts_as_one_at_a_time(kind: Local, gone: [&str; 3], first: &str, problem: &str) {
    let mut locks = Vec::new();
    for jobs in ["1", "4"] {
        let work = tempfile::tempdir().unwrap();
        let m = local_inputs_project(work.path(), kind, 6);
        run_ok(
            compose(&work.path().join("cache"))
                .args(["-j", jobs, "-f"])
                .arg(&m)
                .arg("lock"),
        );
        locks.push(std::fs::read_to_string(work.path().join("scratch.lock")).unwrap());
    }
    assert_eq!(locks[0], locks[1]);
    assert_eq!(locks[0].matches("sha256 = ").count(), 6, "{}", locks[0]);

    let work = tempfile::tempdir().unwrap();
    let m = local_inputs_project(work.path(), kind, 6);
    for g in gone {
        let p = work.path().join(g);
        match kind {
            Local::Files => std::fs::remove_file(p).unwrap(),
            Local::Dirs => std::fs::remove_dir_all(p).unwrap(),
        }
    }
    for jobs in ["1", "4"] {
        let o = run(compose(&work.path().join("cache"))
            .args(["-j", jobs, "-f"])
            .arg(&m)
            .arg("build"));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("/{first} {problem}")),
            "-j {jobs}: {err}"
        );
        for g in gone.iter().filter(|g| **g != first) {
            assert!(!err.contains(g), "-j {jobs}: {err}");
        }
    }
}

#[test]
fn local_files_hashed_in_parallel_pin_and_fail_as_one_at_a_time() {
    check_parallel_acts_as_one_at_a_time(Local::Files, ["f4", "f1", "f3"], "f1", "does not exist");
}

#[test]
fn local_dirs_packed_in_parallel_pin_and_fail_as_one_at_a_time() {
    check_parallel_acts_as_one_at_a_time(Local::Dirs, ["d4", "d2", "d5"], "d2", "does not exist");
}

/// `compose lock` reads local inputs where they are, as `build` does: a local tar and a
/// local file never land in the cache's blobs, and the lock still pins them.
#[test]
fn lock_never_copies_local_inputs_into_the_cache() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    let data = vec![b'x'; 300_000];
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "big.bin", &data[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    std::fs::write(dir.join("root.tar"), &tar).unwrap();
    std::fs::write(dir.join("app.conf"), "key = 1\n").unwrap();
    std::fs::write(
        dir.join("scratch.toml"),
        "[image]\nname = \"in-place\"\nsource_date_epoch = 1\n[[layer]]\ntar = \"root.tar\"\n\
         [[layer]]\n[[layer.file]]\nsrc = \"app.conf\"\ndest = \"/etc/app.conf\"\n",
    )
    .unwrap();
    // Files left alone for a while are read in place (one changed just now is copied).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let cache = dir.join("cache");
    run_ok(
        compose(&cache)
            .arg("-f")
            .arg(dir.join("scratch.toml"))
            .arg("lock"),
    );
    let lock = std::fs::read_to_string(dir.join("scratch.lock")).unwrap();
    let tar_sha = sha256_file(&dir.join("root.tar"));
    let conf_sha = sha256_file(&dir.join("app.conf"));
    assert!(
        lock.contains(&tar_sha) && lock.contains(&conf_sha),
        "{lock}"
    );
    let blobs = blobs_in(&cache);
    assert!(!blobs.contains(&tar_sha), "root.tar was copied: {blobs:?}");
    assert!(!blobs.contains(&conf_sha), "app.conf was copied: {blobs:?}");
    // And the lock is right: a locked build agrees with it.
    run_ok(
        compose(&cache)
            .arg("-f")
            .arg(dir.join("scratch.toml"))
            .args(["build", "--locked", "-o"])
            .arg(dir.join("out")),
    );
}
