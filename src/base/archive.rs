//! A tar archive (oci-archive, docker-archive) read in place: where each member's bytes
//! are, so blobs are streamed out of it without unpacking.

use crate::entry::{Content, Kind};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The regular files of an uncompressed tar and their byte ranges.
#[derive(Debug, Clone)]
pub struct TarIndex {
    /// The archive.
    pub path: PathBuf,
    /// Normalised member name (no leading `./` or `/`) → (offset, size).
    members: BTreeMap<String, (u64, u64)>,
    /// Symlinks (docker save writes some): name → target, resolved relative to the link.
    links: BTreeMap<String, String>,
}

impl TarIndex {
    /// Read the headers of the tar at `path` (with the project's own tar reader, which
    /// records where each file's bytes are).
    pub fn open(path: &Path) -> io::Result<TarIndex> {
        let label = path.display().to_string();
        let entries = crate::layer::read_tar(path, &label).map_err(io::Error::other)?;
        let mut members = BTreeMap::new();
        let mut links = BTreeMap::new();
        for e in entries {
            let name = normalise(&e.path.to_string());
            match e.kind {
                Kind::File(Content::Range { offset, len, .. }) => {
                    members.insert(name, (offset, len));
                }
                Kind::File(_) => {
                    members.insert(name, (0, 0));
                }
                Kind::HardLink(target) => {
                    links.insert(name, normalise(&target.to_string()));
                }
                Kind::Symlink(target) => {
                    let t = String::from_utf8_lossy(&target).to_string();
                    let target = if t.starts_with('/') {
                        normalise(&t)
                    } else {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        normalise(&format!("{dir}/{t}"))
                    };
                    links.insert(name, target);
                }
                _ => {}
            }
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            members,
            links,
        })
    }

    /// The (offset, size) of member `name`, following links.
    pub fn member(&self, name: &str) -> Option<(u64, u64)> {
        let mut name = normalise(name);
        for _ in 0..8 {
            if let Some(r) = self.members.get(&name) {
                return Some(*r);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    /// A reader of member `name`'s bytes.
    pub fn open_member(&self, name: &str) -> io::Result<Box<dyn Read + Send>> {
        let (offset, size) = self.member(name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no member `{name}`"))
        })?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(f.take(size)))
    }

    /// Member `name`'s bytes, refused beyond `max`.
    pub fn read_member(&self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        let (_, size) = self.member(name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no member `{name}`"))
        })?;
        if size > max {
            return Err(io::Error::other(format!(
                "member `{name}` has {size} bytes, more than the {max} allowed"
            )));
        }
        let mut out = Vec::with_capacity(size as usize);
        self.open_member(name)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// `./a//b/` → `a/b`; `..` components are resolved, clamped at the root.
fn normalise(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_links_are_found_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h.clone(), "./blobs/sha256/x", &b"hello"[..])
            .unwrap();
        let mut l = tar::Header::new_ustar();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "d/layer.tar", "../blobs/sha256/x")
            .unwrap();
        b.finish().unwrap();
        drop(b);
        let idx = TarIndex::open(&path).unwrap();
        assert_eq!(idx.read_member("blobs/sha256/x", 10).unwrap(), b"hello");
        assert_eq!(idx.read_member("d/layer.tar", 10).unwrap(), b"hello");
        assert!(idx.read_member("blobs/sha256/x", 4).is_err());
        assert!(idx.member("nope").is_none());
    }
}
