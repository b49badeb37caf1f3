//! `compose cache prune`: free space in the store, keeping what the manifest's lock names.

use crate::digest::Sha256Digest;
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::store::{Cache, LayerCache};
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The options of `compose cache prune`.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// The store to prune.
    pub cache_dir: PathBuf,
    /// The manifest whose lock says what to keep (when it exists).
    pub manifest: PathBuf,
    /// The lock to read instead of the one named after the manifest (`--lockfile`, as
    /// every other command takes it).
    pub lockfile: Option<PathBuf>,
    /// Also remove every blob the lock does not name.
    pub blobs: bool,
    /// Also remove every blob, whatever any lock names.
    pub all: bool,
}

/// What `compose cache prune` freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
}

/// Remove what killed builds left behind, the derived data and the cached layers except
/// those of the image the lock records; with `blobs`, also every blob the lock does not
/// pin (refused without a manifest: that would empty the cache, which `all` says
/// explicitly); with `all`, every blob.
pub fn prune(o: &PruneOptions) -> Result<Pruned> {
    let has_manifest = o.manifest.is_file();
    if o.blobs && !o.all && !has_manifest {
        return Err(Error::usage(
            format!(
                "cache prune --blobs: there is no manifest at {}, so nothing says which downloaded inputs to keep",
                o.manifest.display()
            ),
            Some("run it in the project whose lock names what to keep (or give -f PATH), or use --all to remove every downloaded input and kept output"),
        ));
    }
    let cache = Cache::open_unswept(&o.cache_dir)?;
    let mut keep = BTreeSet::new();
    if has_manifest && !o.all {
        // Without `blobs` only cached layers are at stake: an unreadable manifest or lock
        // just keeps none of them.
        match kept_by_lock(&o.manifest, o.lockfile.as_deref()) {
            Ok(k) => keep = k,
            Err(e) if o.blobs => return Err(e),
            Err(_) => {}
        }
    }
    let (layer_files, layer_bytes) = LayerCache::new(cache.clone()).prune(&keep)?;
    let (files, bytes) = cache.prune(&keep, o.blobs || o.all)?;
    Ok(Pruned {
        files: files + layer_files,
        bytes: bytes + layer_bytes,
    })
}

/// Every digest the lock of `manifest` (or `lockfile`) names: inputs, the base's
/// blobs and recorded outputs.
fn kept_by_lock(manifest: &Path, lockfile: Option<&Path>) -> Result<BTreeSet<Sha256Digest>> {
    let m = Manifest::load(manifest)?;
    let path = lockfile
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate::lock::lock_path(&m));
    let mut keep = BTreeSet::new();
    if let Some(l) = Lock::read(&path)? {
        l.check_manifest(&path, &m.file)?;
        keep.extend(l.inputs.iter().map(|i| i.sha256));
        for o in l.outputs.values() {
            keep.extend([o.manifest, o.config]);
            keep.extend(o.layers.iter().map(|x| x.digest));
        }
        // The documents and blobs of the base and of `[[layer]] image`s, so that they
        // still resolve offline.
        for b in l.base.iter().chain(&l.images) {
            keep.insert(b.digest);
            for p in b.platforms.values() {
                keep.extend([p.manifest, p.config]);
                keep.extend(p.layers.iter().map(|x| x.digest));
            }
        }
    }
    Ok(keep)
}
