//! The layer cache: compressed layers kept between builds, keyed by everything that
//! decides their bytes, so a rebuild with nothing changed reads and compresses nothing.
//!
//! A layer's [`LayerKey`] is a sha256 over a length-prefixed description of:
//!
//! * the format: [`crate::compat::COMPAT_LEVEL`], the crate version, the compression and level,
//!   the gzip and zstd block sizes, the epoch and the platform;
//! * the layer itself: each input's content digest (a remote input's pin, a local file's
//!   or packed directory's sha256), every `remove`, `dir`, `file` and `symlink` with its
//!   destination, resolved mode, owner and content (inline text by its digest);
//! * the key of the layer below it. A canonical layer depends on the tree it is applied
//!   to (parents resolve through lower symlinks, whiteouts of missing paths vanish), so
//!   the keys form a chain, as image chain IDs do. A squashed layer's key is the last
//!   layer's key, marked as squashed.
//!
//! An entry is two files in the cache: the compressed blob, content-addressed under
//! `blobs/sha256/` like any other blob, and a small record `layers/<key>` naming it with
//! its diff_id, size, media type and the merge warnings to repeat on a hit. A hit checks
//! the blob's sha256: a corrupt or truncated one is removed and the layer is built again.
//! The check hashes the blob unless it was verified before and its identity (inode, size,
//! mtime, ctime) is unchanged since, the memo [`Cache::local_digest`] keeps for local
//! inputs too: any write to a file moves its ctime, which is what makes a rebuild with
//! nothing changed read no layer bytes except to copy them out. Nothing is fsynced: a file
//! a crash damaged fails its check and is a miss.
//!
//! A record may also name a snapshot of the merged tree up to its layer (metadata only:
//! paths, kinds, modes, owners, link targets, sizes; a blob like any other, verified the
//! same way). A rebuild whose first missing layer sits on cached ones starts from the
//! snapshot of the layer below it and reads nothing of the layers below; should a layer
//! above need a lower file's bytes (a hard link to it changed), it merges from the bottom.
//!
//! `compose build` and `compose lock` use the cache; `compose verify` never does, so it
//! proves the recorded digests from the inputs alone.

use super::blobs::{remove_if_present, Cache, Lookup};
use super::StoreError;
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::epoch::Epoch;
use crate::image::LayerBlob;
use crate::image::{GZIP_BLOCK_SIZE, ZSTD_BLOCK_SIZE};
use crate::platform::Platform;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The version of the key description below; bump it when the description changes.
const KEY_FORMAT: &str = "scratch-compose layer key 1";

/// The identity of one output layer: equal keys mean equal layer bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerKey(pub Sha256Digest);

impl LayerKey {
    /// The key of the same layers written as one squashed layer.
    pub fn squashed(&self) -> LayerKey {
        let mut k = KeyBuilder::new("squash");
        k.field("top", &self.0 .0);
        k.finish()
    }
}

/// Writes a layer's description into a hash, each field length-prefixed, so no two
/// different descriptions hash the same bytes.
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// A key of `what` (a layer, a squash).
    fn new(what: &str) -> KeyBuilder {
        let mut k = KeyBuilder {
            hasher: Sha256::new(),
        };
        k.field("format", KEY_FORMAT.as_bytes());
        k.field("what", what.as_bytes());
        k
    }

    /// The key of the layer applied over `below` (`None`: over the empty base) with these
    /// output settings; describe the layer's contents with the field methods.
    pub fn layer(
        below: Option<&LayerKey>,
        compression: Compression,
        epoch: Epoch,
        platform: &Platform,
    ) -> KeyBuilder {
        let mut k = KeyBuilder::new("layer");
        k.number("compat_level", u64::from(crate::compat::COMPAT_LEVEL));
        k.field("version", env!("CARGO_PKG_VERSION").as_bytes());
        k.field("compression", compression.to_string().as_bytes());
        k.number("gzip_block", GZIP_BLOCK_SIZE as u64);
        k.number("zstd_block", ZSTD_BLOCK_SIZE as u64);
        k.number("epoch", epoch.0);
        k.field("platform", platform.to_string().as_bytes());
        match below {
            Some(b) => k.field("below", &b.0 .0),
            None => k.field("below", b"scratch"),
        }
        k
    }

    /// One named field.
    pub fn field(&mut self, name: &str, value: &[u8]) {
        for part in [name.as_bytes(), value] {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
    }

    /// One named number.
    pub fn number(&mut self, name: &str, value: u64) {
        self.field(name, &value.to_le_bytes());
    }

    /// An optional number (`None` and every value are told apart).
    pub fn optional(&mut self, name: &str, value: Option<u64>) {
        match value {
            Some(v) => self.field(name, &[&[1u8][..], &v.to_le_bytes()].concat()),
            None => self.field(name, &[0u8]),
        }
    }

    /// A digest.
    pub fn digest(&mut self, name: &str, d: &Sha256Digest) {
        self.field(name, &d.0);
    }

    pub fn finish(self) -> LayerKey {
        LayerKey(Sha256Digest(self.hasher.finalize().into()))
    }
}

/// A layer found in the cache, its blob verified.
#[derive(Debug, Clone)]
pub struct CachedLayer {
    pub blob: LayerBlob,
    /// The blob in the cache.
    pub path: PathBuf,
    /// What the merge warned about when the layer was built.
    pub warnings: Vec<String>,
    /// The blob of the tree snapshot kept with it, if any (which may not be here: a layer
    /// taken from a registry-backed cache names its snapshot before it is fetched).
    pub tree: Option<Sha256Digest>,
}

/// The record stored under a key.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    media_type: String,
    digest: Sha256Digest,
    size: u64,
    diff_id: Sha256Digest,
    #[serde(default)]
    warnings: Vec<String>,
    /// The blob holding the snapshot of the merged tree up to this layer (metadata only,
    /// see [`crate::layer::encode_snapshot`]), when one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree: Option<Sha256Digest>,
}

/// The layer cache inside a download cache.
#[derive(Debug, Clone)]
pub struct LayerCache {
    cache: Cache,
}

impl LayerCache {
    pub fn new(cache: Cache) -> LayerCache {
        LayerCache { cache }
    }

    /// The store the layer cache keeps its blobs in.
    pub fn store(&self) -> &Cache {
        &self.cache
    }

    fn dir(&self) -> PathBuf {
        self.cache.root().join("layers")
    }

    fn record_path(&self, key: &LayerKey) -> PathBuf {
        self.dir().join(key.0.hex())
    }

    /// The layer stored under `key`, its blob re-hashed; `None` when there is none or it
    /// is damaged (then the damaged files are removed, so the layer is built again).
    pub fn get(&self, key: &LayerKey) -> Result<Option<CachedLayer>, StoreError> {
        let path = self.record_path(key);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::cache(&path, e)),
        };
        let Ok(r) = serde_json::from_slice::<Record>(&text) else {
            remove_if_present(&path)?;
            return Ok(None);
        };
        match self.cache.lookup_remembered(&r.digest)? {
            Lookup::Hit(b) if b.size == r.size => Ok(Some(CachedLayer {
                blob: LayerBlob {
                    media_type: r.media_type,
                    digest: r.digest,
                    size: r.size,
                    diff_id: r.diff_id,
                },
                path: b.path,
                warnings: r.warnings,
                tree: r.tree,
            })),
            Lookup::Hit(_) | Lookup::Miss | Lookup::Corrupt => {
                remove_if_present(&path)?;
                Ok(None)
            }
        }
    }

    /// The snapshot of the merged tree up to the layer under `key` (see
    /// [`LayerCache::put`]), verified like every blob; `None` when none was kept or it is
    /// damaged.
    pub fn tree(&self, key: &LayerKey) -> Result<Option<std::path::PathBuf>, StoreError> {
        let Ok(text) = fs::read(self.record_path(key)) else {
            return Ok(None);
        };
        let Some(d) = serde_json::from_slice::<Record>(&text)
            .ok()
            .and_then(|r| r.tree)
        else {
            return Ok(None);
        };
        match self.cache.lookup_remembered(&d)? {
            Lookup::Hit(b) => Ok(Some(b.path)),
            Lookup::Miss | Lookup::Corrupt => Ok(None),
        }
    }

    /// Keep `blob`, whose bytes are the file `src` (already hashed by its writer), under
    /// `key`, with the merge warnings it gave and, when given, the snapshot of the merged
    /// tree up to it.
    pub fn put(
        &self,
        key: &LayerKey,
        blob: &LayerBlob,
        src: &Path,
        warnings: &[String],
        tree: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.cache.keep_blob(src, &blob.digest)?;
        let tree = match tree {
            Some(bytes) => Some(self.cache.insert_bytes(bytes)?),
            None => None,
        };
        let record = Record {
            media_type: blob.media_type.clone(),
            digest: blob.digest,
            size: blob.size,
            diff_id: blob.diff_id,
            warnings: warnings.to_vec(),
            tree,
        };
        self.write_record(key, &record)
    }

    /// Write `record` under `key`, atomically.
    fn write_record(&self, key: &LayerKey, record: &Record) -> Result<(), StoreError> {
        let bytes = crate::image::to_canonical(record)
            .map_err(|e| StoreError::cache(self.dir(), io::Error::other(e)))?;
        let dir = self.dir();
        fs::create_dir_all(&dir).map_err(|e| StoreError::cache(&dir, e))?;
        let mut tmp = self.cache.temp_file()?;
        tmp.write_all(&bytes)
            .map_err(|e| StoreError::cache(tmp.path(), e))?;
        let dest = self.record_path(key);
        tmp.persist(&dest)
            .map_err(|e| StoreError::cache(&dest, e.error))?;
        Ok(())
    }

    /// The record under `key` as it is, its blob neither checked nor required to be here
    /// (for exporting what a build used: the registry checks every blob it receives).
    pub fn record(&self, key: &LayerKey) -> Option<CachedLayer> {
        let text = fs::read(self.record_path(key)).ok()?;
        let r = serde_json::from_slice::<Record>(&text).ok()?;
        Some(CachedLayer {
            path: self.cache.blob_path(&r.digest),
            blob: LayerBlob {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                diff_id: r.diff_id,
            },
            warnings: r.warnings,
            tree: r.tree,
        })
    }

    /// Keep `layer`, whose blob is already in the store and was verified by whoever put it
    /// there (a layer fetched from a registry-backed cache), under `key`; its snapshot, if
    /// named, may follow later ([`LayerCache::tree`] is `None` until it does).
    pub fn adopt(&self, key: &LayerKey, layer: &CachedLayer) -> Result<(), StoreError> {
        self.write_record(
            key,
            &Record {
                media_type: layer.blob.media_type.clone(),
                digest: layer.blob.digest,
                size: layer.blob.size,
                diff_id: layer.blob.diff_id,
                warnings: layer.warnings.clone(),
                tree: layer.tree,
            },
        )
    }

    /// The store's blob file for `d` (present or not).
    pub fn blob_path(&self, d: &Sha256Digest) -> PathBuf {
        self.cache.blob_path(d)
    }

    /// `compose cache prune`: remove every record and the blobs they name, except the
    /// records whose blob is in `keep` (the blobs the lock pins or records), which stay
    /// usable. Unreadable records go too. Returns the files and bytes freed.
    pub fn prune(&self, keep: &BTreeSet<Sha256Digest>) -> Result<(u64, u64), StoreError> {
        let dir = self.dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(StoreError::cache(&dir, e)),
        };
        let mut freed = (0u64, 0u64);
        let mut free = |p: &Path| -> Result<(), StoreError> {
            if let Ok(m) = fs::symlink_metadata(p) {
                freed.0 += 1;
                freed.1 += m.len();
            }
            remove_if_present(p)
        };
        for e in rd.flatten() {
            let path = e.path();
            let record = fs::read(&path)
                .ok()
                .and_then(|t| serde_json::from_slice::<Record>(&t).ok());
            match record {
                Some(r) if keep.contains(&r.digest) => {}
                Some(r) => {
                    free(&self.cache.blob_path(&r.digest))?;
                    if let Some(t) = r.tree {
                        free(&self.cache.blob_path(&t))?;
                    }
                    free(&path)?;
                }
                None => free(&path)?,
            }
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(f: impl FnOnce(&mut KeyBuilder)) -> LayerKey {
        let mut k = KeyBuilder::layer(
            None,
            Compression::Gzip(6),
            Epoch(0),
            &"linux/amd64".parse().unwrap(),
        );
        f(&mut k);
        k.finish()
    }

    #[test]
    fn fields_are_length_prefixed() {
        let a = key(|k| {
            k.field("a", b"bc");
            k.field("d", b"");
        });
        let b = key(|k| {
            k.field("a", b"b");
            k.field("cd", b"");
        });
        assert_ne!(a, b);
        assert_ne!(
            key(|k| k.optional("m", None)),
            key(|k| k.optional("m", Some(0)))
        );
        assert_eq!(key(|k| k.number("n", 1)), key(|k| k.number("n", 1)));
    }

    #[test]
    fn settings_and_the_layer_below_change_the_key() {
        let p: Platform = "linux/amd64".parse().unwrap();
        let base = KeyBuilder::layer(None, Compression::Gzip(6), Epoch(0), &p).finish();
        let others = [
            KeyBuilder::layer(None, Compression::Gzip(7), Epoch(0), &p).finish(),
            KeyBuilder::layer(None, Compression::Zstd(6), Epoch(0), &p).finish(),
            KeyBuilder::layer(None, Compression::Gzip(6), Epoch(1), &p).finish(),
            KeyBuilder::layer(
                None,
                Compression::Gzip(6),
                Epoch(0),
                &"linux/arm64".parse().unwrap(),
            )
            .finish(),
            KeyBuilder::layer(Some(&base), Compression::Gzip(6), Epoch(0), &p).finish(),
            base.squashed(),
        ];
        for (i, o) in others.iter().enumerate() {
            assert_ne!(*o, base, "variant {i}");
        }
    }
}
