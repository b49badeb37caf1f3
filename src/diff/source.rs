//! Opening the things `compose diff` compares: OCI layouts, oci-archives, docker-archives
//! and rootfs tars, each seen as images (config + layer blobs) found by platform.

use std::collections::HashMap;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::span::Span;
use super::unpack;
use super::DiffError;
use crate::entry::Entry;
use crate::layer::LayerError;
use crate::platform::Platform;

/// How deep nested indexes may go.
const MAX_NESTING: usize = 4;

/// What kind of input was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OciLayout,
    OciArchive,
    DockerArchive,
    RootfsTar,
    /// An unpacked root filesystem: a folder that is not an OCI layout.
    RootfsDir,
}

impl Format {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::OciLayout => "OCI layout",
            Format::OciArchive => "oci-archive",
            Format::DockerArchive => "docker-archive",
            Format::RootfsTar => "rootfs tar",
            Format::RootfsDir => "rootfs folder",
        }
    }
}

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub blob: Span,
    /// The uncompressed digest from the config, when known.
    pub diff_id: Option<String>,
    /// The blob digest from the manifest, when known.
    pub digest: Option<String>,
}

/// One image (one platform) of an input.
#[derive(Debug, Clone)]
pub struct OpenedImage {
    /// `os/arch[/variant]`.
    pub platform: String,
    pub manifest_digest: Option<String>,
    /// The image manifest document (`Null` for a docker-archive read from `manifest.json`).
    pub manifest: Value,
    /// The annotations on the index descriptor that points to the manifest (its names).
    pub descriptor_annotations: Value,
    pub config_digest: Option<String>,
    pub config: Value,
    pub layers: Vec<LayerRef>,
    /// The image manifest's bytes, when it was found by digest (to check them against it).
    pub manifest_blob: Option<Span>,
    /// The config's bytes.
    pub config_blob: Option<Span>,
}

/// What one input holds for one platform.
#[derive(Debug, Clone)]
pub enum Source {
    Image(Box<OpenedImage>),
    /// A rootfs tar or folder: the merged filesystem itself, as its entries (their
    /// contents point into the tar, its decompressed copy in the scratch folder, or the
    /// folder's files).
    Rootfs(Vec<Entry>),
}

/// An input opened for comparison.
#[derive(Debug, Clone)]
pub struct Opened {
    pub path: PathBuf,
    pub format: Format,
    /// One per platform, in the input's order.
    pub sources: Vec<Source>,
    /// Where decompressed layers go.
    pub scratch: PathBuf,
}

/// Where an input's named members live.
enum Container {
    Dir(PathBuf),
    Archive {
        path: PathBuf,
        members: HashMap<String, Span>,
        links: HashMap<String, String>,
    },
}

impl Container {
    fn path(&self) -> &Path {
        match self {
            Container::Dir(p) => p,
            Container::Archive { path, .. } => path,
        }
    }

    fn member(&self, name: &str) -> Result<Span, DiffError> {
        let missing = || DiffError::Missing {
            path: self.path().to_path_buf(),
            what: name.to_string(),
        };
        let clean = clean_name(name).ok_or_else(|| {
            DiffError::format(
                self.path(),
                format!("member name {name:?} leaves the archive"),
            )
        })?;
        match self {
            Container::Dir(dir) => {
                let p = dir.join(&clean);
                let len = std::fs::metadata(&p).map_err(|_| missing())?.len();
                Ok(Span {
                    file: Arc::new(p),
                    offset: 0,
                    len,
                })
            }
            Container::Archive { members, links, .. } => {
                let mut cur = clean;
                for _ in 0..8 {
                    if let Some(b) = members.get(&cur) {
                        return Ok(b.clone());
                    }
                    let target = links.get(&cur).ok_or_else(missing)?;
                    let base = match cur.rfind('/') {
                        Some(i) => &cur[..i + 1],
                        None => "",
                    };
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{base}{target}")
                    };
                    cur = clean_name(&joined).ok_or_else(missing)?;
                }
                Err(missing())
            }
        }
    }

    fn blob(&self, digest: &str) -> Result<Span, DiffError> {
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| DiffError::format(self.path(), format!("{digest:?} is not a digest")))?;
        if alg.is_empty()
            || hex.is_empty()
            || !alg.bytes().all(|c| c.is_ascii_alphanumeric())
            || !hex.bytes().all(|c| c.is_ascii_hexdigit())
        {
            return Err(DiffError::format(
                self.path(),
                format!("{digest:?} is not a digest"),
            ));
        }
        self.member(&format!("blobs/{alg}/{hex}"))
    }
}

/// Normalise a member name: strip `./` and `/`, resolve `..` without leaving the root.
fn clean_name(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Open `path` for comparison, finding what it is by its contents. `scratch` is a folder
/// (created when needed) for decompressed archives and layers; it must outlive the result.
/// With several platforms, `platform` picks one; without, all are kept and matched by
/// platform when compared.
pub fn open(path: &Path, platform: Option<&Platform>, scratch: &Path) -> Result<Opened, DiffError> {
    std::fs::create_dir_all(scratch).map_err(|e| DiffError::io(scratch, e))?;
    let meta = std::fs::metadata(path).map_err(|e| DiffError::io(path, e))?;
    let mut read_index = true;
    let (format, container) = if meta.is_dir() {
        if !path.join("index.json").is_file() {
            if path.join("oci-layout").is_file() {
                return Err(DiffError::format(
                    path,
                    "an OCI layout (it has oci-layout) without index.json",
                ));
            }
            return Ok(Opened {
                path: path.to_path_buf(),
                format: Format::RootfsDir,
                sources: vec![Source::Rootfs(super::folder::entries(path)?)],
                scratch: scratch.to_path_buf(),
            });
        }
        (Format::OciLayout, Container::Dir(path.to_path_buf()))
    } else {
        let whole = Span {
            file: Arc::new(path.to_path_buf()),
            offset: 0,
            len: meta.len(),
        };
        let label = path.display().to_string();
        let entries = unpack::entries(&whole, scratch, path, &label).map_err(|e| match e {
            DiffError::Layer {
                source: LayerError::UnknownFormat { magic, .. },
                ..
            } => DiffError::format(
                path,
                format!("not an OCI layout, an image archive or a tar (first bytes: {magic})"),
            ),
            other => other,
        })?;
        let (members, links) = unpack::members(path, &entries);
        let container = Container::Archive {
            path: path.to_path_buf(),
            members,
            links,
        };
        let has = |n: &str| match &container {
            Container::Archive { members, links, .. } => {
                members.contains_key(n) || links.contains_key(n)
            }
            Container::Dir(_) => false,
        };
        if has("manifest.json") {
            // Docker 25+ (and compose) also write index.json: read the OCI view then.
            read_index = has("index.json");
            (Format::DockerArchive, container)
        } else if has("index.json") {
            (Format::OciArchive, container)
        } else {
            return Ok(Opened {
                path: path.to_path_buf(),
                format: Format::RootfsTar,
                sources: vec![Source::Rootfs(entries)],
                scratch: scratch.to_path_buf(),
            });
        }
    };
    let mut images = if read_index {
        oci_images(&container)?
    } else {
        docker_images(&container)?
    };
    if let Some(p) = platform {
        let want = p.to_string();
        let all: Vec<String> = images.iter().map(|i| i.platform.clone()).collect();
        images.retain(|i| i.platform == want);
        if images.is_empty() {
            return Err(DiffError::Platform {
                path: path.to_path_buf(),
                message: format!("no image for {want}; it holds {}", all.join(", ")),
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for i in &images {
        if !seen.insert(i.platform.clone()) {
            return Err(DiffError::Platform {
                path: path.to_path_buf(),
                message: format!("it holds several images for {}", i.platform),
            });
        }
    }
    if images.is_empty() {
        return Err(DiffError::format(
            path,
            format!("the {} holds no image", format.name()),
        ));
    }
    Ok(Opened {
        path: path.to_path_buf(),
        format,
        sources: images
            .into_iter()
            .map(|i| Source::Image(Box::new(i)))
            .collect(),
        scratch: scratch.to_path_buf(),
    })
}

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn oci_images(c: &Container) -> Result<Vec<OpenedImage>, DiffError> {
    let index = c.member("index.json")?.json("index.json")?;
    let mut out = Vec::new();
    walk_index(c, &index, "index.json", 0, &mut out)?;
    Ok(out)
}

fn walk_index(
    c: &Container,
    index: &Value,
    what: &str,
    depth: usize,
    out: &mut Vec<OpenedImage>,
) -> Result<(), DiffError> {
    if depth > MAX_NESTING {
        return Err(DiffError::format(
            c.path(),
            format!("{what}: indexes nested too deep"),
        ));
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| DiffError::format(c.path(), format!("{what} has no `manifests` list")))?;
    for d in manifests {
        let media_type = d.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let digest = d.get("digest").and_then(Value::as_str).ok_or_else(|| {
            DiffError::format(c.path(), format!("{what}: a descriptor has no digest"))
        })?;
        if d.pointer("/annotations/vnd.docker.reference.type")
            .is_some()
        {
            continue; // attestations, not images
        }
        let blob = c.blob(digest)?;
        let doc = blob.json(digest)?;
        let doc_type = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(media_type);
        if is_index(media_type)
            || is_index(doc_type)
            || (doc.get("manifests").is_some() && doc.get("layers").is_none())
        {
            walk_index(c, &doc, digest, depth + 1, out)?;
            continue;
        }
        let platform_hint = d.get("platform").map(platform_of);
        let mut image = image_from_manifest(c, &doc, digest, platform_hint)?;
        image.manifest_blob = Some(blob);
        image.descriptor_annotations = d.get("annotations").cloned().unwrap_or(Value::Null);
        if image.platform == "unknown/unknown" {
            continue;
        }
        if !out
            .iter()
            .any(|i| i.manifest_digest.as_deref() == Some(digest))
        {
            out.push(image);
        }
    }
    Ok(())
}

fn image_from_manifest(
    c: &Container,
    manifest: &Value,
    digest: &str,
    platform_hint: Option<String>,
) -> Result<OpenedImage, DiffError> {
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| DiffError::format(c.path(), format!("manifest {digest} has no config")))?;
    let config_blob = c.blob(config_digest)?;
    let config = config_blob.json(config_digest)?;
    let diff_ids = diff_ids(&config);
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            DiffError::format(c.path(), format!("manifest {digest} has no layers list"))
        })?;
    let mut refs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let ld = l.get("digest").and_then(Value::as_str).ok_or_else(|| {
            DiffError::format(
                c.path(),
                format!("manifest {digest}: layer {} has no digest", i + 1),
            )
        })?;
        refs.push(LayerRef {
            blob: c.blob(ld)?,
            diff_id: diff_ids.get(i).cloned(),
            digest: Some(ld.to_string()),
        });
    }
    Ok(OpenedImage {
        platform: platform_hint.unwrap_or_else(|| platform_of(&config)),
        manifest_digest: Some(digest.to_string()),
        manifest: manifest.clone(),
        descriptor_annotations: Value::Null,
        config_digest: Some(config_digest.to_string()),
        config,
        layers: refs,
        manifest_blob: None,
        config_blob: Some(config_blob),
    })
}

fn diff_ids(config: &Value) -> Vec<String> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `os/arch[/variant]` of a platform object or config, normalised when we know it.
fn platform_of(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let os = if s("os").is_empty() {
        "unknown"
    } else {
        s("os")
    };
    let arch = if s("architecture").is_empty() {
        "unknown"
    } else {
        s("architecture")
    };
    let raw = match s("variant") {
        "" => format!("{os}/{arch}"),
        v => format!("{os}/{arch}/{v}"),
    };
    raw.parse::<Platform>()
        .map(|p| p.to_string())
        .unwrap_or(raw)
}

fn docker_images(c: &Container) -> Result<Vec<OpenedImage>, DiffError> {
    let manifest = c.member("manifest.json")?.json("manifest.json")?;
    let list = manifest
        .as_array()
        .ok_or_else(|| DiffError::format(c.path(), "manifest.json is not a list"))?;
    let mut out = Vec::new();
    for (n, m) in list.iter().enumerate() {
        let cfg_name = m.get("Config").and_then(Value::as_str).ok_or_else(|| {
            DiffError::format(
                c.path(),
                format!("manifest.json entry {} has no Config", n + 1),
            )
        })?;
        let config_blob = c.member(cfg_name)?;
        let config = config_blob.json(cfg_name)?;
        let ids = diff_ids(&config);
        let layers = m.get("Layers").and_then(Value::as_array).ok_or_else(|| {
            DiffError::format(
                c.path(),
                format!("manifest.json entry {} has no Layers", n + 1),
            )
        })?;
        let mut refs = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let name = l.as_str().ok_or_else(|| {
                DiffError::format(c.path(), "manifest.json: a layer name is not a string")
            })?;
            refs.push(LayerRef {
                blob: c.member(name)?,
                diff_id: ids.get(i).cloned(),
                digest: None,
            });
        }
        out.push(OpenedImage {
            platform: platform_of(&config),
            manifest_digest: None,
            manifest: Value::Null,
            descriptor_annotations: Value::Null,
            config_digest: digest_from_name(cfg_name),
            config,
            layers: refs,
            manifest_blob: None,
            config_blob: Some(config_blob),
        });
    }
    Ok(out)
}

/// `sha256:<hex>` from a docker-archive member name such as `<hex>.json` or
/// `blobs/sha256/<hex>`.
fn digest_from_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    (hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_stay_inside() {
        assert_eq!(clean_name("./a/b").as_deref(), Some("a/b"));
        assert_eq!(clean_name("x/../a.tar").as_deref(), Some("a.tar"));
        assert_eq!(clean_name("../a"), None);
    }

    #[test]
    fn platforms_normalise() {
        let v: Value = serde_json::json!({"os":"linux","architecture":"arm64"});
        assert_eq!(platform_of(&v), "linux/arm64/v8");
        let v: Value = serde_json::json!({"os":"linux","architecture":"amd64"});
        assert_eq!(platform_of(&v), "linux/amd64");
    }
}
