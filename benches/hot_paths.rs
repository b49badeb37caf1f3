//! Micro-benchmarks of the hot paths of `compose build`, through the library's public API:
//! reading a tar, merging layers, writing the canonical tar, sha256, and block
//! compression (gzip through libdeflate, zstd) on one thread and on all of them.
//!
//!     cargo bench --bench hot_paths            # everything
//!     cargo bench --bench hot_paths -- sha256  # one group
//!
//! The data is generated deterministically (text, instruction-like "binaries" and noise,
//! as benches/gen-rootfs.py mixes them), so runs compare across machines and commits.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use scratch_compose::compression::Compression;
use scratch_compose::digest::{HashingWriter, Sha256Digest};
use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::image::{compress_bytes, GZIP_BLOCK_SIZE};
use scratch_compose::layer::{read_tar, TarWriter};
use scratch_compose::merge::{MergeOptions, Tree};
use std::hint::black_box;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// A small deterministic generator (xorshift64*), so no extra crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `len` bytes mixing compressible text, semi-compressible "binary" and noise, about as a
/// distribution rootfs does.
fn rootfs_like(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "of", "and", "config", "value", "path", "user", "lib", "bin", "usr", "etc", "share",
        "static", "const", "void", "int", "return", "struct", "while", "for",
    ];
    let mut rng = Rng(seed | 1);
    let ops: Vec<Vec<u8>> = (0..64)
        .map(|_| (0..4 + rng.below(12)).map(|_| rng.next() as u8).collect())
        .collect();
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let chunk = 4096 + rng.below(60_000) as usize;
        let end = (out.len() + chunk).min(len);
        match rng.below(20) {
            0..=8 => {
                while out.len() < end {
                    out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                    out.push(if rng.below(8) == 0 { b'\n' } else { b' ' });
                }
            }
            9..=17 => {
                while out.len() < end {
                    out.extend_from_slice(&ops[rng.below(64) as usize]);
                    out.extend_from_slice(&(rng.next() as u16).to_le_bytes());
                }
            }
            _ => {
                while out.len() < end {
                    out.extend_from_slice(&rng.next().to_le_bytes());
                }
            }
        }
    }
    out.truncate(len);
    out
}

/// `files` regular files of about `avg` bytes in a few directories, with their parents,
/// as canonical tar entries whose contents are inline.
fn entries(files: usize, avg: usize, seed: u64) -> Vec<Entry> {
    let mut rng = Rng(seed | 1);
    let data: Arc<[u8]> = rootfs_like(avg * 4, seed).into();
    let mut out = Vec::new();
    let dirs = (files / 50).max(1);
    for d in 0..dirs {
        out.push(Entry::dir(
            ImagePath::parse_str(&format!("usr/lib/d{d:04}")).unwrap(),
        ));
    }
    for i in 0..files {
        let len = (rng.below(2 * avg as u64) as usize).min(data.len());
        let path = format!("usr/lib/d{:04}/f{i:06}", i % dirs);
        let content = Content::Inline(data[..len].into());
        out.push(Entry::new(
            ImagePath::parse_str(&path).unwrap(),
            Kind::File(content),
            0o644,
        ));
    }
    let mut parents = vec![
        Entry::dir(ImagePath::parse_str("usr").unwrap()),
        Entry::dir(ImagePath::parse_str("usr/lib").unwrap()),
    ];
    parents.extend(out);
    parents
}

/// Write entries as a canonical tar.
fn tar_bytes(entries: &[Entry], w: impl Write) -> io::Result<()> {
    let mut t = TarWriter::new(w, Epoch(0));
    for e in entries {
        t.append(e)?;
    }
    t.finish()?;
    Ok(())
}

fn tar_file(dir: &Path, entries: &[Entry]) -> std::path::PathBuf {
    let path = dir.join("layer.tar");
    let f = std::fs::File::create(&path).unwrap();
    tar_bytes(entries, io::BufWriter::new(f)).unwrap();
    path
}

fn bench_tar(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let es = entries(5_000, 2_000, 1);
    let path = tar_file(dir.path(), &es);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut g = c.benchmark_group("tar");
    g.throughput(Throughput::Elements(es.len() as u64));
    g.bench_function("read 5000 entries", |b| {
        b.iter(|| black_box(read_tar(&path, "bench").unwrap()))
    });
    g.throughput(Throughput::Bytes(size));
    g.bench_function("write 5000 entries (10 MB)", |b| {
        b.iter(|| tar_bytes(black_box(&es), io::sink()).unwrap())
    });
    g.finish();
}

fn bench_merge(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lower = read_tar(&tar_file(dir.path(), &entries(20_000, 64, 2)), "lower").unwrap();
    let upper: Vec<Entry> = entries(2_000, 64, 3);
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Elements(lower.len() as u64));
    g.bench_function("apply 20000 entries", |b| {
        b.iter_batched(
            || lower.clone(),
            |es| {
                black_box(
                    Tree::new()
                        .apply("bench", es, &MergeOptions::default())
                        .unwrap(),
                )
            },
            BatchSize::LargeInput,
        )
    });
    let mut base = Tree::new();
    base.apply("lower", lower.clone(), &MergeOptions::default())
        .unwrap();
    g.throughput(Throughput::Elements(upper.len() as u64));
    g.bench_function("apply 2000 entries over 20000", |b| {
        b.iter_batched(
            || (base.clone(), upper.clone()),
            |(mut t, es)| black_box(t.apply("upper", es, &MergeOptions::default()).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(lower.len() as u64));
    g.bench_function("entries of a 20000-entry tree", |b| {
        b.iter(|| black_box(base.entries()))
    });
    g.finish();
}

fn bench_sha256(c: &mut Criterion) {
    let data = rootfs_like(16 << 20, 4);
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("16 MiB in one call", |b| {
        b.iter(|| black_box(Sha256Digest::of(black_box(&data))))
    });
    g.bench_function("16 MiB through HashingWriter in 64 KiB writes", |b| {
        b.iter(|| {
            let mut w = HashingWriter::new(io::sink());
            for chunk in data.chunks(64 << 10) {
                w.write_all(chunk).unwrap();
            }
            black_box(w.finish().1)
        })
    });
    g.finish();
}

fn bench_compress(c: &mut Criterion) {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let block = rootfs_like(GZIP_BLOCK_SIZE, 5);
    let big = rootfs_like(16 << 20, 6);
    let mut g = c.benchmark_group("compress");
    g.sample_size(20);
    for comp in [
        Compression::Gzip(6),
        Compression::Gzip(1),
        Compression::Zstd(3),
    ] {
        g.throughput(Throughput::Bytes(block.len() as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("{comp} one gzip block"), "256 KiB"),
            &block,
            |b, d| b.iter(|| black_box(compress_bytes(comp, 1, d).unwrap())),
        );
        g.throughput(Throughput::Bytes(big.len() as u64));
        for j in [1, jobs] {
            g.bench_with_input(
                BenchmarkId::new(format!("{comp} 16 MiB"), format!("{j} threads")),
                &big,
                |b, d| b.iter(|| black_box(compress_bytes(comp, j, d).unwrap())),
            );
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_tar,
    bench_merge,
    bench_sha256,
    bench_compress
);
criterion_main!(benches);
