//! The normalised filesystem entry that flows between pipeline stages.
//!
//! Readers turn every input (tar archives, local files, inline content) into [`Entry`]
//! values; the merger applies them; writers turn them back into canonical tar. An entry
//! carries metadata and a [`Content`] reference saying where its bytes live, never the
//! bytes themselves, so memory grows with the number of entries and not their size.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// A normalised path inside the image, as raw bytes (tar names need not be UTF-8).
///
/// Relative to the image root, components separated by single `/`, no `.`, `..` or empty
/// components, no NUL. The empty path is the root directory itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ImagePath(Vec<u8>);

/// Why a raw name could not become an [`ImagePath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path contains a NUL byte")]
    Nul,
    #[error("path contains a `..` component")]
    DotDot,
    #[error("path is empty")]
    Empty,
}

impl ImagePath {
    /// The root directory.
    pub fn root() -> Self {
        ImagePath(Vec::new())
    }

    /// Normalise a raw name: strip leading `/` and `./`, collapse `//` and `/./`, drop a
    /// trailing `/`. Rejects `..` components and NUL bytes. A name that normalises to
    /// nothing (`/`, `./`, `.`) is the root; a truly empty name is an error.
    pub fn parse(raw: &[u8]) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut out = Vec::with_capacity(raw.len());
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => continue,
                b".." => return Err(PathError::DotDot),
                c => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(c);
                }
            }
        }
        Ok(ImagePath(out))
    }

    /// Like [`ImagePath::parse`] for a UTF-8 string (manifest paths).
    pub fn parse_str(raw: &str) -> Result<Self, PathError> {
        Self::parse(raw.as_bytes())
    }

    /// The raw bytes, without a leading `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True for the root directory.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, root first.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<ImagePath> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => Some(ImagePath(self.0[..i].to_vec())),
            None => Some(ImagePath::root()),
        }
    }

    /// The last component; empty for the root.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// This path with one more component. `name` must be a single valid component.
    pub fn join(&self, name: &[u8]) -> ImagePath {
        debug_assert!(!name.is_empty() && !name.contains(&b'/'));
        let mut v = self.0.clone();
        if !v.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(name);
        ImagePath(v)
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &ImagePath) -> bool {
        other.0.is_empty()
            || (self.0.starts_with(&other.0)
                && (self.0.len() == other.0.len() || self.0[other.0.len()] == b'/'))
    }

    /// A 128-bit fingerprint of the path (two independently keyed SipHash-1-3 values),
    /// for sets of very many paths: equal paths have equal fingerprints, and distinct
    /// ones collide with probability about 2^-128 per pair.
    pub fn fingerprint(&self) -> u128 {
        use std::hash::{BuildHasher, Hasher};
        static KEYS: std::sync::OnceLock<[std::collections::hash_map::RandomState; 2]> =
            std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(Default::default);
        let half = |k: &std::collections::hash_map::RandomState| {
            let mut h = k.build_hasher();
            h.write(&self.0);
            h.finish()
        };
        (u128::from(half(&keys[0])) << 64) | u128::from(half(&keys[1]))
    }

    /// A lossy, human-readable form with a leading `/`, for messages.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", crate::escape::bytes(&self.0))
    }
}

/// Where a regular file's bytes live. Cloning is cheap.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// No bytes (a zero-length file).
    Empty,
    /// Bytes given in the manifest (`content = "…"`).
    Inline(Arc<[u8]>),
    /// `len` bytes at `offset` in a file on disk that does not change during the build
    /// (a verified cache blob, or a decompressed tar in the cache).
    Range {
        file: Arc<PathBuf>,
        offset: u64,
        len: u64,
    },
    /// `len` bytes of a lower layer's file that a tree snapshot of the layer cache does not
    /// keep: enough to merge the layers above, never to write (opening it fails).
    NotKept { len: u64 },
    /// A sparse file from an archive: data segments on disk, holes read as zeros.
    Sparse(crate::sparse::SparseContent),
}

impl Content {
    /// The number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Empty => 0,
            Content::Inline(b) => b.len() as u64,
            Content::Range { len, .. } | Content::NotKept { len } => *len,
            Content::Sparse(s) => s.size,
        }
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A whole file on disk.
    pub fn whole_file(path: impl Into<PathBuf>, len: u64) -> Content {
        if len == 0 {
            return Content::Empty;
        }
        Content::Range {
            file: Arc::new(path.into()),
            offset: 0,
            len,
        }
    }

    /// Open a reader over exactly these bytes.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Content::Empty => Ok(Box::new(io::empty())),
            Content::Inline(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Content::Range { file, offset, len } => {
                let mut f = File::open(file.as_path())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
                f.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(ExactReader {
                    inner: f.take(*len),
                    remaining: *len,
                    path: file.clone(),
                }))
            }
            Content::NotKept { .. } => Err(io::Error::other(
                "the bytes of this lower-layer file are not kept by the layer cache",
            )),
            Content::Sparse(s) => Ok(Box::new(s.open()?)),
        }
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Empty => write!(f, "Empty"),
            Content::Inline(b) => write!(f, "Inline({} bytes)", b.len()),
            Content::Range { file, offset, len } => {
                write!(f, "Range({}@{}+{})", file.display(), offset, len)
            }
            Content::NotKept { len } => write!(f, "NotKept({len})"),
            Content::Sparse(s) => write!(f, "{s:?}"),
        }
    }
}

/// A reader that fails instead of returning short data when its file shrank.
struct ExactReader {
    inner: io::Take<File>,
    remaining: u64,
    path: Arc<PathBuf>,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: file ended {} bytes early (was it changed during the build?)",
                    self.path.display(),
                    self.remaining
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// What kind of filesystem object an entry is, with the data only that kind has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file; its size is `content.len()`.
    File(Content),
    Dir,
    /// A symbolic link; the target is kept verbatim (it may be relative, absolute, or dangle).
    Symlink(Vec<u8>),
    /// A hard link to another path in the same tree (normalised).
    HardLink(ImagePath),
    CharDevice {
        major: u64,
        minor: u64,
    },
    BlockDevice {
        major: u64,
        minor: u64,
    },
    Fifo,
}

impl Kind {
    /// A short name for messages and listings.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File(_) => "file",
            Kind::Dir => "dir",
            Kind::Symlink(_) => "symlink",
            Kind::HardLink(_) => "hardlink",
            Kind::CharDevice { .. } => "char-device",
            Kind::BlockDevice { .. } => "block-device",
            Kind::Fifo => "fifo",
        }
    }
}

/// One normalised filesystem entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: ImagePath,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky: always `& 0o7777`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The mtime the input carried (seconds). Writers replace it with the build epoch; it
    /// is kept for `compose diff`.
    pub mtime: i64,
    /// Extended attributes, sorted by name (`security.capability`, `user.*`, …).
    pub xattrs: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Entry {
    /// A directory 0755 0:0, as created for missing parents.
    pub fn dir(path: ImagePath) -> Entry {
        Entry {
            path,
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Default::default(),
        }
    }

    /// An entry of `kind` with the given mode, owned by 0:0.
    pub fn new(path: ImagePath, kind: Kind, mode: u32) -> Entry {
        Entry {
            path,
            kind,
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Default::default(),
        }
    }

    /// The regular-file size, 0 for every other kind.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(c) => c.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<u8> {
        ImagePath::parse(s.as_bytes()).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn normalises_path_forms() {
        assert_eq!(p("/a"), b"a");
        assert_eq!(p("./a"), b"a");
        assert_eq!(p("a//b"), b"a/b");
        assert_eq!(p("a/./b/"), b"a/b");
        assert_eq!(p("./"), b"");
        assert_eq!(p("/"), b"");
    }

    #[test]
    fn rejects_hostile_paths() {
        assert_eq!(ImagePath::parse(b"a/../b"), Err(PathError::DotDot));
        assert_eq!(ImagePath::parse(b"../x"), Err(PathError::DotDot));
        assert_eq!(ImagePath::parse(b"a\0b"), Err(PathError::Nul));
        assert_eq!(ImagePath::parse(b""), Err(PathError::Empty));
    }

    #[test]
    fn parent_join_and_prefix() {
        let a = ImagePath::parse(b"usr/lib/x").unwrap();
        assert_eq!(a.parent().unwrap().as_bytes(), b"usr/lib");
        assert_eq!(a.file_name(), b"x");
        assert_eq!(ImagePath::root().join(b"etc").as_bytes(), b"etc");
        assert!(a.starts_with(&ImagePath::parse(b"usr").unwrap()));
        assert!(!ImagePath::parse(b"usrx")
            .unwrap()
            .starts_with(&ImagePath::parse(b"usr").unwrap()));
        assert!(a.starts_with(&ImagePath::root()));
    }
}
