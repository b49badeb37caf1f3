//! GNU sparse files: archives made by GNU tar in every sparse format (PAX 0.0, 0.1, 1.0 and
//! the old GNU `S` type) read to the same names, sizes and bytes as Go's archive/tar (the
//! reader containerd, Docker and umoci use: `tests/data/go_tar_list/main.go`), are written
//! expanded by the canonical writer, stream a 1 GiB hole without holding it, and refuse
//! malformed maps with context.

mod common;

use common::cli::have_tool;
use scratch_compose::entry::{Content, Entry, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::layer::{read_tar, LayerError, TarWriter};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

/// `tar` option sets for each sparse format GNU tar writes.
const FORMATS: &[(&str, &[&str])] = &[
    ("pax-0.0", &["--format=posix", "--sparse-version=0.0"]),
    ("pax-0.1", &["--format=posix", "--sparse-version=0.1"]),
    ("pax-1.0", &["--format=posix", "--sparse-version=1.0"]),
    ("gnu-S", &["--format=gnu"]),
];

/// A file of `size` bytes holding `chunks` (offset, bytes), holes elsewhere.
fn sparse_file(path: &Path, size: u64, chunks: &[(u64, &[u8])]) {
    let mut f = std::fs::File::create(path).unwrap();
    for (at, bytes) in chunks {
        f.seek(SeekFrom::Start(*at)).unwrap();
        f.write_all(bytes).unwrap();
    }
    f.set_len(size).unwrap();
}

/// Sparse files of every shape: holes inside, at the start, at the end, only a hole,
/// more segments than an old GNU header holds (extension blocks) and than one 1.0 map
/// block holds, plus an ordinary file and an empty one.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    sparse_file(
        &root.join("var/log/lastlog"),
        300_000,
        &[(0, b"root"), (100_000, b"middle"), (299_996, b"last")],
    );
    sparse_file(&root.join("starts-with-hole"), 70_000, &[(65_536, b"data")]);
    sparse_file(&root.join("ends-with-hole"), 90_000, &[(0, b"data")]);
    sparse_file(&root.join("only-hole"), 50_000, &[]);
    let many: Vec<(u64, Vec<u8>)> = (0..150u64)
        .map(|i| (i * 16_384, format!("segment {i}").into_bytes()))
        .collect();
    let many: Vec<(u64, &[u8])> = many.iter().map(|(o, b)| (*o, b.as_slice())).collect();
    sparse_file(&root.join("many"), 150 * 16_384, &many);
    std::fs::write(root.join("plain"), b"not sparse\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
}

fn gnu_tar(tree: &Path, options: &[&str], out: &Path, members: &[&str]) {
    let st = Command::new("tar")
        .args(options)
        .args(["--sparse", "--sort=name", "--owner=0", "--group=0", "-C"])
        .arg(tree)
        .arg("-cf")
        .arg(out)
        .args(members)
        .env("LC_ALL", "C")
        .status()
        .unwrap();
    assert!(st.success(), "tar {options:?}");
}

/// Go's view: (name, size, sha256) of each regular file, `./` stripped. `None` (a skip)
/// when Go is not installed outside CI.
fn go_view(tar: &Path) -> Option<Vec<(String, u64, String)>> {
    if !have_tool("go") {
        return None;
    }
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go_tar_list/main.go");
    let out = Command::new("go")
        .arg("run")
        .arg(&program)
        .arg(tar)
        .env("GO111MODULE", "off")
        .output()
        .expect("go runs");
    assert!(
        out.status.success(),
        "go: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut view = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = v[1].as_str().unwrap();
        if !matches!(kind, "0" | "S") {
            continue;
        }
        let name = v[0].as_str().unwrap().trim_start_matches("./").to_string();
        view.push((
            name,
            v[2].as_u64().unwrap(),
            v[3].as_str().unwrap().to_string(),
        ));
    }
    Some(view)
}

fn sha_of(c: &Content) -> String {
    let mut h = Sha256::new();
    std::io::copy(&mut c.open().unwrap(), &mut h).unwrap();
    hex::encode(h.finalize())
}

fn our_view(entries: &[Entry]) -> Vec<(String, u64, String)> {
    entries
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::File(c) => Some((
                String::from_utf8_lossy(e.path.as_bytes()).into_owned(),
                c.len(),
                sha_of(c),
            )),
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs go (cargo test -- --ignored runs it; CI does)"]
fn gnu_tar_sparse_formats_read_like_go() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let mut canonical = Vec::new();
    for (name, options) in FORMATS {
        let tar = dir.path().join(format!("{name}.tar"));
        gnu_tar(&tree, options, &tar, &["."]);
        let entries = read_tar(&tar, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = our_view(&entries);
        assert_eq!(ours.len(), 7, "{name}: {ours:?}");
        let sparse = entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::File(Content::Sparse(_))))
            .count();
        assert!(sparse >= 4, "{name}: only {sparse} entries read as sparse");
        let lastlog = ours.iter().find(|f| f.0 == "var/log/lastlog").unwrap();
        assert_eq!(lastlog.1, 300_000, "{name}");
        if let Some(go) = go_view(&tar) {
            assert_eq!(ours, go, "{name}: ours (left) and Go's archive/tar (right)");
        }

        // The canonical writer expands the holes: what it writes reads back as ordinary
        // files with the same bytes.
        let out = dir.path().join(format!("{name}.canonical.tar"));
        let mut w = TarWriter::new(std::fs::File::create(&out).unwrap(), Epoch(1));
        for e in &entries {
            w.append(e).unwrap();
        }
        w.finish().unwrap();
        let back = read_tar(&out, "canonical").unwrap();
        assert!(back
            .iter()
            .all(|e| !matches!(e.kind, Kind::File(Content::Sparse(_)))));
        assert_eq!(our_view(&back), ours, "{name}: canonical output");
        canonical.push(std::fs::read(&out).unwrap());
    }
    // The same files archived without --sparse write the same canonical bytes: how a
    // file's holes were stored never reaches the layer digest.
    let plain = dir.path().join("plain.tar");
    let st = Command::new("tar")
        .args([
            "--format=posix",
            "--sort=name",
            "--owner=0",
            "--group=0",
            "-C",
        ])
        .arg(&tree)
        .arg("-cf")
        .arg(&plain)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let mut w = TarWriter::new(Vec::new(), Epoch(1));
    for e in read_tar(&plain, "plain").unwrap() {
        w.append(&e).unwrap();
    }
    let plain_canonical = w.finish().unwrap();
    for (c, (name, _)) in canonical.iter().zip(FORMATS) {
        assert!(
            *c == plain_canonical,
            "{name}: canonical bytes differ from --sparse-less"
        );
    }
}

/// Bytes of this process's peak resident set (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
#[ignore = "needs go (cargo test -- --ignored runs it; CI does)"]
fn a_one_gib_hole_streams_without_being_held() {
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    sparse_file(&tree.join("big"), GIB + 4, &[(0, b"head"), (GIB, b"tail")]);
    // What `tar -S` and `tar --sparse --format=posix` write by default (the other two
    // forms differ only in where the map is, read by the same code as above); streaming is
    // the same reader for all.
    for (name, options) in FORMATS
        .iter()
        .filter(|(n, _)| matches!(*n, "pax-1.0" | "gnu-S"))
    {
        let tar = dir.path().join(format!("{name}.tar"));
        gnu_tar(&tree, options, &tar, &["big"]);
        assert!(std::fs::metadata(&tar).unwrap().len() < 1 << 20);
        let entries = read_tar(&tar, name).unwrap();
        let Kind::File(content) = &entries[0].kind else {
            panic!("{name}: not a file")
        };
        assert!(matches!(content, Content::Sparse(_)), "{name}");
        assert_eq!(content.len(), GIB + 4, "{name}");
        // Stream all of it: the data where it belongs, zeros elsewhere.
        let mut r = content.open().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let zeros = vec![0u8; 1 << 20];
        let (mut pos, mut head, mut tail, mut stray) = (0u64, Vec::new(), Vec::new(), 0u64);
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            if chunk == &zeros[..n] {
                pos += n as u64;
                continue;
            }
            for (i, &b) in chunk.iter().enumerate().filter(|(_, &b)| b != 0) {
                match pos + i as u64 {
                    0..4 => head.push(b),
                    p if p >= GIB => tail.push(b),
                    _ => stray += 1,
                }
            }
            pos += n as u64;
        }
        assert_eq!(pos, GIB + 4, "{name}");
        assert_eq!(
            (head.as_slice(), tail.as_slice(), stray),
            (&b"head"[..], &b"tail"[..], 0)
        );
        if let Some(go) = go_view(&tar) {
            assert_eq!(go[0].1, GIB + 4, "{name}: Go's size");
        }
    }
    let peak = peak_rss();
    assert!(
        peak < 256 << 20,
        "peak RSS {peak} bytes after streaming 1 GiB holes"
    );
}

// ---------------------------------------------------------------------------------------
// Hand-made archives: malformed maps are errors naming the entry.

fn header(name: &str, typeflag: u8, size: u64, gnu: bool) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b[100..107].copy_from_slice(b"0000644");
    b[108..115].copy_from_slice(b"0000000");
    b[116..123].copy_from_slice(b"0000000");
    b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    b[136..147].copy_from_slice(b"00000000000");
    b[156] = typeflag;
    if gnu {
        b[257..265].copy_from_slice(b"ustar  \0");
    } else {
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
    }
    b
}

fn seal(b: &mut [u8; 512]) {
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
}

fn push(ar: &mut Vec<u8>, mut b: [u8; 512], data: &[u8]) {
    seal(&mut b);
    ar.extend_from_slice(&b);
    ar.extend_from_slice(data);
    ar.resize(ar.len().div_ceil(512) * 512, 0);
}

fn pax_data(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

fn pax_sparse(records: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
    let mut ar = Vec::new();
    let rec = pax_data(records);
    push(
        &mut ar,
        header("PaxHeaders/f", b'x', rec.len() as u64, false),
        &rec,
    );
    push(
        &mut ar,
        header("GNUSparseFile.1/f", b'0', data.len() as u64, false),
        data,
    );
    ar.extend_from_slice(&[0u8; 1024]);
    ar
}

/// Read an archive, and the bytes of each of its files.
fn read(bytes: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, LayerError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.tar");
    std::fs::write(&p, bytes).unwrap();
    let entries = read_tar(&p, "t.tar")?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let mut data = Vec::new();
            if let Kind::File(c) = &e.kind {
                c.open().unwrap().read_to_end(&mut data).unwrap();
            }
            (e, data)
        })
        .collect())
}

#[test]
fn a_hand_made_1_0_map_reads() {
    let mut data = b"2\n3\n2\n8\n1\n".to_vec();
    data.resize(512, 0);
    data.extend_from_slice(b"abc");
    let v = [
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "real/name"),
        ("GNU.sparse.realsize", "10"),
    ];
    let entries = read(&pax_sparse(&v, &data)).unwrap();
    assert_eq!(entries[0].0.path.as_bytes(), b"real/name");
    assert_eq!(entries[0].1, b"\0\0\0ab\0\0\0c\0");
}

#[test]
fn malformed_maps_are_errors_with_context() {
    let v10 = |size: &'static str| {
        vec![
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.realsize", size),
        ]
    };
    let map_then = |map: &[u8], data: &[u8]| {
        let mut d = map.to_vec();
        d.resize(d.len().div_ceil(512) * 512, 0);
        d.extend_from_slice(data);
        d
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "overlap",
            pax_sparse(&v10("10"), &map_then(b"2\n0\n4\n2\n2\n", b"abcdef")),
            "overlaps",
        ),
        (
            "past the end",
            pax_sparse(&v10("4"), &map_then(b"1\n2\n4\n", b"abcd")),
            "past the file size",
        ),
        (
            "stored bytes differ",
            pax_sparse(&v10("10"), &map_then(b"1\n0\n4\n", b"abcdefgh")),
            "stores",
        ),
        (
            "map past the data",
            pax_sparse(&v10("10"), format!("300\n{}", "0\n".repeat(254)).as_bytes()),
            "runs past",
        ),
        (
            "huge count",
            pax_sparse(&v10("10"), &map_then(b"99999999999\n", b"")),
            "more than",
        ),
        (
            "unknown version",
            pax_sparse(
                &[
                    ("GNU.sparse.major", "2"),
                    ("GNU.sparse.minor", "0"),
                    ("GNU.sparse.realsize", "4"),
                ],
                b"abcd",
            ),
            "2.0",
        ),
        (
            "0.1 odd map",
            pax_sparse(
                &[("GNU.sparse.size", "4"), ("GNU.sparse.map", "0,2,3")],
                b"ab",
            ),
            "odd number",
        ),
    ];
    for (what, bytes, want) in cases {
        let err = read(&bytes).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(want), "{what}: {text}");
        assert!(
            text.contains("t.tar") && text.contains("entry 0"),
            "{what}: {text}"
        );
    }
    // A sparse map on a directory.
    let rec = pax_data(&[("GNU.sparse.size", "4"), ("GNU.sparse.map", "0,0")]);
    let mut ar = Vec::new();
    push(
        &mut ar,
        header("PaxHeaders/d", b'x', rec.len() as u64, false),
        &rec,
    );
    push(&mut ar, header("d", b'5', 0, false), b"");
    let err = read(&ar).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn old_gnu_headers_with_extension_blocks() {
    // Six segments: four in the header, two in one extension block.
    let mut h = header("f", b'S', 6, true);
    for i in 0..4usize {
        let at = 386 + i * 24;
        h[at..at + 11].copy_from_slice(format!("{:011o}", i * 10).as_bytes());
        h[at + 12..at + 23].copy_from_slice(b"00000000001");
    }
    h[482] = 1;
    h[483..494].copy_from_slice(format!("{:011o}", 60).as_bytes());
    let mut ext = [0u8; 512];
    for (j, off) in [40u64, 50].iter().enumerate() {
        ext[j * 24..j * 24 + 11].copy_from_slice(format!("{off:011o}").as_bytes());
        ext[j * 24 + 12..j * 24 + 23].copy_from_slice(b"00000000001");
    }
    let mut ar = Vec::new();
    seal(&mut h);
    ar.extend_from_slice(&h);
    ar.extend_from_slice(&ext);
    let mut data = b"ABCDEF".to_vec();
    data.resize(512, 0);
    ar.extend_from_slice(&data);
    ar.extend_from_slice(&[0u8; 1024]);
    let entries = read(&ar).unwrap();
    let bytes = &entries[0].1;
    let mut want = vec![0u8; 60];
    for (i, b) in b"ABCDEF".iter().enumerate() {
        want[i * 10] = *b;
    }
    assert_eq!(bytes, &want);

    // The extension block missing: truncated.
    let short = ar[..512].to_vec();
    let err = read(&short).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    // `S` in a POSIX header (star's layout) is refused.
    let mut star = header("f", b'S', 0, false);
    seal(&mut star);
    let mut ar = star.to_vec();
    ar.extend_from_slice(&[0u8; 1024]);
    assert!(read(&ar).unwrap_err().to_string().contains("not GNU"));
}

#[test]
fn holes_are_bounded_like_decompressed_bytes() {
    // 2 TiB of holes in a tiny archive: refused before anything is written.
    let data = {
        let mut d = b"1\n0\n1\n".to_vec();
        d.resize(512, 0);
        d.push(b'x');
        d
    };
    let bytes = pax_sparse(
        &[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.realsize", "2199023255552"),
        ],
        &data,
    );
    let err = read(&bytes).unwrap_err();
    assert!(
        matches!(err, LayerError::SparseTooLarge { index: 0, .. }),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("lastlog"));
}

#[test]
fn the_fuzz_seeds_read_as_their_forms_say() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/tar_read");
    let mut want = vec![0u8; 20000];
    want[..4].copy_from_slice(b"head");
    want[19996..].copy_from_slice(b"tail");
    for form in ["pax-1.0", "pax-0.1", "gnu-S"] {
        let entries = read(&std::fs::read(corpus.join(format!("seed-sparse-{form}"))).unwrap())
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(entries[0].0.path.as_bytes(), b"f", "{form}");
        let mut w = want.clone();
        if form == "gnu-S" {
            w[9000..9003].copy_from_slice(b"mid");
        }
        assert!(entries[0].1 == w, "{form}: bytes differ");
    }
    let v00 = read(&std::fs::read(corpus.join("seed-sparse-pax-0.0")).unwrap()).unwrap();
    assert_eq!(&v00[0].1[..4], b"head");
    assert_eq!(v00[0].1.len(), 20000);
    let huge = read(&std::fs::read(corpus.join("seed-sparse-huge")).unwrap()).unwrap_err();
    assert!(matches!(huge, LayerError::SparseTooLarge { .. }), "{huge}");
}
