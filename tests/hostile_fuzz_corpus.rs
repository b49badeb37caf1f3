//! Replays the fuzz seed corpus and every crash the fuzzer ever found
//! (`fuzz/corpus/<target>/*`, `fuzz/artifacts/<target>/*`) as plain tests, through the
//! same entry functions the cargo-fuzz targets call (`fuzz/shared.rs`). A crash found by
//! `fuzz/run.sh` is committed under `fuzz/artifacts/<target>/` and so becomes a
//! regression test here.

#[path = "../fuzz/shared.rs"]
mod shared;

use std::path::Path;

fn inputs(kind: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd
        .map(|e| e.expect("read_dir").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) -> usize {
    let mut n = 0;
    for kind in ["corpus", "artifacts"] {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("read input");
            let outcome = std::panic::catch_unwind(|| shared::run(target, &data));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_target_has_a_seed_corpus() {
    for t in shared::TARGETS {
        assert!(
            !inputs("corpus", t).is_empty(),
            "fuzz/corpus/{t} has no seeds"
        );
    }
}

#[test]
fn manifest_corpus_replays() {
    assert!(replay("manifest") > 0);
}

#[test]
fn tar_read_corpus_replays() {
    assert!(replay("tar_read") > 0);
}

#[test]
fn decompress_corpus_replays() {
    assert!(replay("decompress") > 0);
}

#[test]
fn merge_corpus_replays() {
    assert!(replay("merge") > 0);
}

#[test]
fn pkgdb_corpus_replays() {
    assert!(replay("pkgdb") > 0);
}

#[test]
fn elf_corpus_replays() {
    assert!(replay("elf") > 0);
}

/// The ELF seeds are the cases their names say, so the fuzzer starts from them.
#[test]
fn elf_seeds_parse_as_named() {
    use scratch_compose::preflight::elf::parse_bytes;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/elf");
    let seed = |n: &str| std::fs::read(dir.join(format!("seed-{n}"))).expect("seed");
    let musl = parse_bytes(&seed("musl-dynamic")).expect("musl seed parses");
    assert_eq!(
        musl.interpreter.as_deref(),
        Some(&b"/lib/ld-musl-x86_64.so.1"[..])
    );
    assert_eq!(musl.needed, [b"libz.so.1".to_vec()]);
    assert_eq!(musl.runpath.as_deref(), Some(&b"$ORIGIN/../lib"[..]));
    let arm32 = parse_bytes(&seed("arm32")).expect("arm32 seed parses");
    assert!(!arm32.class64 && arm32.needed == [b"libc.so.6".to_vec()]);
    let s390x = parse_bytes(&seed("s390x-big-endian")).expect("s390x seed parses");
    assert!(!s390x.little_endian && s390x.needed == [b"libc.so.6".to_vec()]);
    assert!(parse_bytes(&seed("phnum-max")).is_err());
    assert!(parse_bytes(&seed("strtab-past-end")).is_err());
    assert!(parse_bytes(&seed("truncated")).is_err());
}
