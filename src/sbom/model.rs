//! What an SBOM describes: one image for one platform, the inputs it was built from and
//! the packages found inside them. The build fills it in; the writers only format it.

use super::license::License;
use super::pkgdb::{Package, Presence};
use crate::digest::Sha256Digest;
use crate::epoch::Epoch;
use crate::platform::Platform;

/// The document's subject and contents.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub image: ImageSubject,
    /// The build epoch: the document's creation time.
    pub epoch: Epoch,
    /// Every input used on this platform, each once (sorted by the writers).
    pub inputs: Vec<InputItem>,
}

/// The image for one platform: the described package.
#[derive(Debug, Clone)]
pub struct ImageSubject {
    /// `[image] name` as written.
    pub name: String,
    pub tag: String,
    pub platform: Platform,
    /// The image manifest's digest.
    pub manifest_digest: Sha256Digest,
}

/// What an [`InputItem`] is: one of the manifest's inputs, or the base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    /// `[image] base`: its layers are the image's first ones.
    Base,
    /// A `tar` archive.
    Tar,
    /// A `[[layer.file]]` `src`.
    File,
    /// A `[[layer.dir]]` `src`.
    Dir,
}

impl ItemKind {
    /// The name used in documents (as the lock names inputs; `base` for the base).
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemKind::Base => "base",
            ItemKind::Tar => "tar",
            ItemKind::File => "file",
            ItemKind::Dir => "dir",
        }
    }
}

impl From<crate::manifest::InputKind> for ItemKind {
    fn from(k: crate::manifest::InputKind) -> ItemKind {
        match k {
            crate::manifest::InputKind::Tar => ItemKind::Tar,
            crate::manifest::InputKind::File => ItemKind::File,
            crate::manifest::InputKind::Dir => ItemKind::Dir,
        }
    }
}

/// One pinned input, or the base image.
#[derive(Debug, Clone)]
pub struct InputItem {
    pub kind: ItemKind,
    /// The URL or the manifest-relative path, as written (the lock key); for the base,
    /// its reference as written in `[image] base`.
    pub source: String,
    /// True for an `http(s)://` or `file://` URL.
    pub is_url: bool,
    /// The content's digest; for the base, its image manifest's for this platform.
    pub sha256: Sha256Digest,
    /// Bytes; for the base, its layers' compressed sizes added up.
    pub size: u64,
    /// 1-based numbers of the layers using it on this platform, ascending (none for the
    /// base, whose layers come before them).
    pub layers: Vec<usize>,
    /// The manifest's `license` for it.
    pub license: Option<License>,
    /// The manifest's `supplier` for it.
    pub supplier: Option<String>,
    /// Packages its own databases list, with what a later layer left of them.
    pub packages: Vec<(Package, Presence)>,
}

impl InputItem {
    /// The packages the SBOM lists: those not entirely removed, sorted.
    pub fn listed_packages(&self) -> Vec<&(Package, Presence)> {
        let mut v: Vec<&(Package, Presence)> = self
            .packages
            .iter()
            .filter(|(_, pr)| *pr != Presence::Removed)
            .collect();
        v.sort_by(|(a, _), (b, _)| {
            (a.ecosystem, &a.name, &a.version, &a.arch).cmp(&(
                b.ecosystem,
                &b.name,
                &b.version,
                &b.arch,
            ))
        });
        v
    }

    /// A short name: the last path segment of the URL or path.
    pub fn short_name(&self) -> &str {
        let s = self.source.split(['?', '#']).next().unwrap_or(&self.source);
        s.trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.source)
    }

    /// "layer 1", "layers 1, 3"; "the base layers" for the base.
    pub fn layers_text(&self) -> String {
        let n: Vec<String> = self.layers.iter().map(|l| l.to_string()).collect();
        match n.len() {
            _ if self.kind == ItemKind::Base => "the base layers".to_string(),
            1 => format!("layer {}", n[0]),
            _ => format!("layers {}", n.join(", ")),
        }
    }
}

impl Sbom {
    /// The inputs sorted by (kind, source): the writers' order.
    pub fn sorted_inputs(&self) -> Vec<&InputItem> {
        let mut v: Vec<&InputItem> = self.inputs.iter().collect();
        v.sort_by(|a, b| (a.kind, &a.source).cmp(&(b.kind, &b.source)));
        v
    }

    /// `name:tag`.
    pub fn image_ref(&self) -> String {
        format!("{}:{}", self.image.name, self.image.tag)
    }

    /// The image's package URL: `pkg:oci/NAME@sha256:…?arch=…&tag=…`.
    pub fn image_purl(&self) -> String {
        let last = self
            .image
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&self.image.name);
        let mut q = vec![
            ("arch".to_string(), self.image.platform.architecture.clone()),
            ("tag".to_string(), self.image.tag.clone()),
        ];
        if last != self.image.name {
            q.push(("repository_url".to_string(), self.image.name.clone()));
        }
        super::purl::Purl {
            kind: "oci".into(),
            namespace: None,
            name: last.to_ascii_lowercase(),
            version: Some(self.image.manifest_digest.to_string()),
            qualifiers: q,
        }
        .to_string()
    }

    /// A version-5-shaped UUID derived from the image digest (CycloneDX serial numbers
    /// must be UUIDs; a random one would break reproducibility).
    pub fn derived_uuid(&self) -> String {
        let d = Sha256Digest::of(
            format!("scratch-compose sbom {}", self.image.manifest_digest).as_bytes(),
        );
        let mut b: [u8; 16] = d.0[..16].try_into().expect("16 bytes");
        b[6] = (b[6] & 0x0f) | 0x50;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// The name a tool version is written under in SBOMs: the compat level, not the release,
/// so a release that writes the same bytes writes the same SBOM (its digest is in the lock).
pub fn tool_version() -> String {
    format!("compat-{}", crate::COMPAT_LEVEL)
}
