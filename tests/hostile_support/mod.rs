//! Helpers for the hostile-input tests: a raw tar builder that can write what no honest
//! tool writes, and a sandbox that runs `compose build` and proves nothing escaped it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A raw tar archive, block by block.
#[derive(Default, Clone)]
pub struct RawTar(pub Vec<u8>);

/// One header's fields; the rest are zero.
#[derive(Clone)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub size: u64,
    pub link: &'a [u8],
    pub mode: u32,
    pub devmajor: u64,
    pub devminor: u64,
}

impl<'a> Header<'a> {
    pub fn new(name: &'a [u8], typeflag: u8) -> Header<'a> {
        Header {
            name,
            typeflag,
            size: 0,
            link: b"",
            mode: 0o644,
            devmajor: 0,
            devminor: 0,
        }
    }
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}", v, width = field.len() - 1);
    if s.len() < field.len() {
        field[..s.len()].copy_from_slice(s.as_bytes());
        field[s.len()] = 0;
    } else {
        // GNU base-256.
        field.fill(0);
        let bytes = v.to_be_bytes();
        let n = field.len().min(8);
        let len = field.len();
        field[len - n..].copy_from_slice(&bytes[8 - n..]);
        assert_eq!(field[0] & 0x80, 0, "value too large for base-256");
        field[0] |= 0x80;
    }
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// A header block (checksum computed) for `h`.
    pub fn header(&mut self, h: &Header) -> &mut Self {
        let mut b = [0u8; 512];
        let n = h.name.len().min(100);
        b[..n].copy_from_slice(&h.name[..n]);
        octal(&mut b[100..108], u64::from(h.mode));
        octal(&mut b[108..116], 0);
        octal(&mut b[116..124], 0);
        octal(&mut b[124..136], h.size);
        octal(&mut b[136..148], 0);
        b[156] = h.typeflag;
        let l = h.link.len().min(100);
        b[157..157 + l].copy_from_slice(&h.link[..l]);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], h.devmajor);
        octal(&mut b[337..345], h.devminor);
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
        let s = format!("{sum:06o}\0 ");
        b[148..156].copy_from_slice(s.as_bytes());
        self.0.extend_from_slice(&b);
        self
    }

    /// Data padded to a block.
    pub fn data(&mut self, d: &[u8]) -> &mut Self {
        self.0.extend_from_slice(d);
        let pad = (512 - d.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A regular file with contents.
    pub fn file(&mut self, name: &[u8], content: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'0');
        h.size = content.len() as u64;
        self.header(&h).data(content)
    }

    pub fn dir(&mut self, name: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'5');
        h.mode = 0o755;
        self.header(&h)
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'2');
        h.link = target;
        h.mode = 0o777;
        self.header(&h)
    }

    pub fn hardlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = Header::new(name, b'1');
        h.link = target;
        self.header(&h)
    }

    /// A PAX extended header (`x`) with these records.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
            let mut len = rest + 1;
            while format!("{len}").len() + rest != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let mut h = Header::new(b"././@PaxHeader", b'x');
        h.size = body.len() as u64;
        self.header(&h).data(&body)
    }

    /// A GNU long name (`L`) header.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut body = name.to_vec();
        body.push(0);
        let mut h = Header::new(b"././@LongLink", b'L');
        h.size = body.len() as u64;
        self.header(&h).data(&body)
    }

    /// The two zero blocks.
    pub fn finish(&mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0.clone()
    }
}

/// A sandbox: `ws/` holds the manifest and inputs, `cache/` the cache, and
/// `victim/out/` the output. Nothing but the output may appear under `victim/`.
pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().expect("tempdir");
        for d in ["ws", "cache", "victim/out"] {
            std::fs::create_dir_all(root.path().join(d)).expect("mkdir");
        }
        Sandbox { root }
    }

    pub fn ws(&self) -> PathBuf {
        self.root.path().join("ws")
    }

    pub fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    pub fn victim(&self) -> PathBuf {
        self.root.path().join("victim")
    }

    /// Write `name` in the workspace.
    pub fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.ws().join(name);
        std::fs::write(&p, bytes).expect("write input");
        p
    }

    /// A manifest with one layer per local tar name.
    pub fn manifest_for(&self, tars: &[&str]) -> PathBuf {
        let mut m = String::from("[image]\nname = \"hostile\"\nsource_date_epoch = 1\n");
        for t in tars {
            m.push_str(&format!("[[layer]]\ntar = \"{t}\"\n"));
        }
        self.put("scratch.toml", m.as_bytes())
    }

    /// `compose` with a clean environment and this sandbox's cache.
    pub fn compose(&self) -> Command {
        self.compose_with_cache(&self.cache())
    }

    /// `compose` with a clean environment and the given cache.
    pub fn compose_with_cache(&self, cache: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("SCRATCH_") || k == "SOURCE_DATE_EPOCH" {
                c.env_remove(&k);
            }
        }
        c.env("NO_PROXY", "*")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY");
        c.current_dir(self.ws());
        c.arg("--cache-dir").arg(cache);
        c
    }

    /// `compose build --format FORMAT -o victim/out/NAME` of the manifest.
    pub fn build(&self, manifest: &Path, format: &str, name: &str) -> (Output, PathBuf) {
        let out = self.victim().join("out").join(name);
        let o = self
            .compose()
            .arg("-f")
            .arg(manifest)
            .args(["build", "--format", format, "-o"])
            .arg(&out)
            .output()
            .expect("spawn compose");
        (o, out)
    }

    /// Everything under `victim/` (relative paths), which must be the output only.
    pub fn victim_listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.victim(), &self.victim(), &mut out);
        out.sort();
        out
    }

    /// Assert that `victim/` holds nothing but `out/` and, when `output` is given, that
    /// output (a file or a directory tree).
    pub fn assert_nothing_escaped(&self, output: Option<&str>) {
        self.assert_only_outputs(output.as_slice());
    }

    /// Like [`Sandbox::assert_nothing_escaped`] with several outputs under `victim/out/`.
    pub fn assert_only_outputs(&self, outputs: &[&str]) {
        for l in self.victim_listing() {
            let ok = l == "out"
                || outputs
                    .iter()
                    .any(|o| l == format!("out/{o}") || l.starts_with(&format!("out/{o}/")));
            assert!(ok, "unexpected path under the output's parent: {l}");
        }
        // Nothing written in the workspace either, besides the manifest and inputs.
        for e in std::fs::read_dir(self.ws()).expect("ws") {
            let name = e.expect("entry").file_name().to_string_lossy().to_string();
            assert!(
                !name.starts_with(".compose") && !name.starts_with("pwned"),
                "stray file in the workspace: {name}"
            );
        }
    }
}

fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(d) else { return };
    for e in rd {
        let p = e.expect("entry").path();
        out.push(p.strip_prefix(root).unwrap().to_string_lossy().to_string());
        let meta = std::fs::symlink_metadata(&p).expect("lstat");
        if meta.is_dir() {
            walk(root, &p, out);
        }
    }
}

/// The entries of a tar file as (path, type flag char, link) read with the `tar` crate,
/// an independent reader.
pub fn list_tar(path: &Path) -> Vec<(String, char, String)> {
    let f = std::fs::File::open(path).expect("open output");
    let mut a = tar::Archive::new(f);
    a.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let h = e.header();
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let l = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (p, char::from(h.entry_type().as_byte()), l)
        })
        .collect()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A bare TCP server on 127.0.0.1 answering every connection with `answer` (given the
/// stream and the 1-based connection number), for faults the shared test server does
/// not model (a connection reset, a Content-Length shorter than the body).
pub struct RawServer {
    pub port: u16,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl RawServer {
    pub fn spawn<F>(answer: F) -> RawServer
    where
        F: Fn(std::net::TcpStream, u32) + Send + Sync + 'static,
    {
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let h = hits.clone();
        let answer = std::sync::Arc::new(answer);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                let a = answer.clone();
                std::thread::spawn(move || a(conn, n));
            }
        });
        RawServer { port, hits }
    }

    pub fn hits(&self) -> u32 {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Read a request's head (up to the blank line).
pub fn read_request(s: &mut std::net::TcpStream) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return,
        }
    }
}

/// Every file under the cache's `blobs/` and `tmp/` (relative paths).
pub fn cache_files(cache: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["blobs", "tmp"] {
        let mut v = Vec::new();
        walk(&cache.join(sub), &cache.join(sub), &mut v);
        out.extend(v.into_iter().map(|p| format!("{sub}/{p}")));
    }
    out.retain(|p| !cache.join(p).is_dir());
    out.sort();
    out
}
