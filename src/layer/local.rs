//! Local inputs: directories and files from the project's own tree.
//!
//! Host metadata never leaks into an image: a copied file's mode is 0755 when its owner
//! may execute it and 0644 otherwise, directories are 0755, owners are 0:0 and mtimes the
//! epoch. A directory is packed into a canonical tar, so its sha256 pins it in the lock
//! like any other input and the build reads it like any other tar.

use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::epoch::Epoch;
use crate::layer::write::TarWriter;
use crate::layer::LayerError;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode a local file gets when the manifest gives none: 0755 when the owner may
/// execute it, 0644 otherwise (and 0644 when it cannot be read).
pub fn default_mode(path: &Path) -> u32 {
    match fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o100 != 0 => 0o755,
        _ => 0o644,
    }
}

/// Write the contents of directory `root` (not `root` itself) as a canonical tar: entries
/// in canonical order, metadata normalised as the module doc says, symlinks kept as
/// links (never followed). Hard links on the host become independent files. Sockets,
/// fifos, devices and names starting with `.wh.` (which a runtime would take for
/// whiteouts) are refused: they cannot come from a source tree.
pub fn pack_dir(root: &Path, out: impl Write) -> Result<(), LayerError> {
    let mut entries = Vec::new();
    walk(root, root, &ImagePath::root(), &mut entries)?;
    let mut w = TarWriter::new(out, Epoch(0));
    for e in &entries {
        w.append(e).map_err(|source| LayerError::Io {
            path: root.join(String::from_utf8_lossy(e.path.as_bytes()).as_ref()),
            source,
        })?;
    }
    w.finish().map_err(|source| LayerError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    Ok(())
}

fn walk(root: &Path, dir: &Path, at: &ImagePath, out: &mut Vec<Entry>) -> Result<(), LayerError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayerError::Io { path, source }
    };
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    children.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
    for child in children {
        let path = child.path();
        let name = child.file_name();
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let image_path = at.join(name.as_bytes());
        let ft = meta.file_type();
        if name.as_bytes().starts_with(b".wh.") {
            return Err(LayerError::UnsupportedLocal {
                path: path.clone(),
                root: root.to_path_buf(),
            });
        }
        let entry = if ft.is_dir() {
            Entry::new(image_path.clone(), Kind::Dir, 0o755)
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io(&path))?;
            Entry::new(
                image_path.clone(),
                Kind::Symlink(target.as_os_str().as_bytes().to_vec()),
                0o777,
            )
        } else if ft.is_file() {
            let mode = if meta.permissions().mode() & 0o100 != 0 {
                0o755
            } else {
                0o644
            };
            Entry::new(
                image_path.clone(),
                Kind::File(Content::whole_file(&path, meta.len())),
                mode,
            )
        } else {
            return Err(LayerError::UnsupportedLocal {
                path: path.clone(),
                root: root.to_path_buf(),
            });
        };
        out.push(entry);
        if ft.is_dir() {
            walk(root, &path, &image_path, out)?;
        }
    }
    Ok(())
}
