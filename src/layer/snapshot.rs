//! A merged tree's metadata without its contents: every entry's path, kind, mode, owner,
//! mtime, xattrs, link target and size, in a compact length-prefixed form. The layer cache
//! keeps one beside a layer so that a rebuild whose lower layers are all cached starts from
//! it instead of reading those layers again; a file's bytes are [`Content::NotKept`].

use crate::entry::{Content, Entry, ImagePath, Kind};
use std::collections::BTreeMap;

/// The first bytes of every snapshot; a different format version is simply not used.
const MAGIC: &[u8] = b"scratch-compose tree snapshot 1\n";

/// The snapshot of `entries` (as [`crate::merge::Tree::entries`] gives them).
pub fn encode_snapshot(entries: &[Entry]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    };
    let num = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&n.to_le_bytes());
    num(&mut out, entries.len() as u64);
    for e in entries {
        bytes(&mut out, e.path.as_bytes());
        let (tag, a, b, data): (u8, u64, u64, &[u8]) = match &e.kind {
            Kind::File(c) => (0, c.len(), 0, b""),
            Kind::Dir => (1, 0, 0, b""),
            Kind::Symlink(t) => (2, 0, 0, t),
            Kind::HardLink(t) => (3, 0, 0, t.as_bytes()),
            Kind::CharDevice { major, minor } => (4, *major, *minor, b""),
            Kind::BlockDevice { major, minor } => (5, *major, *minor, b""),
            Kind::Fifo => (6, 0, 0, b""),
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
    }
    out
}

/// The entries of a snapshot, files as [`Content::NotKept`]; `None` when the bytes are not
/// a snapshot this version writes.
pub fn decode_snapshot(data: &[u8]) -> Option<Vec<Entry>> {
    let mut r = Reader {
        data: data.strip_prefix(MAGIC)?,
    };
    let n = r.num()?;
    let mut entries = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        let path = match r.bytes()? {
            b"" => ImagePath::root(),
            raw => ImagePath::parse(raw).ok()?,
        };
        let tag = r.byte()?;
        let (a, b, data) = (r.num()?, r.num()?, r.bytes()?);
        let kind = match tag {
            0 if a == 0 => Kind::File(Content::Empty),
            0 => Kind::File(Content::NotKept { len: a }),
            1 => Kind::Dir,
            2 => Kind::Symlink(data.to_vec()),
            3 => Kind::HardLink(ImagePath::parse(data).ok()?),
            4 => Kind::CharDevice { major: a, minor: b },
            5 => Kind::BlockDevice { major: a, minor: b },
            6 => Kind::Fifo,
            _ => return None,
        };
        let mode = u32::try_from(r.num()?).ok()?;
        let (uid, gid, mtime) = (r.num()?, r.num()?, r.num()? as i64);
        let mut xattrs = BTreeMap::new();
        for _ in 0..r.num()? {
            let k = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            xattrs.insert(k, r.bytes()?.to_vec());
        }
        entries.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        });
    }
    r.data.is_empty().then_some(entries)
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

    #[test]
    fn a_snapshot_keeps_everything_but_the_bytes() {
        let p = |s: &str| ImagePath::parse_str(s).unwrap();
        let mut file = Entry::new(
            p("etc/motd"),
            Kind::File(Content::Inline(b"hi\n"[..].into())),
            0o644,
        );
        file.uid = 7;
        file.xattrs.insert("user.x".into(), b"y".to_vec());
        let entries = vec![
            Entry::dir(ImagePath::root()),
            Entry::dir(p("etc")),
            file,
            Entry::new(p("etc/empty"), Kind::File(Content::Empty), 0o600),
            Entry::new(p("etc/link"), Kind::Symlink(b"motd".to_vec()), 0o777),
            Entry::new(p("etc/hard"), Kind::HardLink(p("etc/motd")), 0o644),
            Entry::new(
                p("dev/null"),
                Kind::CharDevice { major: 1, minor: 3 },
                0o666,
            ),
        ];
        let back = decode_snapshot(&encode_snapshot(&entries)).unwrap();
        assert_eq!(back.len(), entries.len());
        assert_eq!(back[2].kind, Kind::File(Content::NotKept { len: 3 }));
        assert_eq!((back[2].uid, &back[2].xattrs), (7, &entries[2].xattrs));
        for (a, b) in back
            .iter()
            .zip(&entries)
            .filter(|(a, _)| !matches!(a.kind, Kind::File(Content::NotKept { .. })))
        {
            assert_eq!(a, b);
        }
        assert!(decode_snapshot(b"something else").is_none());
        let mut cut = encode_snapshot(&entries);
        cut.pop();
        assert!(decode_snapshot(&cut).is_none());
    }
}
