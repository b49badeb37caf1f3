//! From a base reference to what a build uses: the top manifest or index (its digest is
//! what the lock records), for each platform of `[image] platforms` the image manifest
//! picked from it, that image's layers (descriptors kept as they are), diff_ids, config
//! and history. Manifests and configs go through the cache, so a pinned base resolves
//! offline once it has been fetched.

use super::cache::BlobCache;
use super::inherit;
use super::oci::{
    self, Descriptor, DocumentKind, ImageManifest, Index, KindError, LayerCompression,
};
use super::source::{Served, Source};
use super::BaseError;
use crate::digest::Sha256Digest;
use crate::image::ImageConfig;
use crate::manifest::BaseSpec;
use crate::platform::Platform;
use crate::ui::Ui;
use std::path::PathBuf;

/// How to resolve.
#[derive(Debug, Clone, Copy)]
pub struct ResolveOptions {
    /// Never touch the network: everything a registry base needs must be in the cache.
    pub offline: bool,
    /// A tag may be resolved to its current digest (`compose lock`); a build refuses an
    /// unpinned registry base instead.
    pub allow_tag: bool,
}

/// A blob or manifest as a descriptor names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub media_type: String,
    pub digest: Sha256Digest,
    pub size: u64,
}

/// One layer of the base, to be copied into the output byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLayer {
    /// The blob; its media type is the OCI one (Docker's are mapped to their equivalents).
    pub blob: BlobRef,
    /// How the blob is compressed (gzip and zstd are kept as they are).
    pub compression: LayerCompression,
    /// The digest of the uncompressed tar, from the base's config.
    pub diff_id: Sha256Digest,
}

/// The base's image for one platform.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImage {
    pub platform: Platform,
    /// The image manifest picked for this platform.
    pub manifest: BlobRef,
    /// The base's config blob.
    pub config_blob: BlobRef,
    /// The runtime settings the config holds (inherited by the build).
    pub config: ImageConfig,
    /// The config's `history`, kept as written.
    pub history: Vec<serde_json::Value>,
    /// The layers, bottom first.
    pub layers: Vec<BaseLayer>,
}

/// A base resolved for a build's platforms.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBase {
    /// `[image] base` as written.
    pub spec: BaseSpec,
    /// The digest of the manifest or index the reference resolves to.
    pub digest: Sha256Digest,
    /// What that document is.
    pub kind: DocumentKind,
    /// One image per requested platform, in the requested order.
    pub images: Vec<BaseImage>,
}

impl ResolvedBase {
    /// The base image for `p`.
    pub fn image(&self, p: &Platform) -> Option<&BaseImage> {
        self.images.iter().find(|i| &i.platform == p)
    }
}

/// Documents through the cache: read from it when present and verified, else from the
/// source (never in offline mode for a registry) and kept.
struct Documents<'a> {
    base: &'a str,
    source: &'a Source,
    cache: &'a BlobCache,
    offline: bool,
}

impl Documents<'_> {
    fn get(&self, d: &Sha256Digest, size: Option<u64>, what: &str) -> Result<Vec<u8>, BaseError> {
        let cached = self.cache.get_bytes(d).map_err(|why| BaseError::Read {
            base: self.base.into(),
            why: format!("the cache: {why}"),
        })?;
        let bytes = match cached {
            Some(b) => b,
            None if self.offline && self.source.is_remote() => {
                return Err(BaseError::Offline {
                    base: self.base.into(),
                    what: what.into(),
                    digest: d.to_string(),
                })
            }
            None => {
                let b = self.source.document(d, what == "config")?;
                let actual = Sha256Digest::of(&b);
                if actual != *d {
                    return Err(BaseError::DigestMismatch {
                        base: self.base.into(),
                        what: what.into(),
                        expected: d.to_string(),
                        actual: actual.to_string(),
                    });
                }
                self.keep(&b)?;
                b
            }
        };
        if let Some(size) = size.filter(|s| *s != bytes.len() as u64) {
            return Err(self.bad(
                what,
                d,
                format!("it has {} bytes, its descriptor says {size}", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    fn keep(&self, bytes: &[u8]) -> Result<Sha256Digest, BaseError> {
        self.cache.put_bytes(bytes).map_err(|why| BaseError::Read {
            base: self.base.into(),
            why: format!("the cache: {why}"),
        })
    }

    fn bad(&self, what: &str, d: &Sha256Digest, why: String) -> BaseError {
        BaseError::BadDocument {
            base: self.base.into(),
            what: format!("{what} {d}"),
            why,
        }
    }

    fn kind(
        &self,
        served: &str,
        bytes: &[u8],
        d: &Sha256Digest,
    ) -> Result<DocumentKind, BaseError> {
        oci::document_kind(served, bytes).map_err(|e| match e {
            KindError::Schema1 => BaseError::Schema1 {
                base: self.base.into(),
                what: d.to_string(),
            },
            KindError::MediaType(media_type) => BaseError::MediaType {
                base: self.base.into(),
                what: format!("manifest {d}"),
                media_type,
            },
            KindError::Malformed(why) => self.bad("manifest", d, why),
        })
    }
}

/// Resolve `spec` for `platforms`. `locked` is the digest `scratch.lock` records for it
/// (the manifest's own `@sha256:` wins; the caller reports a disagreement).
pub fn resolve(
    spec: &BaseSpec,
    locked: Option<Sha256Digest>,
    platforms: &[Platform],
    source: &Source,
    cache: &BlobCache,
    options: ResolveOptions,
) -> Result<ResolvedBase, BaseError> {
    let docs = Documents {
        base: &spec.written,
        source,
        cache,
        offline: options.offline,
    };
    let pin = spec.digest.or(locked);
    let (digest, served) = match pin {
        Some(d) => (
            d,
            Served {
                media_type: String::new(),
                bytes: docs.get(&d, None, "manifest")?,
            },
        ),
        None if source.is_remote() && !options.allow_tag => {
            return Err(BaseError::NotPinned {
                base: spec.written.clone(),
            })
        }
        None if source.is_remote() && options.offline => {
            // `compose lock --offline`: resolving a tag needs the registry.
            let tag = match &spec.source {
                crate::manifest::BaseSource::Registry(r) => {
                    r.tag.clone().unwrap_or_else(|| "latest".into())
                }
                _ => spec.written.clone(),
            };
            return Err(BaseError::Offline {
                base: spec.written.clone(),
                what: "the digest of tag".into(),
                digest: tag,
            });
        }
        None => {
            let served = source.top()?;
            let d = docs.keep(&served.bytes)?;
            (d, served)
        }
    };
    let kind = docs.kind(&served.media_type, &served.bytes, &digest)?;
    let mut images = Vec::with_capacity(platforms.len());
    match kind {
        DocumentKind::Index => {
            let index: Index = serde_json::from_slice(&served.bytes)
                .map_err(|e| docs.bad("index", &digest, e.to_string()))?;
            for p in platforms {
                let picked = pick(&docs, &index, p, &digest, 0)?;
                images.push(picked);
            }
        }
        DocumentKind::Image => {
            let manifest = BlobRef {
                media_type: oci::manifest_media_type(kind, declared_type(&served.bytes).as_deref()),
                digest,
                size: served.bytes.len() as u64,
            };
            let image = image(&docs, manifest, &served.bytes)?;
            for p in platforms {
                if !image.1.matches(p) {
                    return Err(BaseError::MissingPlatform {
                        base: spec.written.clone(),
                        platform: p.to_string(),
                        offered: vec![image.1.describe()],
                    });
                }
                let mut i = image.0.clone();
                i.platform = p.clone();
                images.push(i);
            }
        }
    }
    Ok(ResolvedBase {
        spec: spec.clone(),
        digest,
        kind,
        images,
    })
}

/// The `mediaType` a document declares.
fn declared_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct T {
        media_type: Option<String>,
    }
    serde_json::from_slice::<T>(bytes).ok()?.media_type
}

/// True for index entries that are not images: buildx's attestation manifests.
fn is_attestation(d: &Descriptor) -> bool {
    d.annotations.contains_key("vnd.docker.reference.type")
}

/// The image of `index` for platform `p` (nested indexes followed a few levels deep).
fn pick(
    docs: &Documents,
    index: &Index,
    p: &Platform,
    index_digest: &Sha256Digest,
    depth: usize,
) -> Result<BaseImage, BaseError> {
    let candidate = index
        .manifests
        .iter()
        .find(|d| !is_attestation(d) && d.platform.as_ref().is_some_and(|pl| pl.matches(p)));
    let Some(d) = candidate else {
        let mut offered: Vec<String> = index
            .manifests
            .iter()
            .filter(|d| !is_attestation(d))
            .filter_map(|d| d.platform.as_ref().map(|p| p.describe()))
            .collect();
        offered.dedup();
        return Err(BaseError::MissingPlatform {
            base: docs.base.into(),
            platform: p.to_string(),
            offered,
        });
    };
    let digest = d
        .sha256()
        .map_err(|why| docs.bad("index", index_digest, why))?;
    let bytes = docs.get(&digest, Some(d.size), "manifest")?;
    match docs.kind(&d.media_type, &bytes, &digest)? {
        DocumentKind::Index if depth < 4 => {
            let nested: Index = serde_json::from_slice(&bytes)
                .map_err(|e| docs.bad("index", &digest, e.to_string()))?;
            pick(docs, &nested, p, &digest, depth + 1)
        }
        DocumentKind::Index => Err(docs.bad("index", &digest, "indexes nest too deep".into())),
        DocumentKind::Image => {
            let manifest = BlobRef {
                media_type: oci::manifest_media_type(
                    DocumentKind::Image,
                    Some(d.media_type.as_str()).filter(|t| !t.is_empty()),
                ),
                digest,
                size: bytes.len() as u64,
            };
            let (mut image, _) = image(docs, manifest, &bytes)?;
            image.platform = p.clone();
            Ok(image)
        }
    }
}

/// An image manifest's layers and config; the platform its config names.
fn image(
    docs: &Documents,
    manifest: BlobRef,
    bytes: &[u8],
) -> Result<(BaseImage, oci::PlatformJson), BaseError> {
    let m: ImageManifest = serde_json::from_slice(bytes)
        .map_err(|e| docs.bad("manifest", &manifest.digest, e.to_string()))?;
    let config_digest = m
        .config
        .sha256()
        .map_err(|why| docs.bad("manifest", &manifest.digest, why))?;
    let config_bytes = docs.get(&config_digest, Some(m.config.size), "config")?;
    let parsed = inherit::parse_config(&config_bytes)
        .map_err(|why| docs.bad("config", &config_digest, why))?;
    if parsed.diff_ids.len() != m.layers.len() {
        return Err(docs.bad(
            "manifest",
            &manifest.digest,
            format!(
                "it lists {} layers but its config {} has {} diff_ids",
                m.layers.len(),
                config_digest,
                parsed.diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(m.layers.len());
    for (l, diff_id) in m.layers.iter().zip(&parsed.diff_ids) {
        let digest = l
            .sha256()
            .map_err(|why| docs.bad("manifest", &manifest.digest, why))?;
        let (media_type, compression) = match oci::layer_media_type(&l.media_type) {
            Some(t) if l.urls.is_empty() => t,
            _ => {
                return Err(BaseError::MediaType {
                    base: docs.base.into(),
                    what: format!("layer {digest}"),
                    media_type: l.media_type.clone(),
                })
            }
        };
        layers.push(BaseLayer {
            blob: BlobRef {
                media_type: media_type.into(),
                digest,
                size: l.size,
            },
            compression,
            diff_id: *diff_id,
        });
    }
    let image = BaseImage {
        platform: Platform::linux_amd64(),
        manifest,
        config_blob: BlobRef {
            media_type: m.config.media_type.clone(),
            digest: config_digest,
            size: m.config.size,
        },
        config: parsed.config,
        history: parsed.history,
        layers,
    };
    Ok((image, parsed.platform))
}

/// Bring every layer blob of `base` into the cache (each once, `jobs` at a time, with a
/// progress bar); their paths, per image and layer. Offline, a registry base's layers
/// must already be there.
pub fn fetch_layers(
    base: &ResolvedBase,
    source: &Source,
    cache: &BlobCache,
    offline: bool,
    jobs: usize,
    ui: &Ui,
) -> Result<Vec<Vec<PathBuf>>, BaseError> {
    let read = |why: String| BaseError::Read {
        base: base.spec.written.clone(),
        why,
    };
    let mut unique: Vec<&BlobRef> = Vec::new();
    for l in base.images.iter().flat_map(|i| &i.layers) {
        if !unique.iter().any(|b| b.digest == l.blob.digest) {
            unique.push(&l.blob);
        }
    }
    let mut missing = Vec::new();
    for b in &unique {
        if cache.get(&b.digest).map_err(read)?.is_none() {
            if offline && source.is_remote() {
                return Err(BaseError::Offline {
                    base: base.spec.written.clone(),
                    what: "layer".into(),
                    digest: b.digest.to_string(),
                });
            }
            missing.push(*b);
        }
    }
    if !missing.is_empty() {
        let total = missing.iter().map(|b| b.size).sum();
        let bar = ui.bytes_bar(Some(total), format!("base {}", base.spec.written));
        let results = crate::parallel::map(jobs, &missing, |b| {
            source.fetch_blob(&b.digest, b.size, cache, &|n| bar.inc(n))
        });
        bar.finish_and_clear();
        for r in results {
            r?;
        }
    }
    base.images
        .iter()
        .map(|i| {
            i.layers
                .iter()
                .map(|l| {
                    cache.get(&l.blob.digest).map_err(read)?.ok_or_else(|| {
                        read(format!("layer {} vanished from the cache", l.blob.digest))
                    })
                })
                .collect()
        })
        .collect()
}
