//! The fetcher over HTTP against a local server: the real Alpine URL through a mirror rule,
//! and every fault the network can throw at it.

mod common;
mod fetch_support;

use common::server::Fault;
use fetch_support::*;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::fetch::{FetchError, FetchRequest, Fetcher, Netrc};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn alpine_pinned_through_mirror_then_from_cache() {
    let Some(env) = Env::alpine() else { return };
    let f = Fetcher::new(env.alpine_opts()).unwrap();
    let pin = digest(ALPINE_SHA256);
    let blob = f.fetch(&FetchRequest::pinned(ALPINE_URL, pin)).unwrap();
    assert_eq!(blob.sha256, pin);
    assert_eq!(blob.path, f.cache().blob_path(&pin));
    let served = env.served(ALPINE_PATH);
    assert_eq!(blob.size, served.len() as u64);
    assert_eq!(std::fs::read(&blob.path).unwrap(), served);
    assert_eq!(env.srv.hits(ALPINE_PATH), 1);
    assert!(f.is_cached(&pin));

    // A second fetch is a verified cache hit: no request.
    let again = f.fetch(&FetchRequest::pinned(ALPINE_URL, pin)).unwrap();
    assert_eq!(again, blob);
    assert_eq!(env.srv.hits(ALPINE_PATH), 1);
    assert_eq!(cache_contents(&env.cache_dir()), (vec![pin.hex()], 0));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn alpine_unpinned_returns_computed_digest() {
    let Some(env) = Env::alpine() else { return };
    let f = Fetcher::new(env.alpine_opts()).unwrap();
    let blob = f.fetch(&FetchRequest::unpinned(ALPINE_URL)).unwrap();
    assert_eq!(blob.sha256, digest(ALPINE_SHA256));
    assert_eq!(blob.sha256, Sha256Digest::of(&env.served(ALPINE_PATH)));
    assert!(f.is_cached(&blob.sha256));
    // Unpinned fetches always go to the network (the digest is what we are learning).
    f.fetch(&FetchRequest::unpinned(ALPINE_URL)).unwrap();
    assert_eq!(env.srv.hits(ALPINE_PATH), 2);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn server_error_twice_then_success() {
    let Some(env) = Env::alpine() else { return };
    env.srv.set_fault_times(ALPINE_PATH, Fault::Status(500), 2);
    let f = Fetcher::new(env.alpine_opts()).unwrap();
    let blob = f
        .fetch(&FetchRequest::pinned(ALPINE_URL, digest(ALPINE_SHA256)))
        .unwrap();
    assert_eq!(blob.sha256, digest(ALPINE_SHA256));
    assert_eq!(env.srv.hits(ALPINE_PATH), 3);
}

#[test]
fn persistent_server_error_reports_status_attempts_and_both_urls() {
    let env = Env::with_files(&[("/alpine/x.tar", b"data")]);
    env.srv.set_fault("/alpine/x.tar", Fault::Status(503));
    let f = Fetcher::new(env.alpine_opts()).unwrap();
    let original = "https://dl-cdn.alpinelinux.org/alpine/x.tar";
    let e = f
        .fetch(&FetchRequest::pinned(original, Sha256Digest::of(b"data")))
        .unwrap_err();
    match &e {
        FetchError::Http {
            status, attempts, ..
        } => assert_eq!((*status, *attempts), (503, 3)),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(env.srv.hits("/alpine/x.tar"), 3);
    let msg = e.to_string();
    assert!(msg.contains(&env.srv.url("/alpine/x.tar")), "{msg}");
    assert!(msg.contains(original), "{msg}");
    assert!(
        msg.contains("HTTP 503") && msg.contains("3 attempts"),
        "{msg}"
    );
    assert!(e.hint().is_some());
    assert_eq!(cache_contents(&env.cache_dir()), (vec![], 0));
}

#[test]
fn not_found_is_not_retried() {
    let env = Env::with_files(&[]);
    let f = Fetcher::new(env.opts()).unwrap();
    let url = env.srv.url("/missing.tar");
    let e = f
        .fetch(&FetchRequest::pinned(&url, Sha256Digest::of(b"x")))
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Http {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(env.srv.hits("/missing.tar"), 1);
    assert!(e.to_string().contains(&url));
    assert!(e.hint().unwrap().contains("URL"));
}

#[test]
fn truncated_body_is_retried_then_reported() {
    let body = vec![7u8; 100_000];
    let env = Env::with_files(&[("/t.bin", &body)]);
    let f = Fetcher::new(env.opts()).unwrap();
    let req = FetchRequest::pinned(env.srv.url("/t.bin"), Sha256Digest::of(&body));

    // Cut short once, then whole: success on the second attempt.
    env.srv.set_fault_times("/t.bin", Fault::Truncate, 1);
    let blob = f.fetch(&req).unwrap();
    assert_eq!(blob.size, body.len() as u64);
    assert_eq!(env.srv.hits("/t.bin"), 2);

    // Always cut short: a network error after every attempt, nothing cached.
    let env = Env::with_files(&[("/t.bin", &body)]);
    env.srv.set_fault("/t.bin", Fault::Truncate);
    let f = Fetcher::new(env.opts()).unwrap();
    let req = FetchRequest::pinned(env.srv.url("/t.bin"), Sha256Digest::of(&body));
    let e = f.fetch(&req).unwrap_err();
    assert!(
        matches!(e, FetchError::Network { attempts: 3, .. }),
        "{e:?}"
    );
    assert_eq!(env.srv.hits("/t.bin"), 3);
    assert_eq!(cache_contents(&env.cache_dir()), (vec![], 0));
}

#[test]
fn wrong_bytes_fail_the_checksum_and_leave_the_cache_clean() {
    let env = Env::with_files(&[("/a.tar", b"the real bytes")]);
    env.srv
        .set_fault("/a.tar", Fault::Replace(b"evil bytes".to_vec()));
    let f = Fetcher::new(env.opts()).unwrap();
    let url = env.srv.url("/a.tar");
    let pin = Sha256Digest::of(b"the real bytes");
    let e = f.fetch(&FetchRequest::pinned(&url, pin)).unwrap_err();
    match &e {
        FetchError::Checksum {
            url: u,
            expected,
            actual,
            ..
        } => {
            assert_eq!(u, &url);
            assert_eq!(*expected, pin);
            assert_eq!(*actual, Sha256Digest::of(b"evil bytes"));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&url) && msg.contains(&pin.hex()), "{msg}");
    assert!(
        msg.contains(&Sha256Digest::of(b"evil bytes").hex()),
        "{msg}"
    );
    // No retry for a checksum mismatch; no blob; no temporary leftovers.
    assert_eq!(env.srv.hits("/a.tar"), 1);
    assert_eq!(cache_contents(&env.cache_dir()), (vec![], 0));
    assert!(!f.is_cached(&Sha256Digest::of(b"evil bytes")));
}

#[test]
fn server_that_never_answers_times_out() {
    let env = Env::with_files(&[("/slow", b"x")]);
    env.srv
        .set_fault("/slow", Fault::Hang(Duration::from_secs(4)));
    let mut o = env.opts();
    o.read_timeout = Duration::from_millis(300);
    o.retries = 1;
    let f = Fetcher::new(o).unwrap();
    let start = Instant::now();
    let e = f
        .fetch(&FetchRequest::unpinned(env.srv.url("/slow")))
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    match &e {
        FetchError::Network {
            attempts, reason, ..
        } => {
            assert_eq!(*attempts, 2);
            assert!(reason.contains("timed out"), "{reason}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(env.srv.hits("/slow"), 2);
}

#[test]
fn slow_but_steady_body_is_not_a_timeout() {
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let env = Env::with_files(&[("/trickle", &body)]);
    env.srv.set_fault(
        "/trickle",
        Fault::Trickle {
            chunk: 2_000,
            delay: Duration::from_millis(60),
        },
    );
    let mut o = env.opts();
    // Each wait is short, the whole transfer (~600 ms) is longer.
    o.read_timeout = Duration::from_millis(400);
    o.retries = 0;
    let f = Fetcher::new(o).unwrap();
    let blob = f
        .fetch(&FetchRequest::pinned(
            env.srv.url("/trickle"),
            Sha256Digest::of(&body),
        ))
        .unwrap();
    assert_eq!(blob.size, body.len() as u64);
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::with_files(&[]);
    let f = Fetcher::new(env.opts()).unwrap();
    let url = format!("http://127.0.0.1:{port}/x");
    let e = f.fetch(&FetchRequest::unpinned(&url)).unwrap_err();
    assert!(
        matches!(e, FetchError::Network { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(&url));
}

#[test]
fn redirects_to_http_are_followed() {
    let env = Env::with_files(&[("/real.bin", b"payload")]);
    env.srv
        .set_fault("/old.bin", Fault::Redirect("/real.bin".into()));
    let f = Fetcher::new(env.opts()).unwrap();
    let blob = f
        .fetch(&FetchRequest::pinned(
            env.srv.url("/old.bin"),
            Sha256Digest::of(b"payload"),
        ))
        .unwrap();
    assert_eq!(std::fs::read(blob.path).unwrap(), b"payload");
    assert_eq!(env.srv.hits("/real.bin"), 1);
}

#[test]
fn redirect_to_file_url_is_refused() {
    let env = Env::with_files(&[]);
    let secret = env.dir.path().join("secret");
    std::fs::write(&secret, b"local secret").unwrap();
    let target = format!("file://{}", secret.display());
    env.srv.set_fault("/r", Fault::Redirect(target.clone()));
    let f = Fetcher::new(env.opts()).unwrap();
    let e = f
        .fetch(&FetchRequest::unpinned(env.srv.url("/r")))
        .unwrap_err();
    match &e {
        FetchError::Redirect { target: t, .. } => assert_eq!(t, &target),
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert_eq!(env.srv.hits("/r"), 1, "a refused redirect is not retried");
    assert!(!f.is_cached(&Sha256Digest::of(b"local secret")));
    assert!(e.hint().unwrap().contains("http"));
}

#[test]
fn redirect_loop_stops() {
    let env = Env::with_files(&[]);
    env.srv.set_fault("/loop", Fault::Redirect("/loop".into()));
    let f = Fetcher::new(env.opts()).unwrap();
    let e = f
        .fetch(&FetchRequest::unpinned(env.srv.url("/loop")))
        .unwrap_err();
    assert!(matches!(e, FetchError::Redirect { .. }), "{e:?}");
    assert!(e.to_string().contains("redirects"), "{e}");
    assert_eq!(env.srv.hits("/loop") as usize, 11);
}

#[test]
fn netrc_credentials_go_to_their_host_only() {
    let env = Env::with_files(&[("/private.bin", b"secret payload")]);
    let pin = Sha256Digest::of(b"secret payload");
    let netrc = Netrc::parse("machine 127.0.0.1 login alice password s3cret\n");
    let f = Fetcher::new(env.opts()).unwrap().with_netrc(Some(netrc));
    f.fetch(&FetchRequest::pinned(env.srv.url("/private.bin"), pin))
        .unwrap();
    // base64("alice:s3cret")
    assert_eq!(
        env.srv
            .last_header("/private.bin", "Authorization")
            .as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    let other = Netrc::parse("machine mirror.example login bob password pw\n");
    let f = Fetcher::new(env.opts()).unwrap().with_netrc(Some(other));
    f.fetch(&FetchRequest::unpinned(env.srv.url("/private.bin")))
        .unwrap();
    assert_eq!(env.srv.last_header("/private.bin", "Authorization"), None);
}

#[test]
fn https_handshake_failure_is_a_network_error() {
    // The test server speaks plain HTTP: the TLS client (rustls, system + webpki roots)
    // is set up, tries to handshake, and fails cleanly.
    let env = Env::with_files(&[("/x", b"x")]);
    let f = Fetcher::new(env.opts()).unwrap();
    let url = env.srv.url("/x").replacen("http://", "https://", 1);
    let e = f.fetch(&FetchRequest::unpinned(&url)).unwrap_err();
    assert!(matches!(e, FetchError::Network { .. }), "{e:?}");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(e.hint().unwrap().contains("CA certificates"));
    assert!(!f.is_cached(&Sha256Digest::of(b"x")));
}
