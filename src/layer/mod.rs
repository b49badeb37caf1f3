//! Layer formats: reading input archives into normalised [`crate::entry::Entry`] values and
//! writing the canonical tar form every output uses.
//!
//! * `decompress`: detect and undo the input compression (gzip, xz, zstd, bzip2), bounded
//!   ([`decompress()`], [`detect_format`]).
//! * `read`: a plain tar (ustar, GNU, PAX) into entries whose file bytes stay on disk
//!   ([`read_tar`]).
//! * `sparse`: the maps of GNU sparse files, in each of their four forms
//!   ([`MAX_SEGMENTS`], [`MAX_ARCHIVE_SEGMENTS`]).
//! * `write`: the canonical tar writer ("ctar-1", [`TarWriter`]).
//! * [`local`]: local directories packed as canonical tars, local file modes.
//! * `snapshot`: a merged tree's metadata without contents, for the layer cache
//!   ([`encode_snapshot`]).

mod decompress;
pub mod local;
mod read;
mod snapshot;
mod sparse;
mod write;

pub use decompress::{
    decompress, default_limit, detect_format, InputFormat, DEFAULT_LIMIT_RATIO, MIN_DEFAULT_LIMIT,
};
pub use read::{keep_xattr, parse_pax, read_tar, MAX_EXTENSION};
pub use snapshot::{decode_snapshot, encode_snapshot, valid_name, Record, Snapshot};
pub use sparse::{MAX_ARCHIVE_SEGMENTS, MAX_SEGMENTS};
pub use write::{
    archived_size, entry_headers, pax_records, split_ustar_name, write_entries, TarWriter, BLOCK,
    PAX_HEADER_NAME,
};

use std::path::PathBuf;

/// Errors of reading and writing layers. Each names the input (its label: a URL, manifest
/// path or file) and, for archive problems, the entry index (0-based, counting entries but
/// not extension headers) and raw name.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input's first bytes match no supported format.
    #[error("{label}: unrecognised archive format (first bytes: {magic})")]
    UnknownFormat { label: String, magic: String },
    /// A compressed stream is corrupt or truncated.
    #[error("{label}: corrupt or truncated {format} stream: {source}")]
    Corrupt {
        label: String,
        format: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A zstd frame asks for a window larger than decoding allows (made with `--long`).
    #[error("{label}: the zstd stream needs a decoding window over {limit_mib} MiB ({source})")]
    ZstdWindow {
        label: String,
        limit_mib: u64,
        #[source]
        source: std::io::Error,
    },
    /// Decompression produced more than the allowed number of bytes.
    #[error("{label}: decompressed size exceeds the limit of {limit} bytes")]
    TooLarge { label: String, limit: u64 },
    /// The tar archive itself is malformed (bad header, truncated data).
    #[error("{label}: malformed tar archive{}: {message}", at_entry(*index))]
    BadTar {
        label: String,
        index: Option<usize>,
        message: String,
    },
    /// An entry name (or hard link target) cannot be normalised.
    #[error("{label}: entry {index} `{raw}`: {source}")]
    BadName {
        label: String,
        index: usize,
        raw: String,
        #[source]
        source: crate::entry::PathError,
    },
    /// An entry of a kind this tool does not handle (unknown type flags).
    #[error("{label}: entry {index} `{raw}`: {what}")]
    Unsupported {
        label: String,
        index: usize,
        raw: String,
        what: String,
    },
    /// A sparse file's holes add up to more than the bomb guard allows.
    #[error("{label}: entry {index} `{raw}`: the holes of this archive's sparse files add up to more than the limit of {limit} bytes")]
    SparseTooLarge {
        label: String,
        index: usize,
        raw: String,
        limit: u64,
    },
    /// A file in a local `[[layer.dir]]` source that cannot go into an image.
    #[error("{}: cannot copy this into an image (only files, directories and symlinks, and no `.wh.` names)", path.display())]
    UnsupportedLocal { path: PathBuf, root: PathBuf },
    /// Anything else, already worded with its context.
    #[error("{0}")]
    Message(String),
}

fn at_entry(index: Option<usize>) -> String {
    match index {
        Some(i) => format!(" at entry {i}"),
        None => String::new(),
    }
}

impl LayerError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LayerError::UnknownFormat { .. } => Some(
                "layer inputs must be tar archives, optionally compressed with gzip, xz, zstd \
                 or bzip2; check that the URL or path points at the archive itself"
                    .into(),
            ),
            LayerError::Corrupt { .. } => Some(
                "the download may be incomplete or the file damaged; check its sha256 and \
                 fetch it again"
                    .into(),
            ),
            LayerError::ZstdWindow { .. } => Some(
                "the file is complete but was compressed with a long window (`zstd --long` or \
                 `--ultra`), which could need gigabytes to decode; recompress it without \
                 `--long` (e.g. `zstd -19`)"
                    .into(),
            ),
            LayerError::TooLarge { limit, .. } => Some(format!(
                "this looks like a compression bomb; if the input is genuine, raise the \
                 decompression limit with SCRATCH_MAX_INPUT_SIZE=BYTES (e.g. \
                 SCRATCH_MAX_INPUT_SIZE={} for twice the current {limit}) and build again",
                limit.saturating_mul(2)
            )),
            LayerError::BadTar { .. } => {
                Some("check the archive with `tar -tvf`; it may be truncated".into())
            }
            LayerError::BadName { .. } => Some(
                "layer entries must stay inside the image: no `..` components, NUL bytes or \
                 empty names; rebuild the archive with relative names"
                    .into(),
            ),
            LayerError::SparseTooLarge { .. } => Some(
                "holes are written out as zeros in the image, so they count like \
                 decompressed bytes; leave the huge sparse file out of the archive (Debian's \
                 /var/log/lastlog grows with the highest uid) or truncate it"
                    .into(),
            ),
            LayerError::Unsupported { .. } => Some(
                "only regular files, directories, symlinks, hard links, devices and fifos \
                 can be stored in an image layer"
                    .into(),
            ),
            LayerError::UnsupportedLocal { root, .. } => Some(format!(
                "remove sockets, fifos, devices and `.wh.*` files from {}, or copy the \
                 files you need with [[layer.file]]",
                root.display()
            )),
            LayerError::Io { .. } | LayerError::Message(_) => None,
        }
    }

    /// The same error naming the input as `label` (as the user wrote it) rather than the
    /// file it was read from (a cache blob, for a download).
    pub fn named(self, label: &str) -> LayerError {
        match self {
            LayerError::UnknownFormat { magic, .. } => LayerError::UnknownFormat {
                label: label.to_string(),
                magic,
            },
            other => other,
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LayerError {
        LayerError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Read any supported input archive into entries. A plain tar is read in place; a
/// compressed one is first decompressed into `scratch` (a file path the caller owns and
/// keeps while the entries' contents are used: their [`crate::entry::Content`] ranges point
/// into it) under the [`decompress::default_limit`] bomb guard. Returns the detected format.
pub fn read_input(
    src: &std::path::Path,
    scratch: &std::path::Path,
    label: &str,
) -> Result<(InputFormat, Vec<crate::entry::Entry>), LayerError> {
    let format = detect_format(src).map_err(|e| e.named(label))?;
    if format == InputFormat::Tar {
        return Ok((format, read_tar(src, label)?));
    }
    let compressed_len = std::fs::metadata(src)
        .map_err(|e| LayerError::io(src, e))?
        .len();
    let file = std::fs::File::create(scratch).map_err(|e| LayerError::io(scratch, e))?;
    let mut out = std::io::BufWriter::new(file);
    decompress(
        src,
        format,
        &mut out,
        decompress::default_limit(compressed_len),
        label,
    )?;
    let file = out
        .into_inner()
        .map_err(|e| LayerError::io(scratch, e.into_error()))?;
    drop(file);
    Ok((format, read_tar(scratch, label)?))
}
