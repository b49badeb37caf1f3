//! Set-up shared by the `fetch_*` tests: a served tree, a cache, fast options.
#![allow(dead_code)]

use crate::common::server::TestServer;
use scratch_compose::digest::Sha256Digest;
use scratch_compose::fetch::{FetchOptions, MirrorRule};
use scratch_compose::ui::Ui;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const ALPINE_URL: &str =
    "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz";
pub const ALPINE_PATH: &str =
    "/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz";
pub const ALPINE_SHA256: &str = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211";
pub const ALPINE_ARM_URL: &str =
    "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/aarch64/alpine-minirootfs-3.19.4-aarch64.tar.gz";
pub const ALPINE_ARM_SHA256: &str =
    "8616879c6e0f3c1b02ab12e1d1fcd8c4189d2f46f61067f2a9428a4d1b440586";

/// A temporary directory with a served tree (`root/`), a cache (`cache/`) and a server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub srv: TestServer,
}

impl Env {
    /// Serves the given files (path on the server, bytes).
    pub fn with_files(files: &[(&str, &[u8])]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        for (p, bytes) in files {
            let dest = root.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(dest, bytes).unwrap();
        }
        let srv = TestServer::serve_dir(&root);
        Env { dir, srv }
    }

    /// Serves the Alpine minirootfs fixtures in the upstream layout, copied at test time;
    /// `None` (skip) when the fixtures are missing outside CI.
    pub fn alpine() -> Option<Env> {
        let fx = crate::common::require_fixtures()?.join("alpine");
        let env = Env::with_files(&[]);
        for arch in ["x86_64", "aarch64"] {
            let name = format!("alpine-minirootfs-3.19.4-{arch}.tar.gz");
            let dest = env.root().join(format!("alpine/v3.19/releases/{arch}"));
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::copy(fx.join(&name), dest.join(&name)).unwrap();
        }
        Some(env)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Fast options: silent, 10 ms backoff, 2 retries, 2 s timeouts.
    pub fn opts(&self) -> FetchOptions {
        let mut o = FetchOptions::new(self.cache_dir());
        o.ui = Ui::silent();
        o.retries = 2;
        o.backoff = Duration::from_millis(10);
        o.connect_timeout = Duration::from_secs(2);
        o.read_timeout = Duration::from_secs(2);
        o.jobs = 4;
        o
    }

    /// [`Env::opts`] with another cache directory.
    pub fn opts_with_cache(&self, cache: &Path) -> FetchOptions {
        let mut o = self.opts();
        o.cache_dir = cache.to_path_buf();
        o
    }

    /// Options that reach the upstream Alpine URLs through this server.
    pub fn alpine_opts(&self) -> FetchOptions {
        let mut o = self.opts();
        o.mirrors = vec![alpine_mirror(&self.srv)];
        o
    }

    /// The bytes of a served file.
    pub fn served(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.root().join(path.trim_start_matches('/'))).unwrap()
    }
}

/// `https://dl-cdn.alpinelinux.org/alpine/=<server>/alpine/`.
pub fn alpine_mirror(srv: &TestServer) -> MirrorRule {
    format!(
        "https://dl-cdn.alpinelinux.org/alpine/={}",
        srv.url("/alpine/")
    )
    .parse()
    .unwrap()
}

pub fn digest(s: &str) -> Sha256Digest {
    s.parse().unwrap()
}

/// The blobs in the cache (hex names) and the number of files left in its `tmp/`.
pub fn cache_contents(cache: &Path) -> (Vec<String>, usize) {
    let names = |d: PathBuf| -> Vec<String> {
        match std::fs::read_dir(d) {
            Ok(rd) => {
                let mut v: Vec<String> = rd
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            }
            Err(_) => Vec::new(),
        }
    };
    (
        names(cache.join("blobs/sha256")),
        names(cache.join("tmp")).len(),
    )
}
