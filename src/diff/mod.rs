//! `compose diff`: explain how two images or trees differ, and, for `compose verify`,
//! where two recorded builds first part ways.
//!
//! Inputs are opened by [`open`] (OCI layouts, oci-archives, docker-archives in Docker's
//! or podman's shape, plain or compressed rootfs tars, and unpacked rootfs folders) and compared by [`diff`] in
//! three views, in this order: the image config, the layers one by one (when both sides
//! have the same number), and the merged filesystem (what says "same filesystem" when the
//! layers are cut differently). File bytes are never held in memory: each file's content
//! is compared by a streamed sha256. Equal digests are taken to mean equal contents only
//! after the blobs they name are checked against them ([`DiffError::Damaged`] otherwise),
//! and a layer's diff_id only together with an equal blob digest. Tars are read with the
//! project's layer reader ([`crate::layer`]).

mod compare;
mod config;
mod digests;
mod folder;
mod report;
mod source;
mod span;
mod unpack;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use digests::{first_mismatch, ImageDigests};
pub use report::{Difference, Field, Report};
pub use source::{open, Format, LayerRef, Opened, OpenedImage, Source};
pub use span::Span;

use crate::platform::Platform;

/// What the comparison leaves out, for comparing against images built by other tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Entry mtimes and every `created` (the config's and the history's).
    pub ignore_mtime: bool,
    /// The config's `history`.
    pub ignore_history: bool,
    /// Config labels with these keys.
    pub ignore_labels: Vec<String>,
    /// Entry uid/gid.
    pub ignore_owner: bool,
    /// Image-manifest annotations with these keys. (The annotations on `index.json`'s
    /// descriptors only name an image and are never compared.)
    pub ignore_annotations: Vec<String>,
}

impl DiffOptions {
    /// True when no option relaxes the comparison of contents (ignored annotations only
    /// leave those keys out of the manifests' comparison).
    pub fn is_strict(&self) -> bool {
        !self.ignore_mtime
            && !self.ignore_history
            && self.ignore_labels.is_empty()
            && !self.ignore_owner
    }
}

/// Why two inputs could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input is not something we can open, or is malformed.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// A blob or archive member the image refers to is missing.
    #[error("{}: {what} is missing", path.display())]
    Missing { path: PathBuf, what: String },
    /// A tar (the input archive, a rootfs or a layer) could not be decompressed or read;
    /// `path` is the input, and the layer error's label names the part of it.
    #[error("{source}")]
    Layer {
        path: PathBuf,
        #[source]
        source: crate::layer::LayerError,
    },
    /// A blob that an image names by digest holds other bytes: the image is damaged, or
    /// was changed without updating its digests, so they cannot be trusted.
    #[error("{}: {what}: the blob named {expected} holds other bytes ({actual}): the image is damaged or was changed without updating its digests", path.display())]
    Damaged {
        path: PathBuf,
        what: String,
        expected: String,
        actual: String,
    },
    /// The input holds several platforms and none or an absent one was asked for.
    #[error("{}: {message}", path.display())]
    Platform { path: PathBuf, message: String },
    /// A layer could not be applied to build the merged filesystem.
    #[error("{}: {source}", path.display())]
    Merge {
        path: PathBuf,
        #[source]
        source: crate::merge::MergeError,
    },
}

impl DiffError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DiffError::Io { .. } => None,
            DiffError::Format { .. } => Some(
                "compose diff reads OCI layout folders, oci-archives, docker-archives, rootfs tars (optionally compressed) and rootfs folders"
                    .into(),
            ),
            DiffError::Missing { .. } => Some("the image is incomplete; export it again".into()),
            DiffError::Layer { source, .. } => source.hint(),
            DiffError::Damaged { .. } => Some(
                "export or build the image again; a changed image needs new digests in its manifest, index and config"
                    .into(),
            ),
            DiffError::Platform { .. } => Some("choose one with --platform".into()),
            DiffError::Merge { source, .. } => source.hint(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DiffError {
        DiffError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn layer(path: impl Into<PathBuf>, source: crate::layer::LayerError) -> DiffError {
        DiffError::Layer {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> DiffError {
        DiffError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Compare two image configs field by field as `compose diff` does, calling `push` with
/// each difference's location (`config.Entrypoint`, `config.history[0].created_by`),
/// field, left and right value.
pub(crate) fn compare_configs(
    a: &serde_json::Value,
    b: &serde_json::Value,
    push: &mut dyn FnMut(String, Field, String, String),
) {
    config::compare(a, b, &DiffOptions::default(), push)
}

/// Compare two opened inputs: config, then layers, then merged filesystems.
pub fn diff(a: &Opened, b: &Opened, o: &DiffOptions) -> Result<Report, DiffError> {
    compare::diff(a, b, o)
}

/// The whole `compose diff A B`: open both (temporary files in a private folder removed on
/// return), compare, and print the report as text or canonical JSON. Returns whether the
/// inputs are equal (exit 0) or not (exit 1); errors are exit 2.
pub fn run_diff(
    a: &Path,
    b: &Path,
    platform: Option<&Platform>,
    o: &DiffOptions,
    json: bool,
    out: &mut dyn Write,
) -> Result<bool, DiffError> {
    // Named for this process, so that an interrupt removes it (see `crate::cleanup`).
    let tmp = std::env::temp_dir();
    let scratch = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(&tmp, "compose-diff-"))
        .tempdir_in(&tmp)
        .map_err(|e| DiffError::io(&tmp, e))?;
    let left = open(a, platform, &scratch.path().join("a"))?;
    let right = open(b, platform, &scratch.path().join("b"))?;
    let report = diff(&left, &right, o)?;
    let text = if json {
        let mut s = report.to_json();
        s.push('\n');
        s
    } else {
        report.to_string()
    };
    out.write_all(text.as_bytes())
        .map_err(|e| DiffError::io("<stdout>", e))?;
    Ok(report.is_equal())
}
