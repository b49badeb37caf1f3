//! The layer cache in a registry (`--cache-from REF… --cache-to REF`): one OCI artifact
//! whose layers are cached layer blobs and whose config maps each layer key
//! ([`crate::store::LayerKey`]) to its blob, diff_id and size, so CI runners that start
//! empty fetch what another machine built instead of compressing it again.
//!
//! * [`spec`]: the references and where they come from (flags, environment, `[cache]`);
//! * [`artifact`]: the artifact's format (documented in `docs/remote-cache.md`);
//! * [`read`]: lazy reads, after the local layer cache misses, each blob verified;
//! * [`write`](mod@write): the export after a build: new blobs only, a read-merge of what is there,
//!   the manifest pushed by digest, then the tag moved.
//!
//! A [`RemoteCache`] is attached to a [`crate::session::Session`] by `build` and `push`
//! only: `lock` (whose recorded digests must come from the inputs) and `verify` never
//! read a cache.

pub mod artifact;
mod error;
pub mod read;
pub mod spec;
pub mod write;

pub use error::CacheError;
pub use spec::{CacheRef, CacheSettings};

use crate::digest::Sha256Digest;
use crate::lock::OutputRecord;
use crate::platform::Platform;
use crate::preflight::Finding;
use crate::registry::{ClientOptions, Registry};
use crate::store::LayerKey;
use crate::ui::Ui;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where a layer of this build came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Merged and compressed here.
    Built,
    /// From the local layer cache.
    Local,
    /// Fetched from a registry-backed cache.
    Remote,
}

/// What the remote cache did for one build, for logs and `--metadata-file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Layers compressed here, taken from the local layer cache, fetched from a registry.
    pub layers_built: usize,
    pub layers_local: usize,
    pub layers_fetched: usize,
    /// Bytes fetched from registries (layers and snapshots).
    pub bytes_fetched: u64,
    /// Cached layers not used because they differ from what the lock records, or because
    /// their blob was not what the cache said.
    pub layers_refused: usize,
    /// The export, when `--cache-to` was given and the build got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exported: Option<write::ExportReport>,
}

/// The registry-backed cache of one build: the sources it reads (loaded on the first
/// local miss, once), what the lock expects, and the layers the build used (for the
/// export).
pub struct RemoteCache {
    settings: CacheSettings,
    client: ClientOptions,
    ui: Ui,
    jobs: usize,
    sources: OnceLock<Vec<read::Source>>,
    connections: Mutex<BTreeMap<String, Arc<Registry>>>,
    expected: Mutex<BTreeMap<String, OutputRecord>>,
    used: Mutex<Vec<(LayerKey, Origin)>>,
    preflight: Mutex<BTreeMap<Sha256Digest, (LayerKey, Vec<Finding>)>>,
    stats: Mutex<CacheStats>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RemoteCache {
    /// A cache reading `settings.from` and writing `settings.to`, reaching registries as
    /// `client` says, sending at most `jobs` blobs at once. Nothing is contacted until a
    /// layer is missing locally (or the export).
    pub fn new(settings: CacheSettings, client: ClientOptions, jobs: usize) -> RemoteCache {
        RemoteCache {
            ui: client.ui.clone(),
            jobs: jobs.max(1),
            settings,
            client,
            sources: OnceLock::new(),
            connections: Mutex::new(BTreeMap::new()),
            expected: Mutex::new(BTreeMap::new()),
            used: Mutex::new(Vec::new()),
            preflight: Mutex::new(BTreeMap::new()),
            stats: Mutex::new(CacheStats::default()),
        }
    }

    /// Where this cache reads and writes.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The output digests a lock records (when its inputs and settings are this build's):
    /// a cached layer that differs from the lock's is not used.
    pub fn expect(&self, outputs: BTreeMap<String, OutputRecord>) {
        *lock(&self.expected) = outputs;
    }

    /// The layer the lock records `from_top` places below the top of platform `p`'s
    /// image, when it records one (counted from the top, as a base image's layers come
    /// first).
    fn expected_layer(&self, p: &Platform, from_top: usize) -> Option<crate::lock::LayerRecord> {
        let expected = lock(&self.expected);
        let layers = &expected.get(&p.to_string())?.layers;
        let i = layers.len().checked_sub(from_top + 1)?;
        layers.get(i).cloned()
    }

    /// True when a lock records output digests for this build.
    fn has_expectations(&self) -> bool {
        !lock(&self.expected).is_empty()
    }

    /// Note that layer `key` of this build came from `origin` (it goes into the export).
    pub fn note(&self, key: &LayerKey, origin: Origin) {
        let mut used = lock(&self.used);
        if used.iter().any(|(k, _)| k == key) {
            return;
        }
        used.push((*key, origin));
        let mut s = lock(&self.stats);
        match origin {
            Origin::Built => s.layers_built += 1,
            Origin::Local => s.layers_local += 1,
            Origin::Remote => s.layers_fetched += 1,
        }
    }

    /// Note the preflight findings of the tree whose top layer is `top`, remembered under
    /// `record` (they travel with the cache, so a build whose layers all come from it
    /// need not merge the tree to check it).
    pub fn note_preflight(&self, record: &Sha256Digest, top: &LayerKey, findings: &[Finding]) {
        lock(&self.preflight).insert(*record, (*top, findings.to_vec()));
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        lock(&self.stats).clone()
    }

    /// A connection to `host`, made once and shared by reads and the export.
    fn connect(&self, host: &str) -> Result<Arc<Registry>, crate::registry::RegistryError> {
        let mut known = lock(&self.connections);
        if let Some(r) = known.get(host) {
            return Ok(r.clone());
        }
        let r = Arc::new(Registry::connect(host, &self.client)?);
        known.insert(host.to_string(), r.clone());
        Ok(r)
    }
}

/// A poisoned lock still holds usable data: these maps are only ever added to.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the epoch: when an entry was last used (cache bookkeeping, never output).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LayerRecord;

    #[test]
    fn the_lock_is_read_from_the_top_so_base_layers_below_do_not_shift_it() {
        let cache = RemoteCache::new(CacheSettings::default(), ClientOptions::default(), 1);
        let layer = |n: u8| LayerRecord {
            diff_id: Sha256Digest([n; 32]),
            digest: Sha256Digest([n + 100; 32]),
            size: u64::from(n),
        };
        let p: Platform = "linux/amd64".parse().unwrap();
        assert!(cache.expected_layer(&p, 0).is_none());
        cache.expect(
            [(
                p.to_string(),
                OutputRecord {
                    manifest: Sha256Digest([0; 32]),
                    config: Sha256Digest([0; 32]),
                    // A base image's two layers, then ours.
                    layers: vec![layer(1), layer(2), layer(3), layer(4)],
                    spdx: None,
                    cyclonedx: None,
                },
            )]
            .into(),
        );
        assert_eq!(cache.expected_layer(&p, 0), Some(layer(4)));
        assert_eq!(cache.expected_layer(&p, 1), Some(layer(3)));
        assert_eq!(cache.expected_layer(&p, 4), None);
        assert!(cache
            .expected_layer(&"linux/arm64".parse().unwrap(), 0)
            .is_none());
    }

    #[test]
    fn each_layer_is_counted_once_by_where_it_came_from() {
        let cache = RemoteCache::new(CacheSettings::default(), ClientOptions::default(), 1);
        let k = |n: u8| LayerKey(Sha256Digest([n; 32]));
        cache.note(&k(1), Origin::Built);
        cache.note(&k(2), Origin::Remote);
        cache.note(&k(2), Origin::Local);
        cache.note(&k(3), Origin::Local);
        let s = cache.stats();
        assert_eq!(
            (s.layers_built, s.layers_fetched, s.layers_local),
            (1, 1, 1)
        );
    }
}
