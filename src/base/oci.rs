//! The documents of an image as registries and layouts serve them: OCI and Docker v2
//! schema 2 manifests and indexes (Docker's schema 1 is recognised to be refused), their
//! descriptors, and the layer media types compose keeps as they are.

use crate::digest::Sha256Digest;
use crate::platform::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker v2 schema 1 (signed and unsigned): refused.
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
/// The largest manifest or config read (the distribution spec's manifest limit is 4 MiB;
/// configs with long histories stay far below 16 MiB).
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// What a manifest document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// An image manifest (OCI or Docker v2 schema 2).
    Image,
    /// An index or manifest list.
    Index,
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

/// A content descriptor as written in a manifest or index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    /// Kept as text: a digest of another algorithm is refused where it is used.
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Foreign layers' URLs: such layers are not in the registry and are refused.
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// The sha256 digest, or why there is none.
    pub fn sha256(&self) -> Result<Sha256Digest, String> {
        self.digest
            .parse()
            .map_err(|_| format!("digest `{}` is not sha256:<64 hex>", self.digest))
    }
}

/// The `platform` object of an index entry (and the same fields of a config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct PlatformJson {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl PlatformJson {
    /// `os/arch[/variant]`, as people write it.
    pub fn describe(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// True when this is `p`; a missing variant means the architecture's usual one
    /// (`v8` for arm64, `v7` for arm), as containerd matches them.
    pub fn matches(&self, p: &Platform) -> bool {
        if self.os != p.os || normal_arch(&self.architecture) != p.architecture {
            return false;
        }
        let default = match p.architecture.as_str() {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        };
        let theirs = self
            .variant
            .as_deref()
            .filter(|v| !v.is_empty())
            .or(default);
        let ours = p.variant.as_deref().or(default);
        theirs == ours
    }
}

fn normal_arch(a: &str) -> &str {
    match a {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// An image manifest (OCI or Docker v2 schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The fields that tell documents apart.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// Why a document cannot be used: schema 1, another media type, or not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindError {
    Schema1,
    MediaType(String),
    Malformed(String),
}

/// What `bytes` are, from the media type they were served with (`served`, possibly empty)
/// and the document's own `mediaType` and shape.
pub fn document_kind(served: &str, bytes: &[u8]) -> Result<DocumentKind, KindError> {
    let served = served.split(';').next().unwrap_or("").trim();
    if DOCKER_SCHEMA1.contains(&served) {
        return Err(KindError::Schema1);
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| KindError::Malformed(e.to_string()))?;
    if probe.schema_version == Some(1) {
        return Err(KindError::Schema1);
    }
    let declared = probe.media_type.as_deref().unwrap_or("");
    let media_type = if declared.is_empty() {
        served
    } else {
        declared
    };
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(DocumentKind::Image),
        OCI_INDEX | DOCKER_LIST => Ok(DocumentKind::Index),
        t if DOCKER_SCHEMA1.contains(&t) => Err(KindError::Schema1),
        // OCI allows leaving mediaType out: tell by the shape.
        "" | "application/json" | "application/octet-stream" => {
            match (probe.manifests.is_some(), probe.config.is_some()) {
                (true, false) => Ok(DocumentKind::Index),
                (false, true) => Ok(DocumentKind::Image),
                _ => Err(KindError::Malformed(
                    "neither an image manifest (config, layers) nor an index (manifests)".into(),
                )),
            }
        }
        other => Err(KindError::MediaType(other.to_string())),
    }
}

/// The media type of the descriptor of a document of `kind` that declares `declared`.
pub fn manifest_media_type(kind: DocumentKind, declared: Option<&str>) -> String {
    match (kind, declared) {
        (_, Some(t)) if !t.is_empty() => t.to_string(),
        (DocumentKind::Image, _) => OCI_MANIFEST.to_string(),
        (DocumentKind::Index, _) => OCI_INDEX.to_string(),
    }
}

/// A layer's media type in our OCI manifest and its compression. OCI types are kept
/// verbatim; Docker's are written as their OCI equivalents (the same bytes: the blob and
/// its digest do not change). Foreign and non-distributable layers are refused.
pub fn layer_media_type(media_type: &str) -> Option<(&'static str, LayerCompression)> {
    Some(match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => (
            "application/vnd.oci.image.layer.v1.tar",
            LayerCompression::None,
        ),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            LayerCompression::Gzip,
        ),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            LayerCompression::Zstd,
        ),
        _ => return None,
    })
}

/// The compression of a layer from its first bytes (docker-archive layers carry no media
/// type).
pub fn sniff_compression(head: &[u8]) -> LayerCompression {
    if head.starts_with(&[0x1f, 0x8b]) {
        LayerCompression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        LayerCompression::Zstd
    } else {
        LayerCompression::None
    }
}

/// The OCI layer media type of a compression.
pub fn oci_layer_type(c: LayerCompression) -> &'static str {
    match c {
        LayerCompression::None => "application/vnd.oci.image.layer.v1.tar",
        LayerCompression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        LayerCompression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_served_type_declared_type_and_shape() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert_eq!(document_kind("", idx), Ok(DocumentKind::Index));
        let img = br#"{"schemaVersion":2,"config":{"digest":"x","size":1},"layers":[]}"#;
        assert_eq!(document_kind(OCI_MANIFEST, img), Ok(DocumentKind::Image));
        assert_eq!(
            document_kind("application/json", img),
            Ok(DocumentKind::Image)
        );
        let bare_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(document_kind("", bare_index), Ok(DocumentKind::Index));
    }

    #[test]
    fn schema1_and_strangers_are_refused() {
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert_eq!(document_kind("", s1), Err(KindError::Schema1));
        assert_eq!(
            document_kind(
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                b"{}"
            ),
            Err(KindError::Schema1)
        );
        assert_eq!(
            document_kind(
                "",
                br#"{"mediaType":"application/vnd.cncf.helm.config.v1+json"}"#
            ),
            Err(KindError::MediaType(
                "application/vnd.cncf.helm.config.v1+json".into()
            ))
        );
        assert!(matches!(
            document_kind("", b"not json"),
            Err(KindError::Malformed(_))
        ));
    }

    #[test]
    fn platforms_match_with_default_variants() {
        let p = |os: &str, a: &str, v: Option<&str>| PlatformJson {
            os: os.into(),
            architecture: a.into(),
            variant: v.map(String::from),
        };
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(p("linux", "arm64", None).matches(&arm64));
        assert!(p("linux", "arm64", Some("v8")).matches(&arm64));
        assert!(!p("linux", "arm", Some("v7")).matches(&arm64));
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(p("linux", "arm", None).matches(&armv7));
        assert!(!p("linux", "arm", Some("v6")).matches(&armv7));
        assert!(p("linux", "amd64", None).matches(&Platform::linux_amd64()));
        assert!(!p("windows", "amd64", None).matches(&Platform::linux_amd64()));
        assert_eq!(p("linux", "arm", Some("v6")).describe(), "linux/arm/v6");
    }

    #[test]
    fn docker_layer_types_become_their_oci_equivalents() {
        assert_eq!(
            layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some((
                "application/vnd.oci.image.layer.v1.tar+gzip",
                LayerCompression::Gzip
            ))
        );
        assert_eq!(
            layer_media_type("application/vnd.oci.image.layer.v1.tar+zstd").map(|x| x.1),
            Some(LayerCompression::Zstd)
        );
        assert_eq!(
            layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            None
        );
        assert_eq!(sniff_compression(&[0x1f, 0x8b, 8]), LayerCompression::Gzip);
        assert_eq!(sniff_compression(b"ustar"), LayerCompression::None);
    }
}
