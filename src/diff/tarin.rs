//! Reading tars for comparison: decompressing when needed, listing archive members, and
//! turning a layer or rootfs tar into [`Entry`] values whose contents point into the file.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::source::Blob;
use super::DiffError;
use crate::entry::{Content, Entry, ImagePath, Kind};

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

fn sniff(blob: &Blob) -> Result<Compression, DiffError> {
    let mut head = [0u8; 6];
    let mut r = blob.open()?;
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(DiffError::io(blob.file.as_path(), e)),
        }
    }
    let h = &head[..n];
    Ok(if h.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if h.starts_with(b"BZh") {
        Compression::Bzip2
    } else {
        Compression::None
    })
}

/// The blob as an uncompressed tar: itself, or its decompressed copy in `scratch`.
pub(crate) fn plain(blob: &Blob, scratch: &Path, label: &str) -> Result<Blob, DiffError> {
    let kind = sniff(blob)?;
    if kind == Compression::None {
        return Ok(blob.clone());
    }
    let raw = blob.open()?;
    let mut reader: Box<dyn Read> = match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(raw))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| DiffError::io(blob.file.as_path(), e))?,
        ),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(io::BufReader::new(
            raw,
        ))),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(io::BufReader::new(raw))),
        Compression::None => unreachable!("handled above"),
    };
    let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
    let safe: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let out_path = scratch.join(format!("{safe}-{n}.tar"));
    let mut out =
        io::BufWriter::new(File::create(&out_path).map_err(|e| DiffError::io(&out_path, e))?);
    let len = io::copy(&mut reader, &mut out).map_err(|e| DiffError::Tar {
        path: blob.file.as_path().to_path_buf(),
        context: label.to_string(),
        message: format!("decompressing: {e}"),
    })?;
    out.flush().map_err(|e| DiffError::io(&out_path, e))?;
    Ok(Blob {
        file: Arc::new(out_path),
        offset: 0,
        len,
    })
}

/// A seekable window onto a blob, so the tar reader can skip file bytes.
struct Window {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        self.pos = target as u64;
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        Ok(self.pos)
    }
}

fn window(blob: &Blob) -> Result<Window, DiffError> {
    let mut file =
        File::open(blob.file.as_path()).map_err(|e| DiffError::io(blob.file.as_path(), e))?;
    file.seek(SeekFrom::Start(blob.offset))
        .map_err(|e| DiffError::io(blob.file.as_path(), e))?;
    Ok(Window {
        file,
        start: blob.offset,
        len: blob.len,
        pos: 0,
    })
}

fn tar_err(blob: &Blob, context: &str, e: impl std::fmt::Display) -> DiffError {
    DiffError::Tar {
        path: blob.file.as_path().to_path_buf(),
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// The regular files (as blobs) and symlinks (name → target) of an uncompressed archive.
pub(crate) type Members = (HashMap<String, Blob>, HashMap<String, String>);

/// List an outer archive's members by normalised name.
pub(crate) fn members(tar: &Blob) -> Result<Members, DiffError> {
    let mut files = HashMap::new();
    let mut links = HashMap::new();
    let mut archive = tar::Archive::new(window(tar)?);
    let entries = archive
        .entries_with_seek()
        .map_err(|e| tar_err(tar, "archive", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| tar_err(tar, "archive", e))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalise(&name) else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let len = entry.size();
                files.insert(
                    name,
                    Blob {
                        file: tar.file.clone(),
                        offset: tar.offset + entry.raw_file_position(),
                        len,
                    },
                );
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(t) = entry.link_name_bytes() {
                    let t = String::from_utf8_lossy(&t).into_owned();
                    // Hard links name a member from the root; symlinks are relative.
                    let t = if entry.header().entry_type() == tar::EntryType::Link {
                        format!("/{t}")
                    } else {
                        t
                    };
                    links.insert(name, t);
                }
            }
            _ => {}
        }
    }
    Ok((files, links))
}

fn normalise(name: &str) -> Option<String> {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Read every entry of an uncompressed tar, whiteouts included (as the empty files they
/// are), with contents as ranges of the tar's file. `context` names it in errors.
pub(crate) fn read_entries(tar: &Blob, context: &str) -> Result<Vec<Entry>, DiffError> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(window(tar)?);
    let entries = archive
        .entries_with_seek()
        .map_err(|e| tar_err(tar, context, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_err(tar, context, e))?;
        let raw_name = entry.path_bytes().into_owned();
        let at = |m: String| {
            tar_err(
                tar,
                &format!("{context}: {}", String::from_utf8_lossy(&raw_name)),
                m,
            )
        };
        let path = ImagePath::parse(&raw_name).map_err(|e| at(e.to_string()))?;
        let header = entry.header().clone();
        let mut mode = header.mode().map_err(|e| at(e.to_string()))? & 0o7777;
        let mut uid = header.uid().map_err(|e| at(e.to_string()))?;
        let mut gid = header.gid().map_err(|e| at(e.to_string()))?;
        let mut mtime = header.mtime().map_err(|e| at(e.to_string()))? as i64;
        let mut xattrs = BTreeMap::new();
        if let Some(exts) = entry.pax_extensions().map_err(|e| at(e.to_string()))? {
            for ext in exts {
                let ext = ext.map_err(|e| at(e.to_string()))?;
                let key = ext.key().unwrap_or("");
                let value = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.split('.').next())
                        .and_then(|s| s.parse::<i64>().ok())
                };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(name.to_string(), value.to_vec());
                } else if key == "mtime" {
                    if let Some(v) = num() {
                        mtime = v;
                    }
                } else if key == "uid" {
                    if let Some(v) = num() {
                        uid = v as u64;
                    }
                } else if key == "gid" {
                    if let Some(v) = num() {
                        gid = v as u64;
                    }
                } else if key == "mode" {
                    if let Some(v) = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| u32::from_str_radix(s, 8).ok())
                    {
                        mode = v & 0o7777;
                    }
                }
            }
        }
        let link = || {
            entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let len = entry.size();
                if len == 0 {
                    Kind::File(Content::Empty)
                } else {
                    Kind::File(Content::Range {
                        file: tar.file.clone(),
                        offset: tar.offset + entry.raw_file_position(),
                        len,
                    })
                }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(link()),
            tar::EntryType::Link => Kind::HardLink(
                ImagePath::parse(&link()).map_err(|e| at(format!("hard link target: {e}")))?,
            ),
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = header.device_major().ok().flatten().unwrap_or(0) as u64;
                let minor = header.device_minor().ok().flatten().unwrap_or(0) as u64;
                if header.entry_type() == tar::EntryType::Char {
                    Kind::CharDevice { major, minor }
                } else {
                    Kind::BlockDevice { major, minor }
                }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => return Err(at(format!("unsupported tar entry type {other:?}"))),
        };
        out.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        });
    }
    Ok(out)
}
