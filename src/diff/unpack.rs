//! Reading the tars `compose diff` compares (an input archive, a rootfs, each layer) with
//! the project's own layer reader, [`crate::layer`]: compressed blobs are decompressed into
//! the scratch folder under its bomb guard, then read with [`crate::layer::read_tar`], so
//! entry contents are ranges of a file on disk and no file's bytes are held in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::span::Span;
use super::DiffError;
use crate::entry::{Content, Entry, Kind};
use crate::layer::{self, InputFormat};

/// Makes scratch file names unique within the process.
static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh file name in `scratch`.
fn scratch_file(scratch: &Path, ext: &str) -> PathBuf {
    let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
    scratch.join(format!("unpacked-{n}.{ext}"))
}

/// The blob as a file of its own, since the layer reader reads whole files: the file
/// itself when the blob is all of it (a layout's blob, a standalone tar), else a copy of
/// the blob's bytes (an archive member) in `scratch`. The flag says whether it copied.
fn standalone(blob: &Span, scratch: &Path) -> Result<(PathBuf, bool), DiffError> {
    let path = blob.file.as_path();
    let whole = std::fs::metadata(path)
        .map_err(|e| DiffError::io(path, e))?
        .len();
    if blob.offset == 0 && blob.len == whole {
        return Ok((path.to_path_buf(), false));
    }
    let copy = scratch_file(scratch, "blob");
    let mut out = io::BufWriter::new(File::create(&copy).map_err(|e| DiffError::io(&copy, e))?);
    io::copy(&mut blob.open()?, &mut out).map_err(|e| DiffError::io(&copy, e))?;
    out.flush().map_err(|e| DiffError::io(&copy, e))?;
    Ok((copy, true))
}

/// Every entry of a plain or compressed tar blob, whiteouts included as the ordinary
/// entries they are. A compressed blob is decompressed into `scratch`, which must outlive
/// the entries (their contents point into it). `input` and `label` name it in errors.
pub(crate) fn entries(
    blob: &Span,
    scratch: &Path,
    input: &Path,
    label: &str,
) -> Result<Vec<Entry>, DiffError> {
    let (src, copied) = standalone(blob, scratch)?;
    let plain = scratch_file(scratch, "tar");
    let (format, entries) =
        layer::read_input(&src, &plain, label).map_err(|e| DiffError::layer(input, e))?;
    if copied && format != InputFormat::Tar {
        // Only the decompressed copy is referenced; the compressed one can go now.
        let _ = std::fs::remove_file(&src);
    }
    Ok(entries)
}

/// The regular files (as blobs) and links (name → target; hard link targets from the
/// root, with a leading `/`) of an archive's entries, by normalised name.
pub(crate) type Members = (HashMap<String, Span>, HashMap<String, String>);

/// Index an outer archive's entries (as read by [`entries`]) by member name.
pub(crate) fn members(archive: &Path, entries: &[Entry]) -> Members {
    let mut files = HashMap::new();
    let mut links = HashMap::new();
    for e in entries {
        let name = String::from_utf8_lossy(e.path.as_bytes()).into_owned();
        match &e.kind {
            Kind::File(Content::Range { file, offset, len }) => {
                files.insert(
                    name,
                    Span {
                        file: file.clone(),
                        offset: *offset,
                        len: *len,
                    },
                );
            }
            Kind::File(_) => {
                files.insert(
                    name,
                    Span {
                        file: Arc::new(archive.to_path_buf()),
                        offset: 0,
                        len: 0,
                    },
                );
            }
            Kind::Symlink(target) => {
                links.insert(name, String::from_utf8_lossy(target).into_owned());
            }
            Kind::HardLink(target) => {
                links.insert(name, target.display());
            }
            _ => {}
        }
    }
    (files, links)
}
