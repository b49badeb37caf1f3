//! Concurrency: bounded parallel downloads in input order, and several fetchers (threads
//! or processes) sharing one cache.

mod common;
mod fetch_support;

use common::server::Fault;
use fetch_support::*;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::fetch::{FetchError, FetchRequest, Fetcher};
use std::sync::Barrier;
use std::time::Duration;

fn payload(i: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| ((j as u32 * 31 + i * 7) % 251) as u8)
        .collect()
}

const SLOW: Fault = Fault::Trickle {
    chunk: 8_192,
    delay: Duration::from_millis(40),
};

#[test]
fn fetch_all_is_bounded_by_jobs_and_keeps_input_order() {
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| payload(i, 16_384 + i as usize)).collect();
    let names: Vec<String> = (0..5).map(|i| format!("/f{i}")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(bodies.iter().map(Vec::as_slice))
        .collect();
    let env = Env::with_files(&files);
    env.srv.set_global_fault(SLOW);
    let mut o = env.opts();
    o.jobs = 2;
    let f = Fetcher::new(o).unwrap();
    let reqs: Vec<FetchRequest> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| FetchRequest::pinned(env.srv.url(n), Sha256Digest::of(b)))
        .collect();
    let blobs = f.fetch_all(&reqs).unwrap();
    for (blob, body) in blobs.iter().zip(&bodies) {
        assert_eq!(blob.sha256, Sha256Digest::of(body));
        assert_eq!(std::fs::read(&blob.path).unwrap(), *body);
    }
    assert_eq!(
        env.srv.max_in_flight(),
        2,
        "two jobs run at once, never more"
    );
}

#[test]
fn fetch_all_reports_every_failure_in_order() {
    let env = Env::with_files(&[("/ok", b"ok"), ("/bad", b"real")]);
    env.srv.set_fault("/bad", Fault::Replace(b"fake".to_vec()));
    let f = Fetcher::new(env.opts()).unwrap();
    let e = f
        .fetch_all(&[
            FetchRequest::pinned(env.srv.url("/missing"), Sha256Digest::of(b"x")),
            FetchRequest::pinned(env.srv.url("/ok"), Sha256Digest::of(b"ok")),
            FetchRequest::pinned(env.srv.url("/bad"), Sha256Digest::of(b"real")),
        ])
        .unwrap_err();
    match &e {
        FetchError::Several(errs) => {
            assert!(matches!(errs[0], FetchError::Http { status: 404, .. }));
            assert!(matches!(errs[1], FetchError::Checksum { .. }));
            assert_eq!(errs.len(), 2);
        }
        other => panic!("expected several errors, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("/missing") && msg.contains("/bad"), "{msg}");
    // The good input still made it into the cache.
    assert!(f.is_cached(&Sha256Digest::of(b"ok")));
}

#[test]
fn two_fetchers_in_threads_share_one_cache() {
    let body = payload(9, 131_072);
    let env = Env::with_files(&[("/same", &body)]);
    env.srv.set_fault("/same", SLOW);
    let pin = Sha256Digest::of(&body);
    let barrier = Barrier::new(2);
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let f = Fetcher::new(env.opts()).unwrap();
                    barrier.wait();
                    f.fetch(&FetchRequest::pinned(env.srv.url("/same"), pin))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let b = r.unwrap();
        assert_eq!(b.sha256, pin);
        assert_eq!(std::fs::read(&b.path).unwrap(), body);
    }
    assert_eq!(env.srv.hits("/same"), 2, "both downloaded");
    assert_eq!(env.srv.max_in_flight(), 2, "at the same time");
    assert_eq!(cache_contents(&env.cache_dir()), (vec![pin.hex()], 0));
}

/// Run only as a child of [`two_processes_share_one_cache`].
#[test]
#[ignore = "helper run as a child process by two_processes_share_one_cache"]
fn child_process_fetch() {
    // Outside the parent test (e.g. `cargo test -- --include-ignored`) there is nothing to do.
    let Ok(cache) = std::env::var("FETCH_CHILD_CACHE") else {
        return;
    };
    let url = std::env::var("FETCH_CHILD_URL").unwrap();
    let pin: Sha256Digest = std::env::var("FETCH_CHILD_PIN").unwrap().parse().unwrap();
    let mut o = scratch_compose::fetch::FetchOptions::new(cache);
    o.ui = scratch_compose::ui::Ui::silent();
    o.backoff = Duration::from_millis(10);
    let f = Fetcher::new(o).unwrap();
    let b = f.fetch(&FetchRequest::pinned(url, pin)).unwrap();
    assert_eq!(Sha256Digest::of(&std::fs::read(&b.path).unwrap()), pin);
}

#[test]
fn two_processes_share_one_cache() {
    let body = payload(3, 131_072);
    let env = Env::with_files(&[("/shared", &body)]);
    env.srv.set_fault("/shared", SLOW);
    let pin = Sha256Digest::of(&body);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["child_process_fetch", "--exact", "--ignored", "--quiet"])
                .env("FETCH_CHILD_CACHE", env.cache_dir())
                .env("FETCH_CHILD_URL", env.srv.url("/shared"))
                .env("FETCH_CHILD_PIN", pin.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    assert!(env.srv.hits("/shared") >= 1);
    assert_eq!(cache_contents(&env.cache_dir()), (vec![pin.hex()], 0));
    let f = Fetcher::new(env.opts()).unwrap();
    assert!(f.is_cached(&pin));
}
