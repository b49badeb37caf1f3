//! Scale as a hostile input: an archive of a million empty files must build with memory
//! bounded by the number of entries (metadata only: no file bytes are held), and a
//! manifest with thousands of layers must build in reasonable time and memory; and a
//! file's bytes, however many, must not grow memory at all.
//!
//! The entry count defaults to 200,000 so that the test stays near a minute with the
//! debug binary (which handles about 4,000 entries a second on a busy 2-core machine;
//! 1,000,000 takes about three minutes there, peaking at 637 MiB); set
//! `HOSTILE_SCALE_ENTRIES=1000000` for the full run. Peak RSS is read from `/proc`
//! (Linux).

mod hostile_support;
use hostile_support::*;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Run a command to completion, returning its status, stderr and peak RSS in KiB
/// (`VmHWM`, polled from /proc while it runs).
fn run_measured(mut c: Command) -> (std::process::ExitStatus, String, u64) {
    let mut child: Child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap(), peak)
}

/// Stream a tar of `n` empty files (`dNNNN/fNNNNNNN`, 1000 per directory) to `path`.
fn write_many_entries(path: &Path, n: usize) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..n {
        let name = format!("d{:04}/f{i:07}", i / 1000);
        let mut t = RawTar::new();
        t.header(&Header::new(name.as_bytes(), b'0'));
        w.write_all(&t.0).unwrap();
    }
    w.write_all(&[0u8; 1024]).unwrap();
    w.flush().unwrap();
}

#[test]
fn hundreds_of_thousands_of_empty_files_build_with_bounded_memory() {
    let n: usize = std::env::var("HOSTILE_SCALE_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let sb = Sandbox::new();
    let t0 = Instant::now();
    write_many_entries(&sb.ws().join("many.tar"), n);
    let generated = t0.elapsed();
    let m = sb.manifest_for(&["many.tar"]);
    let out = sb.victim().join("out/rootfs.tar");
    let mut c = sb.compose();
    c.arg("-f")
        .arg(&m)
        .args(["build", "--format", "rootfs", "-o"])
        .arg(&out);
    let t1 = Instant::now();
    let (status, err, peak_kib) = run_measured(c);
    let took = t1.elapsed();
    assert!(status.success(), "{err}");
    eprintln!(
        "{n} entries: generated in {generated:?}, built in {took:?}, peak RSS {} MiB",
        peak_kib / 1024
    );
    sb.assert_nothing_escaped(Some("rootfs.tar"));
    // Every entry is in the output: n files, n/1000 directories, and the end blocks.
    let dirs = n.div_ceil(1000);
    let len = std::fs::metadata(&out).unwrap().len();
    assert_eq!(len, ((n + dirs) as u64 + 2) * 512, "output size");
    // Memory: metadata only, well under 1 KiB per entry plus a fixed 64 MiB.
    let bound_kib = n as u64 + 64 * 1024;
    assert!(
        peak_kib < bound_kib,
        "peak RSS {peak_kib} KiB for {n} entries exceeds {bound_kib} KiB"
    );
}

/// A gzip-compressed tar holding one file of `mib` MiB of zeros, written as a multi-member
/// gzip (each MiB compressed once and repeated), so that it is cheap to make at any size.
fn write_big_file_tar_gz(path: &Path, mib: usize) {
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let mut h = Header::new(b"big.bin", b'0');
    h.size = (mib as u64) << 20;
    let mut t = RawTar::new();
    t.header(&h);
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(&gz(&t.0)).unwrap();
    let mib_of_zeros = gz(&vec![0u8; 1 << 20]);
    for _ in 0..mib {
        w.write_all(&mib_of_zeros).unwrap();
    }
    w.write_all(&gz(&[0u8; 1024])).unwrap();
    w.flush().unwrap();
}

#[test]
fn a_files_bytes_do_not_grow_memory() {
    // Both sizes fill the whole pipeline (inflating, block compression on two threads),
    // so any difference in peak RSS would be bytes held.
    let (small, big) = (24, 120);
    for compression in ["gzip", "zstd"] {
        let mut peaks = Vec::new();
        for mib in [small, big] {
            let sb = Sandbox::new();
            let name = format!("big{mib}.tar.gz");
            write_big_file_tar_gz(&sb.ws().join(&name), mib);
            let m = sb.manifest_for(&[&name]);
            let out = sb.victim().join("out/image.tar");
            let mut c = sb.compose();
            c.args(["-j", "2", "-f"])
                .arg(&m)
                .args([
                    "build",
                    "--format",
                    "oci-archive",
                    "--compression",
                    compression,
                ])
                .arg("-o")
                .arg(&out);
            let (status, err, peak_kib) = run_measured(c);
            assert!(status.success(), "{err}");
            let len = std::fs::metadata(&out).unwrap().len();
            assert!(
                len < (mib as u64) << 20,
                "{mib} MiB of zeros compressed to {len} bytes"
            );
            eprintln!(
                "{compression}, one file of {mib} MiB: peak RSS {} MiB",
                peak_kib / 1024
            );
            peaks.push(peak_kib);
        }
        let (at_small, at_big) = (peaks[0], peaks[1]);
        assert!(
            at_big < at_small + 8 * 1024,
            "{compression}: peak RSS {at_small} KiB with {small} MiB of file bytes, \
             {at_big} KiB with {big} MiB"
        );
        assert!(at_big < 100 * 1024, "{compression}: peak RSS {at_big} KiB");
    }
}

#[test]
fn three_thousand_layers_build_in_reasonable_time_and_memory() {
    let layers = 3000;
    let sb = Sandbox::new();
    let mut m = String::from("[image]\nname = \"many-layers\"\nsource_date_epoch = 1\n");
    for i in 0..layers {
        m.push_str(&format!(
            "[[layer]]\n[[layer.file]]\ndest = \"/layer/{i}\"\ncontent = \"{i}\\n\"\n"
        ));
    }
    let manifest = sb.put("scratch.toml", m.as_bytes());
    for format in ["rootfs", "oci"] {
        let out = sb.victim().join(format!("out/{format}"));
        let mut c = sb.compose();
        c.arg("-f")
            .arg(&manifest)
            .args(["build", "--format", format, "-o"])
            .arg(&out);
        let t0 = Instant::now();
        let (status, err, peak_kib) = run_measured(c);
        let took = t0.elapsed();
        assert!(status.success(), "{format}: {err}");
        eprintln!(
            "{layers} layers as {format}: {took:?}, peak RSS {} MiB",
            peak_kib / 1024
        );
        assert!(took < Duration::from_secs(180), "{format}: {took:?}");
        assert!(peak_kib < 512 * 1024, "{format}: peak RSS {peak_kib} KiB");
    }
    let rootfs = sb.victim().join("out/rootfs");
    let listing = list_tar(&rootfs);
    assert_eq!(
        listing
            .iter()
            .filter(|(p, t, _)| p.starts_with("layer/") && *t == '0')
            .count(),
        layers
    );
    // The OCI layout holds one layer blob per manifest layer.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.victim().join("out/oci/index.json")).unwrap())
            .unwrap();
    assert!(index["manifests"].is_array());
    let blobs = std::fs::read_dir(sb.victim().join("out/oci/blobs/sha256"))
        .unwrap()
        .count();
    assert!(blobs >= layers, "{blobs} blobs for {layers} layers");
    sb.assert_only_outputs(&["rootfs", "oci"]);
}
