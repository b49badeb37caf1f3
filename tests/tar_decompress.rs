//! Input detection and decompression: every format by content, truncated and corrupt
//! streams named by input, the output limit against bombs, odd inputs, and reading a
//! plain or compressed input as one layer.

mod tar_support;

use scratch_compose::entry::Kind;
use scratch_compose::layer::{decompress, detect_format, read_tar, InputFormat, LayerError};
use scratch_compose::layer::{default_limit, MIN_DEFAULT_LIMIT};
use std::io::Write;
use tar_support::*;

fn sample_tar() -> Vec<u8> {
    let mut ar = Vec::new();
    add(&mut ar, &h(b"hello", b'0'), &b"hello world\n".repeat(500));
    finish(ar)
}

fn compressed(format: InputFormat, data: &[u8]) -> Vec<u8> {
    match format {
        InputFormat::Tar => data.to_vec(),
        InputFormat::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        InputFormat::Xz => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        InputFormat::Zstd => zstd::encode_all(data, 3).unwrap(),
        InputFormat::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(6));
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

const FORMATS: [InputFormat; 5] = [
    InputFormat::Tar,
    InputFormat::Gzip,
    InputFormat::Xz,
    InputFormat::Zstd,
    InputFormat::Bzip2,
];

#[test]
fn detects_by_content_and_decompresses_every_format() {
    let tar = sample_tar();
    let dir = tempfile::tempdir().unwrap();
    for f in FORMATS {
        // Two members/streams/frames concatenated: all must be read.
        let mut bytes = compressed(f, &tar[..1024]);
        if f == InputFormat::Tar {
            bytes = tar.clone();
        } else {
            bytes.extend(compressed(f, &tar[1024..]));
        }
        // A misleading name: detection must not care.
        let path = dir.path().join(format!("{f:?}.tar.gz"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(detect_format(&path).unwrap(), f);
        let mut out = Vec::new();
        let n = decompress(&path, f, &mut out, 1 << 20, "sample").unwrap();
        assert_eq!(n as usize, tar.len(), "{f:?}");
        assert_eq!(out, tar, "{f:?}");
    }
}

#[test]
fn truncated_and_corrupt_streams_name_the_input() {
    let tar = sample_tar();
    let dir = tempfile::tempdir().unwrap();
    for f in &FORMATS[1..] {
        let full = compressed(*f, &tar);
        let path = dir.path().join("cut");
        std::fs::write(&path, &full[..full.len() - 9]).unwrap();
        let err = decompress(&path, *f, &mut Vec::new(), 1 << 20, "https://x/y.tar").unwrap_err();
        assert!(matches!(err, LayerError::Corrupt { .. }), "{f:?}: {err}");
        assert!(err.to_string().contains("https://x/y.tar"), "{err}");
        assert!(err.hint().is_some());

        // zstd frames carry no checksum by default: damage may decode to garbage, which the
        // sha256 of every input catches. Damage its frame header instead.
        let mut bad = full.clone();
        let mid = if *f == InputFormat::Zstd {
            0
        } else {
            bad.len() / 2
        };
        for b in &mut bad[mid..mid + 8] {
            *b ^= 0x55;
        }
        std::fs::write(&path, &bad).unwrap();
        let r = decompress(&path, *f, &mut Vec::new(), 1 << 20, "lbl");
        assert!(matches!(r, Err(LayerError::Corrupt { .. })), "{f:?}: {r:?}");
    }
}

#[test]
fn output_limit_stops_bombs() {
    let zeros = vec![0u8; 4 << 20];
    let dir = tempfile::tempdir().unwrap();
    for f in &FORMATS[1..] {
        let path = dir.path().join("bomb");
        std::fs::write(&path, compressed(*f, &zeros)).unwrap();
        let mut out = Vec::new();
        let err = decompress(&path, *f, &mut out, 1 << 20, "bomb").unwrap_err();
        assert!(
            matches!(err, LayerError::TooLarge { limit, .. } if limit == 1 << 20),
            "{err}"
        );
        assert!(out.len() <= 1 << 20);
        assert!(decompress(&path, *f, &mut Vec::new(), 4 << 20, "ok").is_ok());
    }
    assert_eq!(default_limit(10), MIN_DEFAULT_LIMIT);
    assert_eq!(default_limit(1 << 30), 250 << 30);
    assert_eq!(default_limit(u64::MAX), u64::MAX);
}

#[test]
fn detection_of_odd_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::write(&path, b"").unwrap();
    let err = detect_format(&path).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    std::fs::write(&path, b"<html>not found</html>").unwrap();
    let err = detect_format(&path).unwrap_err();
    assert!(matches!(err, LayerError::UnknownFormat { .. }));
    assert!(err.to_string().contains("3c68746d"), "{err}");
    assert!(err.hint().is_some());
    // A pre-POSIX (v7) header: no magic, but a valid checksum.
    let mut v7 = vec![0u8; 1536];
    v7[..5].copy_from_slice(b"hello");
    oct(&mut v7[100..108], 0o644);
    oct(&mut v7[124..136], 0);
    v7[148..156].fill(b' ');
    let sum: u32 = v7[..512].iter().map(|&b| u32::from(b)).sum();
    oct(&mut v7[148..155], u64::from(sum));
    std::fs::write(&path, &v7).unwrap();
    assert_eq!(detect_format(&path).unwrap(), InputFormat::Tar);
    v7[0] = b'j';
    std::fs::write(&path, &v7).unwrap();
    assert!(detect_format(&path).is_err(), "bad checksum is not a tar");
    // An empty archive (two zero blocks) is a tar.
    std::fs::write(&path, vec![0u8; 1024]).unwrap();
    assert_eq!(detect_format(&path).unwrap(), InputFormat::Tar);
    assert_eq!(read_tar(&path, "empty").unwrap(), Vec::new());
    let missing = dir.path().join("missing");
    assert!(matches!(
        detect_format(&missing),
        Err(LayerError::Io { .. })
    ));
}

#[test]
fn read_input_handles_plain_and_compressed() {
    let tar = sample_tar();
    let dir = tempfile::tempdir().unwrap();
    for f in FORMATS {
        let src = dir.path().join(format!("in-{f:?}"));
        std::fs::write(&src, compressed(f, &tar)).unwrap();
        let scratch = dir.path().join(format!("scratch-{f:?}"));
        let (format, entries) =
            scratch_compose::layer::read_input(&src, &scratch, "input").unwrap();
        assert_eq!(format, f);
        assert_eq!(entries.len(), 1);
        match &entries[0].kind {
            Kind::File(c) => assert_eq!(content_bytes(c), b"hello world\n".repeat(500)),
            k => panic!("{k:?}"),
        }
        assert_eq!(scratch.exists(), f != InputFormat::Tar);
    }
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not an archive at all").unwrap();
    let err = scratch_compose::layer::read_input(&junk, &dir.path().join("s"), "https://e/x")
        .unwrap_err();
    assert!(err.to_string().starts_with("https://e/x:"), "{err}");
}
