//! Writing images: compressed layer blobs, the OCI config, manifest and index, and the
//! output layouts (OCI directory, oci-archive, docker-archive).
//!
//! The flow is: [`write_layer`] turns each canonical layer tar into a blob in a
//! [`BlobStore`]; [`assemble`] writes the config, manifest and (for several platforms)
//! nested index blobs next to them; [`write_output`] lays the blobs out in the requested
//! format ([`write_rootfs`] writes the merged tree without an image;
//! [`layout_from_blobs`] lays out an image whose blobs exist elsewhere). Every JSON
//! document goes through [`to_canonical`], every compressed byte through the block
//! compressor ([`compressed_writer`]), so the same inputs always give the same bytes.

mod blobs;
mod compress;
mod config;
mod copy;
mod directory;
mod docker;
mod json;
mod layout;
mod output;
mod reference;
pub mod referrer;
mod rootfs;

pub use blobs::{BlobStore, PendingBlob};
pub use compress::{
    compress_bytes, compressed_writer, jobs_for, layer_media_type, LayerCompressor,
    GZIP_BLOCK_SIZE, ZSTD_BLOCK_SIZE,
};
pub use config::{config_json, platform_json, HistoryEntry, ImageConfig};
pub use json::{canonical_value, to_canonical};
pub use layout::layout_from_blobs;
pub use output::{
    archive_recipe, check_output_path, output_parent, write_archive_to, write_output, OutputFormat,
    OCI_LAYOUT,
};
pub use reference::{ImageName, NameError};
pub use rootfs::write_rootfs;

use crate::compression::Compression;
use crate::digest::{HashingWriter, Sha256Digest};
use crate::disk::{self, DiskFull};
use crate::epoch::Epoch;
use crate::platform::Platform;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

/// Media type of an OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Annotation holding the normalised full reference (containerd, podman).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation holding the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation holding the build epoch on each image manifest.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Errors of the image-writing stage.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing a file of the output or the blob store failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Producing, compressing or storing a layer blob failed.
    #[error("writing a layer blob into {}: {source}", store.display())]
    Layer {
        store: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("serializing {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The history does not describe the layers one to one.
    #[error("platform {platform}: {layers} layers but {history} history entries that are not `empty_layer`")]
    HistoryMismatch {
        platform: String,
        layers: usize,
        history: usize,
    },
    #[error("no platform to write an image for")]
    NoImages,
    #[error("the same platform {0} appears twice")]
    DuplicatePlatform(String),
    /// docker-archive holds one image only.
    #[error("docker-archive holds a single platform, but the image has {}: {}", .0.len(), .0.join(", "))]
    DockerArchiveMultiPlatform(Vec<String>),
    /// Docker 20.10 cannot load zstd layers from a docker-archive ("invalid tar header").
    #[error("docker-archive cannot hold zstd-compressed layers: Docker 20.10 fails to load them")]
    DockerArchiveZstd,
    /// Refusing to replace something that is not an OCI layout we could have written.
    #[error("{}: exists and is not an OCI layout directory; refusing to replace it", .0.display())]
    OutputExists(PathBuf),
    #[error("the `oci` format is a directory and cannot be written to stdout")]
    DirectoryToStdout,
    /// A tar format's output path is an existing directory.
    #[error("{}: is a directory, but --format {format} writes one tar file", .path.display())]
    ArchiveOverDirectory { path: PathBuf, format: &'static str },
    /// A format that is not an image asked of the image writer.
    #[error("--format {0} is not an image layout")]
    NotAnImageFormat(&'static str),
    /// A layer blob or the output did not fit on its file system.
    #[error("{0}")]
    DiskFull(DiskFull),
}

impl ImageError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ImageError::Io { .. } => {
                Some("check that the output directory exists, is writable and has space".into())
            }
            ImageError::Layer { .. } => None,
            ImageError::DiskFull(d) => Some(d.hint()),
            ImageError::Name(e) => e.hint(),
            ImageError::Json { .. } => None,
            ImageError::HistoryMismatch { .. } => {
                Some("this is a bug in scratch-compose; please report it".into())
            }
            ImageError::NoImages => {
                Some("list at least one platform in `[image] platforms`".into())
            }
            ImageError::DuplicatePlatform(_) => {
                Some("list each platform once in `[image] platforms`".into())
            }
            ImageError::DockerArchiveMultiPlatform(_) => Some(
                "pass `--platform` to pick one, or use `--format oci` / `oci-archive` for a \
                 multi-platform image"
                    .into(),
            ),
            ImageError::DockerArchiveZstd => Some(
                "use `--compression gzip` (or `none`) with `--format docker-archive`, or \
                 `--format oci-archive` for zstd layers"
                    .into(),
            ),
            ImageError::OutputExists(_) => {
                Some("choose another `-o/--output` path, or remove it first".into())
            }
            ImageError::NotAnImageFormat(_) => {
                Some("this is a bug in scratch-compose; please report it".into())
            }
            ImageError::ArchiveOverDirectory { path, .. } => Some(format!(
                "name a file, e.g. `-o {}`, or use `--format oci` to write an OCI layout directory",
                path.join("image.tar").display()
            )),
            ImageError::DirectoryToStdout => Some(
                "use `--format oci-archive` or `docker-archive` with `-o -`, or give a directory"
                    .into(),
            ),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> ImageError {
        let path = path.into();
        if disk::is_full(&source) {
            return ImageError::DiskFull(DiskFull::new(&path, "writing the output", None));
        }
        ImageError::Io {
            path,
            source: crate::error::without_temp_path(source),
        }
    }

    /// The same error, saying the step needs about `bytes` when it is a full disk that
    /// did not know.
    pub fn needing(self, bytes: u64) -> ImageError {
        match self {
            ImageError::DiskFull(mut d) => {
                d.needed = d.needed.or(Some(disk::Need::About(bytes)));
                ImageError::DiskFull(d)
            }
            other => other,
        }
    }
}

/// A content descriptor: what a manifest or index points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Sha256Digest,
    pub size: u64,
}

impl Descriptor {
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("mediaType".into(), json!(self.media_type));
        m.insert("digest".into(), json!(self.digest.to_string()));
        m.insert("size".into(), json!(self.size));
        m
    }
}

/// A compressed layer in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub media_type: String,
    /// sha256 of the compressed blob (the manifest's layer digest).
    pub digest: Sha256Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Sha256Digest,
}

/// Compress the uncompressed tar that `produce` writes, hashing both streams on the fly
/// (diff_id of the tar, digest of the blob), and store the blob. A full disk is reported
/// as such ([`ImageError::needing`] adds the room the layer needs).
pub fn write_layer(
    store: &BlobStore,
    c: Compression,
    jobs: usize,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<LayerBlob, ImageError> {
    let err = |source: io::Error| match disk::is_full(&source) {
        true => ImageError::DiskFull(DiskFull::new(store.root(), "writing a layer blob", None)),
        false => ImageError::Layer {
            store: store.root().to_path_buf(),
            source,
        },
    };
    let mut pending = store.begin().map_err(err)?;
    if c == Compression::None {
        // The blob is the tar: hash it once, as the store does, not twice.
        produce(&mut pending).map_err(err)?;
        let (digest, size) = pending.commit().map_err(err)?;
        return Ok(LayerBlob {
            media_type: layer_media_type(c).to_string(),
            digest,
            size,
            diff_id: digest,
        });
    }
    let compressor = compressed_writer(c, jobs, pending).map_err(err)?;
    let mut tar = HashingWriter::new(compressor);
    produce(&mut tar).map_err(err)?;
    let (compressor, diff_id, _) = tar.finish();
    let pending = compressor.finish().map_err(err)?;
    let (digest, size) = pending.commit().map_err(err)?;
    Ok(LayerBlob {
        media_type: layer_media_type(c).to_string(),
        digest,
        size,
        diff_id,
    })
}

/// Everything that goes into one platform's image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub config: ImageConfig,
    /// Every layer, a base image's first (its blobs as they are).
    pub layers: Vec<LayerBlob>,
    /// A base image's `history`, kept as written (empty without a base).
    pub base_history: Vec<Value>,
    /// Our layers' history, after the base's.
    pub history: Vec<HistoryEntry>,
}

/// One platform's image, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledImage {
    pub platform: Platform,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The written metadata blobs and the `index.json` that points to them.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// What `index.json` points to: the image manifest, or the nested index when there are
    /// several platforms. Its digest is what `compose build` prints.
    pub top: Descriptor,
    /// Per platform, in order: (platform, manifest digest, config digest).
    pub manifests: Vec<(Platform, Sha256Digest, Sha256Digest)>,
    /// Per platform, in order, with the layer descriptors.
    pub images: Vec<AssembledImage>,
    /// The bytes of `index.json`.
    pub index_json: Vec<u8>,
    /// Every blob the output needs, sorted by digest, each once.
    pub blobs: Vec<(Sha256Digest, u64)>,
}

fn canonical(what: &'static str, v: &Value) -> Result<Vec<u8>, ImageError> {
    // Values built here are always serializable; the error path keeps the API honest.
    json::to_canonical(v).map_err(|source| ImageError::Json { what, source })
}

fn put(store: &BlobStore, media_type: &str, bytes: &[u8]) -> Result<Descriptor, ImageError> {
    let (digest, size) = store
        .put_bytes(bytes)
        .map_err(|e| ImageError::io(store.root(), e))?;
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
    })
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Write one platform's config and manifest blobs.
fn assemble_one(
    store: &BlobStore,
    img: &PlatformImage,
    epoch: Epoch,
    annotations: &BTreeMap<String, String>,
) -> Result<AssembledImage, ImageError> {
    let base_non_empty = img
        .base_history
        .iter()
        .filter(|h| h.get("empty_layer") != Some(&Value::Bool(true)))
        .count();
    let non_empty = base_non_empty + img.history.iter().filter(|h| !h.empty_layer).count();
    if non_empty != img.layers.len() {
        return Err(ImageError::HistoryMismatch {
            platform: img.platform.to_string(),
            layers: img.layers.len(),
            history: non_empty,
        });
    }
    let diff_ids: Vec<Sha256Digest> = img.layers.iter().map(|l| l.diff_id).collect();
    let config_doc = config::config_json(
        &img.platform,
        &img.config,
        &diff_ids,
        &img.base_history,
        &img.history,
        epoch,
    );
    let config = put(
        store,
        MEDIA_TYPE_CONFIG,
        &canonical("the image config", &config_doc)?,
    )?;
    let layers: Vec<Descriptor> = img
        .layers
        .iter()
        .map(|l| Descriptor {
            media_type: l.media_type.clone(),
            digest: l.digest,
            size: l.size,
        })
        .collect();
    let mut ann = annotations.clone();
    ann.insert(ANNOTATION_CREATED.to_string(), epoch.rfc3339());
    let manifest_doc = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": Value::Object(config.to_json()),
        "layers": layers.iter().map(|d| Value::Object(d.to_json())).collect::<Vec<_>>(),
        "annotations": string_map(&ann),
    });
    let manifest = put(
        store,
        MEDIA_TYPE_MANIFEST,
        &canonical("the image manifest", &manifest_doc)?,
    )?;
    Ok(AssembledImage {
        platform: img.platform.clone(),
        manifest,
        config,
        layers,
    })
}

/// Write config + manifest blobs (and the nested index when there are several platforms)
/// into the store, and build `index.json`: one descriptor, of the top, named by the first
/// of `names` (skopeo's `oci:DIR` and `podman load` refuse a layout listing several
/// descriptors, so further names go only where a format holds several: a docker-archive's
/// `RepoTags`).
pub fn assemble(
    store: &BlobStore,
    images: &[PlatformImage],
    names: &[ImageName],
    epoch: Epoch,
    annotations: &BTreeMap<String, String>,
) -> Result<Assembled, ImageError> {
    if images.is_empty() {
        return Err(ImageError::NoImages);
    }
    for (i, img) in images.iter().enumerate() {
        if images[..i].iter().any(|o| o.platform == img.platform) {
            return Err(ImageError::DuplicatePlatform(img.platform.to_string()));
        }
    }
    let built = images
        .iter()
        .map(|img| assemble_one(store, img, epoch, annotations))
        .collect::<Result<Vec<_>, _>>()?;

    let mut blobs: Vec<(Sha256Digest, u64)> = Vec::new();
    for b in &built {
        blobs.push((b.manifest.digest, b.manifest.size));
        blobs.push((b.config.digest, b.config.size));
        blobs.extend(b.layers.iter().map(|l| (l.digest, l.size)));
    }

    let (top, mut top_json) = if let [only] = built.as_slice() {
        let mut d = only.manifest.to_json();
        d.insert("platform".into(), config::platform_json(&only.platform));
        (only.manifest.clone(), d)
    } else {
        let entries: Vec<Value> = built
            .iter()
            .map(|b| {
                let mut d = b.manifest.to_json();
                d.insert("platform".into(), config::platform_json(&b.platform));
                Value::Object(d)
            })
            .collect();
        let mut nested = Map::new();
        nested.insert("schemaVersion".into(), json!(2));
        nested.insert("mediaType".into(), json!(MEDIA_TYPE_INDEX));
        nested.insert("manifests".into(), Value::Array(entries));
        if !annotations.is_empty() {
            nested.insert("annotations".into(), string_map(annotations));
        }
        let bytes = canonical("the image index", &Value::Object(nested))?;
        let d = put(store, MEDIA_TYPE_INDEX, &bytes)?;
        blobs.push((d.digest, d.size));
        let j = d.to_json();
        (d, j)
    };
    let name = names.first().ok_or(ImageError::NoImages)?;
    top_json.insert(
        "annotations".into(),
        json!({
            ANNOTATION_IMAGE_NAME: name.full_reference(),
            ANNOTATION_REF_NAME: name.tag(),
        }),
    );
    let index_doc = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [Value::Object(top_json)],
    });
    let index_json = canonical("index.json", &index_doc)?;

    blobs.sort();
    blobs.dedup();
    Ok(Assembled {
        top,
        manifests: built
            .iter()
            .map(|b| (b.platform.clone(), b.manifest.digest, b.config.digest))
            .collect(),
        images: built,
        index_json,
        blobs,
    })
}
