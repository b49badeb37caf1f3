//! What can be wrong with a manifest, where, and what to do about it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A place in the manifest text, for messages: `file:line:column`, both 1-based, the
/// column counted in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPos {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl TextPos {
    /// The position of byte `offset` of `text` (clamped to the text).
    pub fn of_offset(file: &Path, text: &str, offset: usize) -> TextPos {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        TextPos {
            file: file.to_path_buf(),
            line,
            column,
        }
    }

    /// The position where a span starts.
    pub fn of_span(file: &Path, text: &str, span: &Range<usize>) -> TextPos {
        TextPos::of_offset(file, text, span.start)
    }
}

impl fmt::Display for TextPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why a manifest was refused. Every variant but [`ManifestError::Read`] carries the
/// position it is about.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("cannot read manifest {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Something at a known place in the text.
    #[error("{pos}: {problem}")]
    At { pos: TextPos, problem: Box<Problem> },
}

impl ManifestError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ManifestError::Read { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => {
                    Some("create a scratch.toml, or point at one with `-f PATH`".to_string())
                }
                _ => None,
            },
            ManifestError::At { problem, .. } => problem.hint(),
        }
    }

    /// The problem, when the error has a position.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ManifestError::At { problem, .. } => Some(problem),
            ManifestError::Read { .. } => None,
        }
    }

    /// The position, when the error has one.
    pub fn pos(&self) -> Option<&TextPos> {
        match self {
            ManifestError::At { pos, .. } => Some(pos),
            ManifestError::Read { .. } => None,
        }
    }
}

/// One kind of mistake in a manifest. The display is the message after `file:line:col: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Malformed TOML, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// A key no table of that kind has.
    #[error("unknown key `{key}` in {table}{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownKey {
        key: String,
        /// The table, such as `[image]` or `[[layer.file]]`.
        table: String,
        suggestion: Option<String>,
        valid: Vec<String>,
    },
    /// A required key is missing.
    #[error("missing {what}")]
    Missing { what: String, example: String },
    /// A `dest` (or other image path) that does not start with `/`.
    #[error("{what} `{value}` is not an absolute path")]
    NotAbsolute { what: String, value: String },
    /// A `dest` that names the image root.
    #[error("{what} `{value}` is the image root; it must name a path below `/`")]
    RootDest { what: String, value: String },
    /// A path with `..` or a NUL byte.
    #[error("{what} `{value}`: {reason}")]
    BadPath {
        what: String,
        value: String,
        reason: String,
    },
    /// A path whose last component starts with `.wh.`, which layers read as a whiteout.
    #[error(
        "{what} `{value}` is named like a whiteout (`.wh.`), which deletes files of lower layers"
    )]
    WhiteoutName { what: String, value: String },
    /// A local source outside the manifest's folder, with sources confined.
    #[error("source `{value}` {reason}")]
    Unconfined { value: String, reason: String },
    /// A uid or gid above 2^32 - 1.
    #[error("{key} {value} is out of range: ids go from 0 to 4294967295")]
    IdOutOfRange { key: String, value: u64 },
    /// A mode string that is not octal digits up to 07777.
    #[error("mode `{0}` is not an octal mode such as \"0755\", \"0644\" or \"1777\"")]
    BadMode(String),
    /// A sha256 that is not 64 lowercase hex digits.
    #[error("sha256 `{0}` is not 64 lowercase hex digits")]
    BadDigest(String),
    /// A platform we cannot read.
    #[error(
        "`{0}` is not a platform (expected os/arch[/variant], such as linux/amd64 or linux/arm64)"
    )]
    BadPlatform(String),
    /// The same platform listed twice.
    #[error("platform `{0}` is listed twice")]
    DuplicatePlatform(String),
    /// An empty platform list.
    #[error("`{0}` must list at least one platform")]
    NoPlatforms(String),
    /// A layer for a platform the image does not build.
    #[error("layer {layer} applies to `{platform}`, which is not in [image] platforms ({built})")]
    PlatformNotBuilt {
        layer: usize,
        platform: String,
        built: String,
    },
    /// A compression setting we cannot read.
    #[error("`{0}` is not a compression")]
    BadCompression(String),
    /// An `[image] sbom` value we do not write.
    #[error("`{0}` is not an SBOM format")]
    BadSbom(String),
    /// An epoch beyond what RFC 3339 can write.
    #[error("source_date_epoch {0} is after 9999-12-31T23:59:59Z")]
    BadEpoch(u64),
    /// Two keys that exclude each other.
    #[error("`{a}` and `{b}` cannot both be given in one {table}")]
    Conflict { a: String, b: String, table: String },
    /// A `sha256` with nothing to pin.
    #[error("`sha256` without `{source_key}`: it pins the {source_key} of the same table")]
    PinWithoutSource { source_key: String },
    /// A `license` or `supplier` with no input to describe.
    #[error("`{key}` without `{source_key}`: it describes the {source_key} of the same table")]
    AttributionWithoutSource { key: String, source_key: String },
    /// An empty or multi-line `license` or `supplier`.
    #[error("`{key}` must be one non-empty line")]
    BadAttribution { key: String },
    /// A `[cache]` reference that does not parse.
    #[error("[cache] {key}: {why}")]
    BadCache { key: String, why: String },
    /// An `[image] base` that is not a reference we can pull.
    #[error("[image] base `{value}` is not a base image reference: {why}")]
    BadBase { value: String, why: String },
    /// A `[[layer]] image` that is not a reference we can pull.
    #[error("[[layer]] image `{value}` is not an image reference: {why}")]
    BadImageLayer { value: String, why: String },
    /// `[[layer]] paths` without `image`.
    #[error("layer {layer} has `paths` but no `image` to take them from")]
    PathsWithoutImage { layer: usize },
    /// A `[[layer.file]]` with neither `src` nor `content`.
    #[error("[[layer.file]] `{dest}` has neither `src` nor `content`")]
    NoFileSource { dest: String },
    /// A layer that adds and removes nothing.
    #[error("layer {layer} has no source: give it `tar`, `image`, `remove`, [[layer.file]], [[layer.dir]], [[layer.symlink]] or [[layer.copy]]")]
    EmptyLayer { layer: usize },
    /// Two sources of one layer writing the same path.
    #[error("`{dest}` is written twice in layer {layer}: by {first} at line {first_line}, column {first_column}, and by {second} here")]
    DuplicateDest {
        dest: String,
        layer: usize,
        first: String,
        first_line: usize,
        first_column: usize,
        second: String,
    },
    /// A URL we cannot fetch.
    #[error("`{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// A `[[layer.dir]]` whose `src` is a URL.
    #[error("[[layer.dir]] src `{0}` is a URL; a directory source must be a local directory")]
    RemoteDir(String),
    /// An empty source path.
    #[error("`{0}` is empty")]
    EmptyValue(String),
    /// One source pinned twice with different digests.
    #[error("`{source_name}` is pinned with two different digests: {first} and {second}")]
    ConflictingPins {
        source_name: String,
        first: String,
        second: String,
    },
    /// An `env` entry that is not `KEY=VALUE`.
    #[error("env entry `{entry}` {reason}")]
    BadEnv { entry: String, reason: String },
    /// An exposed port we cannot read.
    #[error("exposed port `{0}` is not `N`, `N/tcp`, `N/udp` or `N/sctp` with N in 1-65535")]
    BadPort(String),
    /// The same port listed twice.
    #[error("exposed port `{0}` is listed twice")]
    DuplicatePort(String),
    /// A stop signal we cannot read.
    #[error("stop_signal `{0}` is not a signal name such as SIGTERM or a signal number")]
    BadSignal(String),
    /// An image name that is not a valid reference.
    #[error("image name `{0}` is not a valid image reference")]
    BadName(String),
    /// An image tag that is not valid.
    #[error("image tag `{0}` is not a valid tag")]
    BadTag(String),
    /// An empty key in labels or annotations.
    #[error("{0} has an empty key")]
    EmptyKey(String),
    /// `[[layer.copy]] from` names no `[input.NAME]`.
    #[error("[[layer.copy]] from `{name}`: no [input.{name}] is declared{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownInput {
        name: String,
        suggestion: Option<String>,
        known: String,
    },
    /// A layer uses a named input on a platform none of its archives serves.
    #[error("layer {layer} takes paths from input `{input}` on {platform}, but no archive of `{input}` serves {platform}")]
    InputNotForPlatform {
        input: String,
        platform: String,
        layer: usize,
    },
    /// Two archives of one named input serve the same platform.
    #[error("input `{input}` has two archives for {platform}")]
    InputPlatformTwice { input: String, platform: String },
    /// A `[[layer.copy]]` path that is not a valid pattern.
    #[error("[[layer.copy]] path `{pattern}` {reason}")]
    BadCopyPath { pattern: String, reason: String },
    /// A user or group declared twice (same name or id).
    #[error("[[accounts.{kind}]] {key} is declared twice (first at line {first_line})")]
    DuplicateAccount {
        kind: String,
        key: String,
        first_line: usize,
    },
    /// A user or group name that account files cannot hold.
    #[error("[[accounts.{kind}]] name `{name}` is not a valid account name")]
    BadAccountName { kind: String, name: String },
}

impl Problem {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Problem::Syntax(msg) if msg.contains("expected a string") && msg.contains("integer") => {
                "quote the value: modes are strings such as mode = \"0755\"".to_string()
            }
            Problem::Syntax(_) => {
                "see the TOML syntax at https://toml.io and the keys in schemas/scratch.schema.json"
                    .to_string()
            }
            Problem::UnknownKey { valid, .. } => {
                let list: Vec<String> = valid.iter().map(|k| format!("`{k}`")).collect();
                format!("valid keys here: {}", list.join(", "))
            }
            Problem::Missing { example, .. } if example.is_empty() => return None,
            Problem::Missing { example, .. } => format!("add it, for example: {example}"),
            Problem::NotAbsolute { value, .. } => {
                format!("write it from the image root: `/{}`", value.trim_start_matches("./"))
            }
            Problem::RootDest { .. } => {
                "to fill the root, use a `tar`, or a [[layer.dir]] per top-level directory"
                    .to_string()
            }
            Problem::BadPath { reason, .. } if reason.contains("NUL") => {
                "remove the NUL character (`\\0`, `\\u0000`) from the path: no file name can hold one"
                    .to_string()
            }
            Problem::BadPath { .. } => {
                "image paths are absolute and may not contain `..`".to_string()
            }
            Problem::WhiteoutName { what, .. } if what.starts_with("remove") => {
                "list the path to delete itself (`/d/x`, not `/d/.wh.x`): `remove` writes the whiteout"
                    .to_string()
            }
            Problem::WhiteoutName { .. } => {
                "to delete a path of a lower layer, list it in that layer's `remove = [...]`; \
                 a file named `.wh.*` cannot be stored in an image"
                    .to_string()
            }
            Problem::Unconfined { .. } => {
                "sources are confined to the manifest's folder (--confine-sources or \
                 SCRATCH_CONFINE_SOURCES=1): copy the input into it, or build without the \
                 switch if you trust the manifest"
                    .to_string()
            }
            Problem::IdOutOfRange { key, .. } => {
                format!("use a {key} from 0 to 4294967295 (GNU tar and the kernel hold 32 bits)")
            }
            Problem::BadMode(_) => {
                "write the permission bits in octal, as a string: mode = \"0755\"".to_string()
            }
            Problem::BadDigest(_) => {
                "copy the digest from `sha256sum FILE`, or leave it out and run `compose lock` to pin it"
                    .to_string()
            }
            Problem::BadPlatform(_) => {
                "known architectures: amd64, arm64, arm/v7, arm/v6, 386, ppc64le, s390x, riscv64"
                    .to_string()
            }
            Problem::DuplicatePlatform(_) => "list each platform once".to_string(),
            Problem::NoPlatforms(_) => {
                "leave the key out to mean every platform (the image default is linux/amd64)"
                    .to_string()
            }
            Problem::PlatformNotBuilt { .. } => {
                "add the platform to [image] platforms, or fix the layer's platform".to_string()
            }
            Problem::BadCompression(_) => {
                "use gzip, gzip:LEVEL (1-12), zstd, zstd:LEVEL (1-19) or none".to_string()
            }
            Problem::BadSbom(_) => "use spdx, cyclonedx or both".to_string(),
            Problem::BadEpoch(_) => "use seconds since 1970, such as 1700000000".to_string(),
            Problem::Conflict { a, b, .. } => format!("keep either `{a}` or `{b}`"),
            Problem::BadCache { .. } => "write HOST[:PORT]/REPOSITORY[:TAG], and for `to` \
                optionally ,max=SIZE, e.g. to = \"registry.example.com/team/app-cache,max=5G\""
                .to_string(),
            Problem::BadImageLayer { .. } => "write REGISTRY/REPOSITORY[:TAG][@sha256:…], oci:PATH, \
                oci-archive:PATH or docker-archive:PATH"
                .to_string(),
            Problem::PathsWithoutImage { .. } => {
                "add `image = \"REF\"` to the layer, or use [[layer.copy]] for paths of a named input".to_string()
            }
            Problem::BadBase { .. } => "write REGISTRY/REPOSITORY[:TAG][@sha256:…], oci:PATH, \
                oci-archive:PATH or docker-archive:PATH, e.g. \
                base = \"docker.io/library/alpine:3.20@sha256:…\""
                .to_string(),
            Problem::PinWithoutSource { source_key } => {
                format!("add `{source_key}`, or remove `sha256`")
            }
            Problem::AttributionWithoutSource { key, source_key } => {
                format!("add `{source_key}`, or remove `{key}`")
            }
            Problem::BadAttribution { key } => match key.as_str() {
                "license" => "write an SPDX expression, such as `license = \"MIT OR Apache-2.0\"`".into(),
                _ => "write a name, such as `supplier = \"Organization: Example Corp\"`".into(),
            },
            Problem::NoFileSource { .. } => {
                "add `src = \"path/or/url\"` or `content = \"text\"`".to_string()
            }
            Problem::EmptyLayer { .. } => "remove the empty [[layer]] table".to_string(),
            Problem::DuplicateDest { .. } => {
                "keep one of them, or move one into a later [[layer]]".to_string()
            }
            Problem::BadUrl { .. } => {
                "use an https://, http:// or file:// URL, or a path relative to scratch.toml"
                    .to_string()
            }
            Problem::RemoteDir(_) => {
                "download and unpack it as a `tar` layer, or copy it next to scratch.toml"
                    .to_string()
            }
            Problem::EmptyValue(_) => "give it a value, or leave the key out".to_string(),
            Problem::ConflictingPins { .. } => {
                "one source has one content: keep the right digest in both places".to_string()
            }
            Problem::BadEnv { .. } => {
                "write each variable as \"KEY=VALUE\", each KEY once".to_string()
            }
            Problem::BadPort(_) | Problem::DuplicatePort(_) => {
                "write ports as \"80\", \"80/tcp\" or \"53/udp\", each once".to_string()
            }
            Problem::BadSignal(_) => "use a name such as \"SIGTERM\" or a number such as \"15\"".to_string(),
            Problem::BadName(_) => {
                "use lowercase letters, digits and separators (`.`, `_`, `-`, `/`), optionally after a registry host: `registry.example.com/team/app`"
                    .to_string()
            }
            Problem::BadTag(_) => {
                "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
                    .to_string()
            }
            Problem::EmptyKey(_) => "give every key a name".to_string(),
            Problem::UnknownInput { name, known, .. } if known.is_empty() => format!(
                "declare it: [input.{name}] tar = \"https://…/rootfs.tar.gz\" sha256 = \"…\""
            ),
            Problem::UnknownInput { known, .. } => format!("declared inputs: {known}"),
            Problem::InputNotForPlatform { input, platform, .. } => format!(
                "add [[input.{input}]] platform = \"{platform}\" with its archive, or give the layer `platform`/`platforms`"
            ),
            Problem::InputPlatformTwice { .. } => {
                "give each [[input.NAME]] archive its own platform(s)".to_string()
            }
            Problem::BadCopyPath { .. } => {
                "write absolute paths; wildcards are *, ?, [abc] and ** as a whole component"
                    .to_string()
            }
            Problem::DuplicateAccount { .. } => {
                "give every user and group its own name and id".to_string()
            }
            Problem::BadAccountName { .. } => {
                "use letters, digits, `_`, `.` and `-`, starting with a letter or `_`".to_string()
            }
        })
    }
}
