//! `compose cache prune`: free space in the store, keeping what the manifest's lock names.

use crate::digest::Sha256Digest;
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::store::{Cache, LayerCache};
use crate::Result;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The options of `compose cache prune`.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// The store to prune.
    pub cache_dir: PathBuf,
    /// The manifest whose lock says what to keep (when it exists).
    pub manifest: PathBuf,
    /// Also remove every blob the lock does not name.
    pub blobs: bool,
}

/// What `compose cache prune` freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
}

/// Remove what killed builds left behind, the derived data and the cached layers except
/// those of the image the lock records; with `blobs`, also every blob the lock does not
/// pin (all of them when there is no manifest or lock).
pub fn prune(o: &PruneOptions) -> Result<Pruned> {
    let cache = Cache::open(&o.cache_dir)?;
    let mut keep = BTreeSet::new();
    if o.manifest.exists() {
        // Without `blobs` only cached layers are at stake: an unreadable manifest or lock
        // just keeps none of them.
        match kept_by_lock(&o.manifest) {
            Ok(k) => keep = k,
            Err(e) if o.blobs => return Err(e),
            Err(_) => {}
        }
    }
    let (layer_files, layer_bytes) = LayerCache::new(cache.clone()).prune(&keep)?;
    let (files, bytes) = cache.prune(&keep, o.blobs)?;
    Ok(Pruned {
        files: files + layer_files,
        bytes: bytes + layer_bytes,
    })
}

/// Every digest the lock of `manifest` names: inputs, the base's blobs and recorded outputs.
fn kept_by_lock(manifest: &std::path::Path) -> Result<BTreeSet<Sha256Digest>> {
    let m = Manifest::load(manifest)?;
    let mut keep = BTreeSet::new();
    if let Some(l) = Lock::read(&crate::lock::lock_path(&m))? {
        keep.extend(l.inputs.iter().map(|i| i.sha256));
        for o in l.outputs.values() {
            keep.extend([o.manifest, o.config]);
            keep.extend(o.layers.iter().map(|x| x.digest));
        }
        // The base's documents and blobs, so that it still resolves offline.
        if let Some(b) = &l.base {
            keep.insert(b.digest);
            for p in b.platforms.values() {
                keep.extend([p.manifest, p.config]);
                keep.extend(p.layers.iter().map(|x| x.digest));
            }
        }
    }
    Ok(keep)
}
