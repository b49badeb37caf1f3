//! The fuzz entry points, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! the plain `cargo test` replay of the corpus (`tests/hostile_fuzz_corpus.rs`), which
//! both include this file with `#[path]`. Only the library's ordinary public API is used:
//! there is no fuzzing hook in the library itself.
//!
//! Each function takes arbitrary bytes and panics only when an invariant of the tool is
//! broken (errors are expected and fine: hostile input must produce an error, not a
//! crash). The invariants checked:
//!
//! * manifest: parsing never panics; a parsed manifest's layers and inputs can be listed.
//! * tar: reading never panics; every entry path is normalised (re-parsing it gives it
//!   back, no `..`, no NUL); file data lies inside the archive, and a sparse file streams
//!   exactly its size (up to 16 MiB, so expanded holes stay small); merged entries always write as a canonical tar, and that tar
//!   reads back to the same paths and kinds.
//! * decompress: never panics, never writes more than the limit.
//! * pkgdb: the apk, dpkg and DEP-5 parsers and the license parser never panic; every
//!   license expression they produce parses back to itself and uses only SPDX identifier
//!   characters; every package has a name, a version and a package URL without spaces.
//! * elf: the preflight ELF reader never panics and keeps its limits; the preflight
//!   checks of a tree whose program, loader and libraries are those bytes never panic.
//! * merge: applying never panics (with and without usrmerge, and the whiteout-target
//!   query neither); the merged tree and each canonical layer are strictly in canonical
//!   order with no whiteout names left; applying a layer's canonical form over the same
//!   lower tree, without usrmerge, gives the same tree; the tree always writes as a tar.
#![allow(dead_code)]

use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::layer::{self, InputFormat, TarWriter};
use scratch_compose::manifest::Manifest;
use scratch_compose::merge::{canonical_cmp, MergeOptions, Tree};
use std::io::Write;
use std::path::Path;

/// The fuzz targets by name, as in `fuzz/Cargo.toml` and `fuzz/corpus/<name>/`.
pub const TARGETS: &[&str] = &[
    "manifest",
    "tar_read",
    "decompress",
    "merge",
    "pkgdb",
    "elf",
];

/// Run the entry point of fuzz target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "manifest" => manifest(data),
        "tar_read" => tar_read(data),
        "decompress" => decompress(data),
        "merge" => merge(data),
        "pkgdb" => pkgdb(data),
        "elf" => elf(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The manifest parser on arbitrary text.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Manifest::parse(text, Path::new("/nonexistent/scratch.toml")) {
        let _ = m.inputs();
        for p in &m.image.platforms {
            for l in m.layers_for(p) {
                let _ = l.describe();
            }
        }
    }
}

/// The largest file the tar target reads or writes in full (holes expand).
const SPARSE_READ_LIMIT: u64 = 16 << 20;

/// The tar reader on arbitrary bytes (in a temporary file), then the merger and the
/// canonical writer on what it read.
pub fn tar_read(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.tar");
    std::fs::write(&path, data).expect("write input");
    let Ok(entries) = layer::read_tar(&path, "fuzz") else {
        return;
    };
    for e in &entries {
        assert_normalised(&e.path);
        if let Kind::HardLink(t) = &e.kind {
            assert_normalised(t);
        }
        // Content ranges must lie inside the archive.
        if let Kind::File(Content::Range { offset, len, .. }) = &e.kind {
            assert!(
                offset + len <= data.len() as u64,
                "content range past the end"
            );
        }
        // A sparse file's stored data too, and it streams exactly its size.
        if let Kind::File(c @ Content::Sparse(s)) = &e.kind {
            assert!(
                s.data_offset + s.stored() <= data.len() as u64,
                "sparse data past the end"
            );
            if s.size <= SPARSE_READ_LIMIT {
                let mut r = c.open().expect("open sparse content");
                let n = std::io::copy(&mut r, &mut std::io::sink()).expect("read sparse");
                assert_eq!(n, s.size, "sparse content length");
            }
        }
    }
    // Writing expands holes: skip archives that would write more than a few MiB.
    if entries.iter().map(Entry::size).sum::<u64>() > SPARSE_READ_LIMIT {
        return;
    }
    let mut tree = Tree::new();
    if tree
        .apply("fuzz", entries, &MergeOptions::default())
        .is_err()
    {
        return;
    }
    let merged = tree.entries();
    let Some(bytes) = write(&merged) else { return };
    let out = dir.path().join("out.tar");
    std::fs::write(&out, &bytes).expect("write output");
    let back = layer::read_tar(&out, "roundtrip").expect("our own tar reads back");
    assert_eq!(back.len(), merged.len(), "roundtrip entry count");
    for (a, b) in merged.iter().zip(&back) {
        assert_eq!(a.path, b.path, "roundtrip path");
        assert_eq!(a.kind.name(), b.kind.name(), "roundtrip kind of {}", a.path);
        assert_eq!(a.size(), b.size(), "roundtrip size of {}", a.path);
    }
}

/// Every decoder on arbitrary bytes. The format comes from the magic bytes when they
/// match one, else from the first byte (so corrupt streams of every format are tried).
pub fn decompress(data: &[u8]) {
    let format = InputFormat::from_magic(data).unwrap_or(match data.first().map(|b| b % 5) {
        Some(0) => InputFormat::Gzip,
        Some(1) => InputFormat::Xz,
        Some(2) => InputFormat::Zstd,
        Some(3) => InputFormat::Bzip2,
        _ => InputFormat::Tar,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in");
    std::fs::write(&path, data).expect("write input");
    const LIMIT: u64 = 4 << 20;
    let mut out = Counter(0);
    if let Ok(n) = layer::decompress(&path, format, &mut out, LIMIT, "fuzz") {
        assert_eq!(n, out.0, "reported size");
        assert!(n <= LIMIT, "limit exceeded");
    }
    assert!(out.0 <= LIMIT, "more than the limit was written");
}

/// The preflight ELF reader on arbitrary bytes, then the checks on a tree whose
/// program, glibc and musl loaders and a library all hold those bytes.
pub fn elf(data: &[u8]) {
    use scratch_compose::manifest::ConfigSettings;
    use scratch_compose::platform::Platform;
    use scratch_compose::preflight::{self, elf};
    if let Ok(info) = elf::parse_bytes(data) {
        assert!(info.needed.len() <= 1024, "needed list over the limit");
        assert!(
            info.interpreter.as_ref().is_none_or(|i| i.len() <= 4096),
            "interpreter over the limit"
        );
    }
    let file = |p: &str| {
        Entry::new(
            ImagePath::parse_str(p).expect("valid"),
            Kind::File(Content::Inline(data.to_vec().into())),
            0o755,
        )
    };
    let entries = vec![
        file("app"),
        file("lib/ld-musl-x86_64.so.1"),
        file("lib64/ld-linux-x86-64.so.2"),
        file("lib/libc.so.6"),
        file("usr/lib/liba.so"),
    ];
    let config = ConfigSettings {
        entrypoint: Some(vec!["/app".to_string()]),
        ..ConfigSettings::default()
    };
    for p in ["linux/amd64", "linux/arm64"] {
        let platform: Platform = p.parse().expect("valid");
        for f in preflight::check(&entries, &config, &platform) {
            assert!(!f.message.is_empty() && !f.hint.is_empty());
        }
    }
}

/// Counts the bytes written to it.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Names that make collisions, whiteouts and AUFS bookkeeping likely.
const COMPONENTS: &[&str] = &[
    "a",
    "b",
    "c",
    "l",
    "m",
    ".wh.a",
    ".wh.b",
    ".wh.l",
    ".wh..wh..opq",
    ".wh..wh.plnk",
    ".wh.",
    ".wh..",
    ".wh...",
    "...",
    "\u{e9}",
    "x\ny",
];

/// Symlink targets: escapes, absolute paths, loops, dangling and empty ones.
const LINK_TARGETS: &[&str] = &[
    "/",
    "..",
    "../..",
    "../../..",
    "a",
    "/a",
    "a/b",
    "../a",
    "l",
    "/l",
    ".",
    "",
    "b/../..",
    "/a/../../b",
    "c/m/a",
    "l/l",
    "m",
    "/.wh.a",
    "./..",
];

/// A byte reader that yields zeros once the input is exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn path(&mut self) -> ImagePath {
        let depth = 1 + self.next() % 3;
        let parts: Vec<&str> = (0..depth)
            .map(|_| COMPONENTS[usize::from(self.next()) % COMPONENTS.len()])
            .collect();
        ImagePath::parse_str(&parts.join("/")).expect("components are valid")
    }
}

/// Decode a stack of layers: `0xff` separates layers; each entry is an op byte then its
/// operands (see the match below).
pub fn layers_from(data: &[u8]) -> Vec<Vec<Entry>> {
    let mut layers = vec![Vec::new()];
    let mut b = Bytes(data);
    while !b.0.is_empty() {
        let op = b.next();
        if op == 0xff {
            layers.push(Vec::new());
            continue;
        }
        let mode = u32::from(b.next()) * 9;
        let e = match op % 8 {
            0 => {
                let n = usize::from(b.next() % 4);
                let content = if n == 0 {
                    Content::Empty
                } else {
                    Content::Inline(vec![b'x'; n].into())
                };
                Entry::new(b.path(), Kind::File(content), mode)
            }
            1 => Entry::new(b.path(), Kind::Dir, mode),
            2 => {
                let t = LINK_TARGETS[usize::from(b.next()) % LINK_TARGETS.len()];
                Entry::new(b.path(), Kind::Symlink(t.as_bytes().to_vec()), 0o777)
            }
            3 => {
                let p = b.path();
                Entry::new(p, Kind::HardLink(b.path()), mode)
            }
            4 => Entry::new(b.path(), Kind::Fifo, mode),
            5 => {
                let major = u64::from(b.next()) << 33;
                Entry::new(
                    b.path(),
                    Kind::CharDevice {
                        major,
                        minor: u64::from(b.next()),
                    },
                    mode,
                )
            }
            6 => Entry::new(ImagePath::root(), Kind::Dir, mode),
            _ => {
                let mut e = Entry::new(b.path(), Kind::Dir, mode);
                e.uid = u64::from(b.next());
                e
            }
        };
        layers.last_mut().expect("never empty").push(e);
    }
    layers
}

/// The merger on a fuzzed stack of layers.
pub fn merge(data: &[u8]) {
    let mut tree = Tree::new();
    // The high bit of the first byte turns usrmerge on; the canonical layers must then
    // still re-apply without it.
    let opts = MergeOptions {
        usrmerge: data.first().is_some_and(|b| b & 0x80 != 0),
        ..MergeOptions::default()
    };
    for (i, entries) in layers_from(data).into_iter().enumerate() {
        let lower = tree.clone();
        let label = format!("layer {i}");
        let paths: Vec<ImagePath> = entries.iter().map(|e| e.path.clone()).collect();
        for p in &paths {
            let _ = tree.whiteout_target(p, 3);
        }
        let Ok(applied) = tree.apply(&label, entries, &opts) else {
            return;
        };
        assert_canonical(&applied.layer, true);
        let merged = tree.entries();
        assert_canonical(&merged, false);
        assert!(
            write(&merged).is_some(),
            "the merged tree must write as a tar"
        );
        // The canonical layer, applied over the same lower tree, gives the same tree.
        let mut again = lower;
        let re = again
            .apply(&label, applied.layer.clone(), &MergeOptions::default())
            .unwrap_or_else(|e| panic!("re-applying the canonical layer failed: {e}"));
        assert_eq!(again.entries(), merged, "re-applied canonical layer");
        assert_eq!(re.layer, applied.layer, "canonical layer is a fixed point");
    }
}

/// Strictly increasing in canonical order; whiteout names only when `whiteouts_allowed`;
/// every path normalised.
fn assert_canonical(entries: &[Entry], whiteouts_allowed: bool) {
    for w in entries.windows(2) {
        assert_eq!(
            canonical_cmp(&w[0].path, &w[1].path),
            std::cmp::Ordering::Less,
            "{} then {}",
            w[0].path,
            w[1].path
        );
    }
    for e in entries {
        assert_normalised(&e.path);
        if !whiteouts_allowed {
            assert!(
                !e.path.components().any(|c| c.starts_with(b".wh.")),
                "whiteout name {} in the merged tree",
                e.path
            );
        }
    }
}

/// Re-parsing a path gives it back: no `..`, NUL, empty or `.` components.
fn assert_normalised(p: &ImagePath) {
    if p.is_root() {
        return;
    }
    assert_eq!(
        ImagePath::parse(p.as_bytes()).as_ref(),
        Ok(p),
        "not normalised"
    );
    assert!(p
        .components()
        .all(|c| c != b".." && c != b"." && !c.is_empty()));
}

/// The entries as a canonical tar, or `None` when the writer refuses them.
fn write(entries: &[Entry]) -> Option<Vec<u8>> {
    let mut t = TarWriter::new(Vec::new(), Epoch(0));
    for e in entries {
        t.append(e).ok()?;
    }
    t.finish().ok()
}

/// The package database and license parsers. The first byte picks: 0 apk installed, 1 dpkg
/// status, 2 DEP-5 copyright, 3 an SPDX license string, 4 a DEP-5 license string, else a
/// rootfs whose apk database, dpkg status, copyright file and os-release are the rest split
/// at NUL bytes.
pub fn pkgdb(data: &[u8]) {
    use scratch_compose::entry::Content;
    use scratch_compose::sbom::license::{self, Dialect, License};
    use scratch_compose::sbom::pkgdb::{self, Limits, Package, Rootfs};
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let check_license = |l: &License| {
        assert!(
            l.expression.split([' ', '(', ')']).all(|t| t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.+".contains(c))),
            "characters outside SPDX identifiers in {:?}",
            l.expression
        );
        let again = license::parse(&l.expression, Dialect::Spdx).expect("non-empty");
        assert_eq!(again.expression, l.expression, "not a fixed point");
    };
    let check_packages = |pkgs: &[Package]| {
        for p in pkgs {
            assert!(!p.name.is_empty() && !p.version.is_empty());
            let purl = p.purl().to_string();
            assert!(!purl.contains(char::is_whitespace), "{purl}");
            if let Some(l) = &p.license {
                check_license(l);
            }
        }
    };
    let text = String::from_utf8_lossy(rest);
    match which {
        0 => {
            if let Ok(p) = pkgdb::parse_apk_installed(rest, "fuzz", 1000) {
                check_packages(&p);
            }
        }
        1 => {
            if let Ok(p) = pkgdb::parse_dpkg_status(rest, "fuzz", 1000) {
                check_packages(&p);
            }
        }
        2 => {
            if let Some(l) = pkgdb::parse_dep5(&text) {
                check_license(&l);
            }
        }
        3 | 4 => {
            let d = if which == 3 {
                Dialect::Spdx
            } else {
                Dialect::Dep5
            };
            if let Some(l) = license::parse(&text, d) {
                check_license(&l);
            }
        }
        _ => {
            let mut parts = rest.split(|&b| b == 0);
            let names = [
                "lib/apk/db/installed",
                "var/lib/dpkg/status",
                "usr/share/doc/libc6/copyright",
                "etc/os-release",
            ];
            let entries: Vec<Entry> = names
                .iter()
                .filter_map(|n| {
                    let bytes = parts.next()?;
                    Some(Entry::new(
                        ImagePath::parse_str(n).expect("valid"),
                        Kind::File(Content::Inline(bytes.to_vec().into())),
                        0o644,
                    ))
                })
                .collect();
            let limits = Limits {
                database: 1 << 16,
                ..Limits::default()
            };
            if let Ok(p) = pkgdb::scan(&Rootfs::new(&entries, "fuzz", limits)) {
                check_packages(&p);
            }
        }
    }
}
