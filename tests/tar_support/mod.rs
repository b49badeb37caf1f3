//! Tar archives written header by header, independently of our writer, for the reader's
//! tests (`tar_read.rs`, `tar_decompress.rs`).
#![allow(dead_code)]

use scratch_compose::entry::{Content, Entry};
use std::io::Read;

/// The bytes of a file entry's content.
pub fn content_bytes(c: &Content) -> Vec<u8> {
    let mut v = Vec::new();
    c.open().unwrap().read_to_end(&mut v).unwrap();
    v
}

use scratch_compose::layer::{read_tar, LayerError};

/// One header block written field by field (independently of our writer).
#[derive(Clone)]
pub struct H {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub size: u64,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub mtime: u64,
    pub gnu: bool,
    pub dev: (u64, u64),
    /// Use a header size field different from the data actually following.
    pub size_field: Option<u64>,
}

pub fn h(name: &[u8], typeflag: u8) -> H {
    H {
        name: name.to_vec(),
        typeflag,
        size: 0,
        link: Vec::new(),
        mode: 0o644,
        uid: 0,
        mtime: 1000,
        gnu: false,
        dev: (0, 0),
        size_field: None,
    }
}

pub fn oct(buf: &mut [u8], v: u64) {
    let w = buf.len() - 1;
    let s = format!("{v:0w$o}");
    buf[..w].copy_from_slice(s.as_bytes());
}

pub fn block(hd: &H) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..hd.name.len()].copy_from_slice(&hd.name);
    oct(&mut b[100..108], u64::from(hd.mode));
    oct(&mut b[108..116], hd.uid);
    oct(&mut b[116..124], 0);
    oct(&mut b[124..136], hd.size_field.unwrap_or(hd.size));
    oct(&mut b[136..148], hd.mtime);
    b[156] = hd.typeflag;
    b[157..157 + hd.link.len()].copy_from_slice(&hd.link);
    if hd.gnu {
        b[257..265].copy_from_slice(b"ustar  \0");
    } else {
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
    }
    oct(&mut b[329..337], hd.dev.0);
    oct(&mut b[337..345], hd.dev.1);
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    oct(&mut b[148..155], u64::from(sum));
    b
}

pub fn pad(v: &mut Vec<u8>) {
    while v.len() % 512 != 0 {
        v.push(0);
    }
}

/// Append a header and its data.
pub fn add(ar: &mut Vec<u8>, hd: &H, data: &[u8]) {
    let mut hd = hd.clone();
    hd.size = data.len() as u64;
    ar.extend(block(&hd));
    ar.extend_from_slice(data);
    pad(ar);
}

pub fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        let mut len = base + base.to_string().len();
        if len.to_string().len() > base.to_string().len() {
            len += 1;
        }
        out.extend(format!("{len} {k}=").into_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

pub fn finish(mut ar: Vec<u8>) -> Vec<u8> {
    ar.extend(vec![0u8; 1024]);
    ar
}

pub fn read_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Vec<Entry>, LayerError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.tar");
    std::fs::write(&path, bytes).unwrap();
    let r = read_tar(&path, "crafted");
    (dir, r)
}
