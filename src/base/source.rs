//! Where a base image's documents and blobs come from: a registry, an OCI layout
//! directory, an oci-archive or a docker-archive. Every source answers the same three
//! questions: the top document, a document by digest, and a blob streamed into the cache.

use super::archive::TarIndex;
use super::cache::{BlobCache, StoreError};
use super::oci::{self, MAX_DOCUMENT};
use super::pull::{self, PullError};
use super::BaseError;
use crate::digest::Sha256Digest;
use crate::image::to_canonical;
use crate::manifest::{BaseSource, BaseSpec};
use crate::registry::{ClientOptions, Reference, Registry};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A document as served: its media type (possibly empty) and bytes.
#[derive(Debug, Clone)]
pub struct Served {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An opened base source.
pub struct Source {
    base: String,
    kind: Kind,
}

enum Kind {
    /// An OCI layout directory.
    Layout(PathBuf),
    /// An OCI layout in a tar (oci-archive, or a docker-archive that carries one).
    Archive(TarIndex),
    /// A `docker save` archive: documents made from its `manifest.json`.
    Docker(DockerArchive),
    /// A registry, reached on first use.
    Registry {
        reference: Reference,
        options: ClientOptions,
        client: Mutex<Option<Arc<Registry>>>,
    },
}

impl Source {
    /// Open the source `spec` names. Local archives are indexed now; a registry is only
    /// contacted when something is not in the cache.
    pub fn open(spec: &BaseSpec, options: &ClientOptions) -> Result<Source, BaseError> {
        let base = spec.written.clone();
        let read = |path: &Path, e: std::io::Error| BaseError::Read {
            base: base.clone(),
            why: format!("{}: {e}", path.display()),
        };
        let kind = match &spec.source {
            BaseSource::Registry(r) => Kind::Registry {
                reference: r.clone(),
                options: options.clone(),
                client: Mutex::new(None),
            },
            BaseSource::OciLayout(dir) => {
                if !dir.join("index.json").is_file() {
                    return Err(BaseError::Read {
                        base,
                        why: format!("{}: not an OCI layout (no index.json)", dir.display()),
                    });
                }
                Kind::Layout(dir.clone())
            }
            BaseSource::OciArchive(path) => {
                let idx = TarIndex::open(path).map_err(|e| read(path, e))?;
                if idx.member("index.json").is_none() {
                    return Err(BaseError::Read {
                        base,
                        why: format!("{}: not an oci-archive (no index.json)", path.display()),
                    });
                }
                Kind::Archive(idx)
            }
            BaseSource::DockerArchive(path) => {
                let idx = TarIndex::open(path).map_err(|e| read(path, e))?;
                if idx.member("index.json").is_some() && idx.member("oci-layout").is_some() {
                    // Docker 25+ writes an OCI layout beside manifest.json: the same blobs.
                    Kind::Archive(idx)
                } else {
                    Kind::Docker(DockerArchive::open(idx).map_err(|why| BaseError::Read {
                        base: base.clone(),
                        why: format!("{}: {why}", path.display()),
                    })?)
                }
            }
        };
        Ok(Source { base, kind })
    }

    /// True when reading this source needs the network.
    pub fn is_remote(&self) -> bool {
        matches!(self.kind, Kind::Registry { .. })
    }

    fn registry(&self) -> Result<(Arc<Registry>, &Reference), BaseError> {
        let Kind::Registry {
            reference,
            options,
            client,
        } = &self.kind
        else {
            unreachable!("registry() on a local source")
        };
        let mut guard = client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.as_ref() {
            return Ok((c.clone(), reference));
        }
        let c = Arc::new(
            Registry::connect(reference.api_host(), options).map_err(|source| {
                BaseError::Registry {
                    base: self.base.clone(),
                    source,
                }
            })?,
        );
        *guard = Some(c.clone());
        Ok((c, reference))
    }

    fn read_error(&self, why: String) -> BaseError {
        BaseError::Read {
            base: self.base.clone(),
            why,
        }
    }

    /// The document the reference names without a digest: the tag's manifest or index
    /// (`latest` when none is given), or what a layout's `index.json` lists.
    pub fn top(&self) -> Result<Served, BaseError> {
        match &self.kind {
            Kind::Registry { .. } => {
                let (c, r) = self.registry()?;
                let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
                let (media_type, bytes) =
                    pull::pull_manifest(&c, &r.repository, &tag).map_err(|source| {
                        BaseError::Registry {
                            base: self.base.clone(),
                            source,
                        }
                    })?;
                Ok(Served { media_type, bytes })
            }
            Kind::Layout(_) | Kind::Archive(_) => {
                let index = self.layout_file("index.json")?;
                layout_top(&index).map_or_else(
                    || {
                        Ok(Served {
                            media_type: oci::OCI_INDEX.into(),
                            bytes: index.clone(),
                        })
                    },
                    |d| {
                        let digest = d.sha256().map_err(|why| self.read_error(why))?;
                        let bytes = self.document(&digest, false)?;
                        Ok(Served {
                            media_type: d.media_type,
                            bytes,
                        })
                    },
                )
            }
            Kind::Docker(d) => Ok(Served {
                media_type: oci::OCI_MANIFEST.into(),
                bytes: d.manifest.clone(),
            }),
        }
    }

    /// The document `digest`, unverified (callers check it): a manifest or index, or with
    /// `blob` a config (registries serve those under /blobs/, manifests under /manifests/).
    pub fn document(&self, digest: &Sha256Digest, blob: bool) -> Result<Vec<u8>, BaseError> {
        match &self.kind {
            Kind::Registry { .. } => {
                let (c, r) = self.registry()?;
                let registry_error = |source| BaseError::Registry {
                    base: self.base.clone(),
                    source,
                };
                if !blob {
                    return pull::pull_manifest(&c, &r.repository, &digest.to_string())
                        .map(|(_, bytes)| bytes)
                        .map_err(registry_error);
                }
                let mut resp = c.get_blob(&r.repository, digest).map_err(registry_error)?;
                let mut out = Vec::new();
                (&mut resp)
                    .take(MAX_DOCUMENT)
                    .read_to_end(&mut out)
                    .map_err(|e| self.read_error(format!("reading {digest}: {e}")))?;
                Ok(out)
            }
            Kind::Layout(_) | Kind::Archive(_) => {
                if let Ok(index) = self.layout_file("index.json") {
                    if Sha256Digest::of(&index) == *digest {
                        return Ok(index);
                    }
                }
                self.layout_file(&format!("blobs/sha256/{}", digest.hex()))
            }
            Kind::Docker(d) => {
                if Sha256Digest::of(&d.manifest) == *digest {
                    return Ok(d.manifest.clone());
                }
                let name = d.members.get(digest).ok_or_else(|| {
                    self.read_error(format!("the archive holds no blob {digest}"))
                })?;
                d.index
                    .read_member(name, MAX_DOCUMENT)
                    .map_err(|e| self.read_error(format!("{name}: {e}")))
            }
        }
    }

    /// A small file of a layout (`index.json`, a manifest, a config).
    fn layout_file(&self, name: &str) -> Result<Vec<u8>, BaseError> {
        match &self.kind {
            Kind::Layout(dir) => {
                let path = dir.join(name);
                let len = std::fs::metadata(&path)
                    .map_err(|e| self.read_error(format!("{}: {e}", path.display())))?
                    .len();
                if len > MAX_DOCUMENT {
                    return Err(self.read_error(format!(
                        "{}: {len} bytes is too large for a manifest or config",
                        path.display()
                    )));
                }
                std::fs::read(&path)
                    .map_err(|e| self.read_error(format!("{}: {e}", path.display())))
            }
            Kind::Archive(idx) => idx
                .read_member(name, MAX_DOCUMENT)
                .map_err(|e| self.read_error(format!("{}: {name}: {e}", idx.path.display()))),
            _ => unreachable!("layout_file() on a source without a layout"),
        }
    }

    /// Bring blob `digest` (`size` bytes) into the cache, verified. `progress` receives
    /// each chunk's length.
    pub fn fetch_blob(
        &self,
        digest: &Sha256Digest,
        size: u64,
        cache: &BlobCache,
        progress: &dyn Fn(u64),
    ) -> Result<PathBuf, BaseError> {
        let mismatch = |actual: Sha256Digest| BaseError::DigestMismatch {
            base: self.base.clone(),
            what: "blob".into(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        };
        let mut reader: Box<dyn Read + Send> = match &self.kind {
            Kind::Registry { .. } => {
                let (c, r) = self.registry()?;
                return pull::pull_blob(&c, &r.repository, digest, size, cache, progress).map_err(
                    |e| match e {
                        PullError::Registry(source) => BaseError::Registry {
                            base: self.base.clone(),
                            source,
                        },
                        PullError::Cache(why) => self.read_error(format!("the cache: {why}")),
                        PullError::Mismatch(m) => mismatch(m.actual),
                    },
                );
            }
            Kind::Layout(dir) => {
                let path = dir.join("blobs/sha256").join(digest.hex());
                Box::new(
                    File::open(&path)
                        .map_err(|e| self.read_error(format!("{}: {e}", path.display())))?,
                )
            }
            Kind::Archive(idx) => {
                let name = format!("blobs/sha256/{}", digest.hex());
                idx.open_member(&name)
                    .map_err(|e| self.read_error(format!("{}: {name}: {e}", idx.path.display())))?
            }
            Kind::Docker(d) => {
                let name = d.members.get(digest).ok_or_else(|| {
                    self.read_error(format!("the archive holds no blob {digest}"))
                })?;
                d.index
                    .open_member(name)
                    .map_err(|e| self.read_error(format!("{name}: {e}")))?
            }
        };
        cache
            .put_stream(&mut reader, digest, &mut |n| progress(n))
            .map_err(|e| match e {
                StoreError::Read(e) => self.read_error(format!("reading blob {digest}: {e}")),
                StoreError::Cache(why) => self.read_error(format!("the cache: {why}")),
                StoreError::Mismatch(m) => mismatch(m.actual),
            })
    }
}

/// The one descriptor of a layout's `index.json`, or `None` when it lists several (then
/// `index.json` itself is the index to pick platforms from).
fn layout_top(index: &[u8]) -> Option<oci::Descriptor> {
    #[derive(Deserialize)]
    struct Top {
        manifests: Vec<oci::Descriptor>,
    }
    let top: Top = serde_json::from_slice(index).ok()?;
    match <[oci::Descriptor; 1]>::try_from(top.manifests) {
        Ok([one]) => Some(one),
        Err(_) => None,
    }
}

/// A `docker save` archive without an OCI layout: an OCI manifest is made from its
/// `manifest.json`, naming its config and layer files by their digests.
struct DockerArchive {
    index: TarIndex,
    /// The manifest made for it (canonical JSON).
    manifest: Vec<u8>,
    /// Blob digest → member name.
    members: BTreeMap<Sha256Digest, String>,
}

impl DockerArchive {
    fn open(index: TarIndex) -> Result<DockerArchive, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            layers: Vec<String>,
        }
        let text = index
            .read_member("manifest.json", MAX_DOCUMENT)
            .map_err(|e| format!("not a docker-archive: manifest.json: {e}"))?;
        let entries: Vec<Entry> = serde_json::from_slice(&text)
            .map_err(|e| format!("manifest.json is not docker's format: {e}"))?;
        let entry = match <[Entry; 1]>::try_from(entries) {
            Ok([one]) => one,
            Err(v) => {
                return Err(format!(
                    "manifest.json lists {} images; a base archive must hold one",
                    v.len()
                ))
            }
        };
        let mut members = BTreeMap::new();
        let mut describe = |name: &str| -> Result<(Sha256Digest, u64, [u8; 4]), String> {
            let mut r = index
                .open_member(name)
                .map_err(|e| format!("{name}: {e}"))?;
            let mut head = [0u8; 4];
            let mut hashing = crate::digest::HashingReader::new(&mut r);
            let n = read_up_to(&mut hashing, &mut head).map_err(|e| format!("{name}: {e}"))?;
            std::io::copy(&mut hashing, &mut std::io::sink())
                .map_err(|e| format!("{name}: {e}"))?;
            let (d, size) = hashing.finish();
            members.insert(d, name.to_string());
            let mut h = [0u8; 4];
            h[..n].copy_from_slice(&head[..n]);
            Ok((d, size, h))
        };
        let (config, config_size, _) = describe(&entry.config)?;
        let mut layers = Vec::new();
        for l in &entry.layers {
            let (d, size, head) = describe(l)?;
            layers.push(json!({
                "mediaType": oci::oci_layer_type(oci::sniff_compression(&head)),
                "digest": d.to_string(),
                "size": size,
            }));
        }
        let manifest = to_canonical(&json!({
            "schemaVersion": 2,
            "mediaType": oci::OCI_MANIFEST,
            "config": {
                "mediaType": crate::image::MEDIA_TYPE_CONFIG,
                "digest": config.to_string(),
                "size": config_size,
            },
            "layers": layers,
        }))
        .map_err(|e| e.to_string())?;
        Ok(DockerArchive {
            index,
            manifest,
            members,
        })
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
