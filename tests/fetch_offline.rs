//! `--offline`, cache verification and local inputs.

mod common;
mod fetch_support;

use fetch_support::*;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::fetch::{FetchError, FetchRequest, Fetcher, MirrorRule};
use scratch_compose::store::{Cache, StoreError};

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn offline_with_warm_cache_needs_no_network() {
    let Some(env) = Env::alpine() else { return };
    let pin = digest(ALPINE_SHA256);
    Fetcher::new(env.alpine_opts())
        .unwrap()
        .fetch(&FetchRequest::pinned(ALPINE_URL, pin))
        .unwrap();
    assert_eq!(env.srv.total_hits(), 1);

    let mut o = env.opts(); // no mirror: the upstream URL could not be reached anyway
    o.offline = true;
    let f = Fetcher::new(o).unwrap();
    let blobs = f
        .fetch_all(&[FetchRequest::pinned(ALPINE_URL, pin)])
        .unwrap();
    assert_eq!(blobs[0].sha256, pin);
    assert_eq!(
        std::fs::read(&blobs[0].path).unwrap(),
        env.served(ALPINE_PATH)
    );
    assert_eq!(env.srv.total_hits(), 1);
}

#[test]
fn offline_with_cold_cache_names_every_missing_input() {
    let env = Env::with_files(&[("/a", b"a"), ("/b", b"b")]);
    let local = env.dir.path().join("local.bin");
    std::fs::write(&local, b"local").unwrap();
    let mut o = env.opts();
    o.offline = true;
    o.jobs = 2;
    let f = Fetcher::new(o).unwrap();
    let reqs = [
        FetchRequest::pinned(env.srv.url("/a"), Sha256Digest::of(b"a")),
        FetchRequest::pinned(local.to_str().unwrap(), Sha256Digest::of(b"local")),
        FetchRequest::pinned(env.srv.url("/b"), Sha256Digest::of(b"b")),
        FetchRequest::unpinned("https://example.invalid/c.tar"),
    ];
    let e = f.fetch_all(&reqs).unwrap_err();
    match &e {
        FetchError::Offline { missing } => {
            assert_eq!(missing.len(), 3, "{missing:?}");
            assert!(missing[0].contains(&env.srv.url("/a")));
            assert!(missing[1].contains(&env.srv.url("/b")));
            assert!(missing[2].contains("https://example.invalid/c.tar"));
            assert!(missing[2].contains("not pinned"));
        }
        other => panic!("expected an offline error, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("3 inputs"), "{msg}");
    assert!(e.hint().unwrap().contains("without --offline"));
    assert_eq!(
        env.srv.total_hits(),
        0,
        "offline must not touch the network"
    );
    // The local input still worked.
    assert!(f.is_cached(&Sha256Digest::of(b"local")));
}

#[test]
fn corrupt_cache_blob_is_fetched_again() {
    let env = Env::with_files(&[("/x.tar", b"good bytes")]);
    let f = Fetcher::new(env.opts()).unwrap();
    let pin = Sha256Digest::of(b"good bytes");
    let req = FetchRequest::pinned(env.srv.url("/x.tar"), pin);
    let blob = f.fetch(&req).unwrap();
    std::fs::write(&blob.path, b"bit rot").unwrap();
    assert!(!f.is_cached(&pin));
    assert!(
        !blob.path.exists(),
        "the corrupt blob is removed on detection"
    );

    std::fs::write(&blob.path, b"bit rot again").unwrap();
    let again = f.fetch(&req).unwrap();
    assert_eq!(again, blob);
    assert_eq!(std::fs::read(&again.path).unwrap(), b"good bytes");
    assert_eq!(env.srv.hits("/x.tar"), 2);
    assert_eq!(cache_contents(&env.cache_dir()), (vec![pin.hex()], 0));
}

#[test]
fn corrupt_cache_blob_offline_is_a_miss() {
    let env = Env::with_files(&[("/x.tar", b"good bytes")]);
    let pin = Sha256Digest::of(b"good bytes");
    let req = FetchRequest::pinned(env.srv.url("/x.tar"), pin);
    let blob = Fetcher::new(env.opts()).unwrap().fetch(&req).unwrap();
    std::fs::write(&blob.path, b"bit rot").unwrap();
    let mut o = env.opts();
    o.offline = true;
    let e = Fetcher::new(o).unwrap().fetch(&req).unwrap_err();
    assert!(matches!(e, FetchError::Offline { .. }), "{e:?}");
    assert_eq!(env.srv.hits("/x.tar"), 1);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn mirror_to_file_url_works_offline() {
    let Some(env) = Env::alpine() else { return };
    let mut o = env.opts();
    o.offline = true;
    let dir = reqwest::Url::from_directory_path(env.root().join("alpine")).unwrap();
    o.mirrors = vec![format!("https://dl-cdn.alpinelinux.org/alpine/={dir}")
        .parse::<MirrorRule>()
        .unwrap()];
    let f = Fetcher::new(o).unwrap();
    let blobs = f
        .fetch_all(&[
            FetchRequest::pinned(ALPINE_URL, digest(ALPINE_SHA256)),
            FetchRequest::unpinned(ALPINE_ARM_URL),
        ])
        .unwrap();
    assert_eq!(blobs[0].sha256, digest(ALPINE_SHA256));
    assert_eq!(blobs[1].sha256, digest(ALPINE_ARM_SHA256));
    assert_eq!(env.srv.total_hits(), 0);
}

#[test]
fn local_checksum_mismatch_names_the_path() {
    let env = Env::with_files(&[]);
    let local = env.dir.path().join("hello");
    std::fs::write(&local, b"v2").unwrap();
    let f = Fetcher::new(env.opts()).unwrap();
    let e = f
        .fetch(&FetchRequest::pinned(
            local.to_str().unwrap(),
            Sha256Digest::of(b"v1"),
        ))
        .unwrap_err();
    assert!(matches!(e, FetchError::Checksum { .. }), "{e:?}");
    assert!(e.to_string().contains(local.to_str().unwrap()));
    assert_eq!(cache_contents(&env.cache_dir()), (vec![], 0));
    let e = f
        .fetch(&FetchRequest::unpinned(
            env.dir.path().join("absent").to_str().unwrap(),
        ))
        .unwrap_err();
    assert!(matches!(e, FetchError::Local { .. }), "{e:?}");
    assert!(e.to_string().contains("absent"));
}

#[test]
fn unsupported_scheme_is_refused_clearly() {
    let env = Env::with_files(&[]);
    let f = Fetcher::new(env.opts()).unwrap();
    let e = f
        .fetch(&FetchRequest::unpinned("ftp://example.org/x.tar"))
        .unwrap_err();
    assert!(matches!(e, FetchError::BadUrl { .. }), "{e:?}");
    assert!(e.to_string().contains("ftp"), "{e}");
}

#[test]
fn unwritable_cache_is_a_clear_error() {
    // Permissions mean nothing to root, so break the cache by putting a file where its
    // temporary directory should be.
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = Cache::open(&cache_dir).unwrap();
    let tmp = cache_dir.join("tmp");
    std::fs::remove_dir(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    let src = dir.path().join("in");
    std::fs::write(&src, b"x").unwrap();
    let e = cache.insert_file(&src).unwrap_err();
    assert!(matches!(e, StoreError::Cache { .. }), "{e:?}");
    assert!(e.to_string().contains(tmp.to_str().unwrap()), "{e}");
    assert!(e.hint().unwrap().contains("--cache-dir"));

    // A cache root that cannot be created names that path.
    let e = match Fetcher::new(fetch_support::Env::with_files(&[]).opts_with_cache(&src.join("c")))
    {
        Err(e) => e,
        Ok(_) => panic!("a cache under a regular file must fail"),
    };
    assert!(
        matches!(e, FetchError::Store(StoreError::Cache { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains(src.to_str().unwrap()), "{e}");
}
