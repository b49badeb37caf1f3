//! Input compression: detection from magic bytes and bounded, streaming decompression.
//!
//! Inputs are recognised by content, never by file name, so a `.tar.gz` that is really a
//! plain tar (or the reverse) still works. Decompression output is defined by the format,
//! so any decoder may be used here; only our *output* compressors are pinned.

use super::LayerError;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// The compression of an input archive, found from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// An uncompressed tar.
    Tar,
    /// gzip (`1f 8b`), possibly several members.
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`), possibly several streams.
    Xz,
    /// zstd (`28 b5 2f fd`), possibly several frames.
    Zstd,
    /// bzip2 (`BZh1`..`BZh9`), possibly several streams.
    Bzip2,
}

impl InputFormat {
    /// The format's usual name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Tar => "tar",
            InputFormat::Gzip => "gzip",
            InputFormat::Xz => "xz",
            InputFormat::Zstd => "zstd",
            InputFormat::Bzip2 => "bzip2",
        }
    }

    /// Detect the format from the first bytes of a file (up to 512 of them); `None` when
    /// nothing matches.
    pub fn from_magic(head: &[u8]) -> Option<InputFormat> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(InputFormat::Gzip)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(InputFormat::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(InputFormat::Zstd)
        } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
            Some(InputFormat::Bzip2)
        } else if looks_like_tar(head) {
            Some(InputFormat::Tar)
        } else {
            None
        }
    }
}

/// A first block that is a tar header: `ustar` magic at offset 257, or a checksum field that
/// matches the block (pre-POSIX archives), or all zeros (an empty archive).
fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    let block = &head[..512];
    if &block[257..262] == b"ustar" || block.iter().all(|&b| b == 0) {
        return true;
    }
    let field: Vec<u8> = block[148..156]
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Ok(stored) = u32::from_str_radix(std::str::from_utf8(&field).unwrap_or(""), 8) else {
        return false;
    };
    let spaces = 8 * u32::from(b' ');
    let unsigned: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + spaces;
    let signed: i64 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|&b| i64::from(b as i8))
        .sum::<i64>()
        + i64::from(spaces);
    stored == unsigned || i64::from(stored) == signed
}

/// Detect the format of the file at `path` from its first bytes, not its name.
pub fn detect_format(path: &Path) -> Result<InputFormat, LayerError> {
    let mut f = File::open(path).map_err(|e| LayerError::io(path, e))?;
    let mut head = Vec::with_capacity(512);
    (&mut f)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| LayerError::io(path, e))?;
    InputFormat::from_magic(&head).ok_or_else(|| LayerError::UnknownFormat {
        label: path.display().to_string(),
        magic: if head.is_empty() {
            "none: the file is empty".to_string()
        } else {
            hex::encode(&head[..head.len().min(8)])
        },
    })
}

/// The smallest default decompression limit: 1 GiB.
pub const MIN_DEFAULT_LIMIT: u64 = 1 << 30;
/// The default limit's ratio to the compressed size.
pub const DEFAULT_LIMIT_RATIO: u64 = 250;

/// The default compression-bomb guard for an input of `compressed_len` bytes:
/// `max(1 GiB, 250 × compressed_len)`. Root filesystems compress 2–10×, so genuine inputs
/// stay far below it, while a tiny bomb cannot fill the disk with more than 1 GiB.
pub fn default_limit(compressed_len: u64) -> u64 {
    compressed_len
        .saturating_mul(DEFAULT_LIMIT_RATIO)
        .max(MIN_DEFAULT_LIMIT)
}

/// Decompress `src` (of `format`) into `dest`, streaming with bounded memory, and return
/// the number of bytes written. Output beyond `limit` bytes is refused
/// ([`LayerError::TooLarge`], see [`default_limit`]). Every gzip member, xz stream, zstd
/// frame and bzip2 stream is read, as Go's readers (and so Docker and containerd) do. A
/// corrupt or truncated stream is a [`LayerError::Corrupt`] naming `label`. zstd windows
/// are limited to the library default (128 MiB), bounding memory on hostile frames. For
/// [`InputFormat::Tar`] the bytes are copied unchanged (still bounded by `limit`).
pub fn decompress(
    src: &Path,
    format: InputFormat,
    dest: &mut impl Write,
    limit: u64,
    label: &str,
) -> Result<u64, LayerError> {
    let file = File::open(src).map_err(|e| LayerError::io(src, e))?;
    let input = BufReader::with_capacity(128 * 1024, file);
    let corrupt = |source: io::Error| match format {
        // libzstd's words for a frame whose window exceeds the decoder's maximum.
        InputFormat::Zstd if source.to_string().contains("too much memory") => {
            LayerError::ZstdWindow {
                label: label.to_string(),
                limit_mib: 128,
                source,
            }
        }
        _ => LayerError::Corrupt {
            label: label.to_string(),
            format: format.name(),
            source,
        },
    };
    let mut reader: Box<dyn Read> = match format {
        InputFormat::Tar => Box::new(input),
        InputFormat::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        InputFormat::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
        InputFormat::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?)
        }
        InputFormat::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
    };
    let mut buf = vec![0u8; 128 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if format == InputFormat::Tar => return Err(LayerError::io(src, e)),
            Err(e) => return Err(corrupt(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(LayerError::TooLarge {
                label: label.to_string(),
                limit,
            });
        }
        dest.write_all(&buf[..n]).map_err(|e| {
            LayerError::Message(format!("{label}: writing the decompressed data: {e}"))
        })?;
    }
    Ok(total)
}
