//! The canonical tar writer ("ctar-1", REPRODUCIBILITY.md rule 2 and rule 5).
//!
//! Every byte of a header is decided here from the [`Entry`] and the build [`Epoch`] alone,
//! so the same entries always give the same archive. The form:
//!
//! * POSIX ustar headers (magic `ustar\0`, version `00`); numeric fields are zero-padded
//!   octal ending in NUL (the checksum: six digits, NUL, space); uname/gname are empty;
//!   devmajor/devminor are `0` unless the entry is a device.
//! * A PAX `x` header precedes an entry only when ustar cannot hold it: a name that does not
//!   fit ustar's name/prefix split, a link name over 100 bytes, a size of 8 GiB or more, a
//!   uid/gid over `0o7777777`, device numbers over `0o7777777` (`SCHILY.devmajor` /
//!   `SCHILY.devminor`), an epoch of `8^11` seconds or more (`mtime`, an integer), and
//!   extended attributes (`SCHILY.xattr.NAME`). Records are sorted by key; there is never an
//!   `atime` or `ctime`. PAX `path`/`linkpath` hold the raw name bytes even when they are
//!   not UTF-8, without a `hdrcharset` record (GNU tar 1.34 warns about that keyword;
//!   Python, Go and GNU tar all read the raw bytes).
//! * The `x` header itself is constant apart from its size and checksum: name
//!   [`PAX_HEADER_NAME`], mode 0644, uid/gid 0, mtime the epoch (0 if the epoch needs PAX),
//!   empty uname/gname. When a field moves to PAX its ustar field holds a fixed fallback:
//!   the name's first 100 bytes, an empty link name, and 0 for numbers.
//! * Directory names end with `/` (the convention of GNU tar and Python); the root
//!   directory, written only when the caller passes it, is `./`.
//! * No GNU extensions (`L`, `K`, `S`, `g`), no sparse files, no padding to 10240 bytes: the
//!   archive ends with exactly two 512-byte zero blocks.
//!
//! The writer neither sorts nor deduplicates (the merger emits canonical order); it refuses
//! a duplicate path and a hard link whose target it has not written yet.

use crate::entry::{Content, Entry, Kind};
use crate::epoch::Epoch;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The name of every PAX `x` header: constant, so it never varies with pid, time or entry.
/// (It is the name Python's `tarfile` uses, so tools already recognise it.)
pub const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// The tar block size.
pub const BLOCK: usize = 512;

/// The largest value an 8-byte octal field (7 digits) holds.
const MAX_OCTAL_7: u64 = 0o7_777_777;
/// The largest value a 12-byte octal field (11 digits) holds: 8 GiB − 1.
const MAX_OCTAL_11: u64 = 0o77_777_777_777;

/// Writes entries as canonical tar to `out`.
pub struct TarWriter<W: Write> {
    out: BufWriter<W>,
    epoch: Epoch,
    /// Every path written so far (as its [`crate::entry::ImagePath::fingerprint`], so
    /// memory grows with the number of entries only), and whether it is a directory (hard
    /// links may not target one).
    written: HashMap<u128, bool>,
    bytes: u64,
    /// The file content was last read from, kept open: a layer's files mostly lie in one
    /// tar, and opening it again for each of 100,000 entries costs seconds.
    open: Option<(Arc<PathBuf>, File)>,
}

/// Write `entries` as one canonical tar stream to `out`, end marker included.
pub fn write_entries<W: Write>(entries: &[Entry], epoch: Epoch, out: W) -> io::Result<()> {
    let mut t = TarWriter::new(out, epoch);
    for e in entries {
        t.append(e)?;
    }
    t.finish()?;
    Ok(())
}

impl<W: Write> TarWriter<W> {
    /// A writer stamping every entry with `epoch`.
    pub fn new(out: W, epoch: Epoch) -> Self {
        TarWriter {
            out: BufWriter::with_capacity(256 * 1024, out),
            epoch,
            written: HashMap::new(),
            bytes: 0,
            open: None,
        }
    }

    /// Append one entry: its header(s), then for a regular file the bytes read through
    /// [`crate::entry::Content::open`] padded to a block. Fails on a duplicate path, a hard
    /// link to a path not written before (or to a directory), and content whose length
    /// differs from the declared size.
    pub fn append(&mut self, e: &Entry) -> io::Result<()> {
        let fingerprint = self.start(e)?;
        if let Kind::File(content) = &e.kind {
            let declared = content.len();
            let copied = match content {
                Content::Range { file, offset, len } => {
                    let f = reader(&mut self.open, file)?;
                    f.seek(SeekFrom::Start(*offset))?;
                    copy_exact(f.take(*len), &mut self.out, declared)
                }
                other => copy_exact(other.open()?, &mut self.out, declared),
            }
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", e.path)))?;
            self.pad(copied)?;
        }
        self.written
            .insert(fingerprint, matches!(e.kind, Kind::Dir));
        Ok(())
    }

    /// Append a regular file whose bytes `body` writes straight into the underlying writer,
    /// once the buffered headers have reached it, and returns the number written: how an
    /// archive file hands a blob's copy to the kernel (`copy_file_range`) instead of
    /// passing it through this writer's buffer. The bytes must be exactly the entry's
    /// declared size; the archive is then the same as [`TarWriter::append`] would write.
    pub fn append_direct(
        &mut self,
        e: &Entry,
        body: impl FnOnce(&mut W) -> io::Result<u64>,
    ) -> io::Result<()> {
        let Kind::File(content) = &e.kind else {
            return Err(invalid(format!(
                "{}: only a regular file's bytes can be written directly, not a {}'s",
                e.path.display(),
                e.kind.name()
            )));
        };
        let fingerprint = self.start(e)?;
        self.out.flush()?;
        let copied = body(self.out.get_mut())
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", e.path)))?;
        if copied != content.len() {
            return Err(invalid(format!(
                "{}: {copied} bytes written for {} declared",
                e.path,
                content.len()
            )));
        }
        self.pad(copied)?;
        self.written.insert(fingerprint, false);
        Ok(())
    }

    /// Check that `e` may come next and write its headers; returns its fingerprint, to be
    /// recorded once the entry is complete.
    fn start(&mut self, e: &Entry) -> io::Result<u128> {
        let fingerprint = e.path.fingerprint();
        if self.written.contains_key(&fingerprint) {
            return Err(invalid(format!(
                "{}: duplicate path in the archive",
                e.path.display()
            )));
        }
        if let Kind::HardLink(target) = &e.kind {
            match self.written.get(&target.fingerprint()) {
                None => {
                    return Err(invalid(format!(
                        "{}: hard link to {}, which is not earlier in the archive",
                        e.path.display(),
                        target.display()
                    )))
                }
                Some(true) => {
                    return Err(invalid(format!(
                        "{}: hard link to directory {}",
                        e.path.display(),
                        target.display()
                    )))
                }
                Some(false) => {}
            }
        }
        let headers = entry_headers(e, self.epoch)?;
        self.out.write_all(&headers)?;
        self.bytes += headers.len() as u64;
        Ok(fingerprint)
    }

    /// Count `copied` data bytes and pad them to a block.
    fn pad(&mut self, copied: u64) -> io::Result<()> {
        self.bytes += copied;
        let pad = padding(copied);
        self.out.write_all(&ZEROS[..pad])?;
        self.bytes += pad as u64;
        Ok(())
    }

    /// The number of bytes written so far (headers, data and padding).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Write the end-of-archive marker (exactly two zero blocks), flush, and return the
    /// underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&ZEROS)?;
        self.out.write_all(&ZEROS)?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// `path` opened for reading, reusing the file in `open` when it is the same.
fn reader<'a>(
    open: &'a mut Option<(Arc<PathBuf>, File)>,
    path: &Arc<PathBuf>,
) -> io::Result<&'a mut File> {
    let same = open
        .as_ref()
        .is_some_and(|(p, _)| Arc::ptr_eq(p, path) || p == path);
    if !same {
        let f = File::open(path.as_path())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        *open = Some((path.clone(), f));
    }
    match open {
        Some((_, f)) => Ok(f),
        None => unreachable!("opened above"),
    }
}

/// Bytes of zero padding after `len` bytes of data.
fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// The bytes `e` takes in an archive: its header(s), its data and the padding after it.
/// With the end marker (two blocks), the sizes of the entries add up to the archive's.
pub fn archived_size(e: &Entry, epoch: Epoch) -> io::Result<u64> {
    let data = match &e.kind {
        Kind::File(c) => c.len(),
        _ => 0,
    };
    Ok(entry_headers(e, epoch)?.len() as u64 + data + padding(data) as u64)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Copy exactly `len` bytes, failing if the reader yields fewer or more.
fn copy_exact(mut r: impl Read, w: &mut impl Write, len: u64) -> io::Result<u64> {
    let n = io::copy(&mut (&mut r).take(len), w)?;
    if n < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("content ended after {n} of {len} declared bytes"),
        ));
    }
    let mut extra = [0u8; 1];
    loop {
        match r.read(&mut extra) {
            Ok(0) => return Ok(n),
            Ok(_) => {
                return Err(invalid(format!(
                    "content is longer than its {len} declared bytes"
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The header blocks for `e` (a PAX `x` header and its records when needed, then the ustar
/// header), without the file data. Public so the rare cases (sizes of 8 GiB and more) can be
/// tested without writing the data.
pub fn entry_headers(e: &Entry, epoch: Epoch) -> io::Result<Vec<u8>> {
    let mut name = e.path.as_bytes().to_vec();
    let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();

    let (typeflag, link, size, dev) = match &e.kind {
        Kind::File(c) => (b'0', None, c.len(), None),
        Kind::HardLink(t) => {
            if t.is_root() {
                return Err(invalid(format!("{}: hard link to the root", e.path)));
            }
            (b'1', Some(t.as_bytes()), 0, None)
        }
        Kind::Symlink(t) => (b'2', Some(t.as_slice()), 0, None),
        Kind::CharDevice { major, minor } => (b'3', None, 0, Some((*major, *minor))),
        Kind::BlockDevice { major, minor } => (b'4', None, 0, Some((*major, *minor))),
        Kind::Dir => (b'5', None, 0, None),
        Kind::Fifo => (b'6', None, 0, None),
    };
    if e.path.is_root() {
        if typeflag != b'5' {
            return Err(invalid(format!(
                "the root entry must be a directory, not a {}",
                e.kind.name()
            )));
        }
        name = b"./".to_vec();
    } else if typeflag == b'5' {
        name.push(b'/');
    }

    let (ustar_name, ustar_prefix) = match split_ustar_name(&name) {
        Some((n, p)) => (n.to_vec(), p.to_vec()),
        None => {
            pax.push((b"path".to_vec(), name.clone()));
            (name[..name.len().min(100)].to_vec(), Vec::new())
        }
    };

    let mut ustar_link: &[u8] = b"";
    if let Some(l) = link {
        if l.contains(&0) {
            return Err(invalid(format!(
                "{}: link target contains a NUL byte",
                e.path
            )));
        }
        if l.len() <= 100 {
            ustar_link = l;
        } else {
            pax.push((b"linkpath".to_vec(), l.to_vec()));
        }
    }

    let mut numeric = |key: &str, v: u64, max: u64| -> u64 {
        if v > max {
            pax.push((key.as_bytes().to_vec(), v.to_string().into_bytes()));
            0
        } else {
            v
        }
    };
    let size_field = numeric("size", size, MAX_OCTAL_11);
    let uid_field = numeric("uid", e.uid, MAX_OCTAL_7);
    let gid_field = numeric("gid", e.gid, MAX_OCTAL_7);
    let mtime_field = numeric("mtime", epoch.0, MAX_OCTAL_11);
    let (major_field, minor_field) = match dev {
        Some((ma, mi)) => (
            numeric("SCHILY.devmajor", ma, MAX_OCTAL_7),
            numeric("SCHILY.devminor", mi, MAX_OCTAL_7),
        ),
        None => (0, 0),
    };
    for (k, v) in &e.xattrs {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(invalid(format!(
                "{}: extended attribute name {k:?} cannot be written",
                e.path
            )));
        }
        pax.push((format!("SCHILY.xattr.{k}").into_bytes(), v.clone()));
    }

    let mut out = Vec::with_capacity(3 * BLOCK);
    if !pax.is_empty() {
        pax.sort();
        let records = pax_records(&pax);
        let hdr = UstarHeader {
            name: PAX_HEADER_NAME,
            prefix: b"",
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: records.len() as u64,
            mtime: if epoch.0 > MAX_OCTAL_11 { 0 } else { epoch.0 },
            typeflag: b'x',
            linkname: b"",
            devmajor: 0,
            devminor: 0,
        };
        out.extend_from_slice(&hdr.encode());
        out.extend_from_slice(&records);
        out.resize(out.len() + padding(records.len() as u64), 0);
    }
    let hdr = UstarHeader {
        name: &ustar_name,
        prefix: &ustar_prefix,
        mode: e.mode & 0o7777,
        uid: uid_field,
        gid: gid_field,
        size: size_field,
        mtime: mtime_field,
        typeflag,
        linkname: ustar_link,
        devmajor: major_field,
        devminor: minor_field,
    };
    out.extend_from_slice(&hdr.encode());
    Ok(out)
}

/// Split a name into ustar (name, prefix): the whole name when it has at most 100 bytes,
/// else at the last `/` that leaves a prefix of at most 155 bytes and a non-empty name of at
/// most 100 bytes. `None` when no split fits (PAX is needed).
pub fn split_ustar_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((name, b""));
    }
    let limit = name.len().min(156);
    let i = name[..limit].iter().rposition(|&b| b == b'/')?;
    let (prefix, rest) = (&name[..i], &name[i + 1..]);
    if rest.is_empty() || rest.len() > 100 || prefix.is_empty() {
        return None;
    }
    Some((rest, prefix))
}

/// Encode PAX records (`"LEN KEY=VALUE\n"`, LEN counting the whole record) in the given order.
pub fn pax_records(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = base + base.to_string().len();
        if len.to_string().len() != (len - base) {
            len = base + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

/// The fields of one ustar header block; every field is given explicitly.
struct UstarHeader<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    typeflag: u8,
    linkname: &'a [u8],
    devmajor: u64,
    devminor: u64,
}

impl UstarHeader<'_> {
    fn encode(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        put_bytes(&mut b[0..100], self.name);
        put_octal(&mut b[100..108], u64::from(self.mode));
        put_octal(&mut b[108..116], self.uid);
        put_octal(&mut b[116..124], self.gid);
        put_octal(&mut b[124..136], self.size);
        put_octal(&mut b[136..148], self.mtime);
        b[156] = self.typeflag;
        put_bytes(&mut b[157..257], self.linkname);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        // uname 265..297 and gname 297..329 stay empty.
        put_octal(&mut b[329..337], self.devmajor);
        put_octal(&mut b[337..345], self.devminor);
        put_bytes(&mut b[345..500], self.prefix);
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
        let digits = format!("{sum:06o}");
        b[148..154].copy_from_slice(digits.as_bytes());
        b[154] = 0;
        b[155] = b' ';
        b
    }
}

/// Copy `v` into a field the caller has already checked it fits.
fn put_bytes(field: &mut [u8], v: &[u8]) {
    field[..v.len()].copy_from_slice(v);
}

/// Zero-padded octal filling all but the last byte, which is NUL. Callers move values that
/// do not fit to PAX first.
fn put_octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    debug_assert_eq!(s.len(), w);
    field[..w].copy_from_slice(&s.as_bytes()[s.len() - w..]);
    field[w] = 0;
}
