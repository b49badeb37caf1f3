//! An unpacked root filesystem on disk (a folder that is not an OCI layout), read as the
//! entries of a rootfs tar would be: every entry with the metadata the disk holds (mode,
//! owner, mtime, device numbers), symlinks as links, a second name of a file as a hard
//! link to the first (in sorted order), file contents read only when compared.
//! Extended attributes are not read, so a folder has none.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::DiffError;
use crate::entry::{Content, Entry, ImagePath, Kind};

/// Every entry below `root` (not `root` itself), parents before children, sorted by name.
pub(crate) fn entries(root: &Path) -> Result<Vec<Entry>, DiffError> {
    let mut out = Vec::new();
    let mut inodes = HashMap::new();
    walk(root, &ImagePath::root(), &mut inodes, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    at: &ImagePath,
    inodes: &mut HashMap<(u64, u64), ImagePath>,
    out: &mut Vec<Entry>,
) -> Result<(), DiffError> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(|e| DiffError::io(dir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DiffError::io(dir, e))?;
    children.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
    for child in children {
        let path = child.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| DiffError::io(&path, e))?;
        let image_path = at.join(child.file_name().as_bytes());
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| DiffError::io(&path, e))?;
            Kind::Symlink(target.as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            let id = (meta.dev(), meta.ino());
            match inodes.get(&id) {
                Some(first) if meta.nlink() > 1 => Kind::HardLink(first.clone()),
                _ => {
                    if meta.nlink() > 1 {
                        inodes.insert(id, image_path.clone());
                    }
                    Kind::File(Content::whole_file(&path, meta.len()))
                }
            }
        } else if ft.is_char_device() || ft.is_block_device() {
            let (major, minor) = split_dev(meta.rdev());
            match ft.is_char_device() {
                true => Kind::CharDevice { major, minor },
                false => Kind::BlockDevice { major, minor },
            }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            return Err(DiffError::format(
                &path,
                "a socket cannot be part of an image; remove it from the folder to compare it",
            ));
        };
        let mut e = Entry::new(image_path.clone(), kind, meta.mode());
        e.uid = u64::from(meta.uid());
        e.gid = u64::from(meta.gid());
        e.mtime = meta.mtime();
        out.push(e);
        if ft.is_dir() {
            walk(&path, &image_path, inodes, out)?;
        }
    }
    Ok(())
}

/// Linux's device number encoding (glibc's `major`/`minor`).
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_as_glibc_does() {
        // /dev/null is 1,3; a large minor uses the high bits.
        assert_eq!(split_dev(0x0103), (1, 3));
        assert_eq!(split_dev((259 << 8) | 0x05 | (0x100 << 12)), (259, 0x105));
    }

    #[test]
    fn a_folder_reads_with_its_metadata_and_hard_links() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("bin")).unwrap();
        fs::write(t.path().join("bin/a"), b"x").unwrap();
        fs::hard_link(t.path().join("bin/a"), t.path().join("bin/b")).unwrap();
        std::os::unix::fs::symlink("a", t.path().join("bin/c")).unwrap();
        let got = entries(t.path()).unwrap();
        let names: Vec<String> = got.iter().map(|e| e.path.display()).collect();
        assert_eq!(names, ["/bin", "/bin/a", "/bin/b", "/bin/c"]);
        assert!(matches!(&got[2].kind, Kind::HardLink(p) if p.display() == "/bin/a"));
        assert!(matches!(&got[3].kind, Kind::Symlink(t) if t == b"a"));
        assert_eq!(got[1].uid, u64::from(fs::metadata(t.path()).unwrap().uid()));
    }
}
