//! Shared test helpers for the merger: compact entry constructors, a listing format, and
//! a deliberately naive reference applier (a flat map from path components to nodes).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::merge::{canonical_cmp, Applied, MergeOptions, Tree};

pub fn p(s: &str) -> ImagePath {
    ImagePath::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// A regular file with inline content.
pub fn f(path: &str, mode: u32, content: &str) -> Entry {
    let c = if content.is_empty() {
        Content::Empty
    } else {
        Content::Inline(Arc::from(content.as_bytes()))
    };
    Entry::new(p(path), Kind::File(c), mode)
}
pub fn d(path: &str, mode: u32) -> Entry {
    Entry::new(p(path), Kind::Dir, mode)
}
pub fn l(path: &str, target: &str) -> Entry {
    Entry::new(p(path), Kind::Symlink(target.as_bytes().to_vec()), 0o777)
}
pub fn h(path: &str, target: &str) -> Entry {
    Entry::new(p(path), Kind::HardLink(p(target)), 0o644)
}
pub fn chr(path: &str, major: u64, minor: u64) -> Entry {
    Entry::new(p(path), Kind::CharDevice { major, minor }, 0o666)
}
pub fn blk(path: &str, major: u64, minor: u64) -> Entry {
    Entry::new(p(path), Kind::BlockDevice { major, minor }, 0o660)
}
pub fn fifo(path: &str) -> Entry {
    Entry::new(p(path), Kind::Fifo, 0o644)
}
/// The whiteout entry that deletes `path`.
pub fn wh(path: &str) -> Entry {
    let ip = p(path);
    let name = [b".wh.".as_slice(), ip.file_name()].concat();
    let wp = ip.parent().unwrap().join(&name);
    Entry::new(wp, Kind::File(Content::Empty), 0o644)
}
/// The opaque marker of directory `dir`.
pub fn opq(dir: &str) -> Entry {
    Entry::new(
        p(dir).join(b".wh..wh..opq"),
        Kind::File(Content::Empty),
        0o644,
    )
}
/// An empty regular file at a raw name (for whiteout-named oddities).
pub fn raw(path: &str) -> Entry {
    Entry::new(p(path), Kind::File(Content::Empty), 0o644)
}

/// Builder-style tweaks for table rows.
pub trait Tweak {
    fn own(self, uid: u64, gid: u64) -> Entry;
    fn x(self, key: &str, val: &str) -> Entry;
    fn mode(self, mode: u32) -> Entry;
}
impl Tweak for Entry {
    fn own(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
    fn x(mut self, key: &str, val: &str) -> Entry {
        self.xattrs.insert(key.to_string(), val.as_bytes().to_vec());
        self
    }
}

fn content_text(c: &Content) -> String {
    match c {
        Content::Empty => "\"\"".into(),
        Content::Inline(b) => format!("{:?}", String::from_utf8_lossy(b)),
        other => format!("{other:?}"),
    }
}

/// [`listing`] with files by size, not bytes: what a tree read from a layer-cache
/// snapshot (which keeps no contents) is compared by.
pub fn sized_listing(entries: &[Entry]) -> String {
    let sized: Vec<Entry> = entries
        .iter()
        .cloned()
        .map(|mut e| {
            if let Kind::File(c) = &e.kind {
                if !c.is_empty() {
                    e.kind = Kind::File(Content::NotKept { len: c.len() });
                }
            }
            e
        })
        .collect();
    listing(&sized)
}

/// One line per entry: `/path kind mode uid:gid [detail] [xattrs]`.
pub fn listing(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let detail = match &e.kind {
            Kind::File(c) => format!(" {}", content_text(c)),
            Kind::Dir | Kind::Fifo => String::new(),
            Kind::Symlink(t) => format!(" -> {}", String::from_utf8_lossy(t)),
            Kind::HardLink(t) => format!(" => {}", t.display()),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                format!(" {major},{minor}")
            }
        };
        let xattrs: String = e
            .xattrs
            .iter()
            .map(|(k, v)| format!(" {k}={}", String::from_utf8_lossy(v)))
            .collect();
        out.push_str(&format!(
            "{} {} {:04o} {}:{}{}{}\n",
            e.path.display(),
            e.kind.name(),
            e.mode,
            e.uid,
            e.gid,
            detail,
            xattrs
        ));
    }
    out
}

/// How the reference applies a layer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// The documented policy: opaque markers, then whiteouts (lower layers only), then
    /// entries.
    Phased,
    /// Like a runtime extracting a tar entry by entry: a whiteout deletes at once, an
    /// opaque marker deletes the children not written earlier in this layer.
    Sequential,
}

type Key = Vec<Vec<u8>>;

/// The naive reference filesystem: path components → inode number; inode → metadata.
#[derive(Clone, Debug)]
pub struct RefFs {
    map: BTreeMap<Key, usize>,
    inodes: Vec<Entry>,
}

fn key(path: &ImagePath) -> Key {
    path.components().map(<[u8]>::to_vec).collect()
}

fn under(k: &Key, prefix: &Key) -> bool {
    k.len() > prefix.len() && k.starts_with(prefix)
}

impl Default for RefFs {
    fn default() -> Self {
        Self::new()
    }
}

impl RefFs {
    pub fn new() -> RefFs {
        let mut fs = RefFs {
            map: BTreeMap::new(),
            inodes: Vec::new(),
        };
        let ino = fs.ino(Entry::dir(ImagePath::root()));
        fs.map.insert(Vec::new(), ino);
        fs
    }

    /// A reference filesystem holding a merged listing (as from `Tree::entries`).
    pub fn from_entries(entries: Vec<Entry>) -> RefFs {
        let mut fs = RefFs::new();
        fs.apply(entries, Mode::Sequential)
            .expect("a merged listing applies");
        fs
    }

    fn ino(&mut self, e: Entry) -> usize {
        self.inodes.push(e);
        self.inodes.len() - 1
    }

    fn kind(&self, k: &Key) -> Option<&Kind> {
        self.map.get(k).map(|&i| &self.inodes[i].kind)
    }

    /// Resolve a directory path through symlinks, root-scoped. `Ok(None)` when missing or
    /// not a directory and `create` is false.
    fn resolve_dir(&mut self, path: &ImagePath, create: bool) -> Result<Option<Key>, String> {
        let mut todo: Vec<Vec<u8>> = key(path);
        todo.reverse();
        let mut at: Key = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                at.pop();
                continue;
            }
            let mut next = at.clone();
            next.push(c.clone());
            match self.kind(&next).cloned() {
                None if create => {
                    if c.starts_with(b".wh.") {
                        return Err("would create a whiteout-named dir".into());
                    }
                    let ino = self.ino(Entry::dir(ImagePath::root()));
                    self.map.insert(next.clone(), ino);
                    at = next;
                }
                None => return Ok(None),
                Some(Kind::Dir) => at = next,
                Some(Kind::Symlink(t)) => {
                    hops += 1;
                    if hops > 40 {
                        return Err("symlink loop".into());
                    }
                    if t.is_empty() || t.contains(&0) {
                        return Err("bad symlink".into());
                    }
                    if t[0] == b'/' {
                        at.clear();
                    }
                    for comp in t.split(|&b| b == b'/').rev() {
                        todo.push(comp.to_vec());
                    }
                }
                Some(_) if create => return Err("parent not a directory".into()),
                Some(_) => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    fn remove_tree(&mut self, k: &Key) {
        self.map.retain(|x, _| !(x == k || under(x, k)));
    }

    /// Apply one layer.
    pub fn apply(&mut self, entries: Vec<Entry>, mode: Mode) -> Result<(), String> {
        let mut written: BTreeSet<Key> = BTreeSet::new();
        let mut ordinary = Vec::new();
        let mut markers = Vec::new();
        for e in entries {
            if e.path
                .components()
                .any(|c| c.starts_with(b".wh..wh.") && c != b".wh..wh..opq")
            {
                continue;
            }
            let name = e.path.file_name().to_vec();
            if let Some(rest) = name.strip_prefix(b".wh.") {
                if rest == b".wh..opq" || !rest.starts_with(b".wh.") {
                    if rest.is_empty() || rest == b"." || rest == b".." {
                        return Err("bad whiteout".into());
                    }
                    markers.push(e.clone());
                    if mode == Mode::Sequential {
                        self.marker(&e, &written)?;
                    }
                }
                continue;
            }
            if mode == Mode::Sequential {
                let k = self.put(e)?;
                written.insert(k);
            } else {
                ordinary.push(e);
            }
        }
        if mode == Mode::Phased {
            markers.sort_by_key(|e| e.path.file_name() != b".wh..wh..opq");
            for m in &markers {
                self.marker(m, &written)?;
            }
            for e in ordinary {
                self.put(e)?;
            }
        }
        Ok(())
    }

    fn marker(&mut self, e: &Entry, written: &BTreeSet<Key>) -> Result<(), String> {
        let parent = e.path.parent().unwrap();
        let Some(dir) = self.resolve_dir(&parent, false)? else {
            return Ok(());
        };
        let name = e.path.file_name();
        if name == b".wh..wh..opq" {
            let doomed: Vec<Key> = self
                .map
                .keys()
                .filter(|k| under(k, &dir) && !written.iter().any(|w| w == *k || under(w, k)))
                .cloned()
                .collect();
            for k in doomed {
                self.map.remove(&k);
            }
        } else {
            let mut k = dir;
            k.push(name[4..].to_vec());
            self.remove_tree(&k);
        }
        Ok(())
    }

    /// Put one ordinary entry; returns where it landed.
    fn put(&mut self, e: Entry) -> Result<Key, String> {
        if e.path.is_root() {
            if e.kind != Kind::Dir {
                return Err("root not a dir".into());
            }
            let ino = self.ino(e);
            self.map.insert(Vec::new(), ino);
            return Ok(Vec::new());
        }
        let link = match &e.kind {
            Kind::HardLink(t) => {
                let dir = self
                    .resolve_dir(&t.parent().unwrap(), false)?
                    .ok_or("link target missing")?;
                let mut tk = dir;
                tk.push(t.file_name().to_vec());
                match self.map.get(&tk) {
                    None => return Err("link target missing".into()),
                    Some(&i) if self.inodes[i].kind == Kind::Dir => {
                        return Err("link target dir".into())
                    }
                    Some(&i) => Some(i),
                }
            }
            _ => None,
        };
        let mut k = self
            .resolve_dir(&e.path.parent().unwrap(), true)?
            .expect("created");
        k.push(e.path.file_name().to_vec());
        let dir_over_dir = e.kind == Kind::Dir && self.kind(&k) == Some(&Kind::Dir);
        if !dir_over_dir {
            self.remove_tree(&k);
        }
        let ino = match link {
            Some(i) => {
                // A runtime chowns, chmods (not a symlink) and sets xattrs on the new name.
                let shared = &mut self.inodes[i];
                shared.uid = e.uid;
                shared.gid = e.gid;
                if !matches!(shared.kind, Kind::Symlink(_)) {
                    shared.mode = e.mode;
                }
                shared.xattrs.extend(e.xattrs.clone());
                i
            }
            None => self.ino(e),
        };
        self.map.insert(k.clone(), ino);
        Ok(k)
    }

    /// The merged listing in the same form as `Tree::entries`.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut first: BTreeMap<usize, ImagePath> = BTreeMap::new();
        for (k, &ino) in &self.map {
            let meta = &self.inodes[ino];
            let path = ImagePath::parse(&k.join(&b'/')).unwrap_or_default();
            if k.is_empty() {
                let default =
                    meta.mode == 0o755 && meta.uid == 0 && meta.gid == 0 && meta.xattrs.is_empty();
                if !default {
                    out.push(Entry {
                        path,
                        ..meta.clone()
                    });
                }
                continue;
            }
            let mut e = Entry {
                path: path.clone(),
                ..meta.clone()
            };
            if e.kind != Kind::Dir {
                match first.get(&ino) {
                    Some(t) => e.kind = Kind::HardLink(t.clone()),
                    None => {
                        first.insert(ino, path);
                    }
                }
            }
            out.push(e);
        }
        out
    }
}

/// Check a canonical layer's invariants against the merged listing below it.
pub fn check_canonical(layer: &[Entry], lower: &[Entry]) -> Result<(), String> {
    for w in layer.windows(2) {
        if canonical_cmp(&w[0].path, &w[1].path) != std::cmp::Ordering::Less {
            return Err(format!(
                "not strictly ascending: {} then {}",
                w[0].path, w[1].path
            ));
        }
    }
    let lower_paths: BTreeSet<&ImagePath> = lower.iter().map(|e| &e.path).collect();
    for (i, e) in layer.iter().enumerate() {
        if let Kind::HardLink(t) = &e.kind {
            let earlier = layer[..i].iter().any(|x| &x.path == t);
            if !earlier && !lower_paths.contains(t) {
                return Err(format!(
                    "hard link {} -> {} points neither earlier nor below",
                    e.path, t
                ));
            }
        }
        let name = e.path.file_name();
        if name.starts_with(b".wh..wh.") && name != b".wh..wh..opq" {
            return Err(format!("emitted aufs name {}", e.path));
        }
    }
    Ok(())
}

/// Apply layers to a `Tree` and check every canonical layer against a fresh sequential
/// reference applier over the previous merged listing. Returns the final listing, or the
/// first error's message.
pub fn merge_checked(layers: Vec<Vec<Entry>>, opts: &MergeOptions) -> Result<Vec<Entry>, String> {
    let mut tree = Tree::new();
    for (i, layer) in layers.into_iter().enumerate() {
        let before = tree.entries();
        let Applied { layer: canon, .. } = tree
            .apply(&format!("layer {}", i + 1), layer, opts)
            .map_err(|e| e.to_string())?;
        let after = tree.entries();
        check_canonical(&canon, &before)
            .unwrap_or_else(|e| panic!("layer {}: {e}\n{}", i + 1, listing(&canon)));
        let mut replay = RefFs::from_entries(before.clone());
        replay
            .apply(canon.clone(), Mode::Sequential)
            .unwrap_or_else(|e| panic!("layer {}: canonical layer does not apply: {e}", i + 1));
        assert_eq!(
            listing(&replay.entries()),
            listing(&after),
            "layer {}: canonical layer is not faithful:\nbefore:\n{}\ncanonical:\n{}",
            i + 1,
            listing(&before),
            listing(&canon)
        );
    }
    Ok(tree.entries())
}
