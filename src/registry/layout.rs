//! An image to push, read in place from an OCI layout directory, an oci-archive or a
//! build's blob store: the manifests in the order a registry must receive them, where
//! each blob's bytes are, and the artifacts (SBOMs, provenance) that refer to the image.

use super::RegistryError;
use crate::digest::Sha256Digest;
use crate::image::{BlobStore, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Docker's manifest list and v2 manifest: pushed like their OCI counterparts.
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Manifests larger than this are refused (the distribution spec's limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;

/// A content descriptor: what a registry needs to know about a blob or manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub digest: Sha256Digest,
    pub size: u64,
}

/// A manifest (image manifest or index) with its bytes, as pushed.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub descriptor: Blob,
    pub bytes: Vec<u8>,
    /// An artifact manifest's `subject`: the manifest it describes.
    pub subject: Option<Sha256Digest>,
    /// An artifact manifest's `artifactType` (else its config's media type).
    pub artifact_type: Option<String>,
    /// The manifest's own annotations, which the referrers list repeats.
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Where a layout's blobs live.
#[derive(Debug, Clone)]
enum Store {
    Dir(PathBuf),
    /// An uncompressed tar: each blob's byte range in it.
    Archive {
        file: PathBuf,
        ranges: BTreeMap<Sha256Digest, (u64, u64)>,
    },
    /// A build's blob store: its own blobs, and those it serves from the content store
    /// and the layer cache in place.
    Blobs(BlobStore),
}

/// An image ready to push: blobs, then manifests children first, the top one last.
#[derive(Debug, Clone)]
pub struct LocalImage {
    store: Store,
    /// Configs and layers, each once, in first-use order.
    pub blobs: Vec<Blob>,
    /// Every manifest, children before the index that lists them; the top one last.
    pub manifests: Vec<Manifest>,
    /// Artifact manifests `index.json` lists beside the image (older layouts, other
    /// tools): pushed by digest, not under the tag. Their blobs are in `blobs`.
    pub artifacts: Vec<Manifest>,
}

impl LocalImage {
    /// Read the OCI layout directory or oci-archive at `path`. Its `index.json` must list
    /// exactly one image (an image manifest or an index), and may list artifacts (artifact
    /// manifests with a `subject`) beside it.
    pub fn open(path: &Path) -> Result<LocalImage, RegistryError> {
        let bad = |why: String| RegistryError::Layout {
            path: path.to_path_buf(),
            why,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        let (store, index_bytes) = if meta.is_dir() {
            let bytes = std::fs::read(path.join("index.json")).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    bad("not an OCI layout: it has no index.json".into())
                }
                _ => bad(format!("index.json: {e}")),
            })?;
            (Store::Dir(path.to_path_buf()), bytes)
        } else {
            index_archive(path)?
        };
        LocalImage::read(path, store, &index_bytes)
    }

    /// The image a build assembled in `store` (whose `index.json` is `index_json`), its
    /// blobs read where the store keeps them: nothing is copied.
    pub fn from_store(store: &BlobStore, index_json: &[u8]) -> Result<LocalImage, RegistryError> {
        LocalImage::read(store.root(), Store::Blobs(store.clone()), index_json)
    }

    fn read(path: &Path, store: Store, index_bytes: &[u8]) -> Result<LocalImage, RegistryError> {
        let bad = |why: String| RegistryError::Layout {
            path: path.to_path_buf(),
            why,
        };
        let index: Index = serde_json::from_slice(index_bytes)
            .map_err(|e| bad(format!("index.json is not an OCI index: {e}")))?;
        let mut image = LocalImage {
            store,
            blobs: Vec::new(),
            manifests: Vec::new(),
            artifacts: Vec::new(),
        };
        let listed = index
            .manifests
            .iter()
            .map(RawDescriptor::descriptor)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&bad)?;
        // Each listed manifest is walked apart; artifacts (with a subject) go aside.
        let mut images = Vec::new();
        let mut seen = BTreeSet::new();
        for top in &listed {
            let mut one = LocalImage {
                store: image.store.clone(),
                blobs: std::mem::take(&mut image.blobs),
                manifests: Vec::new(),
                artifacts: Vec::new(),
            };
            one.walk(path, top, &mut seen, 0)?;
            image.blobs = std::mem::take(&mut one.blobs);
            match one.manifests.last() {
                Some(m) if m.subject.is_some() => image.artifacts.append(&mut one.manifests),
                Some(_) => images.push(one.manifests),
                None => {}
            }
        }
        match images.len() {
            1 => image.manifests = images.remove(0),
            0 => return Err(bad("index.json lists no image".into())),
            n => {
                return Err(bad(format!(
                    "index.json lists {n} images; push needs a layout holding one (artifacts with a subject may be listed beside it)"
                )))
            }
        }
        Ok(image)
    }

    /// Every artifact manifest (one with a `subject`): inside the image's index, or
    /// listed beside it.
    pub fn referrers(&self) -> impl Iterator<Item = &Manifest> {
        self.manifests
            .iter()
            .chain(&self.artifacts)
            .filter(|m| m.subject.is_some())
    }

    /// The image's digest: the top manifest's (what `compose build` prints).
    pub fn digest(&self) -> Sha256Digest {
        self.top().descriptor.digest
    }

    /// The top manifest (pushed last, under the tag).
    pub fn top(&self) -> &Manifest {
        self.manifests.last().expect("an image has a manifest")
    }

    /// Add `m` and everything it references, children first.
    fn walk(
        &mut self,
        path: &Path,
        m: &Blob,
        seen: &mut BTreeSet<Sha256Digest>,
        depth: usize,
    ) -> Result<(), RegistryError> {
        let bad = |why: String| RegistryError::Layout {
            path: path.to_path_buf(),
            why,
        };
        if depth > 8 {
            return Err(bad("indexes nest more than 8 deep".into()));
        }
        if !seen.insert(m.digest) {
            return Ok(());
        }
        if m.size > MAX_MANIFEST {
            return Err(bad(format!("manifest {} is larger than 4 MiB", m.digest)));
        }
        let mut bytes = Vec::new();
        self.open_blob(&m.digest)
            .map_err(|e| bad(format!("manifest {}: {e}", m.digest)))?
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("manifest {}: {e}", m.digest)))?;
        if Sha256Digest::of(&bytes) != m.digest || bytes.len() as u64 != m.size {
            return Err(bad(format!(
                "manifest {} does not match its descriptor's digest and size",
                m.digest
            )));
        }
        match m.media_type.as_str() {
            MEDIA_TYPE_INDEX | DOCKER_LIST => {
                let index: Index = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("index {}: {e}", m.digest)))?;
                for child in &index.manifests {
                    let child = child.descriptor().map_err(&bad)?;
                    self.walk(path, &child, seen, depth + 1)?;
                }
                self.manifests.push(Manifest {
                    descriptor: m.clone(),
                    bytes,
                    subject: None,
                    artifact_type: None,
                    annotations: None,
                });
            }
            MEDIA_TYPE_MANIFEST | DOCKER_MANIFEST => {
                let manifest: ImageManifest = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("manifest {}: {e}", m.digest)))?;
                let subject = match &manifest.subject {
                    Some(s) => Some(s.descriptor().map_err(&bad)?.digest),
                    None => None,
                };
                let config = manifest.config.descriptor().map_err(&bad)?;
                let artifact_type = manifest
                    .artifact_type
                    .clone()
                    .or_else(|| subject.map(|_| config.media_type.clone()));
                for b in std::iter::once(Ok(config))
                    .chain(manifest.layers.iter().map(RawDescriptor::descriptor))
                {
                    let b = b.map_err(&bad)?;
                    if !self.blobs.iter().any(|x| x.digest == b.digest) {
                        self.check_present(&b).map_err(&bad)?;
                        self.blobs.push(b);
                    }
                }
                self.manifests.push(Manifest {
                    descriptor: m.clone(),
                    bytes,
                    subject,
                    artifact_type,
                    annotations: manifest.annotations,
                });
            }
            other => {
                return Err(bad(format!(
                    "manifest {} has the unknown media type `{other}`",
                    m.digest
                )))
            }
        }
        Ok(())
    }

    /// A blob listed but missing is an error here, not a registry's complaint later.
    fn check_present(&self, b: &Blob) -> Result<(), String> {
        let size = match &self.store {
            Store::Dir(d) => std::fs::metadata(blob_path(d, &b.digest))
                .map(|m| m.len())
                .ok(),
            Store::Archive { ranges, .. } => ranges.get(&b.digest).map(|r| r.1),
            Store::Blobs(store) => std::fs::metadata(store.path(&b.digest))
                .map(|m| m.len())
                .ok(),
        };
        match size {
            None => Err(format!("blob {} is missing", b.digest)),
            Some(s) if s != b.size => Err(format!(
                "blob {} has {s} bytes, its descriptor says {}",
                b.digest, b.size
            )),
            Some(_) => Ok(()),
        }
    }

    /// A reader of a blob's bytes, streamed from disk.
    pub fn open_blob(&self, digest: &Sha256Digest) -> std::io::Result<Box<dyn Read + Send>> {
        match &self.store {
            Store::Dir(d) => Ok(Box::new(File::open(blob_path(d, digest))?)),
            Store::Blobs(store) => Ok(Box::new(File::open(store.path(digest))?)),
            Store::Archive { file, ranges } => {
                let (offset, size) = *ranges.get(digest).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("blob {digest} is not in the archive"),
                    )
                })?;
                let mut f = File::open(file)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(f.take(size)))
            }
        }
    }
}

fn blob_path(dir: &Path, digest: &Sha256Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

/// Where every `blobs/sha256/HEX` member of an uncompressed tar starts, and its size;
/// and its `index.json`. Only the headers are read (the members' data is seeked over),
/// whatever the image's size. ustar names with their prefix, and GNU long names and PAX
/// `path` records, are understood; an oci-archive needs no more.
fn index_archive(path: &Path) -> Result<(Store, Vec<u8>), RegistryError> {
    let bad = |why: String| RegistryError::Layout {
        path: path.to_path_buf(),
        why,
    };
    let mut file = File::open(path).map_err(|e| bad(e.to_string()))?;
    let len = file.metadata().map_err(|e| bad(e.to_string()))?.len();
    let mut ranges = BTreeMap::new();
    let mut index = None;
    let mut offset = 0u64;
    let mut long_name: Option<String> = None;
    let mut header = [0u8; 512];
    loop {
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| bad(format!("not an oci-archive (tar): at byte {offset}: {e}")))?;
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |from: usize, to: usize| {
            let f = &header[from..to];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).to_string()
        };
        let size_text = field(124, 136);
        let size = u64::from_str_radix(size_text.trim(), 8).map_err(|_| {
            bad(format!(
                "not an oci-archive (tar): a bad size field at byte {offset}"
            ))
        })?;
        let data = offset + 512;
        if data + size > len {
            return Err(bad(format!(
                "not an oci-archive (tar): truncated at byte {offset}"
            )));
        }
        let read_data = |file: &mut File, limit: u64| -> Result<Vec<u8>, RegistryError> {
            let mut v = Vec::new();
            file.seek(SeekFrom::Start(data))
                .and_then(|_| file.by_ref().take(size.min(limit)).read_to_end(&mut v))
                .map_err(|e| bad(e.to_string()))?;
            Ok(v)
        };
        match header[156] {
            b'L' => {
                let v = read_data(&mut file, 4096)?;
                long_name = Some(
                    String::from_utf8_lossy(&v)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
            b'x' => {
                let v = read_data(&mut file, 1 << 20)?;
                let text = String::from_utf8_lossy(&v).to_string();
                long_name = text
                    .lines()
                    .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_string()));
            }
            b'0' | 0 => {
                let name = match long_name.take() {
                    Some(n) => n,
                    None => {
                        let (prefix, name) = (field(345, 500), field(0, 100));
                        if prefix.is_empty() || &header[257..262] != b"ustar" {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    }
                };
                let name = name.trim_start_matches("./");
                if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                    if let Ok(d) = format!("sha256:{hex}").parse::<Sha256Digest>() {
                        ranges.insert(d, (data, size));
                    }
                } else if name == "index.json" {
                    index = Some(read_data(&mut file, MAX_MANIFEST)?);
                }
            }
            _ => long_name = None,
        }
        offset = data + size.div_ceil(512) * 512;
    }
    let index = index.ok_or_else(|| bad("not an oci-archive: it has no index.json".into()))?;
    Ok((
        Store::Archive {
            file: path.to_path_buf(),
            ranges,
        },
        index,
    ))
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
    #[serde(default)]
    subject: Option<RawDescriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
}

impl RawDescriptor {
    fn descriptor(&self) -> Result<Blob, String> {
        let digest = self
            .digest
            .parse()
            .map_err(|_| format!("descriptor digest `{}` is not sha256:<64 hex>", self.digest))?;
        Ok(Blob {
            media_type: self.media_type.clone(),
            digest,
            size: self.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A manifest (`{}` config, one layer `{}`) in `store`, with `subject` when given:
    /// its descriptor as `index.json` lists it.
    fn manifest(store: &BlobStore, subject: Option<&serde_json::Value>) -> serde_json::Value {
        let (config, size) = store.put_bytes(b"{}").unwrap();
        let d = json!({"mediaType": "application/vnd.oci.empty.v1+json",
            "digest": config.to_string(), "size": size});
        let mut doc = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": d, "layers": [d]});
        if let Some(s) = subject {
            doc["subject"] = s.clone();
            doc["artifactType"] = json!("application/spdx+json");
        }
        let bytes = serde_json::to_vec(&doc).unwrap();
        let (m, n) = store.put_bytes(&bytes).unwrap();
        json!({"mediaType": MEDIA_TYPE_MANIFEST, "digest": m.to_string(), "size": n})
    }

    #[test]
    fn artifacts_beside_the_image_are_set_aside_and_two_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        let image = manifest(&store, None);
        let artifact = manifest(&store, Some(&image));
        let index = |list: Vec<&serde_json::Value>| {
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": list})).unwrap()
        };
        let local = LocalImage::from_store(&store, &index(vec![&artifact, &image])).unwrap();
        assert_eq!(local.digest().to_string(), image["digest"]);
        assert_eq!(local.manifests.len(), 1);
        assert_eq!(local.artifacts.len(), 1);
        let referrers: Vec<_> = local.referrers().collect();
        assert_eq!(referrers.len(), 1);
        assert_eq!(
            referrers[0].subject.map(|d| d.to_string()),
            image["digest"].as_str().map(str::to_string)
        );
        assert_eq!(
            referrers[0].artifact_type.as_deref(),
            Some("application/spdx+json")
        );

        let other = {
            let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
            let (d, n) = store.put_bytes(bytes).unwrap();
            json!({"mediaType": MEDIA_TYPE_MANIFEST, "digest": d.to_string(), "size": n})
        };
        let e = LocalImage::from_store(&store, &index(vec![&image, &other])).unwrap_err();
        assert!(e.to_string().contains("lists 2 images"), "{e}");
        let e = LocalImage::from_store(&store, &index(vec![&artifact])).unwrap_err();
        assert!(e.to_string().contains("lists no image"), "{e}");
    }

    /// A build's store serves a layer from the layer cache in place (linked, not
    /// copied): the image to push reads it from there.
    #[test]
    fn an_image_in_a_build_store_is_read_where_its_blobs_are() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(&dir.path().join("staging")).unwrap();
        let cached = dir.path().join("layer-cache-blob");
        std::fs::write(&cached, b"layer bytes").unwrap();
        let layer = Sha256Digest::of(b"layer bytes");
        store.link(&cached, &layer);
        let (config, config_size) = store.put_bytes(b"{}").unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config.to_string(), "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer.to_string(), "size": 11}],
        }))
        .unwrap();
        let (m, m_size) = store.put_bytes(&manifest).unwrap();
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": m.to_string(), "size": m_size}]}))
        .unwrap();
        let image = LocalImage::from_store(&store, &index).unwrap();
        assert_eq!(image.digest(), m);
        assert_eq!(image.blobs.len(), 2);
        assert!(!store.root().join("blobs/sha256").join(layer.hex()).exists());
        let mut read = Vec::new();
        image
            .open_blob(&layer)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, b"layer bytes");
        assert_eq!(image.referrers().count(), 0);
    }
}
