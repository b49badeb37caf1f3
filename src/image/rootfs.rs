//! The `rootfs` output: the merged filesystem as one canonical tar, no image around it.

use super::blobs::set_readable;
use super::ImageError;
use crate::digest::{HashingWriter, Sha256Digest};
use crate::entry::Entry;
use crate::epoch::Epoch;
use crate::layer::write_entries;
use std::io::Write;
use std::path::Path;

/// Write the merged filesystem as one tar to `out` (atomically) or stdout when `out` is
/// `-`; its digest. A full disk is named with the room the tar needs.
pub fn write_rootfs(
    entries: &[Entry],
    epoch: Epoch,
    out: &Path,
) -> Result<Sha256Digest, ImageError> {
    let size: u64 = entries
        .iter()
        .map(|e| 512 + e.size().div_ceil(512) * 512)
        .sum::<u64>()
        + 1024;
    write_tar_file(entries, epoch, out).map_err(|e| e.needing(size))
}

fn write_tar_file(entries: &[Entry], epoch: Epoch, out: &Path) -> Result<Sha256Digest, ImageError> {
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout().lock();
        let mut w = HashingWriter::new(std::io::BufWriter::new(stdout));
        write_entries(entries, epoch, &mut w).map_err(|e| ImageError::io("<stdout>", e))?;
        let (mut bw, digest, _) = w.finish();
        bw.flush().map_err(|e| ImageError::io("<stdout>", e))?;
        return Ok(digest);
    }
    super::check_output_path(super::OutputFormat::Rootfs, out)?;
    let parent = super::output_parent(out)?;
    crate::cleanup::remove_dead(&parent, ".compose-");
    let tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(&parent, ".compose-"))
        .tempfile_in(&parent)
        .map_err(|e| ImageError::io(&parent, e))?;
    let mut w = HashingWriter::new(std::io::BufWriter::new(tmp));
    write_entries(entries, epoch, &mut w).map_err(|e| ImageError::io(out, e))?;
    let (bw, digest, _) = w.finish();
    let tmp = bw
        .into_inner()
        .map_err(|e| ImageError::io(out, e.into_error()))?;
    // Readable by all, as the other outputs and `cp` leave files; not the temp file's 0600.
    set_readable(tmp.path()).map_err(|e| ImageError::io(out, e))?;
    tmp.persist(out).map_err(|e| ImageError::io(out, e.error))?;
    Ok(digest)
}
