//! The outer archives' tar: a few regular files and directories, in canonical form.
//!
//! Entries are written in the order given (the caller sorts them), as plain ustar
//! headers: uid/gid 0, empty uname/gname, files 0644, directories 0755, mtime the
//! epoch, and exactly two zero blocks at the end.
//!
//! TODO(tarfmt): replace with `crate::layer::write::TarWriter` once that branch lands;
//! this writer only needs the names of an OCI layout, which all fit in ustar's 100 bytes.

use crate::epoch::Epoch;
use std::io::{self, Read, Write};

/// What one outer-archive entry holds.
pub enum OuterEntry<'a> {
    Dir,
    /// A file whose bytes come from `reader`, exactly `len` of them.
    File {
        len: u64,
        reader: Box<dyn Read + 'a>,
    },
}

/// Writes canonical outer archives.
pub struct OuterTar<W: Write> {
    out: W,
    epoch: Epoch,
}

/// ustar's size field holds 11 octal digits.
const MAX_USTAR_SIZE: u64 = 0o77_777_777_777;

impl<W: Write> OuterTar<W> {
    /// Start an archive whose entries all carry `epoch` as mtime.
    pub fn new(out: W, epoch: Epoch) -> Self {
        OuterTar { out, epoch }
    }

    /// Append an entry. `name` is relative, without a trailing `/` (added for directories).
    pub fn append(&mut self, name: &str, entry: OuterEntry<'_>) -> io::Result<()> {
        let (full, mode, size, typeflag) = match &entry {
            OuterEntry::Dir => (format!("{name}/"), 0o755, 0, b'5'),
            OuterEntry::File { len, .. } => (name.to_string(), 0o644, *len, b'0'),
        };
        if full.len() > 100 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("archive entry name `{full}` is longer than 100 bytes"),
            ));
        }
        if size > MAX_USTAR_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{full}` is larger than the 8 GiB a ustar entry can hold"),
            ));
        }
        let header = ustar_header(&full, mode, size, self.epoch.0, typeflag);
        self.out.write_all(&header)?;
        if let OuterEntry::File { len, reader } = entry {
            let copied = io::copy(&mut reader.take(len), &mut self.out)?;
            if copied != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("`{full}` ended after {copied} of {len} bytes"),
                ));
            }
            let pad = (512 - (len % 512) as usize) % 512;
            self.out.write_all(&[0u8; 512][..pad])?;
        }
        Ok(())
    }

    /// Write the two zero blocks and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

fn ustar_header(name: &str, mode: u32, size: u64, mtime: u64, typeflag: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_canonical_headers_the_tar_crate_reads() {
        let mut t = OuterTar::new(Vec::new(), Epoch(1_700_000_000));
        t.append("blobs", OuterEntry::Dir).unwrap();
        t.append(
            "blobs/x",
            OuterEntry::File {
                len: 3,
                reader: Box::new(&b"abc"[..]),
            },
        )
        .unwrap();
        let bytes = t.finish().unwrap();
        assert_eq!(bytes.len(), 512 * 3 + 1024);
        assert!(bytes[bytes.len() - 1024..].iter().all(|&b| b == 0));
        let mut a = tar::Archive::new(&bytes[..]);
        let got: Vec<(String, u32, u64, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert!(h.as_ustar().is_some());
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.username_bytes(), Some(&b""[..]));
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("blobs/".to_string(), 0o755, 1_700_000_000, 0),
                ("blobs/x".to_string(), 0o644, 1_700_000_000, 3)
            ]
        );
    }

    #[test]
    fn short_file_is_an_error() {
        let mut t = OuterTar::new(Vec::new(), Epoch(0));
        let r = t.append(
            "f",
            OuterEntry::File {
                len: 10,
                reader: Box::new(&b"abc"[..]),
            },
        );
        assert!(r.is_err());
    }
}
