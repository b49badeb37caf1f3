//! Input compression detection and bounded decompression (being written).

use super::LayerError;
use std::io::Write;
use std::path::Path;

/// The compression of an input archive, found from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    Tar,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
}

/// Detect the format of `path` from its first bytes.
pub fn detect_format(path: &Path) -> Result<InputFormat, LayerError> {
    Err(LayerError::Message(format!(
        "{}: not implemented yet",
        path.display()
    )))
}

/// Decompress `src` into `dest`.
pub fn decompress(
    src: &Path,
    _format: InputFormat,
    _dest: &mut impl Write,
    _limit: u64,
    label: &str,
) -> Result<u64, LayerError> {
    Err(LayerError::Message(format!(
        "{label}: {}: not implemented yet",
        src.display()
    )))
}
