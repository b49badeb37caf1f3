//! Servers that never finish and inputs that never end: a trickling server is dropped by
//! the low-speed limit, an endless body stops at the size the lock records (or at the
//! download maximum), and a FIFO or device given as a local input is refused before it is
//! opened. Each ends in exit 2 with the limit and how to change it named, quickly, and
//! with no partial file left in the cache.

mod common;
mod hostile_support;
use common::server::{Fault, TestServer};
use hostile_support::*;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const UPSTREAM: &str = "https://upstream.invalid/dist/";

fn payload() -> Vec<u8> {
    let mut t = RawTar::new();
    t.file(b"etc/hello", &[b'h'; 20_000]);
    t.finish()
}

fn served() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.tar"), payload()).unwrap();
    let srv = TestServer::serve_dir(dir.path());
    (dir, srv)
}

/// A sandbox whose manifest takes `a.tar` from UPSTREAM, unpinned (`compose lock` pins
/// it).
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.put(
        "scratch.toml",
        format!("[image]\nname = \"net\"\nsource_date_epoch = 1\n[[layer]]\ntar = \"{UPSTREAM}a.tar\"\n")
            .as_bytes(),
    );
    sb
}

/// Runs `c`, killing it (and failing the test) when it takes longer than `limit`: the
/// bugs these tests guard against are hangs.
fn output_within(c: &mut Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn compose");
    let t0 = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!("compose still ran after {limit:?}; stderr:\n{}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// `compose --mirror UPSTREAM=SERVER [env] ARGS` in the sandbox, with `cache`.
fn run(
    sb: &Sandbox,
    cache: &std::path::Path,
    srv: &TestServer,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut c = sb.compose_with_cache(cache);
    c.arg("--mirror")
        .arg(format!("{UPSTREAM}={}", srv.url("/")));
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args);
    if args.first() == Some(&"build") {
        c.args(["--format", "oci-archive", "-o"])
            .arg(sb.victim().join("out/img.tar"));
    }
    output_within(&mut c, Duration::from_secs(60))
}

/// Exit 2, every needle in stderr, nothing left in `cache` (no blob, no partial file).
fn assert_clean_failure(cache: &std::path::Path, o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr:\n{e}");
    for n in needles {
        assert!(e.contains(n), "stderr lacks {n:?}:\n{e}");
    }
    assert!(
        cache_files(cache).is_empty(),
        "cache touched: {:?}",
        cache_files(cache)
    );
}

#[test]
fn a_server_trickling_under_the_low_speed_limit_is_given_up_on() {
    let (_d, srv) = served();
    // A byte every 50 ms: each read is far inside the read timeout, so only the
    // low-speed limit can stop it (the whole body would take 17 minutes).
    srv.set_fault(
        "/a.tar",
        Fault::Trickle {
            chunk: 1,
            delay: Duration::from_millis(50),
        },
    );
    let sb = sandbox();
    let t0 = Instant::now();
    let env = [
        ("SCRATCH_LOW_SPEED_LIMIT", "1000"),
        ("SCRATCH_LOW_SPEED_TIME", "0.5"),
    ];
    let o = run(&sb, &sb.cache(), &srv, &env, &["lock"]);
    assert_clean_failure(
        &sb.cache(),
        &o,
        &[
            "a.tar",
            "below 1000 bytes/s for 0.5 s",
            "after 4 attempts",
            "SCRATCH_LOW_SPEED_TIME",
        ],
    );
    assert_eq!(srv.hits("/a.tar"), 4, "a slow transfer is retried");
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());

    // Malformed settings are refused up front, naming the variable.
    for (k, v) in [
        ("SCRATCH_LOW_SPEED_LIMIT", "fast"),
        ("SCRATCH_LOW_SPEED_TIME", "-1"),
    ] {
        let o = run(&sb, &sb.cache(), &srv, &[(k, v)], &["lock"]);
        assert_clean_failure(&sb.cache(), &o, &[k]);
    }
}

#[test]
fn an_endless_body_stops_at_the_download_maximum_and_is_not_retried() {
    let (_d, srv) = served();
    srv.set_fault("/a.tar", Fault::Endless);
    let sb = sandbox();
    let o = run(
        &sb,
        &sb.cache(),
        &srv,
        &[("SCRATCH_MAX_DOWNLOAD_SIZE", "1M")],
        &["lock"],
    );
    assert_clean_failure(
        &sb.cache(),
        &o,
        &[
            "a.tar",
            "more than 1048576 bytes",
            "SCRATCH_MAX_DOWNLOAD_SIZE",
        ],
    );
    assert_eq!(srv.hits("/a.tar"), 1);
    assert!(!sb.ws().join("scratch.lock").exists());
}

#[test]
fn a_body_longer_than_the_locked_size_is_refused_at_one_byte_more() {
    let (_d, srv) = served();
    let sb = sandbox();
    let o = run(&sb, &sb.cache(), &srv, &[], &["lock"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let size = payload().len();
    let lock = std::fs::read_to_string(sb.ws().join("scratch.lock")).unwrap();
    assert!(lock.contains(&format!("size = {size}")), "{lock}");

    // The pinned bytes followed by zeros without end, into an empty cache: the download
    // stops one byte past the recorded size.
    srv.set_fault("/a.tar", Fault::Endless);
    let fresh = sb.root.path().join("fresh-cache");
    let o = run(&sb, &fresh, &srv, &[], &["build"]);
    assert_clean_failure(
        &fresh,
        &o,
        &[
            "a.tar",
            &format!("more than the {size} bytes the lock records"),
            "compose lock --update",
        ],
    );
    assert_eq!(srv.hits("/a.tar"), 2, "not retried");

    // A Content-Length beyond the recorded size is refused before the body is read.
    let mut longer = payload();
    longer.push(0);
    srv.set_fault("/a.tar", Fault::Replace(longer));
    let o = run(&sb, &fresh, &srv, &[], &["build"]);
    assert_clean_failure(
        &fresh,
        &o,
        &[&format!(
            "more than the {size} bytes the lock records (it announced {} bytes)",
            size + 1
        )],
    );
}

#[test]
fn a_fifo_or_a_device_as_a_local_input_is_refused_before_it_is_opened() {
    let sb = Sandbox::new();
    let fifo = sb.ws().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let cases = [
        ("tar = \"pipe\"\n", "pipe is a FIFO (named pipe)"),
        (
            "[[layer.file]]\nsrc = \"pipe\"\ndest = \"/p\"\n",
            "pipe is a FIFO (named pipe)",
        ),
        (
            "[[layer.file]]\nsrc = \"/dev/zero\"\ndest = \"/z\"\n",
            "/dev/zero is a character device",
        ),
    ];
    for (layer, needle) in cases {
        sb.put(
            "scratch.toml",
            format!("[image]\nname = \"local\"\nsource_date_epoch = 1\n[[layer]]\n{layer}")
                .as_bytes(),
        );
        for cmd in ["lock", "build"] {
            let o = output_within(sb.compose().args([cmd]), Duration::from_secs(30));
            assert_clean_failure(&sb.cache(), &o, &[needle, "regular file"]);
        }
    }
}
