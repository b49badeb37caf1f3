//! Reading a plain tar archive into normalised [`Entry`] values.
//!
//! Understands ustar, GNU (long names `L`, long link names `K`, base-256 numbers) and PAX
//! (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`, `SCHILY.devmajor`/`devminor`,
//! `SCHILY.xattr.*`). File bytes are not read: each regular file's [`Content`] is a range of
//! the tar file itself, so memory grows with the number of entries only.
//!
//! Headers are parsed here rather than with the `tar` crate, whose PAX parser (0.4.46)
//! splits records at newlines instead of using their length, so a binary
//! `security.capability` value or a name containing `\n` breaks it.
//!
//! Policy, per DESIGN.md:
//! * Names are normalised with [`ImagePath::parse`]; `..`, NUL and empty names are errors
//!   naming the input, the entry index and the raw name. Hard link targets likewise;
//!   symlink targets are kept verbatim. A GNU long name (`L`/`K`) wins over a PAX
//!   `path`/`linkpath`, as in Go's reader (and so Docker and containerd).
//! * Type flags `0`, NUL and `7` are regular files (NUL with a name ending in `/` is a
//!   pre-POSIX directory), `1` hard link, `2` symlink, `3`/`4` devices, `5` directory, `6`
//!   fifo. A regular file that also carries a link name (buildah writes whiteouts that way)
//!   is a regular file. PAX global headers (`g`, e.g. `git archive`'s commit comment) are
//!   skipped. GNU sparse files (the old GNU `S` type and PAX formats 0.0, 0.1 and 1.0,
//!   parsed in [`super::sparse`]) are regular files whose [`Content::Sparse`] reads holes
//!   as zeros, so every output holds them expanded (and the same file archived with or
//!   without `--sparse` gives the same layer). Their holes, summed over the archive, are
//!   bounded like decompressed bytes ([`super::decompress::default_limit`] of the
//!   archive's size): more is [`LayerError::SparseTooLarge`]. Every other type is an
//!   error.
//! * Only the `security.capability` and `user.*` extended attributes are kept (see
//!   [`keep_xattr`]); others (`trusted.*`, `security.selinux`, ACLs) describe the build
//!   host, not the image. libarchive's `LIBARCHIVE.xattr.*` records are not read (bsdtar
//!   also writes the `SCHILY.xattr.*` form).
//! * Mode is `& 0o7777`. A fractional PAX mtime is truncated to whole seconds; an
//!   unreadable or negative header mtime becomes 0 (it never reaches the output, which uses
//!   the epoch).
//! * The root entry (`./`) is returned with the root path, and duplicate paths are returned
//!   as they come: the merger decides.
//! * A PAX size overrides the header's (as in GNU tar); every entry's data must lie inside
//!   the archive, so a truncated archive is an error. An archive that ends without the two
//!   zero blocks at an entry boundary is accepted, as GNU tar does. Header checksums are
//!   verified (unsigned or, for old archives, signed sums).
//! * Extension headers (`L`, `K`, `x`, `g`) larger than [`MAX_EXTENSION`] are refused, which
//!   bounds memory on hostile input.

use super::{sparse, LayerError};
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::sparse::{Segment, SparseContent};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest extension header (`L`, `K`, `x`, `g`) data accepted: 16 MiB.
pub const MAX_EXTENSION: u64 = 16 << 20;

/// Does an extended attribute survive into the image?
pub fn keep_xattr(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.")
}

/// Read a plain (uncompressed) tar file into normalised entries. `label` names the input in
/// errors (a URL or manifest path).
pub fn read_tar(tar_path: &Path, label: &str) -> Result<Vec<Entry>, LayerError> {
    let file = File::open(tar_path).map_err(|e| LayerError::io(tar_path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| LayerError::io(tar_path, e))?
        .len();
    let mut r = Blocks {
        inner: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
        file_len,
        tar_path,
        label,
    };
    let shared: Arc<PathBuf> = Arc::new(tar_path.to_path_buf());
    let mut out = Vec::new();
    let mut pending = Extensions::default();
    // Bytes of sparse files' holes so far, bounded like decompressed bytes.
    let mut holes = 0u64;
    // Sparse segments kept so far: 16 bytes of memory each, bounded per archive.
    let mut kept_segments = 0usize;
    let hole_limit = super::decompress::default_limit(file_len);
    loop {
        let index = out.len();
        let header_pos = r.pos;
        let Some(block) = r.next_block(index)? else {
            if pending.any() {
                return Err(r.bad(
                    Some(index),
                    "the archive ends after extension headers, without their entry".into(),
                ));
            }
            break;
        };
        if block.iter().all(|&b| b == 0) {
            if pending.any() {
                return Err(r.bad(
                    Some(index),
                    "the archive ends after extension headers, without their entry".into(),
                ));
            }
            break;
        }
        if !checksum_ok(&block) {
            return Err(r.bad(
                Some(index),
                format!("header checksum mismatch at offset {header_pos}"),
            ));
        }
        let typeflag = block[156];
        let header_size =
            number(&block[124..136]).map_err(|m| r.bad(Some(index), format!("size: {m}")))?;
        match typeflag {
            b'L' | b'K' | b'x' | b'g' => {
                if pending.any_of(typeflag) {
                    return Err(r.bad(
                        Some(index),
                        format!(
                            "two `{}` extension headers for one entry at offset {header_pos}",
                            char::from(typeflag)
                        ),
                    ));
                }
                let data = r.read_extension(header_size, index)?;
                match typeflag {
                    b'L' => pending.long_name = Some(until_nul(&data).to_vec()),
                    b'K' => pending.long_link = Some(until_nul(&data).to_vec()),
                    b'x' => {
                        let records = parse_pax(&data)
                            .map_err(|m| r.bad(Some(index), format!("PAX header: {m}")))?;
                        pending.pax = Some(records);
                    }
                    _ => {} // global headers are ignored
                }
                continue;
            }
            _ => {}
        }
        let ext = std::mem::take(&mut pending);
        let raw = Raw::new(&block, ext, header_size).map_err(|m| r.bad(Some(index), m))?;
        // Like Go's and Python's readers (and so Docker, containerd), only regular files
        // (and unknown types, which are refused below) have data; links, directories,
        // devices and fifos never do, whatever their size field says.
        let mut size = if matches!(typeflag, b'1'..=b'6') {
            0
        } else {
            raw.size
        };
        let map = sparse_map(&mut r, &block, &raw, typeflag, &mut size, index)?;
        let data_pos = r.pos;
        if !matches!(data_pos.checked_add(size), Some(end) if end <= file_len) {
            return Err(r.bad(
                Some(index),
                format!(
                    "`{}`: {size} bytes of data at offset {data_pos} run past the end of the \
                     archive ({file_len} bytes): it is truncated",
                    String::from_utf8_lossy(&raw.name)
                ),
            ));
        }
        let entry = match map {
            None => convert(raw, typeflag, index, label, data_pos, &shared)?,
            Some((segments, logical)) => {
                let content = SparseContent::new(shared.clone(), data_pos, segments, logical, size)
                    .map_err(|e| {
                        r.bad(
                            Some(index),
                            format!("`{}`: {e}", String::from_utf8_lossy(&raw.name)),
                        )
                    })?;
                holes = holes.saturating_add(content.holes());
                kept_segments += content.segments.len();
                if kept_segments > sparse::MAX_ARCHIVE_SEGMENTS {
                    return Err(r.bad(
                        Some(index),
                        format!(
                            "more than {} sparse segments in one archive",
                            sparse::MAX_ARCHIVE_SEGMENTS
                        ),
                    ));
                }
                if holes > hole_limit {
                    return Err(LayerError::SparseTooLarge {
                        label: label.to_string(),
                        index,
                        raw: String::from_utf8_lossy(&raw.name).into_owned(),
                        limit: hole_limit,
                    });
                }
                let mut e = convert(raw, b'0', index, label, data_pos, &shared)?;
                e.kind = Kind::File(if content.size == 0 {
                    Content::Empty
                } else {
                    Content::Sparse(content)
                });
                e
            }
        };
        out.push(entry);
        r.skip_data(size)?;
    }
    Ok(out)
}

/// Sequential block reading with positions, for errors that say where.
struct Blocks<'a> {
    inner: BufReader<File>,
    pos: u64,
    file_len: u64,
    tar_path: &'a Path,
    label: &'a str,
}

impl Blocks<'_> {
    fn bad(&self, index: Option<usize>, message: String) -> LayerError {
        LayerError::BadTar {
            label: self.label.to_string(),
            index,
            message,
        }
    }

    fn io(&self, e: io::Error) -> LayerError {
        LayerError::io(self.tar_path, e)
    }

    /// The next 512-byte block; `None` at a clean end of file.
    fn next_block(&mut self, index: usize) -> Result<Option<[u8; 512]>, LayerError> {
        let mut block = [0u8; 512];
        let mut got = 0;
        while got < 512 {
            match self.inner.read(&mut block[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < 512 {
            return Err(self.bad(
                Some(index),
                format!(
                    "the archive is truncated inside a header at offset {}",
                    self.pos
                ),
            ));
        }
        self.pos += 512;
        Ok(Some(block))
    }

    /// The data of an extension header, and skip its padding.
    fn read_extension(&mut self, size: u64, index: usize) -> Result<Vec<u8>, LayerError> {
        if size > MAX_EXTENSION {
            return Err(self.bad(
                Some(index),
                format!("an extension header of {size} bytes is larger than {MAX_EXTENSION}"),
            ));
        }
        if self.pos + size > self.file_len {
            return Err(self.bad(
                Some(index),
                format!(
                    "an extension header at offset {} runs past the end: the archive is \
                     truncated",
                    self.pos
                ),
            ));
        }
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data).map_err(|e| self.io(e))?;
        self.pos += size;
        let pad = padded(size) - size;
        self.skip(pad)?;
        Ok(data)
    }

    fn skip_data(&mut self, size: u64) -> Result<(), LayerError> {
        self.skip(padded(size))
    }

    fn skip(&mut self, n: u64) -> Result<(), LayerError> {
        if n == 0 {
            return Ok(());
        }
        let delta = i64::try_from(n).map_err(|_| self.bad(None, "size overflow".into()))?;
        self.inner
            .seek_relative(delta)
            .map_err(|e| LayerError::io(self.tar_path, e))?;
        self.pos += n;
        Ok(())
    }
}

/// `size` rounded up to whole blocks.
fn padded(size: u64) -> u64 {
    size.div_ceil(512).saturating_mul(512)
}

/// The extension headers that precede an entry.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<PaxRecords>,
}

impl Extensions {
    fn any(&self) -> bool {
        self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some()
    }

    fn any_of(&self, typeflag: u8) -> bool {
        match typeflag {
            b'L' => self.long_name.is_some(),
            b'K' => self.long_link.is_some(),
            b'x' => self.pax.is_some(),
            _ => false,
        }
    }
}

/// Bytes up to the first NUL.
fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// PAX records as (key, value) byte strings, in archive order.
pub type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

/// Parse PAX records (`"LEN KEY=VALUE\n"`, LEN counting the whole record). Values may hold
/// any bytes, newlines included. Trailing NUL padding is tolerated.
pub fn parse_pax(data: &[u8]) -> Result<PaxRecords, String> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .take(21)
            .position(|&b| b == b' ')
            .ok_or("a record without a length")?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or("a record with a bad length")?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err("a record whose length does not match its text".into());
        }
        let rec = &rest[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a record without `=`")?;
        if eq == 0 {
            return Err("a record with an empty key".into());
        }
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// A numeric header field: octal (surrounded by spaces/NULs; empty means 0) or GNU
/// base-256 (high bit set; negative values are refused).
fn number(field: &[u8]) -> Result<u64, String> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            if first == 0xff {
                return Err("a negative base-256 number".into());
            }
            let mut v: u64 = u64::from(first & 0x7f);
            for &b in &field[1..] {
                v = v
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or("a base-256 number too large")?;
            }
            return Ok(v);
        }
    }
    let trimmed: &[u8] = {
        let start = field
            .iter()
            .position(|&b| b != b' ' && b != 0)
            .unwrap_or(field.len());
        let rest = &field[start..];
        let end = rest
            .iter()
            .position(|&b| b == b' ' || b == 0)
            .unwrap_or(rest.len());
        if rest[end..].iter().any(|&b| b != b' ' && b != 0) {
            return Err(format!(
                "not an octal number: {:?}",
                String::from_utf8_lossy(field)
            ));
        }
        &rest[..end]
    };
    if trimmed.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(trimmed).map_err(|_| "not an octal number".to_string())?;
    u64::from_str_radix(s, 8)
        .map_err(|_| format!("not an octal number: {:?}", String::from_utf8_lossy(field)))
}

/// The checksum field matches the unsigned (POSIX) or signed (old Sun) byte sum.
fn checksum_ok(block: &[u8; 512]) -> bool {
    let Ok(stored) = number(&block[148..156]) else {
        return false;
    };
    let spaces = 8 * i64::from(b' ');
    let rest = block[..148].iter().chain(&block[156..]);
    let unsigned: i64 = rest.clone().map(|&b| i64::from(b)).sum::<i64>() + spaces;
    let signed: i64 = rest.map(|&b| i64::from(b as i8)).sum::<i64>() + spaces;
    i64::try_from(stored).is_ok_and(|s| s == unsigned || s == signed)
}

/// One entry's header fields after applying its extension headers.
struct Raw {
    name: Vec<u8>,
    link: Vec<u8>,
    size: u64,
    mode: Result<u64, String>,
    uid: Result<u64, String>,
    gid: Result<u64, String>,
    mtime: i64,
    devmajor: Result<u64, String>,
    devminor: Result<u64, String>,
    xattrs: BTreeMap<String, Vec<u8>>,
    sparse: sparse::PaxRecords,
}

impl Raw {
    /// Apply the extension headers to the ustar fields. Fails only when the entry's size
    /// is unusable (the following entries could not be found).
    fn new(block: &[u8; 512], ext: Extensions, header_size: u64) -> Result<Raw, String> {
        let posix = &block[257..263] == b"ustar\0";
        let mut name = until_nul(&block[0..100]).to_vec();
        if posix {
            let prefix = until_nul(&block[345..500]);
            if !prefix.is_empty() {
                name = [prefix, b"/", &name].concat();
            }
        }
        let mut raw = Raw {
            name,
            link: until_nul(&block[157..257]).to_vec(),
            size: header_size,
            mode: number(&block[100..108]),
            uid: number(&block[108..116]),
            gid: number(&block[116..124]),
            mtime: number(&block[136..148])
                .ok()
                .and_then(|m| i64::try_from(m).ok())
                .unwrap_or(0),
            devmajor: number(&block[329..337]),
            devminor: number(&block[337..345]),
            xattrs: BTreeMap::new(),
            sparse: sparse::PaxRecords::default(),
        };
        for (k, v) in ext.pax.unwrap_or_default() {
            let num = |v: &[u8]| -> Result<u64, String> {
                std::str::from_utf8(v)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        format!(
                            "PAX record {} has a bad value {:?}",
                            String::from_utf8_lossy(&k),
                            String::from_utf8_lossy(v)
                        )
                    })
            };
            match k.as_slice() {
                b"path" => raw.name = v,
                b"linkpath" => raw.link = v,
                // An unusable size cannot be trusted: the entry boundaries are unknown.
                b"size" => raw.size = num(&v)?,
                b"uid" => raw.uid = num(&v),
                b"gid" => raw.gid = num(&v),
                b"mtime" => {
                    if let Some(t) = parse_pax_time(&v) {
                        raw.mtime = t;
                    }
                }
                b"SCHILY.devmajor" => raw.devmajor = num(&v),
                b"SCHILY.devminor" => raw.devminor = num(&v),
                _ => {
                    if k.starts_with(b"GNU.sparse.") {
                        raw.sparse.add(&k, v)?;
                    } else if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        if let Ok(name) = std::str::from_utf8(name) {
                            if keep_xattr(name) {
                                raw.xattrs.insert(name.to_string(), v);
                            }
                        }
                    }
                }
            }
        }
        if let Some(n) = raw.sparse.name.take() {
            raw.name = n;
        }
        if let Some(n) = ext.long_name {
            raw.name = n;
        }
        if let Some(l) = ext.long_link {
            raw.link = l;
        }
        Ok(raw)
    }
}

/// Whole seconds of a PAX time (`-?digits(.digits)?`), truncated toward zero.
fn parse_pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let int = s.split('.').next()?;
    int.parse().ok()
}

fn convert(
    raw: Raw,
    typeflag: u8,
    index: usize,
    label: &str,
    data_pos: u64,
    shared: &Arc<PathBuf>,
) -> Result<Entry, LayerError> {
    let raw_display = String::from_utf8_lossy(&raw.name).into_owned();
    let bad = |message: String| LayerError::BadTar {
        label: label.to_string(),
        index: Some(index),
        message: format!("`{raw_display}`: {message}"),
    };
    let unsupported = |what: String| LayerError::Unsupported {
        label: label.to_string(),
        index,
        raw: raw_display.clone(),
        what,
    };
    let path = ImagePath::parse(&raw.name).map_err(|source| LayerError::BadName {
        label: label.to_string(),
        index,
        raw: raw_display.clone(),
        source,
    })?;
    let mode = raw.mode.map_err(|m| bad(format!("mode: {m}")))? as u32 & 0o7777;
    let uid = raw.uid.map_err(|m| bad(format!("uid: {m}")))?;
    let gid = raw.gid.map_err(|m| bad(format!("gid: {m}")))?;
    let link = || -> Result<Vec<u8>, LayerError> {
        if raw.link.contains(&0) {
            return Err(bad("link target contains a NUL byte".into()));
        }
        Ok(raw.link.clone())
    };
    let device = || -> Result<(u64, u64), LayerError> {
        let major = raw
            .devmajor
            .clone()
            .map_err(|m| bad(format!("device major: {m}")))?;
        let minor = raw
            .devminor
            .clone()
            .map_err(|m| bad(format!("device minor: {m}")))?;
        Ok((major, minor))
    };
    let kind = match typeflag {
        0 if raw.name.ends_with(b"/") => Kind::Dir,
        b'0' | 0 | b'7' => {
            if raw.size == 0 {
                Kind::File(Content::Empty)
            } else {
                Kind::File(Content::Range {
                    file: shared.clone(),
                    offset: data_pos,
                    len: raw.size,
                })
            }
        }
        b'1' => {
            let target = link()?;
            let t = ImagePath::parse(&target).map_err(|source| LayerError::BadName {
                label: label.to_string(),
                index,
                raw: format!("{raw_display} -> {}", String::from_utf8_lossy(&target)),
                source,
            })?;
            Kind::HardLink(t)
        }
        b'2' => Kind::Symlink(link()?),
        b'3' => {
            let (major, minor) = device()?;
            Kind::CharDevice { major, minor }
        }
        b'4' => {
            let (major, minor) = device()?;
            Kind::BlockDevice { major, minor }
        }
        b'5' => Kind::Dir,
        b'6' => Kind::Fifo,
        other => {
            return Err(unsupported(format!(
                "unsupported entry type {:?}",
                char::from(other)
            )))
        }
    };
    Ok(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime: raw.mtime,
        xattrs: raw.xattrs,
    })
}

/// The sparse map of an entry, if it is a GNU sparse file (see [`super::sparse`]), with its
/// logical size; reads what the map takes of the archive (old GNU extension blocks, the
/// 1.0 map at the start of the data) and leaves `size` at the stored data's size.
fn sparse_map(
    r: &mut Blocks<'_>,
    header: &[u8; 512],
    raw: &Raw,
    typeflag: u8,
    size: &mut u64,
    index: usize,
) -> Result<Option<(Vec<Segment>, u64)>, LayerError> {
    let pax = raw.sparse.form().map_err(|m| r.bad(Some(index), m))?;
    if typeflag != b'S' && pax.is_none() {
        return Ok(None);
    }
    let name = String::from_utf8_lossy(&raw.name).into_owned();
    if !matches!(typeflag, b'0' | 0 | b'7' | b'S') || raw.name.ends_with(b"/") {
        return Err(r.bad(
            Some(index),
            format!(
                "`{name}`: a sparse map on an entry of type {:?}, not a regular file",
                char::from(typeflag)
            ),
        ));
    }
    let next = |r: &mut Blocks<'_>| -> Result<[u8; 512], String> {
        match r.next_block(index) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err("the archive is truncated inside a sparse map".into()),
            Err(e) => Err(e.to_string()),
        }
    };
    let found = match pax {
        _ if typeflag == b'S' => sparse::old_gnu_map(header, number, || next(r)),
        Some(sparse::PaxSparse::InRecords { segments, size }) => Ok((segments, size)),
        Some(sparse::PaxSparse::InData { size: logical }) => {
            let blocks = size.div_ceil(512);
            sparse::data_map(blocks, || next(r)).map(|(segments, used)| {
                *size = size.saturating_sub(used * 512);
                (segments, logical)
            })
        }
        None => unreachable!("returned above"),
    };
    found
        .map(Some)
        .map_err(|m| r.bad(Some(index), format!("`{name}`: {m}")))
}
