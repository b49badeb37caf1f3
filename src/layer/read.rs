//! Reading a plain tar archive into normalised [`Entry`] values.
//!
//! Understands ustar, GNU (long names `L`, long link names `K`) and PAX (`path`,
//! `linkpath`, `size`, `uid`, `gid`, `mtime`, `SCHILY.devmajor`/`devminor`,
//! `SCHILY.xattr.*`). File bytes are not read: each regular file's [`Content`] is a range of
//! the tar file itself, so memory grows with the number of entries only.
//!
//! Policy, per DESIGN.md:
//! * Names are normalised with [`ImagePath::parse`]; `..`, NUL and empty names are errors
//!   naming the input, the entry index and the raw name. Hard link targets likewise;
//!   symlink targets are kept verbatim.
//! * Type flags `0`, NUL and `7` are regular files (NUL with a name ending in `/` is a
//!   pre-POSIX directory), `1` hard link, `2` symlink, `3`/`4` devices, `5` directory, `6`
//!   fifo. A regular file that also carries a link name (buildah writes whiteouts that way)
//!   is a regular file. PAX global headers (`g`, e.g. `git archive`'s commit comment) are
//!   skipped. GNU sparse files (`S`, or PAX `GNU.sparse.*` records) and every other type
//!   are errors.
//! * Only the `security.capability` and `user.*` extended attributes are kept; others
//!   (`trusted.*`, `security.selinux`, ACLs) describe the build host, not the image.
//! * Mode is `& 0o7777`. A fractional PAX mtime is truncated to whole seconds; an
//!   unreadable mtime becomes 0 (it never reaches the output, which uses the epoch).
//! * The root entry (`./`) is returned with the root path, and duplicate paths are returned
//!   as they come: the merger decides.
//! * A PAX size overrides the header's (as in GNU tar); every file's data must lie inside
//!   the archive, so a truncated archive is an error. An archive that ends without the two
//!   zero blocks at an entry boundary is accepted, as GNU tar does.

use super::LayerError;
use crate::entry::{Content, Entry, ImagePath, Kind};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    let shared: Arc<PathBuf> = Arc::new(tar_path.to_path_buf());
    let mut archive = tar::Archive::new(BufReader::with_capacity(64 * 1024, file));
    let bad = |index: Option<usize>, message: String| LayerError::BadTar {
        label: label.to_string(),
        index,
        message,
    };
    let iter = archive
        .entries_with_seek()
        .map_err(|e| bad(None, e.to_string()))?;
    let mut out = Vec::new();
    // Where the next entry's first header starts, to explain the tar crate's errors.
    let mut next_header = 0u64;
    for (index, item) in iter.enumerate() {
        let mut item = match item {
            Ok(item) => item,
            Err(e) => {
                if starts_sparse_entry(tar_path, next_header) {
                    return Err(LayerError::Unsupported {
                        label: label.to_string(),
                        index,
                        raw: String::new(),
                        what: SPARSE.to_string(),
                    });
                }
                return Err(bad(Some(index), e.to_string()));
            }
        };
        next_header = item
            .raw_file_position()
            .saturating_add(item.size().saturating_add(511) & !511);
        if let Some(entry) = convert(&mut item, index, label, file_len, &shared)? {
            out.push(entry);
        }
    }
    Ok(out)
}

const SPARSE: &str = "sparse entries are not supported";

/// Whether the entry whose headers start at `offset` is a GNU sparse file (type `S`), after
/// any GNU long-name and PAX headers. The tar crate rejects malformed sparse maps before we
/// see the entry; this turns that into the clear "not supported" error.
fn starts_sparse_entry(tar_path: &Path, mut offset: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(tar_path) else {
        return false;
    };
    for _ in 0..8 {
        let mut block = [0u8; 512];
        if f.seek(SeekFrom::Start(offset)).is_err() || f.read_exact(&mut block).is_err() {
            return false;
        }
        match block[156] {
            b'S' => return true,
            b'L' | b'K' | b'x' | b'g' => {
                let Some(size) = octal_field(&block[124..136]) else {
                    return false;
                };
                offset = offset.saturating_add(512 + (size.saturating_add(511) & !511));
            }
            _ => return false,
        }
    }
    false
}

/// A plain octal header field (spaces and NULs around the digits).
fn octal_field(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c| c == ' ' || c == '\0');
    u64::from_str_radix(s, 8).ok()
}

/// The PAX records of one entry that matter here.
#[derive(Default)]
struct Pax {
    mtime: Option<i64>,
    devmajor: Option<u64>,
    devminor: Option<u64>,
    xattrs: BTreeMap<String, Vec<u8>>,
    sparse: bool,
}

fn read_pax<R: std::io::Read>(
    item: &mut tar::Entry<'_, R>,
    bad: &dyn Fn(String) -> LayerError,
) -> Result<Pax, LayerError> {
    let mut pax = Pax::default();
    let Some(exts) = item.pax_extensions().map_err(|e| bad(e.to_string()))? else {
        return Ok(pax);
    };
    for ext in exts {
        let ext = ext.map_err(|e| bad(format!("bad PAX record: {e}")))?;
        let Ok(key) = ext.key() else { continue };
        let num = |v: &[u8]| -> Result<u64, LayerError> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("PAX record {key} has a bad value")))
        };
        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
            if keep_xattr(name) {
                pax.xattrs
                    .insert(name.to_string(), ext.value_bytes().to_vec());
            }
        } else if key.starts_with("GNU.sparse.") {
            pax.sparse = true;
        } else {
            match key {
                "mtime" => pax.mtime = parse_pax_time(ext.value_bytes()),
                "SCHILY.devmajor" => pax.devmajor = Some(num(ext.value_bytes())?),
                "SCHILY.devminor" => pax.devminor = Some(num(ext.value_bytes())?),
                _ => {}
            }
        }
    }
    Ok(pax)
}

/// Whole seconds of a PAX time (`-?digits(.digits)?`), truncated toward zero.
fn parse_pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let int = s.split('.').next()?;
    int.parse().ok()
}

fn convert<R: std::io::Read>(
    item: &mut tar::Entry<'_, R>,
    index: usize,
    label: &str,
    file_len: u64,
    shared: &Arc<PathBuf>,
) -> Result<Option<Entry>, LayerError> {
    let raw = item.path_bytes().into_owned();
    let raw_display = String::from_utf8_lossy(&raw).into_owned();
    let bad = |message: String| LayerError::BadTar {
        label: label.to_string(),
        index: Some(index),
        message: format!("`{raw_display}`: {message}"),
    };
    let unsupported = |what: &str| LayerError::Unsupported {
        label: label.to_string(),
        index,
        raw: raw_display.clone(),
        what: what.to_string(),
    };
    let typeflag = item.header().as_bytes()[156];
    if typeflag == b'g' {
        return Ok(None);
    }
    let pax = read_pax(item, &bad)?;
    if typeflag == b'S' || pax.sparse {
        return Err(unsupported(SPARSE));
    }
    let path = ImagePath::parse(&raw).map_err(|source| LayerError::BadName {
        label: label.to_string(),
        index,
        raw: raw_display.clone(),
        source,
    })?;
    let header = item.header();
    let mode = header.mode().map_err(|e| bad(e.to_string()))? & 0o7777;
    let uid = header.uid().map_err(|e| bad(e.to_string()))?;
    let gid = header.gid().map_err(|e| bad(e.to_string()))?;
    let mtime = pax
        .mtime
        .or_else(|| header.mtime().ok().and_then(|m| i64::try_from(m).ok()))
        .unwrap_or(0);
    let size = item.size();
    let link = || -> Result<Vec<u8>, LayerError> {
        let l = item
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        if l.contains(&0) {
            return Err(bad("link target contains a NUL byte".into()));
        }
        Ok(l)
    };
    let device = || -> Result<(u64, u64), LayerError> {
        let major = match pax.devmajor {
            Some(v) => v,
            None => header
                .device_major()
                .map_err(|e| bad(e.to_string()))?
                .unwrap_or(0)
                .into(),
        };
        let minor = match pax.devminor {
            Some(v) => v,
            None => header
                .device_minor()
                .map_err(|e| bad(e.to_string()))?
                .unwrap_or(0)
                .into(),
        };
        Ok((major, minor))
    };
    let kind = match typeflag {
        0 if raw.ends_with(b"/") => Kind::Dir,
        b'0' | 0 | b'7' => {
            let offset = item.raw_file_position();
            let end = offset.checked_add(size);
            if !matches!(end, Some(end) if end <= file_len) {
                return Err(bad(format!(
                    "{size} bytes of data at offset {offset} run past the end of the archive \
                     ({file_len} bytes): it is truncated"
                )));
            }
            if size == 0 {
                Kind::File(Content::Empty)
            } else {
                Kind::File(Content::Range {
                    file: shared.clone(),
                    offset,
                    len: size,
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
            return Err(unsupported(&format!(
                "unsupported entry type {:?}",
                char::from(other)
            )))
        }
    };
    Ok(Some(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        xattrs: pax.xattrs,
    }))
}
