//! Writing an OCI layout directory: a new one is built beside its destination and
//! renamed into place; an existing layout is brought to the new image in place, keeping
//! the blobs it is known to hold.
//!
//! Blobs are copied from the store with `copy_file_range` ([`super::copy`]: a reflink
//! where the file system shares extents, an in-kernel copy elsewhere), never hard-linked:
//! linking changes the cached blob's ctime, which would make the next build hash it again,
//! and would let a write into the output reach the cache.
//!
//! In place, the order makes every moment readable: first the missing blobs (each under a
//! temporary name, then renamed), then `index.json` (replaced atomically: the moment the
//! new image appears), then whatever the new image does not name is removed. A killed
//! build leaves the previous image whole, perhaps beside blobs the next build removes. An
//! unchanged blob is neither read nor linked nor copied, so a rebuild after a change to
//! the top layer writes only that layer, its config and manifest, whatever the base's size.

use super::blobs::{set_readable, with_path};
use super::copy::copy_range;
use super::output::{output_parent, parent_dir, temp_prefix, KnownBlob, OCI_LAYOUT};
use super::{Assembled, BlobStore, ImageError};
use crate::digest::Sha256Digest;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Write the layout of `a` at `out`: in place over an OCI layout there (keeping the blobs
/// `known` says it holds), else built beside it and swapped in. Anything at `out` but an
/// empty directory or an OCI layout is refused.
pub(super) fn write_dir(
    store: &BlobStore,
    a: &Assembled,
    out: &Path,
    known: KnownBlob,
) -> Result<(), ImageError> {
    if out.exists() && !is_replaceable_dir(out) {
        return Err(ImageError::OutputExists(out.to_path_buf()));
    }
    if out.join("oci-layout").is_file() {
        return update_dir(store, a, out, known).map_err(|e| ImageError::io(out, e));
    }
    let parent = output_parent(out)?;
    crate::cleanup::remove_dead(&parent, &temp_prefix(out));
    let tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(&parent, &temp_prefix(out)))
        .tempdir_in(&parent)
        .map_err(|e| ImageError::io(&parent, e))?;
    fill_dir(store, a, tmp.path()).map_err(|e| ImageError::io(out, e))?;
    let staged = tmp.keep();
    if let Err(e) = swap_into_place(&staged, out) {
        let _ = fs::remove_dir_all(&staged);
        return Err(ImageError::io(out, e));
    }
    Ok(())
}

fn fill_dir(store: &BlobStore, a: &Assembled, dir: &Path) -> io::Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| with_path(&blobs, e))?;
    for (d, size) in &a.blobs {
        put_blob(store, d, *size, &blobs)?;
    }
    for (name, bytes) in [
        ("oci-layout", OCI_LAYOUT),
        ("index.json", &a.index_json[..]),
    ] {
        let p = dir.join(name);
        fs::write(&p, bytes).map_err(|e| with_path(&p, e))?;
        set_readable(&p)?;
    }
    for d in [dir.to_path_buf(), dir.join("blobs"), blobs] {
        set_dir_mode(&d)?;
    }
    Ok(())
}

/// Copy the store's blob `d` into the directory `blobs` under its hex name, through a
/// temporary file renamed into place (replacing whatever had that name).
fn put_blob(store: &BlobStore, d: &Sha256Digest, size: u64, blobs: &Path) -> io::Result<()> {
    let src_path = store.path(d);
    let src = fs::File::open(&src_path).map_err(|e| with_path(&src_path, e))?;
    let len = src.metadata().map_err(|e| with_path(&src_path, e))?.len();
    if len != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: blob is {len} bytes, expected {size}",
                src_path.display()
            ),
        ));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(blobs, ".tmp-"))
        .tempfile_in(blobs)
        .map_err(|e| with_path(blobs, e))?;
    copy_range(&src, 0, tmp.as_file_mut(), size).map_err(|e| with_path(&src_path, e))?;
    set_readable(tmp.path())?;
    let dst = blobs.join(d.hex());
    tmp.persist(&dst).map_err(|e| with_path(&dst, e.error))?;
    Ok(())
}

/// Bring the OCI layout `out` to the image `a` in place (the order is in the module doc).
fn update_dir(store: &BlobStore, a: &Assembled, out: &Path, known: KnownBlob) -> io::Result<()> {
    let _turn = lock_dir(out)?;
    let blobs = out.join("blobs").join("sha256");
    for d in [out.join("blobs"), blobs.clone()] {
        if !fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
            remove_any(&d)?;
            fs::create_dir(&d).map_err(|e| with_path(&d, e))?;
        }
    }
    let mut wanted = BTreeSet::new();
    for (d, size) in &a.blobs {
        let dst = blobs.join(d.hex());
        wanted.insert(d.hex());
        let kept = fs::symlink_metadata(&dst).is_ok_and(|m| m.is_file() && m.len() == *size)
            && known(&dst, d);
        if kept {
            keep_readable(&dst)?;
        } else {
            put_blob(store, d, *size, &blobs)?;
        }
    }
    replace_file(out, "oci-layout", OCI_LAYOUT)?;
    replace_file(out, "index.json", &a.index_json)?;
    remove_others(&blobs, |name| wanted.contains(name))?;
    remove_others(&out.join("blobs"), |name| name == "sha256")?;
    remove_others(out, |name| {
        matches!(name, "blobs" | "index.json" | "oci-layout")
    })?;
    for d in [out.to_path_buf(), out.join("blobs"), blobs] {
        set_dir_mode(&d)?;
    }
    Ok(())
}

/// Wait for, and hold until the returned file is dropped, an exclusive advisory lock
/// (`flock`) on the directory `dir`, so that two builds writing one layout take turns and
/// each leaves a whole image: one updating it in place, or one moving it aside to swap a
/// new one in. Taken again when `dir` was replaced while waiting.
fn lock_dir(dir: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = fs::File::open(dir).map_err(|e| with_path(dir, e))?;
        #[cfg(target_os = "linux")]
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| with_path(dir, e.into()))?;
        let held = f.metadata().map_err(|e| with_path(dir, e))?;
        let now = fs::metadata(dir).map_err(|e| with_path(dir, e))?;
        if (held.dev(), held.ino()) == (now.dev(), now.ino()) {
            return Ok(f);
        }
    }
}

/// Replace the file `dir/name` with `bytes` atomically (a temporary file renamed over it),
/// unless it holds them already.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let p = dir.join(name);
    if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
        && fs::read(&p).is_ok_and(|old| old == bytes)
    {
        return keep_readable(&p);
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(dir, ".tmp-"))
        .tempfile_in(dir)
        .map_err(|e| with_path(dir, e))?;
    tmp.write_all(bytes).map_err(|e| with_path(tmp.path(), e))?;
    set_readable(tmp.path())?;
    tmp.persist(&p).map_err(|e| with_path(&p, e.error))?;
    Ok(())
}

/// Remove every entry of `dir` whose name `keep` refuses (not valid UTF-8: removed).
fn remove_others(dir: &Path, keep: impl Fn(&str) -> bool) -> io::Result<()> {
    for e in fs::read_dir(dir).map_err(|e| with_path(dir, e))? {
        let e = e.map_err(|e| with_path(dir, e))?;
        if !e.file_name().to_str().is_some_and(&keep) {
            remove_any(&e.path())?;
        }
    }
    Ok(())
}

/// Remove whatever is at `p` (a directory with its contents), if anything.
fn remove_any(p: &Path) -> io::Result<()> {
    let r = match fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    };
    r.map_err(|e| with_path(p, e))
}

/// A kept file is 0644, as a written one would be (changing it only when it is not).
fn keep_readable(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = fs::metadata(p).map_err(|e| with_path(p, e))?;
    if m.permissions().mode() & 0o7777 != 0o644 {
        set_readable(p)?;
    }
    Ok(())
}

fn set_dir_mode(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = fs::metadata(path).map_err(|e| with_path(path, e))?;
    if m.permissions().mode() & 0o7777 != 0o755 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| with_path(path, e))?;
    }
    Ok(())
}

/// Only an empty directory or one holding an OCI layout may be replaced.
fn is_replaceable_dir(out: &Path) -> bool {
    if !out.is_dir() || out.is_symlink() {
        return false;
    }
    if out.join("oci-layout").is_file() {
        return true;
    }
    fs::read_dir(out)
        .map(|mut it| it.next().is_none())
        .unwrap_or(false)
}

/// Rename `staged` to `out`, moving an existing `out` aside first and removing it after.
fn swap_into_place(staged: &Path, out: &Path) -> io::Result<()> {
    if !out.exists() {
        return fs::rename(staged, out);
    }
    let _turn = lock_dir(out)?;
    let parent = parent_dir(out);
    let old = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(
            &parent,
            &format!("{}old-", temp_prefix(out)),
        ))
        .tempdir_in(&parent)?
        .keep();
    {
        // An interrupt must not remove the old output while it is moved aside.
        let _held = crate::cleanup::critical();
        // `old` now names an empty directory; rename replaces an empty directory on Unix.
        fs::rename(out, &old)?;
        if let Err(e) = fs::rename(staged, out) {
            let _ = fs::rename(&old, out);
            return Err(e);
        }
    }
    fs::remove_dir_all(&old)
}
