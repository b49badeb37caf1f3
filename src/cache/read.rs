//! Reading the remote cache: each source's manifest and index fetched once, on the first
//! local miss; then only the blobs of the keys the build needs, each verified by digest
//! as it arrives and kept in the local layer cache. A source that cannot be read is a
//! warning, never a failed build: the layers are built here instead.

use super::artifact::{self, Entry, Index, MAX_INDEX};
use super::{CacheRef, Origin, RemoteCache};
use crate::base::pull::{pull_blob, PullError};
use crate::base::BlobCache;
use crate::digest::Sha256Digest;
use crate::image::LayerBlob;
use crate::platform::Platform;
use crate::preflight::Finding;
use crate::registry::{Registry, RegistryError};
use crate::store::{CachedLayer, LayerCache, LayerKey, Lookup, StoreError};
use std::io::Read;
use std::sync::Arc;

/// Snapshots larger than this are not fetched (they are metadata; 100,000 files make
/// about 10 MB).
const MAX_SNAPSHOT: u64 = 256 << 20;

/// One cache read: its reference, the registry it lives on and its index.
pub struct Source {
    pub cache: CacheRef,
    pub registry: Arc<Registry>,
    pub index: Index,
    /// The manifest's digest (what the tag named when it was read).
    pub digest: Sha256Digest,
}

impl RemoteCache {
    /// The sources that could be read, loaded on first use.
    pub(super) fn sources(&self) -> &[Source] {
        self.sources.get_or_init(|| {
            let mut out = Vec::new();
            for r in &self.settings.from {
                match self.load(r) {
                    Ok(Some(s)) => {
                        self.ui.debug(format!(
                            "layer cache {r}: {} entries ({})",
                            s.index.entries.len(),
                            s.digest
                        ));
                        out.push(s);
                    }
                    Ok(None) => self
                        .ui
                        .info(format!("layer cache {r}: empty (nothing there yet)")),
                    Err(why) => self.ui.warn(format!(
                        "layer cache {r} not used: {why}; building what the local cache lacks"
                    )),
                }
            }
            out
        })
    }

    /// Read one cache's manifest and index; `None` when there is none yet.
    pub(super) fn load(&self, r: &CacheRef) -> Result<Option<Source>, String> {
        let registry = self
            .connect(r.reference.api_host())
            .map_err(|e| e.to_string())?;
        match read_index(&registry, r).map_err(|e| e.to_string())? {
            Some((digest, index)) => Ok(Some(Source {
                cache: r.clone(),
                registry,
                index,
                digest,
            })),
            None => Ok(None),
        }
    }

    /// The entry a source holds for `key`, and the source.
    fn find(&self, key: &LayerKey) -> Option<(&Source, &Entry)> {
        let hex = key.0.hex();
        self.sources()
            .iter()
            .find_map(|s| s.index.entries.get(&hex).map(|e| (s, e)))
    }

    /// The layer cached remotely under `key` (platform `p`'s layer `from_top` places below
    /// its top one, `label` in messages), fetched into `layers` and verified; `None` when no source
    /// has it, it differs from what the lock records, or its blob is not what the cache
    /// says (each said in a warning naming the cache).
    pub fn layer(
        &self,
        key: &LayerKey,
        p: &Platform,
        from_top: usize,
        label: &str,
        layers: &LayerCache,
    ) -> Result<Option<CachedLayer>, StoreError> {
        if self.settings.from.is_empty() {
            return Ok(None);
        }
        let Some((source, e)) = self.find(key) else {
            return Ok(None);
        };
        let name = &source.cache;
        if let Some(rec) = self.expected_layer(p, from_top) {
            if rec.digest != e.digest || rec.diff_id != e.diff_id {
                self.ui.warn(format!(
                    "{label}: the layer cache {name} holds {} for it, but the lock records {}; \
                     building it here instead",
                    e.digest, rec.digest
                ));
                super::lock(&self.stats).layers_refused += 1;
                return Ok(None);
            }
        }
        let Some(path) = self.fetch(layers.store(), source, &e.digest, e.size, label)? else {
            return Ok(None);
        };
        let layer = CachedLayer {
            blob: LayerBlob {
                media_type: e.media_type.clone(),
                digest: e.digest,
                size: e.size,
                diff_id: e.diff_id,
            },
            path,
            warnings: e.warnings.clone(),
            // Not named in the local record: a snapshot from a cache is used only through
            // [`RemoteCache::tree`], which a lock's presence turns off every time.
            tree: None,
        };
        layers.adopt(key, &layer)?;
        self.ui.debug(format!(
            "{label}: from the layer cache {name} ({})",
            e.digest
        ));
        self.note(key, Origin::Remote);
        Ok(Some(layer))
    }

    /// The snapshot of the merged tree up to the layer under `key`, from the source that
    /// has that layer. Not used when a lock records output digests: a snapshot cannot be
    /// checked against the lock, so such builds merge the lower layers from their inputs.
    pub fn tree(
        &self,
        key: &LayerKey,
        layers: &LayerCache,
    ) -> Result<Option<std::path::PathBuf>, StoreError> {
        if self.settings.from.is_empty() || self.has_expectations() {
            return Ok(None);
        }
        let Some((source, e)) = self.find(key) else {
            return Ok(None);
        };
        let Some(t) = e.tree.filter(|t| t.size <= MAX_SNAPSHOT) else {
            return Ok(None);
        };
        self.fetch(layers.store(), source, &t.digest, t.size, "tree snapshot")
    }

    /// The preflight findings a source holds for the tree remembered under `record`.
    pub fn preflight(&self, record: &Sha256Digest) -> Option<Vec<Finding>> {
        if self.settings.from.is_empty() {
            return None;
        }
        let hex = record.hex();
        self.sources()
            .iter()
            .find_map(|s| s.index.preflight.get(&hex))
            .map(|p| p.findings.clone())
    }

    /// Blob `digest` in the local store: there already, or pulled from `source` (resumed
    /// after a dropped connection, verified by digest). `None`, with a warning, when the
    /// registry fails or sends other bytes.
    fn fetch(
        &self,
        store: &crate::store::Cache,
        source: &Source,
        digest: &Sha256Digest,
        size: u64,
        label: &str,
    ) -> Result<Option<std::path::PathBuf>, StoreError> {
        if let Lookup::Hit(b) = store.lookup_remembered(digest)? {
            if b.size == size {
                return Ok(Some(b.path));
            }
        }
        let name = &source.cache;
        let bar = self.ui.bytes_bar(Some(size), format!("{label} (cache)"));
        let pulled = pull_blob(
            &source.registry,
            &source.cache.reference.repository,
            digest,
            size,
            &BlobCache::new(store.clone()),
            &|n| bar.inc(n),
        );
        bar.finish_and_clear();
        match pulled {
            Ok(path) => {
                super::lock(&self.stats).bytes_fetched += size;
                Ok(Some(path))
            }
            Err(PullError::Mismatch(m)) => {
                self.ui.warn(format!(
                    "{label}: the layer cache {name} sent {} ({} bytes) for blob {digest}: \
                     the cache is corrupt or was tampered with; building it here instead",
                    m.actual, m.size
                ));
                super::lock(&self.stats).layers_refused += 1;
                Ok(None)
            }
            Err(PullError::Registry(e)) => {
                self.ui.warn(format!(
                    "{label}: the layer cache {name} failed: {e}; building it here"
                ));
                Ok(None)
            }
            Err(PullError::Cache(why)) => {
                Err(StoreError::cache(store.root(), std::io::Error::other(why)))
            }
        }
    }
}

/// The manifest digest and index a cache reference names; `None` when nothing is there.
pub(super) fn read_index(
    registry: &Registry,
    r: &CacheRef,
) -> Result<Option<(Sha256Digest, Index)>, ReadError> {
    let repo = &r.reference.repository;
    let key = match (&r.reference.digest, &r.reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => super::spec::DEFAULT_TAG.to_string(),
    };
    let bytes = match registry.get_manifest(repo, &key) {
        Ok((_, bytes)) => bytes,
        Err(RegistryError::Status { status: 404, .. }) => return Ok(None),
        Err(e) => return Err(ReadError::Registry(e)),
    };
    let digest = Sha256Digest::of(&bytes);
    if let Some(pinned) = r.reference.digest.filter(|d| *d != digest) {
        return Err(ReadError::Invalid(format!(
            "the registry sent manifest {digest} for {pinned}"
        )));
    }
    let m = artifact::parse_manifest(&bytes).map_err(|e| ReadError::Invalid(e.to_string()))?;
    if m.config.size > MAX_INDEX {
        return Err(ReadError::Invalid(format!(
            "its index is {} bytes, more than the {} a cache index may have",
            m.config.size, MAX_INDEX
        )));
    }
    let resp = match registry.get_blob(repo, &m.config.digest) {
        Ok(resp) => resp,
        Err(RegistryError::Status { status: 404, .. }) => {
            return Err(ReadError::Invalid(format!(
                "its index blob {} is missing from the registry",
                m.config.digest
            )))
        }
        Err(e) => return Err(ReadError::Registry(e)),
    };
    let mut config = Vec::new();
    resp.take(MAX_INDEX + 1)
        .read_to_end(&mut config)
        .map_err(|e| ReadError::Invalid(format!("reading its index: {e}")))?;
    if Sha256Digest::of(&config) != m.config.digest {
        return Err(ReadError::Invalid(format!(
            "its index blob is not {} (corrupt or tampered with)",
            m.config.digest
        )));
    }
    match artifact::parse_index(&config) {
        Some(mut index) => {
            // Only entries whose blobs the manifest lists: those the registry vouched for
            // when it accepted the manifest (and a writer can merge without re-sending).
            index
                .entries
                .retain(|_, e| e.blobs().all(|b| m.layers.contains(&b.digest)));
            let entries = &index.entries;
            index
                .preflight
                .retain(|_, p| entries.contains_key(&p.layer));
            Ok(Some((digest, index)))
        }
        None => Err(ReadError::Invalid(
            "its index has a format this version does not read (written by another version)".into(),
        )),
    }
}

/// Why a cache could not be read.
#[derive(Debug)]
pub enum ReadError {
    Registry(RegistryError),
    /// Not a cache this version reads, or not intact.
    Invalid(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Registry(e) => write!(f, "{e}"),
            ReadError::Invalid(why) => f.write_str(why),
        }
    }
}
