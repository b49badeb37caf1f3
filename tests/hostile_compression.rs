//! Hostile compressed inputs: corrupt and truncated gzip, xz, zstd and bzip2 streams are
//! clear errors naming the input; a compression bomb is refused past the documented
//! limit (`layer::decompress::default_limit`, overridable with `SCRATCH_MAX_INPUT_SIZE`);
//! nothing is written outside the output and the cache keeps no partial data.

mod hostile_support;
use hostile_support::*;

use scratch_compose::layer::{self, InputFormat, LayerError};
use scratch_compose::layer::{default_limit, DEFAULT_LIMIT_RATIO, MIN_DEFAULT_LIMIT};
use std::io::Write;
use std::process::{Command, Stdio};

fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut c = Command::new(tool)
        .args(["-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = c.stdin.take().unwrap();
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = c.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn sample_tar() -> Vec<u8> {
    let mut t = RawTar::new();
    for i in 0..50 {
        t.file(
            format!("f{i}").as_bytes(),
            format!("{i}").repeat(300).as_bytes(),
        );
    }
    t.finish()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Each format: (name, compressed sample).
fn streams() -> Vec<(&'static str, Vec<u8>)> {
    let tar = sample_tar();
    vec![
        ("gzip", gzip(&tar)),
        ("xz", compress("xz", &tar)),
        ("zstd", compress("zstd", &tar)),
        ("bzip2", compress("bzip2", &tar)),
    ]
}

fn decompress_bytes(bytes: &[u8], limit: u64) -> Result<u64, LayerError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in");
    std::fs::write(&p, bytes).unwrap();
    let format = layer::detect_format(&p)?;
    assert_ne!(format, InputFormat::Tar);
    layer::decompress(&p, format, &mut std::io::sink(), limit, "input.tgz")
}

/// No temporary or partial files left in the cache's tmp/ after a build.
fn assert_cache_tmp_empty(sb: &Sandbox) {
    let tmp = sb.cache().join("tmp");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        let left: Vec<_> = rd.map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "leftovers in the cache's tmp/: {left:?}");
    }
}

fn build_one(bytes: &[u8], env: &[(&str, String)]) -> (Sandbox, std::process::Output) {
    let sb = Sandbox::new();
    sb.put("in.tar.x", bytes);
    let m = sb.manifest_for(&["in.tar.x"]);
    let out = sb.victim().join("out/rootfs.tar");
    let mut c = sb.compose();
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c
        .arg("-f")
        .arg(&m)
        .args(["build", "--format", "rootfs", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    (sb, o)
}

#[test]
fn intact_streams_of_every_format_build() {
    for (name, bytes) in streams() {
        assert!(decompress_bytes(&bytes, 1 << 30).is_ok(), "{name}");
        let (sb, o) = build_one(&bytes, &[]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        sb.assert_nothing_escaped(Some("rootfs.tar"));
        assert_cache_tmp_empty(&sb);
    }
}

#[test]
fn truncated_streams_are_clear_errors() {
    for (name, bytes) in streams() {
        for cut in [bytes.len() / 2, bytes.len() - 1, 12] {
            let short = &bytes[..cut];
            let err = decompress_bytes(short, 1 << 30).unwrap_err();
            assert!(
                matches!(err, LayerError::Corrupt { .. }),
                "{name} cut at {cut}: {err}"
            );
            assert!(err.to_string().contains("input.tgz"), "{err}");
            let (sb, o) = build_one(short, &[]);
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{name}: {e}");
            assert!(e.contains("corrupt or truncated"), "{name}: {e}");
            assert!(e.contains("in.tar.x"), "{name}: {e}");
            // The input is blamed with the input's hint, not the cache it was decompressed into.
            assert!(!e.contains("cache"), "{name}: {e}");
            assert!(
                e.contains("hint: the download may be incomplete"),
                "{name}: {e}"
            );
            sb.assert_nothing_escaped(None);
            assert_cache_tmp_empty(&sb);
        }
    }
}

#[test]
fn several_compressed_inputs_inflated_together_fail_as_one() {
    // Every format at once (they are inflated side by side), the third truncated: the
    // error is that input's alone, and a fixed copy then builds.
    let sb = Sandbox::new();
    let mut names = Vec::new();
    for (i, (_, bytes)) in streams().into_iter().enumerate() {
        let name = format!("in{i}.tar.x");
        let bytes = if i == 2 {
            &bytes[..bytes.len() / 2]
        } else {
            &bytes[..]
        };
        sb.put(&name, bytes);
        names.push(name);
    }
    let m = sb.manifest_for(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let out = sb.victim().join("out/rootfs.tar");
    let build = || {
        sb.compose()
            .args(["-j", "4", "-f"])
            .arg(&m)
            .args(["build", "--format", "rootfs", "-o"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = build();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("in2.tar.x") && e.contains("corrupt or truncated"),
        "{e}"
    );
    for other in ["in0", "in1", "in3"] {
        assert!(!e.contains(other), "{e}");
    }
    sb.assert_nothing_escaped(None);
    assert_cache_tmp_empty(&sb);

    sb.put("in2.tar.x", &streams()[2].1);
    let o = build();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_cache_tmp_empty(&sb);
}

#[test]
fn corrupt_streams_are_clear_errors() {
    for (name, bytes) in streams() {
        let mut bad = bytes.clone();
        // Flip bytes in the middle of the compressed data (past every header).
        let mid = bad.len() / 2;
        for b in &mut bad[mid..mid + 8] {
            *b ^= 0x5a;
        }
        let err = decompress_bytes(&bad, 1 << 30).unwrap_err();
        assert!(matches!(err, LayerError::Corrupt { .. }), "{name}: {err}");
        let (sb, o) = build_one(&bad, &[]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        assert!(e.contains("corrupt or truncated"), "{name}: {e}");
        sb.assert_nothing_escaped(None);
        assert_cache_tmp_empty(&sb);
    }
    // Trailing garbage after a complete gzip member.
    let mut g = gzip(&sample_tar());
    g.extend_from_slice(b"garbage!");
    let (_, o) = build_one(&g, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_default_limit_is_documented_and_bounded() {
    assert_eq!(default_limit(0), MIN_DEFAULT_LIMIT);
    assert_eq!(default_limit(1000), 1 << 30);
    assert_eq!(default_limit(100 << 20), (100 << 20) * DEFAULT_LIMIT_RATIO);
    assert_eq!(default_limit(u64::MAX), u64::MAX);
}

/// 64 MiB of zeros, gzip-compressed to about 64 KiB: a ratio of ~1000.
fn bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

#[test]
fn a_compression_bomb_is_refused_past_the_limit_and_the_limit_can_be_raised() {
    let b = bomb();
    assert!(b.len() < 1 << 20);
    // Library: refused at exactly the limit, never writing more than it.
    let limit = 10 << 20;
    let err = decompress_bytes(&b, limit).unwrap_err();
    assert!(
        matches!(err, LayerError::TooLarge { limit: l, .. } if l == limit),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("compression bomb"));

    // CLI: a limit below the expanded size refuses it with exit 2 and leaves no partial
    // decompressed data in the cache.
    let (sb, o) = build_one(&b, &[("SCRATCH_MAX_INPUT_SIZE", (10u64 << 20).to_string())]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("exceeds the limit of 10485760 bytes"), "{e}");
    // The hint names the variable that raises the limit, with a value to try.
    assert!(
        e.contains("hint:") && e.contains("SCRATCH_MAX_INPUT_SIZE=20971520"),
        "{e}"
    );
    sb.assert_nothing_escaped(None);
    assert_cache_tmp_empty(&sb);
    let derived = sb.cache().join("derived/tar");
    if let Ok(rd) = std::fs::read_dir(&derived) {
        assert_eq!(rd.count(), 0, "partial decompressed data kept in the cache");
    }

    // The same input with the limit raised (it is zeros: an empty tar).
    let (sb, o) = build_one(&b, &[("SCRATCH_MAX_INPUT_SIZE", (65u64 << 20).to_string())]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.assert_nothing_escaped(Some("rootfs.tar"));

    // A malformed override is a usage error, not a silent default.
    let (_, o) = build_one(&b, &[("SCRATCH_MAX_INPUT_SIZE", "lots".to_string())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("SCRATCH_MAX_INPUT_SIZE"));
}
