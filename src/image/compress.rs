//! Layer compression with bytes that depend only on the input and the setting.
//!
//! The input is cut into fixed-size blocks and each block is compressed on its own: a
//! gzip member (RFC 1952, with a header we write ourselves) or a zstd frame. The blocks
//! are independent, so they can be compressed on any number of threads and written in
//! order: the output is byte-identical for every `jobs` value and every pattern of
//! `write()` sizes. The compressors (libdeflate, libzstd) are pinned exactly in
//! `Cargo.toml`; their versions, the block sizes and the header below belong to
//! [`crate::compat::COMPAT_LEVEL`].

use crate::compression::Compression;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Input bytes per gzip member (part of the compat level). 256 KiB rather than 1 MiB:
/// a small layer such as Alpine's (7.7 MB) then splits into 30 blocks instead of 8, so
/// the last block no longer leaves a core idle for ~10 ms (Alpine built 6% faster on two
/// cores) and more cores can help. Each boundary resets deflate's 32 KiB window, which
/// costs 0.3-0.5% of size: still within 1% of `pigz -6` on every benchmark rootfs.
pub const GZIP_BLOCK_SIZE: usize = 256 << 10;
/// Input bytes per zstd frame (part of the compat level).
pub const ZSTD_BLOCK_SIZE: usize = 4 << 20;

/// How many threads to compress a layer of about `size` bytes with, given `jobs`: a layer
/// that fits in one block is compressed on the caller's thread, since a worker would add
/// only its start and a hand-off (twenty small layers: about 2% of the build). The bytes are
/// the same for any count, so a wrong estimate only costs time.
pub fn jobs_for(c: Compression, jobs: usize, size: u64) -> usize {
    let block = match c {
        Compression::Gzip(_) => GZIP_BLOCK_SIZE,
        Compression::Zstd(_) => ZSTD_BLOCK_SIZE,
        Compression::None => return 1,
    };
    if size <= block as u64 {
        1
    } else {
        jobs
    }
}

/// The OCI media type of a layer compressed with `c`.
pub fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip(_) => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd(_) => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
    }
}

/// The gzip XFL byte for a level, following zlib: 2 for the slowest levels, 4 for the
/// fastest, 0 otherwise.
fn gzip_xfl(level: u8) -> u8 {
    match level {
        0..=1 => 4,
        9.. => 2,
        _ => 0,
    }
}

/// One block compressor; each worker thread owns one.
enum Codec {
    Gzip {
        level: u8,
        inner: libdeflater::Compressor,
    },
    Zstd(zstd::bulk::Compressor<'static>),
}

impl Codec {
    fn new(c: Compression) -> io::Result<Codec> {
        match c {
            Compression::Gzip(level) => {
                let lvl = libdeflater::CompressionLvl::new(i32::from(level)).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("gzip level {level} is outside 1-12"),
                    )
                })?;
                Ok(Codec::Gzip {
                    level,
                    inner: libdeflater::Compressor::new(lvl),
                })
            }
            Compression::Zstd(level) => {
                let mut z = zstd::bulk::Compressor::new(i32::from(level))?;
                // Every frame parameter is set explicitly rather than left to defaults.
                z.include_checksum(true)?;
                z.include_contentsize(true)?;
                z.include_dictid(false)?;
                z.long_distance_matching(false)?;
                Ok(Codec::Zstd(z))
            }
            Compression::None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no codec for uncompressed layers",
            )),
        }
    }

    /// Compress one whole block into one self-contained member or frame, replacing the
    /// contents of `out`.
    fn compress(&mut self, block: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        match self {
            Codec::Gzip { level, inner } => {
                let bound = inner.deflate_compress_bound(block.len());
                out.resize(10 + bound + 8, 0);
                out[..10].copy_from_slice(&[
                    0x1f,
                    0x8b,
                    0x08,
                    0x00,
                    0,
                    0,
                    0,
                    0,
                    gzip_xfl(*level),
                    0xff,
                ]);
                let n = inner
                    .deflate_compress(block, &mut out[10..10 + bound])
                    .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
                out.truncate(10 + n);
                out.extend_from_slice(&crc32fast::hash(block).to_le_bytes());
                out.extend_from_slice(&(block.len() as u32).to_le_bytes());
            }
            Codec::Zstd(z) => {
                out.reserve(zstd::zstd_safe::compress_bound(block.len()));
                z.compress_to_buffer(block, out)?;
            }
        }
        Ok(())
    }
}

/// Buffers handed back after use, shared by the writer and the workers. Without reuse
/// every block is a fresh allocation: glibc then keeps the freed ones in per-thread heaps
/// (zstd's 4 MiB frames took the 1 GiB rootfs from 67 to 94-105 MiB of peak RSS), or,
/// where `main` has it map them afresh, the kernel zeroes new pages for every block (+0.6 s
/// of system time there).
#[derive(Clone, Default)]
struct Buffers {
    /// Input blocks: the writer fills them, a worker hands them back.
    blocks: Spares,
    /// Compressed blocks: a worker fills them, the writer hands them back once written.
    /// Kept apart from `blocks` so that only the bytes a block compressed to are touched.
    outputs: Spares,
}

/// One kind of spare buffer. A new one is made only when none is spare, so there are
/// never more than a layer has had in use at once.
#[derive(Clone, Default)]
struct Spares(Arc<Mutex<Vec<Vec<u8>>>>);

impl Spares {
    /// An empty buffer with room for `capacity` bytes.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut v = self
            .0
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        v.clear();
        v.reserve(capacity);
        v
    }

    fn give(&self, v: Vec<u8>) {
        if let Ok(mut s) = self.0.lock() {
            s.push(v);
        }
    }
}

type BlockResult = (u64, io::Result<Vec<u8>>);
/// The shared end of the work queue the workers take blocks from.
type WorkQueue = Arc<Mutex<Receiver<(u64, Vec<u8>)>>>;

/// Worker threads fed through a bounded queue; results are reordered by sequence number.
///
/// Workers start only as they are needed: a block finding every worker busy starts one
/// more, up to `jobs`. Each costs memory (a compressor of about 300 KiB, a block in and
/// one out), so where the tar being written cannot keep `jobs` workers busy (many cores,
/// or a fast level), the ones it could not use are never started, and a small layer
/// starts no more workers than it has blocks.
struct Pool {
    compression: Compression,
    jobs: usize,
    work: Option<SyncSender<(u64, Vec<u8>)>>,
    work_rx: WorkQueue,
    results: Receiver<BlockResult>,
    results_tx: Sender<BlockResult>,
    threads: Vec<JoinHandle<()>>,
    spares: Buffers,
    /// Blocks submitted whose results have not been received: queued, being compressed,
    /// or done and waiting in `results`.
    in_flight: usize,
    /// At most this many blocks are submitted and not yet written: queued, being
    /// compressed, or compressed and waiting for an earlier one. So a slow block holds
    /// back at most this many results, and memory stays bounded whatever the data.
    max_unwritten: usize,
    ready: BTreeMap<u64, io::Result<Vec<u8>>>,
}

impl Pool {
    /// A pool with one worker, started now so that a bad setting fails here.
    fn new(c: Compression, jobs: usize, spares: Buffers) -> io::Result<Pool> {
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(jobs);
        let (results_tx, results) = mpsc::channel::<BlockResult>();
        let mut pool = Pool {
            compression: c,
            jobs,
            work: Some(work_tx),
            work_rx: Arc::new(Mutex::new(work_rx)),
            results,
            results_tx,
            threads: Vec::with_capacity(jobs),
            spares,
            in_flight: 0,
            // Each worker busy and two blocks more: enough to keep them fed, as the writer
            // fills a block faster than a worker compresses one (`jobs + 1` cost about 1%
            // of the 200 MB rootfs's time, for 7 MiB less with zstd's 4 MiB frames).
            max_unwritten: jobs + 2,
            ready: BTreeMap::new(),
        };
        pool.start_worker()?;
        Ok(pool)
    }

    /// Start one more worker. Only the first must start: when the system refuses another
    /// thread, the blocks go to those running.
    fn start_worker(&mut self) -> io::Result<()> {
        let codec = Codec::new(self.compression)?;
        let rx = Arc::clone(&self.work_rx);
        let tx = self.results_tx.clone();
        let spares = self.spares.clone();
        match std::thread::Builder::new()
            .name("compress".into())
            .spawn(move || worker(codec, rx, tx, spares))
        {
            Ok(t) => self.threads.push(t),
            Err(e) if self.threads.is_empty() => return Err(e),
            Err(_) => self.jobs = self.threads.len(),
        }
        Ok(())
    }

    fn submit(&mut self, seq: u64, block: Vec<u8>) -> io::Result<()> {
        // Collect what is done, so that `in_flight` counts only the busy workers' blocks.
        while let Ok((done, r)) = self.results.try_recv() {
            self.in_flight -= 1;
            self.ready.insert(done, r);
        }
        if self.in_flight >= self.threads.len() && self.threads.len() < self.jobs {
            self.start_worker()?;
        }
        let tx = self.work.as_ref().ok_or_else(pool_gone)?;
        tx.send((seq, block)).map_err(|_| pool_gone())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Wait for one more result. The pool holds a sender itself (to start workers), so
    /// the channel never reports that the workers are gone: that is checked on a timeout.
    fn receive(&mut self) -> io::Result<()> {
        if self.in_flight == 0 {
            // Nothing will come: a block was lost (its result taken but not written).
            return Err(io::Error::other("no compressed block is pending"));
        }
        loop {
            match self.results.recv_timeout(Duration::from_millis(100)) {
                Ok((seq, r)) => {
                    self.in_flight -= 1;
                    self.ready.insert(seq, r);
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.threads.iter().all(|t| t.is_finished()) {
                        return Err(pool_gone());
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(pool_gone()),
            }
        }
    }

    /// Blocks submitted and not yet written.
    fn unwritten(&self) -> usize {
        self.in_flight + self.ready.len()
    }

    fn shutdown(&mut self) {
        self.work = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn pool_gone() -> io::Error {
    io::Error::other("a compression worker thread stopped unexpectedly")
}

fn worker(mut codec: Codec, rx: WorkQueue, tx: Sender<BlockResult>, spares: Buffers) {
    loop {
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((seq, block)) = next else { return };
        let mut out = spares.outputs.take(0);
        // A panic must not leave the writer waiting for a block that never comes.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            codec.compress(&block, &mut out)
        }))
        .unwrap_or_else(|_| Err(io::Error::other("a compression worker thread panicked")));
        spares.blocks.give(block);
        if tx.send((seq, done.map(|()| out))).is_err() {
            return;
        }
    }
}

/// Fixed-size block splitting and in-order emission, on one thread or a pool.
struct Blocks<W: Write> {
    out: W,
    block_size: usize,
    buf: Vec<u8>,
    spares: Buffers,
    /// Used when `jobs <= 1`: compress on the caller's thread, same bytes as the pool.
    local: Option<Codec>,
    pool: Option<Pool>,
    next_seq: u64,
    next_emit: u64,
    /// The first error, returned again by every later call: once a block is lost the
    /// output cannot be completed, and waiting for it would hang (a full disk did).
    failed: Option<Failure>,
}

/// An error kept to be returned again (`io::Error` cannot be cloned).
struct Failure {
    kind: io::ErrorKind,
    message: String,
}

impl Failure {
    fn error(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

impl<W: Write> Blocks<W> {
    fn new(c: Compression, jobs: usize, out: W, block_size: usize) -> io::Result<Self> {
        let spares = Buffers::default();
        let (local, pool) = if jobs <= 1 {
            (Some(Codec::new(c)?), None)
        } else {
            (None, Some(Pool::new(c, jobs, spares.clone())?))
        };
        Ok(Blocks {
            out,
            block_size,
            buf: spares.blocks.take(block_size),
            spares,
            local,
            pool,
            next_seq: 0,
            next_emit: 0,
            failed: None,
        })
    }

    /// Run `step` unless an earlier call failed; on its first error, stop the workers
    /// (they finish the block in hand and exit) and keep the error for every later call.
    fn guarded<T>(&mut self, step: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if let Some(f) = &self.failed {
            return Err(f.error());
        }
        step(self).inspect_err(|e| {
            self.failed = Some(Failure {
                kind: e.kind(),
                message: e.to_string(),
            });
            if let Some(mut pool) = self.pool.take() {
                pool.shutdown();
            }
        })
    }

    /// Hand the (full or final) buffer to a compressor.
    fn dispatch(&mut self) -> io::Result<()> {
        self.guarded(Self::dispatch_now)
    }

    fn dispatch_now(&mut self) -> io::Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(codec) = self.local.as_mut() {
            let mut bytes = self.spares.outputs.take(0);
            codec.compress(&self.buf, &mut bytes)?;
            self.out.write_all(&bytes)?;
            self.spares.outputs.give(bytes);
            self.buf.clear();
            self.next_emit += 1;
            return Ok(());
        }
        let Some(pool) = self.pool.as_mut() else {
            return Err(pool_gone());
        };
        // Room first, then a fresh buffer: one comes back with every result, so a layer
        // never holds more blocks than it has unwritten and the one being filled.
        while pool.unwritten() >= pool.max_unwritten {
            pool.receive()?;
            Self::emit_ready(pool, &mut self.out, &mut self.next_emit)?;
        }
        let block = std::mem::replace(&mut self.buf, self.spares.blocks.take(self.block_size));
        pool.submit(seq, block)?;
        Self::emit_ready(pool, &mut self.out, &mut self.next_emit)
    }

    fn emit_ready(pool: &mut Pool, out: &mut W, next_emit: &mut u64) -> io::Result<()> {
        while let Some(r) = pool.ready.remove(next_emit) {
            let bytes = r?;
            out.write_all(&bytes)?;
            pool.spares.outputs.give(bytes);
            *next_emit += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.guarded(Self::drain)?;
        let Blocks { out, .. } = self;
        Ok(out)
    }

    /// Write the last block and every result still due, then flush.
    fn drain(&mut self) -> io::Result<()> {
        // An empty input still yields one valid member/frame.
        if !self.buf.is_empty() || self.next_seq == 0 {
            self.dispatch()?;
        }
        if let Some(pool) = self.pool.as_mut() {
            while self.next_emit < self.next_seq {
                if !pool.ready.contains_key(&self.next_emit) {
                    pool.receive()?;
                }
                Self::emit_ready(pool, &mut self.out, &mut self.next_emit)?;
            }
            pool.shutdown();
        }
        self.out.flush()
    }
}

impl<W: Write> Write for Blocks<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(f.error());
        }
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.block_size - self.buf.len();
            let take = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == self.block_size {
                self.dispatch()?;
            }
        }
        Ok(data.len())
    }

    /// Deliberately does not cut a block: flushing must never change the bytes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inner<W: Write> {
    Plain(W),
    Blocks(Box<Blocks<W>>),
}

/// A writer that compresses a layer tar deterministically. Call [`LayerCompressor::finish`]
/// to write the last block and get the inner writer back; dropping it loses data.
pub struct LayerCompressor<W: Write> {
    inner: Inner<W>,
}

impl<W: Write + Send> LayerCompressor<W> {
    /// Write the last block, wait for the workers, and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self.inner {
            Inner::Plain(mut w) => {
                w.flush()?;
                Ok(w)
            }
            Inner::Blocks(b) => (*b).finish(),
        }
    }
}

impl<W: Write + Send> Write for LayerCompressor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(w) => w.write(data),
            Inner::Blocks(b) => b.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(w) => w.flush(),
            Inner::Blocks(b) => b.flush(),
        }
    }
}

/// A compressing writer over `out` using `jobs` threads (0 or 1: the caller's thread).
/// The bytes written to `out` do not depend on `jobs` nor on how the input is chunked.
/// Fails only when the level is out of range or threads cannot be started.
pub fn compressed_writer<W: Write + Send>(
    c: Compression,
    jobs: usize,
    out: W,
) -> io::Result<LayerCompressor<W>> {
    let inner = match c {
        Compression::None => Inner::Plain(out),
        Compression::Gzip(_) => {
            Inner::Blocks(Box::new(Blocks::new(c, jobs, out, GZIP_BLOCK_SIZE)?))
        }
        Compression::Zstd(_) => {
            Inner::Blocks(Box::new(Blocks::new(c, jobs, out, ZSTD_BLOCK_SIZE)?))
        }
    };
    Ok(LayerCompressor { inner })
}

/// Compress a whole buffer (tests and small blobs).
pub fn compress_bytes(c: Compression, jobs: usize, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut w = compressed_writer(c, jobs, Vec::new())?;
    w.write_all(data)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn xfl_follows_zlib() {
        assert_eq!(gzip_xfl(1), 4);
        assert_eq!(gzip_xfl(6), 0);
        assert_eq!(gzip_xfl(9), 2);
        assert_eq!(gzip_xfl(12), 2);
    }

    #[test]
    fn one_block_is_compressed_on_the_callers_thread() {
        let gz = Compression::Gzip(6);
        assert_eq!(jobs_for(gz, 8, 0), 1);
        assert_eq!(jobs_for(gz, 8, GZIP_BLOCK_SIZE as u64), 1);
        assert_eq!(jobs_for(gz, 8, GZIP_BLOCK_SIZE as u64 + 1), 8);
        assert_eq!(
            jobs_for(Compression::Zstd(3), 8, GZIP_BLOCK_SIZE as u64 + 1),
            1
        );
        assert_eq!(jobs_for(Compression::Zstd(3), 8, 1 << 30), 8);
        assert_eq!(jobs_for(Compression::None, 8, 1 << 30), 1);
    }

    #[test]
    fn out_of_range_level_is_an_error() {
        assert!(compressed_writer(Compression::Gzip(13), 1, Vec::new()).is_err());
        assert!(compressed_writer(Compression::Gzip(13), 8, Vec::new()).is_err());
    }

    fn workers(b: &Blocks<Vec<u8>>) -> usize {
        b.pool.as_ref().map_or(0, |p| p.threads.len())
    }

    /// Varied bytes, so that compressing them takes a while.
    fn varied(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 61) as u8
            })
            .collect()
    }

    #[test]
    fn workers_start_only_when_the_others_are_busy() {
        // A writer much slower than one worker (4 KiB blocks 30 ms apart) never needs a
        // second; one at most may start if a block is late by more than that.
        let mut slow = Blocks::new(Compression::Gzip(1), 8, Vec::new(), 4096).unwrap();
        for i in 0..6 {
            slow.write_all(&varied(4096, i)).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        assert!(workers(&slow) <= 2, "{} workers", workers(&slow));
        let slow_bytes = slow.finish().unwrap();

        // A burst of blocks, each slow to compress, finds every worker busy: all start.
        let data = varied(24 * 4096, 99);
        let mut burst = Blocks::new(Compression::Gzip(12), 4, Vec::new(), 4096).unwrap();
        burst.write_all(&data).unwrap();
        assert_eq!(workers(&burst), 4);
        let burst_bytes = burst.finish().unwrap();

        // However many started, the bytes are those of one thread.
        let one = |c: Compression, data: &[u8]| {
            let mut b = Blocks::new(c, 1, Vec::new(), 4096).unwrap();
            b.write_all(data).unwrap();
            b.finish().unwrap()
        };
        let slow_data: Vec<u8> = (0..6).flat_map(|i| varied(4096, i)).collect();
        assert_eq!(slow_bytes, one(Compression::Gzip(1), &slow_data));
        assert_eq!(burst_bytes, one(Compression::Gzip(12), &data));
    }

    #[test]
    fn buffers_are_reused_and_bounded_whatever_the_data() {
        // Blocks that compress well follow blocks that do not, and the last is short, so a
        // reused buffer always held more than its next use: stale bytes would show.
        let block = 4096;
        let data: Vec<u8> = (0..64u64)
            .flat_map(|i| {
                if i % 2 == 0 {
                    varied(block, i)
                } else {
                    vec![b'a'; block]
                }
            })
            .chain(varied(1000, 7))
            .collect();
        for c in [Compression::Gzip(6), Compression::Zstd(3)] {
            let bytes = |jobs: usize| {
                let mut b = Blocks::new(c, jobs, Vec::new(), block).unwrap();
                for piece in data.chunks(3000) {
                    b.write_all(piece).unwrap();
                }
                let spares = b.spares.clone();
                (b.finish().unwrap(), spares)
            };
            let (one, _) = bytes(1);
            let (four, spares) = bytes(4);
            assert_eq!(four, one, "{c:?}");
            let decoded = match c {
                Compression::Zstd(_) => zstd::decode_all(&four[..]).unwrap(),
                _ => {
                    let mut out = Vec::new();
                    flate2::read::MultiGzDecoder::new(&four[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                }
            };
            assert!(
                decoded == data,
                "{c:?}: the bytes do not decode to the input"
            );
            // 65 blocks went through with at most `jobs + 2` unwritten (and one more being
            // filled), however unevenly they compressed: every buffer came back and was
            // used again, rather than one being made per block.
            let made = |s: &Spares| s.0.lock().unwrap().len();
            assert!(
                (1..=4 + 3).contains(&made(&spares.blocks)),
                "{}",
                made(&spares.blocks)
            );
            assert!(
                (1..=4 + 2).contains(&made(&spares.outputs)),
                "{}",
                made(&spares.outputs)
            );
        }
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use std::sync::mpsc;

    /// A sink that takes `room` bytes, then fails as a full disk does.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Run `f` on a thread; fail the test if it does not return within 20 s.
    fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the compressor hung after a write error")
    }

    #[test]
    fn a_write_error_ends_every_later_call_promptly() {
        // A writer that goes on writing after the first error (as a `BufWriter` does when
        // it is dropped) and then finishes must get the error each time, not wait for
        // blocks that will never be written.
        for c in [Compression::Gzip(1), Compression::Zstd(1)] {
            for jobs in [1, 2, 4] {
                let errors = promptly(move || {
                    let block = 4096;
                    let mut b = Blocks::new(c, jobs, Full { room: 3 * block }, block).unwrap();
                    let data: Vec<u8> =
                        (0..block as u32 * 8).map(|i| (i * 7 % 251) as u8).collect();
                    let mut errors = Vec::new();
                    for _ in 0..40 {
                        if let Err(e) = b.write_all(&data) {
                            errors.push(e.kind());
                        }
                    }
                    errors.push(b.finish().map(|_| ()).unwrap_err().kind());
                    errors
                });
                assert!(errors.len() > 2, "{c:?} jobs {jobs}: {errors:?}");
                assert!(
                    errors.iter().all(|k| *k == io::ErrorKind::StorageFull),
                    "{c:?} jobs {jobs}: {errors:?}"
                );
            }
        }
    }
}
