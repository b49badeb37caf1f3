//! The canonical tar writer, checked against the `tar` crate, Python's `tarfile` and GNU tar.

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::layer::{entry_headers, split_ustar_name, TarWriter, PAX_HEADER_NAME};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;
use std::sync::Arc;

const EPOCH: Epoch = Epoch(1_700_000_000);

fn p(s: &[u8]) -> ImagePath {
    ImagePath::parse(s).unwrap()
}

fn file(path: &[u8], data: &[u8], mode: u32) -> Entry {
    let c = if data.is_empty() {
        Content::Empty
    } else {
        Content::Inline(Arc::from(data))
    };
    Entry::new(p(path), Kind::File(c), mode)
}

fn long_path() -> Vec<u8> {
    // Three 90-byte components: 272 bytes, no ustar split fits.
    let c = |ch: u8| vec![ch; 90];
    [c(b'a'), c(b'b'), c(b'c')].join(&b'/')
}

fn split_path() -> Vec<u8> {
    // 150 bytes that fit ustar as prefix + name.
    let mut v = vec![b'd'; 80];
    v.push(b'/');
    v.extend(vec![b'e'; 69]);
    v
}

/// Every interesting kind of entry, in canonical order.
fn sample_entries() -> Vec<Entry> {
    let mut v = Vec::new();
    v.push(Entry::dir(p(b"a")));
    let lp = long_path();
    v.push(Entry::dir(p(&lp[..90])));
    v.push(Entry::dir(p(&lp[..181])));
    v.push(file(&lp, b"long path\n", 0o644));
    v.push(Entry::new(p(b"bin"), Kind::Dir, 0o755));
    let mut su = file(b"bin/su", b"#!/bin/sh\n", 0o4755);
    su.xattrs.insert(
        "security.capability".into(),
        vec![1, 0, 0, 2, 0x20, 0, 0, 0],
    );
    su.xattrs.insert("user.note".into(), b"hello".to_vec());
    v.push(su);
    v.push(Entry::new(
        p(b"bin/sh-link"),
        Kind::HardLink(p(b"bin/su")),
        0o4755,
    ));
    v.push(Entry::new(p(b"dev"), Kind::Dir, 0o755));
    v.push(Entry::new(
        p(b"dev/null"),
        Kind::CharDevice { major: 1, minor: 3 },
        0o666,
    ));
    v.push(Entry::new(
        p(b"dev/sda"),
        Kind::BlockDevice { major: 8, minor: 0 },
        0o660,
    ));
    v.push(Entry::new(p(b"dev/fifo"), Kind::Fifo, 0o600));
    v.push(file(&split_path(), b"", 0o600));
    v.push(file(b"empty", b"", 0o644));
    v.push(Entry::new(p(b"long-link"), Kind::HardLink(p(&lp)), 0o644));
    v.push(Entry::new(
        p(b"long-symlink"),
        Kind::Symlink(vec![b'x'; 200]),
        0o777,
    ));
    v.push(file(
        "caf\u{e9}-\u{65e5}\u{672c}".as_bytes(),
        b"utf8\n",
        0o644,
    ));
    let mut big_uid = file(b"owned", b"x", 0o640);
    big_uid.uid = 3_000_000;
    big_uid.gid = 3_000_001;
    v.push(big_uid);
    v.push(Entry::new(
        p(b"sym"),
        Kind::Symlink(b"../etc/passwd".to_vec()),
        0o777,
    ));
    v.push(file(b"sticky", b"", 0o1777 | 0o2000));
    v.push(file(b"w/.wh.gone", b"", 0o644));
    v
}

fn write_all(entries: &[Entry], epoch: Epoch) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new(), epoch);
    for e in entries {
        w.append(e).unwrap();
    }
    w.finish().unwrap()
}

fn octal(field: &[u8]) -> u64 {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    u64::from_str_radix(std::str::from_utf8(&s).unwrap(), 8).unwrap()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// One raw header as found by walking the archive by hand.
struct RawHeader {
    block: Vec<u8>,
    pax: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_pax(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').unwrap();
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let rec = &rest[sp + 1..len];
        assert_eq!(rest[len - 1], b'\n');
        let rec = &rec[..rec.len() - 1];
        let eq = rec.iter().position(|&b| b == b'=').unwrap();
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    out
}

/// Walk every header block (PAX headers included) and check the block structure.
fn walk(bytes: &[u8]) -> Vec<RawHeader> {
    assert_eq!(bytes.len() % 512, 0, "length is a multiple of 512");
    assert!(bytes.len() >= 1024);
    assert!(
        bytes[bytes.len() - 1024..].iter().all(|&b| b == 0),
        "ends with two zero blocks"
    );
    let mut out = Vec::new();
    let mut pos = 0;
    let mut pending_pax = Vec::new();
    loop {
        let block = &bytes[pos..pos + 512];
        if block.iter().all(|&b| b == 0) {
            assert_eq!(
                pos,
                bytes.len() - 1024,
                "exactly two zero blocks, no padding"
            );
            break;
        }
        let mut copy = block.to_vec();
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(octal(&block[148..156]), sum, "checksum");
        assert_eq!(&block[148 + 6..156], b"\0 ");
        let size = octal(&block[124..136]);
        let typeflag = block[156];
        let data = &bytes[pos + 512..pos + 512 + size as usize];
        pos += 512 + size.div_ceil(512) as usize * 512;
        if typeflag == b'x' {
            pending_pax = parse_pax(data);
            out.push(RawHeader {
                block: block.to_vec(),
                pax: Vec::new(),
            });
        } else {
            out.push(RawHeader {
                block: block.to_vec(),
                pax: std::mem::take(&mut pending_pax),
            });
        }
    }
    out
}

#[test]
fn headers_are_canonical_ustar() {
    let bytes = write_all(&sample_entries(), EPOCH);
    let headers = walk(&bytes);
    let mut pax_count = 0;
    for h in &headers {
        let b = &h.block;
        assert_eq!(&b[257..263], b"ustar\0", "magic");
        assert_eq!(&b[263..265], b"00", "version");
        assert!(!b"LKSg".contains(&b[156]), "no GNU typeflags");
        assert!(cstr(&b[265..297]).is_empty(), "uname empty");
        assert!(cstr(&b[297..329]).is_empty(), "gname empty");
        assert_eq!(octal(&b[100..108]) & !0o7777, 0, "mode bits");
        assert_eq!(octal(&b[136..148]), EPOCH.0, "mtime is the epoch");
        if !matches!(b[156], b'3' | b'4') {
            assert_eq!(octal(&b[329..337]), 0);
            assert_eq!(octal(&b[337..345]), 0);
        }
        if b[156] == b'x' {
            pax_count += 1;
            assert_eq!(cstr(&b[0..100]), PAX_HEADER_NAME);
            assert!(cstr(&b[345..500]).is_empty());
            assert_eq!(octal(&b[100..108]), 0o644);
            assert_eq!(octal(&b[108..116]), 0);
            assert_eq!(octal(&b[116..124]), 0);
        }
        let keys: Vec<&Vec<u8>> = h.pax.iter().map(|(k, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "PAX records sorted, unique");
        for k in keys {
            assert!(k != b"atime" && k != b"ctime" && k != b"mtime");
        }
    }
    // PAX only where needed: the long path, the long hard link, the long symlink, the big
    // uid, the xattrs.
    assert_eq!(pax_count, 5);
    let by_name = |name: &[u8]| {
        headers
            .iter()
            .find(|h| {
                h.pax.iter().any(|(k, v)| k == b"path" && v == name)
                    || (h.block[156] != b'x' && full_name(&h.block) == name)
            })
            .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(name)))
    };
    let su = by_name(b"bin/su");
    assert_eq!(
        su.pax.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(),
        vec![
            b"SCHILY.xattr.security.capability".as_slice(),
            b"SCHILY.xattr.user.note".as_slice()
        ]
    );
    assert_eq!(octal(&su.block[100..108]), 0o4755);
    let owned = by_name(b"owned");
    assert_eq!(
        owned.pax,
        vec![
            (b"gid".to_vec(), b"3000001".to_vec()),
            (b"uid".to_vec(), b"3000000".to_vec())
        ]
    );
    let split = by_name(&split_path());
    assert!(split.pax.is_empty(), "150-byte path uses the ustar prefix");
    assert_eq!(cstr(&split.block[345..500]), &split_path()[..80]);
    assert_eq!(by_name(b"a/").block[156], b'5', "directories end with /");
    let null = by_name(b"dev/null");
    assert_eq!(
        (octal(&null.block[329..337]), octal(&null.block[337..345])),
        (1, 3)
    );
}

fn full_name(b: &[u8]) -> Vec<u8> {
    let name = cstr(&b[0..100]);
    let prefix = cstr(&b[345..500]);
    if prefix.is_empty() {
        name.to_vec()
    } else {
        [prefix, b"/", name].concat()
    }
}

#[test]
fn tar_crate_reads_everything_back() {
    let entries = sample_entries();
    let bytes = write_all(&entries, EPOCH);
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut seen = Vec::new();
    for item in ar.entries().unwrap() {
        let mut item = item.unwrap();
        let h = item.header().clone();
        let path = item.path_bytes().into_owned();
        let link = item.link_name_bytes().map(|l| l.into_owned());
        let mut xattrs = BTreeMap::new();
        if let Some(exts) = item.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(k.to_string(), ext.value_bytes().to_vec());
                }
            }
        }
        let mut data = Vec::new();
        item.read_to_end(&mut data).unwrap();
        assert_eq!(h.mtime().unwrap(), EPOCH.0);
        seen.push((
            path,
            h.entry_type(),
            h.mode().unwrap(),
            link,
            data,
            xattrs,
            item.header().uid().unwrap(),
        ));
        // The tar crate applies PAX uid/gid to its own view only through the fields we wrote.
    }
    assert_eq!(seen.len(), entries.len());
    for (e, (path, ty, mode, link, data, xattrs, _)) in entries.iter().zip(&seen) {
        let mut want = e.path.as_bytes().to_vec();
        if matches!(e.kind, Kind::Dir) {
            want.push(b'/');
        }
        assert_eq!(path, &want);
        assert_eq!(*mode, e.mode);
        assert_eq!(xattrs, &e.xattrs);
        match &e.kind {
            Kind::File(c) => {
                assert!(ty.is_file());
                let mut d = Vec::new();
                c.open().unwrap().read_to_end(&mut d).unwrap();
                assert_eq!(data, &d);
            }
            Kind::Dir => assert!(ty.is_dir()),
            Kind::Symlink(t) => {
                assert!(ty.is_symlink());
                assert_eq!(link.as_deref(), Some(t.as_slice()));
            }
            Kind::HardLink(t) => {
                assert!(ty.is_hard_link());
                assert_eq!(link.as_deref(), Some(t.as_bytes()));
            }
            Kind::CharDevice { .. } => assert!(ty.is_character_special()),
            Kind::BlockDevice { .. } => assert!(ty.is_block_special()),
            Kind::Fifo => assert!(ty.is_fifo()),
        }
    }
}

const PY_LIST: &str = r#"
import sys, tarfile, json
out = []
with tarfile.open(sys.argv[1], encoding="utf-8", errors="surrogateescape") as t:
    for m in t.getmembers():
        data = t.extractfile(m).read().hex() if m.isfile() else ""
        out.append({
            "name": m.name.encode("utf-8", "surrogateescape").hex(),
            "type": m.type.decode(),
            "mode": m.mode, "uid": m.uid, "gid": m.gid, "size": m.size,
            "mtime": m.mtime, "uname": m.uname, "gname": m.gname,
            "link": m.linkname.encode("utf-8", "surrogateescape").hex(),
            "major": m.devmajor, "minor": m.devminor, "data": data,
            "pax": sorted(m.pax_headers.keys()),
            "xattrs": {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape").hex()
                       for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")},
        })
print(json.dumps(out))
"#;

fn python_list(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_LIST)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python tarfile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_tarfile_reads_everything_back() {
    let entries = sample_entries();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, write_all(&entries, EPOCH)).unwrap();
    let list = python_list(&path);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), entries.len());
    for (e, m) in entries.iter().zip(list) {
        // Python strips the trailing `/` of directory names.
        assert_eq!(m["name"], hex::encode(e.path.as_bytes()), "{:?}", e.path);
        assert_eq!(m["mode"], e.mode);
        assert_eq!(m["uid"], e.uid);
        assert_eq!(m["gid"], e.gid);
        assert_eq!(m["mtime"], EPOCH.0);
        assert_eq!(m["uname"], "");
        assert_eq!(m["gname"], "");
        let (ty, link, major, minor) = match &e.kind {
            Kind::File(_) => ("0", Vec::new(), 0, 0),
            Kind::HardLink(t) => ("1", t.as_bytes().to_vec(), 0, 0),
            Kind::Symlink(t) => ("2", t.clone(), 0, 0),
            Kind::CharDevice { major, minor } => ("3", Vec::new(), *major, *minor),
            Kind::BlockDevice { major, minor } => ("4", Vec::new(), *major, *minor),
            Kind::Dir => ("5", Vec::new(), 0, 0),
            Kind::Fifo => ("6", Vec::new(), 0, 0),
        };
        assert_eq!(m["type"], ty);
        assert_eq!(m["link"], hex::encode(link));
        assert_eq!(m["major"], major);
        assert_eq!(m["minor"], minor);
        assert_eq!(m["size"], e.size());
        if let Kind::File(c) = &e.kind {
            let mut d = Vec::new();
            c.open().unwrap().read_to_end(&mut d).unwrap();
            assert_eq!(m["data"], hex::encode(d));
        }
        let xattrs: BTreeMap<String, String> = e
            .xattrs
            .iter()
            .map(|(k, v)| (k.clone(), hex::encode(v)))
            .collect();
        assert_eq!(m["xattrs"], serde_json::to_value(xattrs).unwrap());
        for k in m["pax"].as_array().unwrap() {
            assert!(!["atime", "ctime", "mtime"].contains(&k.as_str().unwrap()));
        }
    }
}

#[test]
fn gnu_tar_lists_everything() {
    let entries = sample_entries();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, write_all(&entries, EPOCH)).unwrap();
    let out = Command::new("tar")
        .args(["--numeric-owner", "--quoting-style=literal", "-tvf"])
        .arg(&path)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .output()
        .expect("GNU tar runs");
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "tar warned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), entries.len());
    for (e, line) in entries.iter().zip(&lines) {
        let text = String::from_utf8_lossy(line);
        let mut name = e.path.as_bytes().to_vec();
        if matches!(e.kind, Kind::Dir) {
            name.push(b'/');
        }
        let needle = String::from_utf8_lossy(&name).into_owned();
        assert!(text.contains(&needle), "{text} lacks {needle}");
        assert!(text.contains("2023-11-14 22:13"), "{text}");
        assert!(text.contains(&format!(" {}/{} ", e.uid, e.gid)), "{text}");
    }
    let su = String::from_utf8_lossy(lines[5]);
    assert!(su.starts_with("-rwsr-xr-x"), "{su}");
    let null = String::from_utf8_lossy(lines[8]);
    assert!(
        null.starts_with("crw-rw-rw-") && null.contains("1,3"),
        "{null}"
    );
}

#[test]
fn same_entries_same_bytes_and_epoch_only_changes_mtimes() {
    let a = write_all(&sample_entries(), EPOCH);
    let b = write_all(&sample_entries(), EPOCH);
    assert_eq!(a, b);
    let c = write_all(&sample_entries(), Epoch(0));
    assert_ne!(a, c);
    assert_eq!(a.len(), c.len());
}

#[test]
fn empty_archive_is_two_zero_blocks() {
    let bytes = TarWriter::new(Vec::new(), EPOCH).finish().unwrap();
    assert_eq!(bytes, vec![0u8; 1024]);
    // The well-known empty-layer diff_id.
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    );
}

#[test]
fn root_entry_is_dot_slash() {
    let bytes = write_all(
        &[Entry::dir(ImagePath::root()), file(b"x", b"1", 0o644)],
        EPOCH,
    );
    let headers = walk(&bytes);
    assert_eq!(full_name(&headers[0].block), b"./");
    assert_eq!(headers[0].block[156], b'5');
    let mut w = TarWriter::new(Vec::new(), EPOCH);
    let root_file = Entry::new(ImagePath::root(), Kind::Fifo, 0o644);
    assert!(w.append(&root_file).is_err());
}

#[test]
fn refuses_duplicates_dangling_links_and_short_content() {
    let mut w = TarWriter::new(Vec::new(), EPOCH);
    w.append(&file(b"a", b"1", 0o644)).unwrap();
    let err = w.append(&file(b"a", b"2", 0o644)).unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
    let err = w
        .append(&Entry::new(p(b"l"), Kind::HardLink(p(b"missing")), 0o644))
        .unwrap_err();
    assert!(err.to_string().contains("not earlier"), "{err}");
    w.append(&Entry::dir(p(b"d"))).unwrap();
    let err = w
        .append(&Entry::new(p(b"l"), Kind::HardLink(p(b"d")), 0o644))
        .unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
    w.append(&Entry::new(p(b"l"), Kind::HardLink(p(b"a")), 0o644))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("short");
    std::fs::write(&f, b"abc").unwrap();
    let short = Entry::new(
        p(b"s"),
        Kind::File(Content::Range {
            file: Arc::new(f),
            offset: 0,
            len: 10,
        }),
        0o644,
    );
    let err = w.append(&short).unwrap_err();
    assert!(err.to_string().contains("/s"), "{err}");
    let bad_link = Entry::new(p(b"n"), Kind::Symlink(b"a\0b".to_vec()), 0o777);
    assert!(w.append(&bad_link).is_err());
}

#[test]
fn size_of_8_gib_and_more_goes_to_pax() {
    let huge = 9 * 1024 * 1024 * 1024u64;
    let dir = tempfile::tempdir().unwrap();
    let e = Entry::new(
        p(b"big"),
        Kind::File(Content::Range {
            file: Arc::new(dir.path().join("never-read")),
            offset: 0,
            len: huge,
        }),
        0o644,
    );
    let hdr = entry_headers(&e, EPOCH).unwrap();
    assert_eq!(hdr.len(), 3 * 512);
    assert_eq!(hdr[156], b'x');
    let rec_len = octal(&hdr[124..136]) as usize;
    let pax = parse_pax(&hdr[512..512 + rec_len]);
    assert_eq!(pax, vec![(b"size".to_vec(), huge.to_string().into_bytes())]);
    let main = &hdr[1024..];
    assert_eq!(octal(&main[124..136]), 0);
    assert_eq!(cstr(&main[0..100]), b"big");

    // Just under the limit still fits ustar.
    let e2 = Entry::new(
        p(b"big"),
        Kind::File(Content::Range {
            file: Arc::new(dir.path().join("never-read")),
            offset: 0,
            len: 0o77777777777,
        }),
        0o644,
    );
    let hdr2 = entry_headers(&e2, EPOCH).unwrap();
    assert_eq!(hdr2.len(), 512);
    assert_eq!(&hdr2[124..136], b"77777777777\0");

    // Independent readers agree on the size: a sparse file holding the headers, a hole for
    // the data and the end marker.
    let path = dir.path().join("big.tar");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&hdr).unwrap();
        f.set_len(hdr.len() as u64 + huge + 1024).unwrap();
    }
    let list = python_list_headers_only(&path);
    assert_eq!(list, format!("big {huge}"));
    let mut ar = tar::Archive::new(std::fs::File::open(&path).unwrap());
    let mut entries = ar.entries_with_seek().unwrap();
    let first = entries.next().unwrap().unwrap();
    assert_eq!(first.size(), huge);
}

fn python_list_headers_only(path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sys,tarfile\nfor m in tarfile.open(sys.argv[1]): print(m.name, m.size)")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn huge_ids_devices_and_epochs_go_to_pax() {
    let mut e = Entry::new(
        p(b"dev/x"),
        Kind::BlockDevice {
            major: 0o10000000,
            minor: 5,
        },
        0o600,
    );
    e.uid = 0o7777777;
    let hdr = entry_headers(&e, Epoch(8u64.pow(11))).unwrap();
    let rec_len = octal(&hdr[124..136]) as usize;
    let pax = parse_pax(&hdr[512..512 + rec_len]);
    assert_eq!(
        pax,
        vec![
            (b"SCHILY.devmajor".to_vec(), b"2097152".to_vec()),
            (b"mtime".to_vec(), b"8589934592".to_vec()),
        ]
    );
    let main = &hdr[1024..];
    assert_eq!(
        octal(&main[108..116]),
        0o7777777,
        "uid at the limit stays in ustar"
    );
    assert_eq!(octal(&main[337..345]), 5);
}

#[test]
fn ustar_name_split() {
    assert_eq!(split_ustar_name(b"abc"), Some((&b"abc"[..], &b""[..])));
    let sp = split_path();
    assert_eq!(split_ustar_name(&sp), Some((&sp[81..], &sp[..80])));
    assert_eq!(split_ustar_name(&[b'x'; 101]), None);
    assert_eq!(split_ustar_name(&long_path()), None);
    // A directory name whose only fitting split would leave an empty name.
    let mut d = vec![b'q'; 101];
    d.push(b'/');
    assert_eq!(split_ustar_name(&d), None);
}

/// The golden archive: its sha256 is part of compat_level. Changing the writer's output
/// must change this digest and bump `COMPAT_LEVEL`.
#[test]
fn golden_archive_digest() {
    let bytes = write_all(&sample_entries(), EPOCH);
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        "8db188f1de68bed97a9482571e738d1018e953f85e45e660622325614a58301e",
        "ctar-1 output changed: bump COMPAT_LEVEL and update this golden"
    );
    // Level 2 changed only the gzip block size; the tar bytes are still level 1's.
    assert_eq!(scratch_compose::COMPAT_LEVEL, 2);
}

/// Names that are not UTF-8 and contain newlines, and binary xattr values with newlines,
/// survive PAX (raw bytes, no `hdrcharset`) for Python, GNU tar and our reader.
#[test]
fn binary_names_and_values_survive() {
    let mut name = vec![0xffu8, b'\n', b'x'];
    name.extend(vec![b'n'; 120]);
    let mut e = file(&name, b"data", 0o644);
    e.xattrs.insert("user.bin".into(), b"a\nb\0c\n".to_vec());
    e.xattrs
        .insert("security.capability".into(), vec![0x0a; 20]);
    let link = Entry::new(
        p(b"l"),
        Kind::Symlink([&[0xfe, b'\n'][..], &[b's'; 150]].concat()),
        0o777,
    );
    let entries = vec![e.clone(), link.clone()];
    let bytes = write_all(&entries, EPOCH);
    let headers = walk(&bytes);
    assert_eq!(
        headers[1]
            .pax
            .iter()
            .map(|(k, _)| k.as_slice())
            .collect::<Vec<_>>(),
        [
            b"SCHILY.xattr.security.capability".as_slice(),
            b"SCHILY.xattr.user.bin",
            b"path"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.tar");
    std::fs::write(&path, &bytes).unwrap();

    let list = python_list(&path);
    assert_eq!(list[0]["name"], hex::encode(&name));
    assert_eq!(list[0]["xattrs"]["user.bin"], hex::encode(b"a\nb\0c\n"));
    assert_eq!(
        list[1]["link"],
        hex::encode(match &link.kind {
            Kind::Symlink(t) => t.clone(),
            _ => unreachable!(),
        })
    );

    let back = scratch_compose::layer::read_tar(&path, "bin").unwrap();
    assert_eq!(back[0].path, e.path);
    assert_eq!(back[0].xattrs, e.xattrs);
    assert_eq!(back[1].kind, link.kind);

    let out = Command::new("tar")
        .arg("-tf")
        .arg(&path)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
