//! The merger against real inputs: the Alpine minirootfs (speed, size) and the podman-wh1
//! layers, whose merged tree as podman exported it is `expected.lst`.
//!
//! Fixtures are read from `$SCRATCH_SHARED/fixtures`, else `../shared/fixtures`; without them
//! these tests are skipped, except under `CI`, where they fail.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::merge::{canonical_cmp, MergeOptions, Tree};
use sha2::{Digest, Sha256};

fn fixtures() -> Option<PathBuf> {
    let dir = common::shared_root().join("fixtures");
    if dir.join("podman-wh1").is_dir() {
        return Some(dir);
    }
    common::missing("../shared/fixtures/podman-wh1")
}

/// Read a tar (optionally gzip) into entries with inline content (test inputs are small).
fn read_tar(path: &PathBuf) -> Vec<Entry> {
    let file = std::fs::File::open(path).unwrap();
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        let h = item.header().clone();
        let path = ImagePath::parse(&item.path_bytes()).unwrap();
        let link = || ImagePath::parse(&item.link_name_bytes().unwrap()).unwrap();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(item.link_name_bytes().unwrap().into_owned()),
            tar::EntryType::Link => Kind::HardLink(link()),
            tar::EntryType::Char => Kind::CharDevice {
                major: h.device_major().unwrap().unwrap_or(0).into(),
                minor: h.device_minor().unwrap().unwrap_or(0).into(),
            },
            tar::EntryType::Block => Kind::BlockDevice {
                major: h.device_major().unwrap().unwrap_or(0).into(),
                minor: h.device_minor().unwrap().unwrap_or(0).into(),
            },
            tar::EntryType::Fifo => Kind::Fifo,
            _ => {
                let mut data = Vec::new();
                item.read_to_end(&mut data).unwrap();
                Kind::File(if data.is_empty() {
                    Content::Empty
                } else {
                    Content::Inline(Arc::from(data))
                })
            }
        };
        let mut e = Entry::new(path, kind, h.mode().unwrap());
        e.uid = h.uid().unwrap();
        e.gid = h.gid().unwrap();
        e.mtime = h.mtime().unwrap() as i64;
        out.push(e);
    }
    out
}

/// The `tree-listing` format: PATH TYPE MODE UID:GID SIZE DETAIL.
fn tree_listing(entries: &[Entry]) -> String {
    let mut content: std::collections::HashMap<ImagePath, (u64, String)> = Default::default();
    let mut out = String::new();
    for e in entries {
        if e.path.is_root() {
            continue;
        }
        let (t, size, detail) = match &e.kind {
            Kind::Dir => ("d", 0, "-".to_string()),
            Kind::Symlink(t) => ("l", 0, String::from_utf8_lossy(t).into_owned()),
            Kind::File(c) => {
                let mut data = Vec::new();
                c.open().unwrap().read_to_end(&mut data).unwrap();
                let v = (c.len(), hex::encode(Sha256::digest(&data)));
                content.insert(e.path.clone(), v.clone());
                ("f", v.0, v.1)
            }
            Kind::HardLink(t) => {
                let (size, sha) = content[t].clone();
                ("f", size, sha)
            }
            Kind::CharDevice { major, minor } => ("c", 0, format!("{major},{minor}")),
            Kind::BlockDevice { major, minor } => ("b", 0, format!("{major},{minor}")),
            Kind::Fifo => ("p", 0, "-".to_string()),
        };
        out.push_str(&format!(
            "{} {t} {:04o} {}:{} {size} {detail}\n",
            String::from_utf8_lossy(e.path.as_bytes()),
            e.mode,
            e.uid,
            e.gid
        ));
    }
    out
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn podman_wh1_layers_merge_to_what_podman_exported() {
    let Some(fx) = fixtures() else { return };
    let opts = MergeOptions::default();
    let mut tree = Tree::new();
    let start = Instant::now();
    let base = read_tar(&fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"));
    let n = base.len();
    let read = start.elapsed();
    let start = Instant::now();
    let applied = tree.apply("layer 1 (minirootfs)", base, &opts).unwrap();
    let took = start.elapsed();
    eprintln!("minirootfs: {n} entries read in {read:?}, applied in {took:?}");
    assert!(applied.warnings.is_empty());
    assert!(n > 500 && applied.layer.len() >= n - 1);
    for (i, name) in ["layer-2.tar", "layer-3.tar"].iter().enumerate() {
        let layer = read_tar(&fx.join("podman-wh1").join(name));
        let applied = tree
            .apply(&format!("layer {}", i + 2), layer, &opts)
            .unwrap();
        assert!(applied
            .layer
            .windows(2)
            .all(|w| canonical_cmp(&w[0].path, &w[1].path).is_lt()));
    }
    let want = std::fs::read_to_string(fx.join("podman-wh1/expected.lst")).unwrap();
    let got = tree_listing(&tree.entries());
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .filter(|l| !got.lines().any(|g| g == *l))
            .map(|l| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|g| !want.lines().any(|l| l == *g))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "merged tree differs from expected.lst:\n{}",
            diff.join("\n")
        );
    }
}

#[test]
fn a_hundred_thousand_entries_apply_quickly() {
    let mut layer = Vec::with_capacity(100_400);
    for i in 0..400 {
        layer.push(Entry::dir(
            ImagePath::parse_str(&format!("d{i:03}")).unwrap(),
        ));
        for j in 0..250 {
            let p = ImagePath::parse_str(&format!("d{i:03}/sub/f{j:03}")).unwrap();
            let kind = if j % 10 == 9 {
                Kind::HardLink(ImagePath::parse_str(&format!("d{i:03}/sub/f{:03}", j - 1)).unwrap())
            } else {
                Kind::File(Content::Empty)
            };
            layer.push(Entry::new(p, kind, 0o644));
        }
    }
    let mut tree = Tree::new();
    let start = Instant::now();
    let applied = tree.apply("big", layer, &MergeOptions::default()).unwrap();
    let first = start.elapsed();
    let whiteouts: Vec<Entry> = (0..200)
        .map(|i| {
            Entry::new(
                ImagePath::parse_str(&format!("d{:03}/.wh.sub", i * 2)).unwrap(),
                Kind::File(Content::Empty),
                0o644,
            )
        })
        .collect();
    let second = tree
        .apply("wh", whiteouts, &MergeOptions::default())
        .unwrap();
    let entries = tree.entries();
    let took = start.elapsed();
    eprintln!("100k entries: applied in {first:?}; applied twice and listed in {took:?}");
    assert_eq!(applied.layer.len(), 400 + 400 + 100_000);
    assert_eq!(second.layer.len(), 200);
    assert_eq!(entries.len(), 400 + 200 + 50_000);
    // Generous for an unoptimised build on a shared machine; the release build is ~20x faster.
    assert!(took.as_secs() < 20, "too slow: {took:?}");
}
