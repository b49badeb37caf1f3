//! The layer cache as an OCI artifact: one image manifest whose `artifactType` is
//! [`ARTIFACT_TYPE`], whose config blob ([`CONFIG_MEDIA_TYPE`]) is the [`Index`] mapping
//! each layer key to its blob, and whose layers are every blob the index names (so the
//! registry keeps them, and a reader can trust that a tagged cache is complete). The
//! format is documented in `docs/remote-cache.md`.

use crate::digest::Sha256Digest;
use crate::image::{to_canonical, MEDIA_TYPE_MANIFEST};
use crate::preflight::Finding;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `artifactType` of a cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.scratch-compose.layer-cache.v1";
/// The media type of its config blob, the [`Index`].
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.scratch-compose.layer-cache.index.v1+json";
/// The media type of a tree snapshot blob (see [`crate::layer::encode_snapshot`]).
pub const SNAPSHOT_MEDIA_TYPE: &str = "application/vnd.scratch-compose.tree-snapshot.v2";
/// The index format this version reads and writes; another is ignored (and replaced by a
/// writer).
pub const INDEX_FORMAT: u32 = 1;
/// The largest index a reader accepts: far above any real cache (about 600 bytes an entry).
pub const MAX_INDEX: u64 = 64 << 20;

/// A blob: digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    pub digest: Sha256Digest,
    pub size: u64,
}

/// One cached layer, under its layer key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The layer's media type (`application/vnd.oci.image.layer.v1.tar+gzip`, …).
    pub media_type: String,
    /// The compressed blob.
    pub digest: Sha256Digest,
    pub size: u64,
    /// The digest of the uncompressed tar (the config's `diff_ids` entry).
    pub diff_id: Sha256Digest,
    /// What the merge warned about when the layer was built (repeated on a hit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The snapshot of the merged tree up to this layer (metadata only), when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<BlobRef>,
    /// The compat level and compose version that wrote it (also part of the key).
    pub compat_level: u32,
    pub version: String,
    /// When a build last used or wrote it (seconds since the epoch): the most recently
    /// used entries are kept under a size budget.
    pub used: u64,
}

impl Entry {
    /// The blobs this entry needs.
    pub fn blobs(&self) -> impl Iterator<Item = BlobRef> + '_ {
        std::iter::once(BlobRef {
            digest: self.digest,
            size: self.size,
        })
        .chain(self.tree)
    }
}

/// The preflight findings of one final tree, which travel with its top layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightEntry {
    /// The hex of the tree's top layer key: dropped with that entry.
    pub layer: String,
    pub findings: Vec<Finding>,
}

/// The config blob: every entry by the hex of its layer key, and preflight findings by
/// the hex of their record key ([`crate::preflight::report::record_key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub entries: BTreeMap<String, Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub preflight: BTreeMap<String, PreflightEntry>,
}

impl Index {
    /// An empty index of this format.
    pub fn new() -> Index {
        Index {
            format: INDEX_FORMAT,
            entries: BTreeMap::new(),
            preflight: BTreeMap::new(),
        }
    }

    /// Every blob the entries need, each once (digest order).
    pub fn blobs(&self) -> BTreeMap<Sha256Digest, u64> {
        self.entries
            .values()
            .flat_map(Entry::blobs)
            .map(|b| (b.digest, b.size))
            .collect()
    }

    /// `other`'s entries added to these; for a key both have, the one used last wins.
    pub fn merge(&mut self, other: Index) {
        for (k, e) in other.entries {
            match self.entries.get(&k) {
                Some(mine) if mine.used >= e.used => {}
                _ => {
                    self.entries.insert(k, e);
                }
            }
        }
        for (k, p) in other.preflight {
            self.preflight.entry(k).or_insert(p);
        }
    }

    /// Keep the most recently used entries whose blobs (each counted once) fit in `max`
    /// bytes; entries in `pinned` go first whatever their age. Returns how many were
    /// dropped.
    pub fn trim(&mut self, max: u64, pinned: &BTreeSet<String>) -> usize {
        let mut order: Vec<(&String, &Entry)> = self.entries.iter().collect();
        order.sort_by(|a, b| {
            pinned
                .contains(b.0)
                .cmp(&pinned.contains(a.0))
                .then(b.1.used.cmp(&a.1.used))
                .then(a.0.cmp(b.0))
        });
        let mut counted: BTreeSet<Sha256Digest> = BTreeSet::new();
        let mut total = 0u64;
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for (k, e) in order {
            let extra: u64 = e
                .blobs()
                .filter(|b| !counted.contains(&b.digest))
                .map(|b| b.size)
                .sum();
            if total + extra > max {
                continue;
            }
            total += extra;
            counted.extend(e.blobs().map(|b| b.digest));
            keep.insert(k.clone());
        }
        let before = self.entries.len();
        self.entries.retain(|k, _| keep.contains(k));
        let entries = &self.entries;
        self.preflight.retain(|_, p| entries.contains_key(&p.layer));
        before - self.entries.len()
    }

    /// The canonical bytes of the index (the config blob).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(self).expect("an index serializes")
    }
}

/// Why a manifest is not a cache this version can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotACache {
    /// Not JSON, or not an image manifest.
    Malformed(String),
    /// An image manifest of another kind (an image, another tool's cache).
    OtherType(String),
}

impl std::fmt::Display for NotACache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotACache::Malformed(why) => write!(f, "not an OCI image manifest: {why}"),
            NotACache::OtherType(t) => write!(
                f,
                "it holds `{t}`, not a compose layer cache ({ARTIFACT_TYPE})"
            ),
        }
    }
}

/// What a cache manifest says: where its index is and which blobs it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheManifest {
    pub config: BlobRef,
    pub layers: BTreeSet<Sha256Digest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
}

/// Read a manifest's bytes as a cache manifest.
pub fn parse_manifest(bytes: &[u8]) -> Result<CacheManifest, NotACache> {
    let m: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| NotACache::Malformed(e.to_string()))?;
    if let Some(t) = m
        .media_type
        .as_deref()
        .filter(|t| *t != MEDIA_TYPE_MANIFEST)
    {
        return Err(NotACache::OtherType(t.to_string()));
    }
    let kind = m
        .artifact_type
        .clone()
        .unwrap_or_else(|| m.config.media_type.clone());
    if kind != ARTIFACT_TYPE || m.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(NotACache::OtherType(kind));
    }
    let digest = |d: &str| {
        d.parse::<Sha256Digest>()
            .map_err(|_| NotACache::Malformed(format!("`{d}` is not a sha256 digest")))
    };
    Ok(CacheManifest {
        config: BlobRef {
            digest: digest(&m.config.digest)?,
            size: m.config.size,
        },
        layers: m
            .layers
            .iter()
            .map(|l| digest(&l.digest))
            .collect::<Result<_, _>>()?,
    })
}

/// The manifest of a cache whose index is `index` (its config blob being `config`): the
/// layers are every blob the index names, in digest order, with their media types.
pub fn manifest_bytes(index: &Index, config: BlobRef) -> Vec<u8> {
    let mut types: BTreeMap<Sha256Digest, (&str, u64)> = BTreeMap::new();
    for e in index.entries.values() {
        types.insert(e.digest, (e.media_type.as_str(), e.size));
        if let Some(t) = &e.tree {
            types
                .entry(t.digest)
                .or_insert((SNAPSHOT_MEDIA_TYPE, t.size));
        }
    }
    let layers: Vec<serde_json::Value> = types
        .iter()
        .map(|(d, (mt, size))| {
            serde_json::json!({"mediaType": mt, "digest": d.to_string(), "size": size})
        })
        .collect();
    let value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config.digest.to_string(),
            "size": config.size,
        },
        "layers": layers,
        "annotations": {
            "dev.scratch-compose.cache.entries": index.entries.len().to_string(),
        },
    });
    crate::image::canonical_value(&value)
}

/// Read the config blob's bytes as an index; `None` for another format (or not one).
pub fn parse_index(bytes: &[u8]) -> Option<Index> {
    #[derive(Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(bytes).ok()?;
    if head.format != INDEX_FORMAT {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, size: u64, used: u64) -> Entry {
        Entry {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            digest: Sha256Digest([n; 32]),
            size,
            diff_id: Sha256Digest([n + 100; 32]),
            warnings: Vec::new(),
            tree: None,
            compat_level: 2,
            version: "0.1.0".into(),
            used,
        }
    }

    #[test]
    fn a_manifest_round_trips_and_lists_every_blob_once() {
        let mut index = Index::new();
        index.entries.insert("a".into(), entry(1, 10, 5));
        let mut b = entry(1, 10, 6);
        b.tree = Some(BlobRef {
            digest: Sha256Digest([9; 32]),
            size: 3,
        });
        index.entries.insert("b".into(), b);
        let config = BlobRef {
            digest: Sha256Digest::of(&index.to_bytes()),
            size: index.to_bytes().len() as u64,
        };
        let bytes = manifest_bytes(&index, config);
        let m = parse_manifest(&bytes).unwrap();
        assert_eq!(m.config, config);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(parse_index(&index.to_bytes()).unwrap(), index);
        assert!(parse_index(br#"{"format":2,"entries":{}}"#).is_none());
    }

    #[test]
    fn other_manifests_are_not_caches() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        assert!(matches!(
            parse_manifest(image),
            Err(NotACache::OtherType(t)) if t.contains("image.config")
        ));
        assert!(matches!(
            parse_manifest(b"nope"),
            Err(NotACache::Malformed(_))
        ));
    }

    #[test]
    fn merging_keeps_the_entry_used_last() {
        let mut mine = Index::new();
        mine.entries.insert("k".into(), entry(1, 10, 50));
        let mut theirs = Index::new();
        theirs.entries.insert("k".into(), entry(2, 10, 40));
        theirs.entries.insert("t".into(), entry(3, 10, 40));
        mine.merge(theirs);
        assert_eq!(mine.entries["k"].digest, Sha256Digest([1; 32]));
        assert!(mine.entries.contains_key("t"));
    }

    #[test]
    fn trimming_keeps_the_most_recently_used_under_the_budget() {
        let mut index = Index::new();
        index.entries.insert("old".into(), entry(1, 100, 1));
        index.entries.insert("mid".into(), entry(2, 100, 2));
        index.entries.insert("new".into(), entry(3, 100, 3));
        // A blob shared by two entries counts once.
        index.entries.insert("new-too".into(), entry(3, 100, 3));
        let dropped = index.trim(250, &BTreeSet::new());
        assert_eq!(dropped, 1);
        assert!(!index.entries.contains_key("old"));
        let mut index2 = index.clone();
        let pinned: BTreeSet<String> = ["mid".to_string()].into();
        index2.trim(150, &pinned);
        assert_eq!(index2.entries.keys().collect::<Vec<_>>(), ["mid"]);
    }
}
