//! The manifest: `scratch.toml` parsed into validated types.
//!
//! Parsing goes through two layers: `raw` mirrors the TOML key by key (and generates the
//! JSON schema editors use), `validate` turns it into the types below, refusing anything
//! the later stages could not build. Every error carries `file:line:column` and a hint.

mod accounts;
mod base;
pub mod confine;
mod error;
mod layer_tables;
mod named;
mod raw;
mod validate;

#[cfg(test)]
mod named_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_attribution;
#[cfg(test)]
mod tests_errors;

pub use base::{BaseSource, BaseSpec, ImageLayerSpec};
pub use error::{ManifestError, Problem, TextPos};
pub use raw::json_schema;

use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::entry::ImagePath;
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A validated `scratch.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest file, as given (for messages).
    pub file: PathBuf,
    /// The folder local paths resolve against: the manifest's folder.
    pub dir: PathBuf,
    /// `[image]`.
    pub image: ImageSettings,
    /// `[config]`.
    pub config: ConfigSettings,
    /// `[[layer]]`, in order; then, when `[accounts]` declares any, the accounts layer.
    pub layers: Vec<LayerSpec>,
    /// `[input.NAME]`: inputs that layers take paths from, by name.
    pub named_inputs: BTreeMap<String, NamedInput>,
    /// `[accounts]`.
    pub accounts: AccountsSpec,
    /// Where each input's source is written, for messages about it (see
    /// [`InputRef::pos`]); may be empty for a manifest built in code.
    pub positions: BTreeMap<InputSite, TextPos>,
    /// Where each source's `sha256` is written (every place, in text order), by lock key:
    /// a pin that does not match its bytes is fixed there. May be empty for a manifest
    /// built in code.
    pub pin_positions: BTreeMap<String, Vec<TextPos>>,
    /// The `license` and `supplier` the manifest declares for inputs, for the SBOM.
    pub attributions: BTreeMap<InputSite, Attribution>,
    /// `[cache]`: the layer cache in a registry (empty when the table is absent).
    pub cache: crate::cache::CacheSettings,
}

/// What the manifest declares about an input's origin (`license`, `supplier`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// An SPDX license expression, as written.
    pub license: Option<String>,
    /// `Organization: NAME`, `Person: NAME` or a plain name.
    pub supplier: Option<String>,
}

/// An input's place in the manifest: (layer index, kind, lock key).
pub type InputSite = (usize, InputKind, String);

/// `[image]`: the image's name and the settings that shape its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSettings {
    /// The name as written (the `RepoTags` name).
    pub name: String,
    /// The tag; `latest` when not given.
    pub tag: String,
    /// The epoch from the manifest, when given (it wins over `SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<u64>,
    /// The platforms to build, in order; never empty, no duplicates.
    pub platforms: Vec<Platform>,
    /// Write the layers as one.
    pub squash: bool,
    /// Merge directory entries through symlinks to directories
    /// ([`crate::merge::MergeOptions::usrmerge`]).
    pub usrmerge: bool,
    /// The manifest's compression, when given (`--compression` wins over it).
    pub compression: Option<Compression>,
    /// The SBOM formats to write (`[image] sbom`); `--sbom` wins over it.
    pub sbom: Option<crate::sbom::SbomFormat>,
    /// Annotations for every image manifest and the index.
    pub annotations: BTreeMap<String, String>,
    /// The image to start from (`[image] base`), when there is one.
    pub base: Option<BaseSpec>,
    /// Preflight findings are errors (`build --strict` also sets it).
    pub strict: bool,
}

/// `[config]`: the OCI image configuration, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Each `KEY=VALUE`, keys unique, in manifest order.
    pub env: Vec<String>,
    /// An absolute path.
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Normalised to `N/proto`, unique, in manifest order.
    pub exposed_ports: Vec<String>,
    /// Absolute paths.
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
}

/// One `[[layer]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// 0-based position in the manifest.
    pub index: usize,
    pub comment: Option<String>,
    /// The platforms the layer applies to; `None` means all.
    pub platforms: Option<Vec<Platform>>,
    /// A tar archive unpacked as the layer's base.
    pub tar: Option<SourceSpec>,
    /// `image` (with `paths`): another image's merged tree as this layer.
    pub image: Option<ImageLayerSpec>,
    /// Paths whited out from lower layers.
    pub remove: Vec<Removal>,
    pub files: Vec<FileSpec>,
    pub dirs: Vec<DirSpec>,
    pub symlinks: Vec<SymlinkSpec>,
    /// `[[layer.copy]]`: paths taken from named inputs.
    pub copies: Vec<CopySpec>,
    /// Set on the one layer the manifest's `[accounts]` become: the last, over every
    /// platform, holding the merged account files (see [`crate::accounts`]).
    pub accounts: Option<AccountsSpec>,
}

impl LayerSpec {
    /// "layer N" (1-based, as people count), with the comment when there is one.
    pub fn describe(&self) -> String {
        match &self.comment {
            Some(c) => format!("layer {} ({c})", self.index + 1),
            None => format!("layer {}", self.index + 1),
        }
    }

    /// True when the layer applies to platform `p`.
    pub fn applies_to(&self, p: &Platform) -> bool {
        self.platforms.as_ref().is_none_or(|ps| ps.contains(p))
    }
}

/// One `remove` path: a whiteout over the lower layers. Removing nothing is an error
/// unless the path was written with a trailing `?`; a trailing `/` changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub path: ImagePath,
    /// Written `/path?`: it may match nothing.
    pub optional: bool,
    /// Where it is written, for the error when it removes nothing; `None` for a manifest
    /// built in code.
    pub pos: Option<TextPos>,
}

/// A fetchable input and its optional pin from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub location: Location,
    pub sha256: Option<Sha256Digest>,
}

/// Where an input lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An `http://`, `https://` or `file://` URL, as written.
    Url(String),
    /// A path on the host.
    Local {
        /// As written in the manifest: the lock's key.
        written: String,
        /// Resolved against [`Manifest::dir`].
        path: PathBuf,
    },
}

impl Location {
    /// The lock key: the URL, or the path as written.
    pub fn key(&self) -> &str {
        match self {
            Location::Url(u) => u,
            Location::Local { written, .. } => written,
        }
    }

    /// True for inputs fetched over the network (`http://`, `https://`): they must be
    /// pinned in the manifest or the lock. `file://` URLs and local paths are on this host.
    pub fn is_remote(&self) -> bool {
        match self {
            Location::Url(u) => {
                let l = u.to_ascii_lowercase();
                l.starts_with("http://") || l.starts_with("https://")
            }
            Location::Local { .. } => false,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// `[[layer.file]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub dest: ImagePath,
    pub source: FileSource,
    /// Permission bits (`& 0o7777`) from the manifest.
    pub mode: Option<u32>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
}

/// Where a `[[layer.file]]` gets its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// `src` (and `sha256`).
    Source(SourceSpec),
    /// `content`.
    Inline(String),
}

/// `[[layer.dir]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    pub dest: ImagePath,
    /// A local directory to copy; `None` creates an empty directory.
    pub src: Option<Location>,
    /// Mode of the destination directory itself.
    pub mode: Option<u32>,
    /// Owner of the directory and everything copied into it.
    pub uid: Option<u64>,
    pub gid: Option<u64>,
}

/// `[[layer.symlink]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymlinkSpec {
    pub dest: ImagePath,
    /// The link target, as written.
    pub target: String,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
}

/// `[input.NAME]` (or `[[input.NAME]]` for one per platform): a pinned archive that is
/// not a layer itself; `[[layer.copy]]` takes paths out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedInput {
    pub name: String,
    /// One archive for every platform, or one per platform group; no platform is
    /// covered twice.
    pub variants: Vec<InputVariant>,
}

/// One archive of a named input and the platforms it serves (`None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputVariant {
    pub source: SourceSpec,
    pub platforms: Option<Vec<Platform>>,
    /// Where its `tar` is written, when known.
    pub pos: Option<TextPos>,
}

impl NamedInput {
    /// The archive serving platform `p`, if any.
    pub fn variant_for(&self, p: &Platform) -> Option<&InputVariant> {
        self.variants
            .iter()
            .find(|v| v.platforms.as_ref().is_none_or(|ps| ps.contains(p)))
    }
}

/// `[[layer.copy]]`: paths (absolute, or globs) taken from a named input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// The `[input.NAME]` they come from.
    pub from: String,
    /// Absolute paths and patterns (`*`, `?`, `[…]`, `**`), as written.
    pub paths: Vec<String>,
    /// Where they go: `None` keeps each path; a directory otherwise (see
    /// [`crate::select`]).
    pub dest: Option<ImagePath>,
    /// What to do with symlinks met in the selection.
    pub symlinks: SymlinkMode,
}

/// Symlinks in copied paths: kept as links, or replaced by what they point to inside
/// the input's tree (never the host's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SymlinkMode {
    #[default]
    Keep,
    Follow,
}

/// `[[accounts.user]]`: a user written into `/etc/passwd` (and `/etc/shadow`, locked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub uid: u64,
    /// The primary group; defaults to `uid`.
    pub gid: u64,
    /// Defaults to `/home/NAME`.
    pub home: String,
    /// Defaults to `/sbin/nologin`.
    pub shell: String,
    /// Supplementary groups, by name, in manifest order.
    pub groups: Vec<String>,
}

/// `[[accounts.group]]`: a group written into `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub gid: u64,
}

/// `[accounts]`: users and groups merged over the lower layers' account files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountsSpec {
    pub users: Vec<UserSpec>,
    pub groups: Vec<GroupSpec>,
}

impl AccountsSpec {
    /// True when the manifest declares no account.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// A one-line summary, the accounts layer's comment (and so its history entry).
    pub fn describe(&self) -> String {
        let names = |v: Vec<String>| v.join(", ");
        let mut parts = Vec::new();
        if !self.users.is_empty() {
            parts.push(format!(
                "users {}",
                names(
                    self.users
                        .iter()
                        .map(|u| format!("{} ({})", u.name, u.uid))
                        .collect()
                )
            ));
        }
        if !self.groups.is_empty() {
            parts.push(format!(
                "groups {}",
                names(
                    self.groups
                        .iter()
                        .map(|g| format!("{} ({})", g.name, g.gid))
                        .collect()
                )
            ));
        }
        format!("accounts: {}", parts.join("; "))
    }
}

/// What kind of input a lock entry pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    /// A `tar` archive.
    Tar,
    /// A `[[layer.file]]` `src`.
    File,
    /// A `[[layer.dir]]` `src`.
    Dir,
}

impl InputKind {
    /// The name used in the lock and in messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            InputKind::Tar => "tar",
            InputKind::File => "file",
            InputKind::Dir => "dir",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InputKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tar" => Ok(InputKind::Tar),
            "file" => Ok(InputKind::File),
            "dir" => Ok(InputKind::Dir),
            _ => Err(format!(
                "`{s}` is not an input kind (expected tar, file or dir)"
            )),
        }
    }
}

/// One pinnable input of the manifest, at one place where it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    pub kind: InputKind,
    /// The lock key: the URL or the path as written.
    pub key: String,
    pub location: Location,
    /// The platforms of the layer using it; `None` means all.
    pub platforms: Option<Vec<Platform>>,
    /// The manifest's `sha256`, when given.
    pub pin: Option<Sha256Digest>,
    /// 0-based index of the layer using it.
    pub layer: usize,
    /// Where the source is written in the manifest, when known.
    pub pos: Option<TextPos>,
    /// The manifest's `license` and `supplier` for it.
    pub attribution: Attribution,
}

impl InputRef {
    /// "tar `URL` (layer 1)", for messages; prefixed by `file:line:column: ` when the
    /// position is known.
    pub fn describe(&self) -> String {
        let what = format!("{} `{}` (layer {})", self.kind, self.key, self.layer + 1);
        match &self.pos {
            Some(pos) => format!("{pos}: {what}"),
            None => what,
        }
    }
}

impl Manifest {
    /// Read and parse the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    /// Parse manifest `text`; `file` names it in messages and its folder is where local
    /// paths resolve.
    pub fn parse(text: &str, file: &Path) -> Result<Manifest, ManifestError> {
        validate::parse(text, file)
    }

    /// The layers that apply to platform `p`, in order.
    pub fn layers_for<'a>(&'a self, p: &'a Platform) -> impl Iterator<Item = &'a LayerSpec> {
        self.layers.iter().filter(move |l| l.applies_to(p))
    }

    /// Every pinnable input (tar, file `src`, dir `src`), in manifest order, once per use.
    pub fn inputs(&self) -> Vec<InputRef> {
        let mut out = Vec::new();
        for layer in &self.layers {
            let mut push = |kind, location: &Location, pin: Option<Sha256Digest>| {
                out.push(InputRef {
                    kind,
                    key: location.key().to_string(),
                    location: location.clone(),
                    platforms: layer.platforms.clone(),
                    pin,
                    layer: layer.index,
                    pos: self
                        .positions
                        .get(&(layer.index, kind, location.key().to_string()))
                        .cloned(),
                    attribution: self
                        .attributions
                        .get(&(layer.index, kind, location.key().to_string()))
                        .cloned()
                        .unwrap_or_default(),
                })
            };
            if let Some(t) = &layer.tar {
                push(InputKind::Tar, &t.location, t.sha256);
            }
            for f in &layer.files {
                if let FileSource::Source(s) = &f.source {
                    push(InputKind::File, &s.location, s.sha256);
                }
            }
            for d in &layer.dirs {
                if let Some(loc) = &d.src {
                    push(InputKind::Dir, loc, None);
                }
            }
            self.copy_inputs(layer, &mut out);
        }
        out
    }

    /// The archives of the named inputs a layer's `[[layer.copy]]` tables use, once each,
    /// with the platforms both the layer and the archive serve.
    fn copy_inputs(&self, layer: &LayerSpec, out: &mut Vec<InputRef>) {
        let mut seen: Vec<String> = Vec::new();
        for c in &layer.copies {
            let Some(input) = self.named_inputs.get(&c.from) else {
                continue;
            };
            for v in &input.variants {
                let platforms = match (&layer.platforms, &v.platforms) {
                    (None, None) => None,
                    (Some(l), None) => Some(l.clone()),
                    (None, Some(v)) => Some(v.clone()),
                    (Some(l), Some(v)) => {
                        let both: Vec<Platform> =
                            l.iter().filter(|p| v.contains(p)).cloned().collect();
                        if both.is_empty() {
                            continue;
                        }
                        Some(both)
                    }
                };
                let key = v.source.location.key().to_string();
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key.clone());
                out.push(InputRef {
                    kind: InputKind::Tar,
                    key,
                    location: v.source.location.clone(),
                    platforms,
                    pin: v.source.sha256,
                    layer: layer.index,
                    pos: v.pos.clone(),
                    attribution: Default::default(),
                });
            }
        }
    }
}
