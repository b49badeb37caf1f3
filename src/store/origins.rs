//! Where blobs are known to live: for each blob digest, the registries and repositories
//! that held it the last times compose pushed it there or pulled it from there. `compose
//! push` reads it to mount a blob from another repository of the same registry instead of
//! uploading it again.
//!
//! `origins/<hex>` holds one `REGISTRY REPOSITORY` line per place, most recent first, at
//! most [`MAX_PER_BLOB`]; each file is replaced whole (a temporary file renamed). Only
//! names made of the characters registry hosts and repository names allow are kept, so
//! nothing else (no credentials, no URL with a user in it) can ever be written. It is a
//! hint: a lost or stale line costs an upload, never a wrong image (the registry checks
//! the mount), and `compose cache prune` empties it.

use super::{Cache, StoreError};
use crate::digest::Sha256Digest;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// Places remembered per blob: enough for the few repositories a blob is mounted between.
pub const MAX_PER_BLOB: usize = 8;

/// One place holding a blob: a registry host (as compose connects to it,
/// `host[:port]`) and a repository on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub registry: String,
    pub repository: String,
}

impl Origin {
    /// The origin, when both names are plain registry and repository names.
    pub fn new(registry: &str, repository: &str) -> Option<Origin> {
        (plain_host(registry) && plain_repository(repository)).then(|| Origin {
            registry: registry.to_string(),
            repository: repository.to_string(),
        })
    }
}

/// `host[:port]` or `[v6]:port`: letters, digits, `.`, `-`, `:`, `[`, `]`; no `@`.
fn plain_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// The distribution spec's repository names: lowercase letters, digits and the
/// separators `.`, `_`, `-`, `/`.
fn plain_repository(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
}

/// The origins record of one cache.
#[derive(Debug, Clone)]
pub struct Origins {
    cache: Cache,
}

impl Cache {
    /// The record of where blobs are known to live.
    pub fn origins(&self) -> Origins {
        Origins {
            cache: self.clone(),
        }
    }

    pub(super) fn origins_dir(&self) -> PathBuf {
        self.root().join("origins")
    }
}

impl Origins {
    /// The places known to hold blob `d`, most recent first (none when unknown or
    /// unreadable: it is only a hint).
    pub fn lookup(&self, d: &Sha256Digest) -> Vec<Origin> {
        let path = self.cache.origins_dir().join(d.hex());
        let Ok(text) = fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(r, p)| Origin::new(r, p))
            .take(MAX_PER_BLOB)
            .collect()
    }

    /// Remember that `registry`/`repository` holds each of `digests`. Names that are not
    /// plain registry and repository names are ignored.
    pub fn record<'a>(
        &self,
        digests: impl IntoIterator<Item = &'a Sha256Digest>,
        registry: &str,
        repository: &str,
    ) -> Result<(), StoreError> {
        let Some(origin) = Origin::new(registry, repository) else {
            return Ok(());
        };
        let dir = self.cache.origins_dir();
        fs::create_dir_all(&dir).map_err(|e| StoreError::cache(&dir, e))?;
        for d in digests {
            let mut places = self.lookup(d);
            if places.first() == Some(&origin) {
                continue;
            }
            places.retain(|o| *o != origin);
            places.insert(0, origin.clone());
            places.truncate(MAX_PER_BLOB);
            let text: String = places
                .iter()
                .map(|o| format!("{} {}\n", o.registry, o.repository))
                .collect();
            let mut tmp = self.cache.temp_file()?;
            tmp.write_all(text.as_bytes())
                .map_err(|e| StoreError::cache(tmp.path(), e))?;
            let dest = dir.join(d.hex());
            tmp.persist(&dest)
                .map_err(|e| StoreError::cache(&dest, e.error))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_first_bounded_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let o = Cache::open(dir.path()).unwrap().origins();
        let d = Sha256Digest::of(b"layer");
        assert!(o.lookup(&d).is_empty());
        for i in 0..12 {
            o.record([&d], "127.0.0.1:5000", &format!("team/app{i}"))
                .unwrap();
        }
        o.record([&d], "127.0.0.1:5000", "team/app3").unwrap();
        let places = o.lookup(&d);
        assert_eq!(places.len(), MAX_PER_BLOB);
        assert_eq!(places[0].repository, "team/app3");
        assert_eq!(places[1].repository, "team/app11");
        assert_eq!(
            places
                .iter()
                .filter(|p| p.repository == "team/app3")
                .count(),
            1
        );
        assert!(o.lookup(&Sha256Digest::of(b"other")).is_empty());
    }

    #[test]
    fn anything_but_plain_names_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let o = cache.origins();
        let d = Sha256Digest::of(b"x");
        for (host, repo) in [
            ("user:secret@registry.example.com", "app"),
            ("registry.example.com", "App"),
            ("registry.example.com", "a b"),
            ("registry.example.com", "a\nb c"),
            ("", "app"),
        ] {
            o.record([&d], host, repo).unwrap();
        }
        assert!(o.lookup(&d).is_empty());
        assert!(!dir.path().join("origins").join(d.hex()).exists());
        o.record([&d], "[::1]:5000", "a/b_c-d.e").unwrap();
        assert_eq!(
            o.lookup(&d),
            vec![Origin::new("[::1]:5000", "a/b_c-d.e").unwrap()]
        );
        // A line written by hand that is not plain is ignored on reading.
        std::fs::write(
            dir.path().join("origins").join(d.hex()),
            "u:p@host repo\nhost ok/repo\n",
        )
        .unwrap();
        assert_eq!(o.lookup(&d), vec![Origin::new("host", "ok/repo").unwrap()]);
    }
}
