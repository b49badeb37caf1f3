//! Sparse file content: the bytes of a file whose holes an archive did not store.
//!
//! GNU tar's `--sparse` archives (and Debian rootfs tarballs made with `tar -S`, whose
//! `/var/log/lastlog` is sparse) store only a file's data segments, back to back, with a
//! map saying where each belongs. [`SparseContent`] keeps that map and the segments'
//! place on disk; [`SparseContent::open`] streams the whole logical file, holes read as
//! zeros, so a 1 GiB hole costs no memory. The tar reader builds the map
//! ([`crate::layer::read_tar`]); every writer sees an ordinary regular file.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// One data segment of a sparse file: `len` bytes at logical `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub len: u64,
}

/// A sparse file's content: its logical size, its data segments (sorted, disjoint, inside
/// the size) and where their bytes lie, concatenated, in a file on disk.
#[derive(Clone, PartialEq, Eq)]
pub struct SparseContent {
    /// The file holding the stored data (the tar archive).
    pub file: Arc<PathBuf>,
    /// Where the first segment's bytes start in `file`.
    pub data_offset: u64,
    /// The data segments, in logical order.
    pub segments: Arc<[Segment]>,
    /// The logical size, holes included.
    pub size: u64,
}

/// Why a sparse map cannot describe a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("sparse segment at {offset}+{len} overlaps or precedes the previous one")]
    Unordered { offset: u64, len: u64 },
    #[error("sparse segment at {offset}+{len} ends past the file size {size}")]
    PastEnd { offset: u64, len: u64, size: u64 },
    #[error("the sparse map holds {mapped} bytes of data but the archive stores {stored}")]
    StoredMismatch { mapped: u64, stored: u64 },
}

impl SparseContent {
    /// Check a map against the logical `size` and the `stored` bytes the archive holds
    /// for it, and build the content. Zero-length segments (GNU tar ends a file that ends
    /// in a hole with one) are dropped.
    pub fn new(
        file: Arc<PathBuf>,
        data_offset: u64,
        segments: Vec<Segment>,
        size: u64,
        stored: u64,
    ) -> Result<SparseContent, MapError> {
        let mut end = 0u64;
        let mut mapped = 0u64;
        let mut kept = Vec::with_capacity(segments.len());
        for s in segments {
            let Some(s_end) = s.offset.checked_add(s.len).filter(|&e| e <= size) else {
                return Err(MapError::PastEnd {
                    offset: s.offset,
                    len: s.len,
                    size,
                });
            };
            if s.offset < end {
                return Err(MapError::Unordered {
                    offset: s.offset,
                    len: s.len,
                });
            }
            end = s_end;
            mapped += s.len; // cannot overflow: the segments are disjoint inside `size`
            if s.len > 0 {
                kept.push(s);
            }
        }
        if mapped != stored {
            return Err(MapError::StoredMismatch { mapped, stored });
        }
        Ok(SparseContent {
            file,
            data_offset,
            segments: kept.into(),
            size,
        })
    }

    /// The number of bytes the archive stores (the data segments).
    pub fn stored(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Bytes of holes: the logical size less the stored data.
    pub fn holes(&self) -> u64 {
        self.size - self.stored()
    }

    /// Stream the logical file: data segments from disk, zeros for the holes.
    pub fn open(&self) -> io::Result<SparseReader> {
        let mut f = File::open(self.file.as_path())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.file.display())))?;
        f.seek(SeekFrom::Start(self.data_offset))?;
        Ok(SparseReader {
            file: f,
            content: self.clone(),
            pos: 0,
            next: 0,
        })
    }
}

impl fmt::Debug for SparseContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sparse({}@{}, {} segments, {} bytes)",
            self.file.display(),
            self.data_offset,
            self.segments.len(),
            self.size
        )
    }
}

/// Reads a [`SparseContent`] front to back, holes as zeros, failing if the file on disk
/// ends early.
pub struct SparseReader {
    file: File,
    content: SparseContent,
    /// The logical position.
    pos: u64,
    /// The first segment not yet read completely.
    next: usize,
}

impl Read for SparseReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.content.size {
            return Ok(0);
        }
        let segment = self.content.segments.get(self.next).copied();
        match segment {
            Some(s) if self.pos >= s.offset => {
                let left = s.offset + s.len - self.pos;
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.file.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{}: file ended {left} bytes early (was it changed during the \
                             build?)",
                            self.content.file.display()
                        ),
                    ));
                }
                self.pos += n as u64;
                if self.pos == s.offset + s.len {
                    self.next += 1;
                }
                Ok(n)
            }
            _ => {
                let hole_end = segment.map_or(self.content.size, |s| s.offset);
                let left = hole_end - self.pos;
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                self.pos += n as u64;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(offset: u64, len: u64) -> Segment {
        Segment { offset, len }
    }

    #[test]
    fn expands_holes_between_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"xxABCDE").unwrap();
        let c = SparseContent::new(
            Arc::new(path),
            2,
            vec![seg(1, 2), seg(6, 3), seg(10, 0)],
            10,
            5,
        )
        .unwrap();
        let mut out = Vec::new();
        c.open().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"\0AB\0\0\0CDE\0");
        assert_eq!(c.holes(), 5);
    }

    #[test]
    fn refuses_bad_maps() {
        let f = Arc::new(PathBuf::from("/nonexistent"));
        let new = |s: Vec<Segment>, size, stored| SparseContent::new(f.clone(), 0, s, size, stored);
        assert!(matches!(
            new(vec![seg(4, 2), seg(5, 1)], 10, 3),
            Err(MapError::Unordered { .. })
        ));
        assert!(matches!(
            new(vec![seg(8, 4)], 10, 4),
            Err(MapError::PastEnd { .. })
        ));
        assert!(matches!(
            new(vec![seg(u64::MAX, 4)], 10, 4),
            Err(MapError::PastEnd { .. })
        ));
        assert!(matches!(
            new(vec![seg(0, 4)], 10, 5),
            Err(MapError::StoredMismatch { .. })
        ));
    }

    #[test]
    fn a_short_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"AB").unwrap();
        let c = SparseContent::new(Arc::new(path), 0, vec![seg(0, 4)], 8, 4).unwrap();
        let mut out = Vec::new();
        let err = c.open().unwrap().read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
