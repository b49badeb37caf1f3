//! Writing the remote cache after a build (`--cache-to REF[,max=SIZE]`): every layer the
//! build used becomes an entry; only blobs the repository lacks are sent (HEAD, then a
//! mount from a `--cache-from` repository of the same registry, then an upload); the
//! entries already under the tag are merged in; the new manifest is pushed by digest and
//! only then is the tag moved, so a reader never sees a cache whose blobs are not all
//! there. When the tag moved while this build merged (another writer), the merge is done
//! again once over what that writer left.

use super::artifact::{self, BlobRef, Entry, Index, PreflightEntry};
use super::{CacheError, CacheRef, RemoteCache};
use crate::digest::Sha256Digest;
use crate::image::MEDIA_TYPE_MANIFEST;
use crate::registry::client::Scope;
use crate::registry::write::{ensure_blob, ensure_bytes, put_manifest, Placed};
use crate::registry::Registry;
use crate::store::LayerCache;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    /// The cache reference written.
    pub reference: String,
    /// The manifest the tag now names.
    pub manifest: String,
    /// Entries in that manifest, and how many are this build's.
    pub entries: usize,
    pub added: usize,
    /// Blobs uploaded (and their bytes), mounted, found present.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub mounted: usize,
    pub existing: usize,
    /// Entries dropped to stay under `max=SIZE`.
    pub dropped: usize,
    /// True when another writer moved the tag meanwhile and its entries were merged again.
    pub merged_concurrent: bool,
}

impl RemoteCache {
    /// Write every layer this build used (and the preflight findings of its trees) to the
    /// `--cache-to` reference; `None` when there is none.
    pub fn export(&self, layers: &LayerCache) -> Result<Option<ExportReport>, CacheError> {
        let Some(to) = self.settings.to.clone() else {
            return Ok(None);
        };
        let failed = |source| CacheError::Registry {
            reference: to.to_string(),
            source,
        };
        let registry = self.connect(to.reference.api_host()).map_err(failed)?;
        let (mut ours, files) = self.our_entries(layers);
        let pinned: BTreeSet<String> = ours.entries.keys().cloned().collect();
        let mut report = ExportReport {
            reference: to.to_string(),
            ..ExportReport::default()
        };
        if let Some(max) = to.max {
            // Our own entries first: no point sending blobs that will not fit.
            report.dropped += ours.trim(max, &BTreeSet::new());
        }
        self.send_blobs(&registry, &to, &mut ours, &files, &mut report)?;
        report.added = ours.entries.len();
        let repo = to.reference.repository.as_str();
        let tag = to
            .reference
            .tag
            .clone()
            .unwrap_or_else(|| super::spec::DEFAULT_TAG.to_string());
        let mut retried = false;
        loop {
            let current = super::read::read_index(&registry, &to);
            let (before, theirs) = match current {
                Ok(Some((d, index))) => (Some(d), index),
                Ok(None) => (None, Index::new()),
                Err(super::read::ReadError::Registry(e)) => return Err(failed(e)),
                Err(super::read::ReadError::Invalid(why)) => {
                    let at = registry
                        .manifest_digest(repo, &tag, &Scope::push(repo))
                        .map_err(failed)?;
                    if !self.replaceable(&registry, &to, &tag)? {
                        return Err(CacheError::Incomplete {
                            reference: to.to_string(),
                            why: format!(
                                "the tag holds something that is not a compose layer cache ({why}); \
                                 refusing to replace it"
                            ),
                        });
                    }
                    self.ui.warn(format!(
                        "layer cache {to}: replacing what the tag held ({why})"
                    ));
                    (at, Index::new())
                }
            };
            let mut merged = ours.clone();
            merged.merge(theirs);
            let mut dropped = 0;
            if let Some(max) = to.max {
                dropped = merged.trim(max, &pinned);
            }
            let index_bytes = merged.to_bytes();
            let config = BlobRef {
                digest: ensure_bytes(&registry, repo, &index_bytes).map_err(failed)?,
                size: index_bytes.len() as u64,
            };
            let manifest = artifact::manifest_bytes(&merged, config);
            let digest = Sha256Digest::of(&manifest);
            // By digest first: the tag moves only to a manifest the registry holds whole.
            put_manifest(
                &registry,
                repo,
                &digest.to_string(),
                MEDIA_TYPE_MANIFEST,
                &manifest,
            )
            .map_err(failed)?;
            let now_at = registry
                .manifest_digest(repo, &tag, &Scope::push(repo))
                .map_err(failed)?;
            if now_at != before && !retried {
                self.ui.info(format!(
                    "layer cache {to}: written meanwhile by another build; merging its entries"
                ));
                retried = true;
                report.merged_concurrent = true;
                continue;
            }
            put_manifest(&registry, repo, &tag, MEDIA_TYPE_MANIFEST, &manifest).map_err(failed)?;
            report.manifest = digest.to_string();
            report.entries = merged.entries.len();
            report.dropped += dropped;
            break;
        }
        self.ui.info(format!(
            "layer cache {to}: {} entries ({} from this build); {} blobs uploaded ({} bytes), {} mounted, {} present{}",
            report.entries,
            report.added,
            report.uploaded,
            report.uploaded_bytes,
            report.mounted,
            report.existing,
            match report.dropped {
                0 => String::new(),
                n => format!("; {n} least recently used entries dropped (max={})", to.max.unwrap_or(0)),
            }
        ));
        super::lock(&self.stats).exported = Some(report.clone());
        Ok(Some(report))
    }

    /// True when the tag is absent or holds a manifest this version may replace: a cache
    /// of another index format (an image or another tool's artifact is never replaced).
    fn replaceable(
        &self,
        registry: &Registry,
        to: &CacheRef,
        tag: &str,
    ) -> Result<bool, CacheError> {
        match registry.get_manifest(&to.reference.repository, tag) {
            Ok((_, bytes)) => Ok(artifact::parse_manifest(&bytes).is_ok()),
            Err(crate::registry::RegistryError::Status { status: 404, .. }) => Ok(true),
            Err(source) => Err(CacheError::Registry {
                reference: to.to_string(),
                source,
            }),
        }
    }

    /// The entries of the layers this build used, from the local layer cache, stamped as
    /// used now, with the files their blobs are in (those that are here).
    fn our_entries(&self, layers: &LayerCache) -> (Index, BTreeMap<Sha256Digest, PathBuf>) {
        let used = super::lock(&self.used).clone();
        let stamp = super::now();
        let mut index = Index::new();
        let mut files = BTreeMap::new();
        for (key, _) in &used {
            let Some(rec) = layers.record(key) else {
                continue;
            };
            // The local snapshot, else (a layer fetched from a cache) the one a source names.
            let tree = rec
                .tree
                .and_then(|d| {
                    let path = layers.blob_path(&d);
                    let size = std::fs::metadata(&path).ok()?.len();
                    files.insert(d, path);
                    Some(BlobRef { digest: d, size })
                })
                .or_else(|| {
                    let t = self.remote_tree(key)?;
                    let path = layers.blob_path(&t.digest);
                    if std::fs::metadata(&path).is_ok_and(|m| m.len() == t.size) {
                        files.insert(t.digest, path);
                    }
                    Some(t)
                });
            files.insert(rec.blob.digest, rec.path.clone());
            index.entries.insert(
                key.0.hex(),
                Entry {
                    media_type: rec.blob.media_type,
                    digest: rec.blob.digest,
                    size: rec.blob.size,
                    diff_id: rec.blob.diff_id,
                    warnings: rec.warnings,
                    tree,
                    compat_level: crate::compat::COMPAT_LEVEL,
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    used: stamp,
                },
            );
        }
        for (record, (top, findings)) in super::lock(&self.preflight).iter() {
            // A squashed image's one layer is cached under the squashed key.
            let layer = [*top, top.squashed()]
                .iter()
                .map(|k| k.0.hex())
                .find(|k| index.entries.contains_key(k));
            if let Some(layer) = layer {
                let findings = findings.clone();
                index
                    .preflight
                    .insert(record.hex(), PreflightEntry { layer, findings });
            }
        }
        (index, files)
    }

    /// The snapshot a read source names for `key`, if the sources were loaded.
    fn remote_tree(&self, key: &crate::store::LayerKey) -> Option<BlobRef> {
        let hex = key.0.hex();
        self.sources
            .get()?
            .iter()
            .find_map(|s| s.index.entries.get(&hex).and_then(|e| e.tree))
    }

    /// Make sure the repository holds every blob of `ours`, in parallel: present, mounted
    /// from a `--cache-from` repository of the same registry, or uploaded. A snapshot that
    /// is nowhere to be had is left out of its entry; a layer blob is an error.
    fn send_blobs(
        &self,
        registry: &Registry,
        to: &CacheRef,
        ours: &mut Index,
        files: &BTreeMap<Sha256Digest, PathBuf>,
        report: &mut ExportReport,
    ) -> Result<(), CacheError> {
        let repo = to.reference.repository.as_str();
        let mount_from: Vec<String> = self
            .settings
            .from
            .iter()
            .filter(|f| f.reference.api_host() == to.reference.api_host())
            .map(|f| f.reference.repository.clone())
            .collect();
        let blobs: Vec<(Sha256Digest, u64)> = ours.blobs().into_iter().collect();
        let results = crate::parallel::map(self.jobs, &blobs, |(d, size)| {
            let file = files
                .get(d)
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == *size));
            ensure_blob(
                registry,
                repo,
                d,
                *size,
                &mount_from,
                file.map(|p| p.as_path()),
            )
        });
        let mut missing = BTreeSet::new();
        for ((d, _), r) in blobs.iter().zip(results) {
            match r.map_err(|source| CacheError::Registry {
                reference: to.to_string(),
                source,
            })? {
                Some(Placed::Existed) => report.existing += 1,
                Some(Placed::Mounted) => report.mounted += 1,
                Some(Placed::Uploaded(n)) => {
                    report.uploaded += 1;
                    report.uploaded_bytes += n;
                }
                None => {
                    missing.insert(*d);
                }
            }
        }
        for (key, e) in ours.entries.iter_mut() {
            if missing.contains(&e.digest) {
                return Err(CacheError::Incomplete {
                    reference: to.to_string(),
                    why: format!(
                        "layer {key}: its blob {} is not in the local cache",
                        e.digest
                    ),
                });
            }
            if e.tree.is_some_and(|t| missing.contains(&t.digest)) {
                e.tree = None;
            }
        }
        Ok(())
    }
}
