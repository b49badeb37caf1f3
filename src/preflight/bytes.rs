//! Random access to a regular file's bytes in a tree, for the checks that read only a
//! few parts of a file (an ELF header, a `#!` line, `/etc/passwd`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::entry::Content;

/// A seekable reader over exactly a [`Content`]'s bytes.
pub(crate) struct ContentReader {
    inner: Inner,
    len: u64,
    pos: u64,
}

enum Inner {
    Memory(Arc<[u8]>),
    File { file: File, start: u64 },
}

impl ContentReader {
    /// Open `content` for reading; reads past its end return nothing.
    pub(crate) fn open(content: &Content) -> io::Result<ContentReader> {
        let (inner, len) = match content {
            Content::Empty => (Inner::Memory(Arc::from(&[][..])), 0),
            Content::Inline(b) => (Inner::Memory(b.clone()), b.len() as u64),
            Content::Range { file, offset, len } => {
                let f = File::open(file.as_path())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
                (
                    Inner::File {
                        file: f,
                        start: *offset,
                    },
                    *len,
                )
            }
            Content::Sparse(_) => {
                // Expanded in memory, up to a bound: preflight reads only headers anyway.
                const MAX_SPARSE: u64 = 64 << 20;
                let mut bytes = Vec::new();
                content
                    .open()?
                    .take(MAX_SPARSE + 1)
                    .read_to_end(&mut bytes)?;
                if bytes.len() as u64 > MAX_SPARSE {
                    return Err(io::Error::other("a sparse file too large to check"));
                }
                let len = bytes.len() as u64;
                (Inner::Memory(Arc::from(bytes)), len)
            }
            Content::NotKept { .. } => {
                return Err(io::Error::other(
                    "the bytes of this lower-layer file are not kept by the layer cache",
                ))
            }
        };
        Ok(ContentReader { inner, len, pos: 0 })
    }
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = match &mut self.inner {
            Inner::Memory(b) => {
                let start = self.pos as usize;
                buf[..want].copy_from_slice(&b[start..start + want]);
                want
            }
            Inner::File { file, start } => {
                file.seek(SeekFrom::Start(*start + self.pos))?;
                file.read(&mut buf[..want])?
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ContentReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        Ok(self.pos)
    }
}

/// Up to `max` bytes from the start of `content`.
pub(crate) fn read_prefix(content: &Content, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    ContentReader::open(content)?
        .take(max as u64)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// A whole small file as text (lossy UTF-8), refusing files over `max` bytes.
pub(crate) fn read_text(content: &Content, max: u64) -> Result<String, String> {
    if content.len() > max {
        return Err(format!(
            "{} bytes, more than the limit of {max}",
            content.len()
        ));
    }
    let bytes = read_prefix(content, max as usize).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_seeks_within_a_range_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"0123456789").unwrap();
        let c = Content::Range {
            file: Arc::new(path),
            offset: 2,
            len: 5,
        };
        assert_eq!(read_prefix(&c, 100).unwrap(), b"23456");
        assert_eq!(read_prefix(&c, 2).unwrap(), b"23");
        let mut r = ContentReader::open(&c).unwrap();
        r.seek(SeekFrom::Start(3)).unwrap();
        let mut s = Vec::new();
        r.read_to_end(&mut s).unwrap();
        assert_eq!(s, b"56");
        assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 5);
        let inline = Content::Inline(Arc::from(&b"#!/bin/sh\n"[..]));
        assert_eq!(read_prefix(&inline, 4).unwrap(), b"#!/b");
    }
}
