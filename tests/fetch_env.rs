//! Settings read from the environment. One test function: the environment is global to
//! the process, so nothing else in this binary may read it concurrently.

mod common;
mod fetch_support;

use fetch_support::Env;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::fetch::{mirrors_from_env, FetchError, FetchRequest, Fetcher, MirrorRule};
use scratch_compose::store::default_cache_dir;
use std::path::PathBuf;

#[test]
fn environment_settings() {
    let vars = [
        "SCRATCH_CACHE_DIR",
        "XDG_CACHE_HOME",
        "HOME",
        "SCRATCH_MIRRORS",
    ];
    let saved: Vec<_> = vars.iter().map(std::env::var_os).collect();

    // Cache directory: SCRATCH_CACHE_DIR, then XDG_CACHE_HOME, then HOME.
    std::env::set_var("SCRATCH_CACHE_DIR", "/c/explicit");
    std::env::set_var("XDG_CACHE_HOME", "/c/xdg");
    std::env::set_var("HOME", "/c/home");
    assert_eq!(default_cache_dir(), PathBuf::from("/c/explicit"));
    std::env::set_var("SCRATCH_CACHE_DIR", "");
    assert_eq!(default_cache_dir(), PathBuf::from("/c/xdg/scratch-compose"));
    std::env::remove_var("SCRATCH_CACHE_DIR");
    std::env::set_var("XDG_CACHE_HOME", "relative/ignored");
    assert_eq!(
        default_cache_dir(),
        PathBuf::from("/c/home/.cache/scratch-compose")
    );
    std::env::remove_var("XDG_CACHE_HOME");
    assert_eq!(
        default_cache_dir(),
        PathBuf::from("/c/home/.cache/scratch-compose")
    );

    // Mirrors: whitespace-separated rules; unset means none; errors name the variable.
    std::env::remove_var("SCRATCH_MIRRORS");
    assert!(mirrors_from_env().unwrap().is_empty());
    std::env::set_var(
        "SCRATCH_MIRRORS",
        "https://a.example/=http://127.0.0.1:1/a/\n  https://b.example/=file:///srv/b/ ",
    );
    let rules = mirrors_from_env().unwrap();
    assert_eq!(
        rules,
        vec![
            "https://a.example/=http://127.0.0.1:1/a/"
                .parse::<MirrorRule>()
                .unwrap(),
            MirrorRule {
                prefix: "https://b.example/".into(),
                replacement: "file:///srv/b/".into()
            },
        ]
    );
    std::env::set_var("SCRATCH_MIRRORS", "https://a.example/=x broken");
    let e = mirrors_from_env().unwrap_err();
    assert!(matches!(e, FetchError::BadMirror { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("broken") && msg.contains("SCRATCH_MIRRORS"),
        "{msg}"
    );

    // Proxies: HTTP_PROXY is honoured, NO_PROXY bypasses it.
    let env = Env::with_files(&[("/p.bin", b"via proxy")]);
    let pin = Sha256Digest::of(b"via proxy");
    let url = "http://proxied.invalid/p.bin";
    for v in ["http_proxy", "no_proxy", "NO_PROXY"] {
        std::env::remove_var(v);
    }
    std::env::set_var("HTTP_PROXY", env.srv.base());
    let blob = Fetcher::new(env.opts())
        .unwrap()
        .fetch(&FetchRequest::pinned(url, pin))
        .unwrap();
    assert_eq!(blob.sha256, pin);
    assert_eq!(env.srv.hits(url), 1, "the request went through the proxy");

    std::env::set_var("NO_PROXY", "proxied.invalid");
    let mut o = env.opts();
    o.retries = 0;
    o.cache_dir = env.dir.path().join("cache2");
    let e = Fetcher::new(o)
        .unwrap()
        .fetch(&FetchRequest::pinned(url, pin))
        .unwrap_err();
    assert!(matches!(e, FetchError::Network { .. }), "{e:?}");
    assert_eq!(env.srv.hits(url), 1, "NO_PROXY bypassed the proxy");

    for (v, old) in vars.iter().zip(saved) {
        match old {
            Some(val) => std::env::set_var(v, val),
            None => std::env::remove_var(v),
        }
    }
}
