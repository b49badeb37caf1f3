//! A merged tree's metadata without its contents: every name's kind, mode, owner, mtime,
//! xattrs, link target and size, indexed by directory. The layer cache keeps one beside a
//! layer so that a rebuild whose lower layers are all cached starts from it instead of
//! reading those layers again; a file's bytes are [`Content::NotKept`].
//!
//! The format is built to be read in place (mapped, not parsed): the merger looks up only
//! the directories a new layer touches (see [`crate::merge::Tree::over_snapshot`]), so a
//! rebuild over a 100,000-file base reads a few pages of it, not all of it.
//!
//! ```text
//! magic            "scratch-compose tree snapshot 2\n"
//! u64 records      how many names (record 0 is the root directory)
//! u64 offsets_at   where the record offset table starts (records × u64)
//! u64 children_at  where the children table starts (u32 record numbers)
//! u64 children     how many numbers it holds
//! records…         name, kind tag, a, b, data, mode, uid, gid, mtime, xattrs,
//!                  shared flag, first child, child count
//! ```
//!
//! Numbers are little-endian; byte strings are a u64 length and the bytes. A directory's
//! children are a run of the children table, sorted by name, so reading one directory
//! reads its run and those records only. A hard link's `a` is the record number of the
//! name it shares an inode with (the first in canonical order, never itself a link), and
//! its data that name's path; `shared` marks every record some link points to.

use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::merge::canonical_cmp;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

/// The first bytes of every snapshot; a different format version is simply not used.
const MAGIC: &[u8] = b"scratch-compose tree snapshot 2\n";
/// The header after the magic: four u64 numbers.
const HEADER: usize = MAGIC.len() + 4 * 8;

const TAG_FILE: u8 = 0;
const TAG_DIR: u8 = 1;
const TAG_SYMLINK: u8 = 2;
const TAG_LINK: u8 = 3;
const TAG_CHAR: u8 = 4;
const TAG_BLOCK: u8 = 5;
const TAG_FIFO: u8 = 6;

/// One name being encoded.
struct Node<'e> {
    name: &'e [u8],
    entry: Option<&'e Entry>,
    /// The record a hard link points to.
    link: Option<u32>,
    shared: bool,
    children: Vec<u32>,
}

/// The snapshot of `entries` (as [`crate::merge::Tree::entries`] gives them: unique
/// paths, hard links after the name they link to). Missing parents are written as
/// directories 0755 0:0, as the merger would create them; a hard link whose target is
/// not among the entries is left out.
pub fn encode_snapshot(entries: &[Entry]) -> Vec<u8> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| canonical_cmp(&a.path, &b.path));
    let mut nodes = vec![Node {
        name: b"",
        entry: None,
        link: None,
        shared: false,
        children: Vec::new(),
    }];
    let mut index: HashMap<&[u8], u32> = HashMap::new();
    index.insert(b"", 0);
    for e in sorted {
        let path = e.path.as_bytes();
        if path.is_empty() {
            nodes[0].entry = Some(e);
            continue;
        }
        // Parents first: canonical order puts every directory before its children, so a
        // parent missing here is one no entry describes.
        let mut parent = 0u32;
        let mut end = 0;
        for c in e.path.components() {
            let here = &path[..end + c.len()];
            end += c.len() + 1;
            if here.len() == path.len() {
                break;
            }
            parent = match index.get(here) {
                Some(&i) => i,
                None => {
                    let i = nodes.len() as u32;
                    nodes.push(Node {
                        name: c,
                        entry: None,
                        link: None,
                        shared: false,
                        children: Vec::new(),
                    });
                    nodes[parent as usize].children.push(i);
                    index.insert(here, i);
                    i
                }
            };
        }
        let link = match &e.kind {
            Kind::HardLink(t) => match index.get(t.as_bytes()) {
                Some(&t) => Some(t),
                None => continue,
            },
            _ => None,
        };
        let i = nodes.len() as u32;
        nodes.push(Node {
            name: e.path.file_name(),
            entry: Some(e),
            link,
            shared: false,
            children: Vec::new(),
        });
        if let Some(t) = link {
            nodes[t as usize].shared = true;
        }
        nodes[parent as usize].children.push(i);
        index.insert(path, i);
    }
    for n in 0..nodes.len() {
        let mut children = std::mem::take(&mut nodes[n].children);
        children.sort_by(|&a, &b| nodes[a as usize].name.cmp(nodes[b as usize].name));
        nodes[n].children = children;
    }
    write(&nodes)
}

fn write(nodes: &[Node]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.resize(HEADER, 0);
    let num = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&n.to_le_bytes());
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    };
    let default_dir = Entry::dir(ImagePath::root());
    let mut offsets = Vec::with_capacity(nodes.len());
    let mut table: Vec<u32> = Vec::new();
    for n in nodes {
        offsets.push(out.len() as u64);
        let e = n.entry.unwrap_or(&default_dir);
        bytes(&mut out, n.name);
        let (tag, a, b, data): (u8, u64, u64, &[u8]) = match &e.kind {
            Kind::File(c) => (TAG_FILE, c.len(), 0, b""),
            Kind::Dir => (TAG_DIR, 0, 0, b""),
            Kind::Symlink(t) => (TAG_SYMLINK, 0, 0, t),
            Kind::HardLink(t) => (TAG_LINK, u64::from(n.link.unwrap_or(0)), 0, t.as_bytes()),
            Kind::CharDevice { major, minor } => (TAG_CHAR, *major, *minor, b""),
            Kind::BlockDevice { major, minor } => (TAG_BLOCK, *major, *minor, b""),
            Kind::Fifo => (TAG_FIFO, 0, 0, b""),
        };
        out.push(tag);
        num(&mut out, a);
        num(&mut out, b);
        bytes(&mut out, data);
        num(&mut out, u64::from(e.mode));
        num(&mut out, e.uid);
        num(&mut out, e.gid);
        num(&mut out, e.mtime as u64);
        num(&mut out, e.xattrs.len() as u64);
        for (k, v) in &e.xattrs {
            bytes(&mut out, k.as_bytes());
            bytes(&mut out, v);
        }
        out.push(u8::from(n.shared));
        num(&mut out, table.len() as u64);
        num(&mut out, n.children.len() as u64);
        table.extend_from_slice(&n.children);
    }
    let offsets_at = out.len() as u64;
    for o in offsets {
        num(&mut out, o);
    }
    let children_at = out.len() as u64;
    for c in &table {
        out.extend_from_slice(&c.to_le_bytes());
    }
    let header = [
        nodes.len() as u64,
        offsets_at,
        children_at,
        table.len() as u64,
    ];
    for (i, n) in header.iter().enumerate() {
        let at = MAGIC.len() + i * 8;
        out[at..at + 8].copy_from_slice(&n.to_le_bytes());
    }
    out
}

/// The bytes of a snapshot: a mapped cache file, or bytes in memory.
enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// A snapshot read in place: each lookup reads only the records it needs. Every read is
/// bounds-checked, so a damaged snapshot gives `None`, never a panic.
pub struct Snapshot {
    bytes: Backing,
    records: u64,
    offsets_at: usize,
    children_at: usize,
    children: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot({} records)", self.records)
    }
}

/// One name of a snapshot.
#[derive(Debug, Clone)]
pub struct Record<'s> {
    /// The name in its directory (empty for the root).
    pub name: &'s [u8],
    /// Its kind; a file's content is [`Content::NotKept`] (or empty).
    pub kind: Kind,
    /// For a hard link, the record of the name whose inode it shares.
    pub link: Option<u32>,
    /// Whether a hard link points to this record.
    pub shared: bool,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    first_child: u64,
    child_count: u64,
}

impl Snapshot {
    /// Map the snapshot file at `path`; `None` when it is not a snapshot this version
    /// writes. The file must not change while mapped (a cache blob, which never does).
    pub fn open(path: &Path) -> std::io::Result<Option<Snapshot>> {
        let file = File::open(path)?;
        // SAFETY: cache blobs are written to a temporary name and renamed into place, and
        // never written again; a removal does not disturb a mapping.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Snapshot::with(Backing::Mapped(map)))
    }

    /// A snapshot held in memory; `None` when the bytes are not one this version writes.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Snapshot> {
        Snapshot::with(Backing::Owned(bytes))
    }

    fn with(bytes: Backing) -> Option<Snapshot> {
        let data: &[u8] = match &bytes {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        };
        let head = data.strip_prefix(MAGIC)?;
        let mut r = Reader { data: head };
        let (records, offsets_at, children_at, children) = (r.num()?, r.num()?, r.num()?, r.num()?);
        let len = data.len() as u64;
        let offsets_end = offsets_at.checked_add(records.checked_mul(8)?)?;
        let children_end = children_at.checked_add(children.checked_mul(4)?)?;
        if records == 0
            || offsets_at < HEADER as u64
            || offsets_end > children_at
            || children_end != len
        {
            return None;
        }
        Some(Snapshot {
            bytes,
            records,
            offsets_at: usize::try_from(offsets_at).ok()?,
            children_at: usize::try_from(children_at).ok()?,
            children,
        })
    }

    fn data(&self) -> &[u8] {
        match &self.bytes {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// How many names (the root included).
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Never: every snapshot holds at least the root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Record `i` (0 is the root).
    pub fn record(&self, i: u32) -> Option<Record<'_>> {
        let mut r = self.reader(i)?;
        let name = r.bytes()?;
        let tag = r.byte()?;
        let (a, b, raw) = (r.num()?, r.num()?, r.bytes()?);
        let mut link = None;
        let kind = match tag {
            TAG_FILE if a == 0 => Kind::File(Content::Empty),
            TAG_FILE => Kind::File(Content::NotKept { len: a }),
            TAG_DIR => Kind::Dir,
            TAG_SYMLINK => Kind::Symlink(raw.to_vec()),
            TAG_LINK => {
                link = Some(u32::try_from(a).ok().filter(|&t| t != i)?);
                Kind::HardLink(ImagePath::parse(raw).ok()?)
            }
            TAG_CHAR => Kind::CharDevice { major: a, minor: b },
            TAG_BLOCK => Kind::BlockDevice { major: a, minor: b },
            TAG_FIFO => Kind::Fifo,
            _ => return None,
        };
        let mode = u32::try_from(r.num()?).ok()?;
        let (uid, gid, mtime) = (r.num()?, r.num()?, r.num()? as i64);
        let mut xattrs = BTreeMap::new();
        for _ in 0..r.num()? {
            let k = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            xattrs.insert(k, r.bytes()?.to_vec());
        }
        let shared = r.byte()? != 0;
        let (first_child, child_count) = (r.num()?, r.num()?);
        if first_child.checked_add(child_count)? > self.children {
            return None;
        }
        Some(Record {
            name,
            kind,
            link,
            shared,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
            first_child,
            child_count,
        })
    }
}

impl Record<'_> {
    /// How many children the record has (a directory's).
    pub fn children_len(&self) -> u64 {
        self.child_count
    }
}

impl Snapshot {
    /// The `k`th child of `dir`, in name order.
    fn child_at(&self, dir: &Record, k: u64) -> Option<u32> {
        let at = self.children_at + usize::try_from(dir.first_child + k).ok()? * 4;
        Some(u32::from_le_bytes(
            self.data().get(at..at + 4)?.try_into().ok()?,
        ))
    }

    /// The record numbers of `dir`'s children, in name order (`None` for a damaged one).
    pub fn children<'a>(&'a self, dir: &'a Record) -> impl Iterator<Item = Option<u32>> + 'a {
        (0..dir.child_count).map(move |k| self.child_at(dir, k))
    }

    /// Only the name of record `i` (cheaper than the whole record).
    fn name_of(&self, i: u32) -> Option<&[u8]> {
        self.reader(i)?.bytes()
    }

    /// A reader at the start of record `i`, found through the offset table.
    fn reader(&self, i: u32) -> Option<Reader<'_>> {
        if u64::from(i) >= self.records {
            return None;
        }
        let data = self.data();
        let at = self.offsets_at + i as usize * 8;
        let offset = u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?);
        let start = usize::try_from(offset).ok()?;
        if start < HEADER || start >= self.offsets_at {
            return None;
        }
        Some(Reader {
            data: data.get(start..self.offsets_at)?,
        })
    }
}

/// The entries of a snapshot in canonical order, as [`crate::merge::Tree::entries`] gave
/// them (the root only when it is not 0755 0:0); files are [`Content::NotKept`]. `None`
/// when the bytes are not a snapshot this version writes, or are damaged.
pub fn decode_snapshot(data: &[u8]) -> Option<Vec<Entry>> {
    let snap = Snapshot::from_bytes(data.to_vec())?;
    let root = snap.record(0)?;
    let mut out = Vec::new();
    if (root.mode, root.uid, root.gid) != (0o755, 0, 0) || !root.xattrs.is_empty() {
        out.push(entry(ImagePath::root(), root.clone()));
    }
    let mut stack: Vec<(ImagePath, u32)> = Vec::new();
    let push = |stack: &mut Vec<(ImagePath, u32)>, dir: &Record, path: &ImagePath| {
        let kids: Option<Vec<u32>> = snap.children(dir).collect();
        let kids = kids?;
        for &k in kids.iter().rev() {
            let name = snap.name_of(k).filter(|n| valid_name(n))?;
            stack.push((path.join(name), k));
        }
        Some(())
    };
    push(&mut stack, &root, &ImagePath::root())?;
    let mut seen = 0u64;
    while let Some((path, i)) = stack.pop() {
        seen += 1;
        if seen > snap.len() {
            return None; // a cycle
        }
        let r = snap.record(i)?;
        push(&mut stack, &r, &path)?;
        out.push(entry(path, r));
    }
    Some(out)
}

/// Whether `name` can be a name of a merged tree (a snapshot with another is damaged).
pub fn valid_name(name: &[u8]) -> bool {
    !(name.is_empty()
        || name.contains(&b'/')
        || name.contains(&0)
        || name == b"."
        || name == b".."
        || name.starts_with(b".wh."))
}

fn entry(path: ImagePath, r: Record) -> Entry {
    Entry {
        path,
        kind: r.kind,
        mode: r.mode,
        uid: r.uid,
        gid: r.gid,
        mtime: r.mtime,
        xattrs: r.xattrs,
    }
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn num(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.num()?).ok()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse_str(s).unwrap()
    }

    /// Entries in canonical order, as a merged tree gives them.
    fn sample() -> Vec<Entry> {
        let mut file = Entry::new(
            p("etc/motd"),
            Kind::File(Content::Inline(b"hi\n"[..].into())),
            0o644,
        );
        file.uid = 7;
        file.xattrs.insert("user.x".into(), b"y".to_vec());
        let mut hard = file.clone();
        hard.path = p("etc/zhard");
        hard.kind = Kind::HardLink(p("etc/motd"));
        vec![
            Entry::dir(p("dev")),
            Entry::new(
                p("dev/null"),
                Kind::CharDevice { major: 1, minor: 3 },
                0o666,
            ),
            Entry::dir(p("etc")),
            Entry::new(p("etc/empty"), Kind::File(Content::Empty), 0o600),
            Entry::new(p("etc/link"), Kind::Symlink(b"motd".to_vec()), 0o777),
            file,
            hard,
        ]
    }

    #[test]
    fn a_snapshot_keeps_everything_but_the_bytes() {
        let entries = sample();
        let back = decode_snapshot(&encode_snapshot(&entries)).unwrap();
        assert_eq!(back.len(), entries.len());
        assert_eq!(back[5].kind, Kind::File(Content::NotKept { len: 3 }));
        assert_eq!((back[5].uid, &back[5].xattrs), (7, &entries[5].xattrs));
        for (a, b) in back.iter().zip(&entries) {
            if !matches!(a.kind, Kind::File(Content::NotKept { .. })) {
                assert_eq!(a, b);
            }
        }
        // Given in another order, the same snapshot.
        let mut shuffled = entries.clone();
        shuffled.reverse();
        assert_eq!(encode_snapshot(&shuffled), encode_snapshot(&entries));
    }

    #[test]
    fn lookups_read_one_directory() {
        let snap = Snapshot::from_bytes(encode_snapshot(&sample())).unwrap();
        let child = |dir: &Record, name: &[u8]| {
            snap.children(dir)
                .map(Option::unwrap)
                .find(|&c| snap.name_of(c) == Some(name))
        };
        let root = snap.record(0).unwrap();
        let etc = snap.record(child(&root, b"etc").unwrap()).unwrap();
        assert_eq!(etc.kind, Kind::Dir);
        assert_eq!(snap.children(&etc).count(), 4);
        assert_eq!(child(&etc, b"nope"), None);
        let hard = snap.record(child(&etc, b"zhard").unwrap()).unwrap();
        let motd = child(&etc, b"motd").unwrap();
        assert_eq!(hard.link, Some(motd));
        assert!(snap.record(motd).unwrap().shared);
        // Parents no entry names are directories 0755 0:0.
        let lone = encode_snapshot(&[Entry::new(p("a/b/c"), Kind::Fifo, 0o600)]);
        let back = decode_snapshot(&lone).unwrap();
        let paths: Vec<String> = back.iter().map(|e| e.path.display()).collect();
        assert_eq!(paths, ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(back[0], Entry::dir(p("a")));
    }

    #[test]
    fn damaged_snapshots_are_refused_not_trusted() {
        let good = encode_snapshot(&sample());
        assert!(decode_snapshot(b"something else").is_none());
        let mut cut = good.clone();
        cut.pop();
        assert!(decode_snapshot(&cut).is_none());
        // Every single-byte change either decodes or is refused; none panics.
        for i in MAGIC.len()..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = decode_snapshot(&bad);
        }
    }
}
