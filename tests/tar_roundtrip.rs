//! Property tests: whatever entries the writer accepts, the reader gives back; and no
//! damaged archive makes the reader panic.

use proptest::prelude::*;
use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::layer::{read_tar, TarWriter};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

/// A path component: any bytes but `/` and NUL, never `.` or `..`.
fn component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(1u8..=255, 1..12),
        proptest::collection::vec(1u8..=255, 60..110),
    ]
    .prop_map(|v| {
        v.into_iter()
            .map(|b| if b == b'/' { b'_' } else { b })
            .collect()
    })
    .prop_filter("not . or ..", |c: &Vec<u8>| c != b"." && c != b"..")
}

fn path() -> impl Strategy<Value = ImagePath> {
    proptest::collection::vec(component(), 1..5)
        .prop_map(|cs| ImagePath::parse(&cs.join(&b'/')).unwrap())
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1500).prop_map(|d| Kind::File(if d.is_empty() {
            Content::Empty
        } else {
            Content::Inline(Arc::from(d))
        })),
        Just(Kind::Dir),
        proptest::collection::vec(1u8..=255, 0..300).prop_map(Kind::Symlink),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Kind::CharDevice {
            major: u64::from(a),
            minor: u64::from(b)
        }),
        (0u64..300, 0u64..300).prop_map(|(major, minor)| Kind::BlockDevice { major, minor }),
        Just(Kind::Fifo),
    ]
}

fn xattrs() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("security.capability".to_string()),
            "user\\.[a-z0-9._-]{1,20}",
        ],
        proptest::collection::vec(any::<u8>(), 0..40),
        0..3,
    )
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        path(),
        kind(),
        0u32..0o10000,
        prop_oneof![0u64..70000, 0u64..u64::from(u32::MAX)],
        prop_oneof![0u64..70000, 0u64..u64::from(u32::MAX)],
        xattrs(),
    )
        .prop_map(|(path, kind, mode, uid, gid, xattrs)| Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime: 0,
            xattrs,
        })
}

/// Entries with unique paths, plus hard links to earlier non-directories.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    (
        proptest::collection::vec(entry(), 1..25),
        proptest::collection::vec((any::<prop::sample::Index>(), path()), 0..4),
    )
        .prop_map(|(list, links)| {
            let mut seen = std::collections::HashSet::new();
            let mut out: Vec<Entry> = list
                .into_iter()
                .filter(|e| seen.insert(e.path.clone()))
                .collect();
            for (idx, p) in links {
                let target = &out[idx.index(out.len())];
                if target.kind != Kind::Dir && seen.insert(p.clone()) {
                    let t = target.path.clone();
                    out.push(Entry::new(p, Kind::HardLink(t), 0o644));
                }
            }
            out
        })
}

fn bytes_of(c: &Content) -> Vec<u8> {
    let mut v = Vec::new();
    c.open().unwrap().read_to_end(&mut v).unwrap();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_gives_the_entries_back(list in entries(), epoch in 0u64..(1 << 34)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut w = TarWriter::new(std::fs::File::create(&path).unwrap(), Epoch(epoch));
        for e in &list {
            w.append(e).unwrap();
        }
        w.finish().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        prop_assert_eq!(len % 512, 0);
        let back = read_tar(&path, "prop").unwrap();
        prop_assert_eq!(back.len(), list.len());
        for (a, b) in list.iter().zip(&back) {
            prop_assert_eq!(&a.path, &b.path);
            prop_assert_eq!((a.mode, a.uid, a.gid), (b.mode, b.uid, b.gid));
            prop_assert_eq!(b.mtime, epoch as i64);
            prop_assert_eq!(&a.xattrs, &b.xattrs);
            match (&a.kind, &b.kind) {
                (Kind::File(x), Kind::File(y)) => prop_assert_eq!(bytes_of(x), bytes_of(y)),
                (x, y) => prop_assert_eq!(x, y),
            }
        }
    }

    #[test]
    fn damaged_archives_never_panic(
        list in entries(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut w = TarWriter::new(Vec::new(), Epoch(0));
        for e in &list {
            w.append(e).unwrap();
        }
        let mut bytes = w.finish().unwrap();
        for (i, b) in damage {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.tar");
        std::fs::write(&path, &bytes).unwrap();
        // Any result is fine; a panic is not. File contents must stay readable when Ok.
        if let Ok(entries) = read_tar(&path, "damaged") {
            for e in entries {
                if let Kind::File(c) = &e.kind {
                    prop_assert_eq!(bytes_of(c).len() as u64, c.len());
                }
            }
        }
    }
}
