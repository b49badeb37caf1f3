//! Layer compression with bytes that depend only on the input and the setting.
//!
//! The input is cut into fixed-size blocks and each block is compressed on its own: a
//! gzip member (RFC 1952, with a header we write ourselves) or a zstd frame. The blocks
//! are independent, so they can be compressed on any number of threads and written in
//! order: the output is byte-identical for every `jobs` value and every pattern of
//! `write()` sizes. The compressors (libdeflate, libzstd) are pinned exactly in
//! `Cargo.toml`; their versions, the block sizes and the header below belong to
//! [`crate::COMPAT_LEVEL`].

use crate::compression::Compression;
use crate::digest::{HashingWriter, Sha256Digest};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

    /// Compress one whole block into one self-contained member or frame.
    fn compress(&mut self, block: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Codec::Gzip { level, inner } => {
                let bound = inner.deflate_compress_bound(block.len());
                let mut out = vec![0u8; 10 + bound + 8];
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
                Ok(out)
            }
            Codec::Zstd(z) => z.compress(block),
        }
    }
}

/// What becomes of each compressed block, in order: its input goes into the digest of
/// everything written (a layer's diff_id) and its output to `out`.
struct Sink<W> {
    out: W,
    input: Sha256,
    input_len: u64,
    /// Compressed blocks written.
    written: u64,
}

impl<W: Write> Sink<W> {
    fn new(out: W) -> Self {
        Sink {
            out,
            input: Sha256::new(),
            input_len: 0,
            written: 0,
        }
    }

    fn input(&mut self, block: &[u8]) {
        self.input.update(block);
        self.input_len += block.len() as u64;
    }

    fn output(&mut self, compressed: &[u8]) -> io::Result<()> {
        self.written += 1;
        self.out.write_all(compressed)
    }

    fn finish(mut self) -> io::Result<Compressed<W>> {
        self.out.flush()?;
        Ok((
            self.out,
            Sha256Digest(self.input.finalize().into()),
            self.input_len,
        ))
    }
}

/// The inner writer, the sha256 of the uncompressed input, and its length.
pub type Compressed<W> = (W, Sha256Digest, u64);

/// What the collector is sent.
enum ToCollector {
    /// The next block, from the writer as it is cut, to be hashed right away.
    Input(Arc<Vec<u8>>),
    /// A block's compressed form, from a worker, and its place in the stream.
    Output(u64, io::Result<Vec<u8>>),
}
/// The shared end of the work queue the workers take blocks from.
type WorkQueue = Arc<Mutex<Receiver<(u64, Arc<Vec<u8>>)>>>;

/// Worker threads that compress blocks, and a collector thread that writes them in order.
///
/// The tar writer (the caller's thread) only cuts blocks and hands each to a worker and
/// to the collector, which hashes it (the diff_id) while it is compressed, then hashes
/// and writes the compressed blocks in order. sha256 is sequential: on the writer's
/// thread it capped a layer at about 680 MB/s whatever the core count.
///
/// Workers start only as they are needed: a block finding every worker busy starts one
/// more, up to `jobs`. Each costs memory (a compressor of about 300 KiB, a block in and
/// one out), so where the tar being written cannot keep `jobs` workers busy (many cores,
/// or a fast level), the ones it could not use are never started, and a small layer
/// starts no more workers than it has blocks.
struct Pool<W> {
    compression: Compression,
    jobs: usize,
    work: Option<Sender<(u64, Arc<Vec<u8>>)>>,
    work_rx: WorkQueue,
    /// To the collector; cloned for each worker; dropped first when the pool closes.
    collector_tx: Option<Sender<ToCollector>>,
    /// One token per block handed out and not yet written: `jobs + 2` at most, each
    /// worker busy and two blocks queued, so memory stays bounded.
    slots: Option<SyncSender<()>>,
    threads: Vec<JoinHandle<()>>,
    /// Workers running (started and not yet returned), for the collector to notice that
    /// none is left to bring the block it waits for.
    alive: Arc<AtomicUsize>,
    /// Blocks compressed so far, for the start policy.
    compressed: Arc<AtomicU64>,
    submitted: u64,
    collector: Option<JoinHandle<io::Result<Sink<W>>>>,
}

impl<W: Write + Send + 'static> Pool<W> {
    /// A pool with one worker, started now so that a bad setting fails here.
    fn new(c: Compression, jobs: usize, out: W) -> io::Result<Pool<W>> {
        let (work_tx, work_rx) = mpsc::channel::<(u64, Arc<Vec<u8>>)>();
        let (collector_tx, collector_rx) = mpsc::channel::<ToCollector>();
        let (slots_tx, slots_rx) = mpsc::sync_channel::<()>(jobs + 2);
        let alive = Arc::new(AtomicUsize::new(0));
        let mut pool = Pool {
            compression: c,
            jobs,
            work: Some(work_tx),
            work_rx: Arc::new(Mutex::new(work_rx)),
            collector_tx: Some(collector_tx),
            slots: Some(slots_tx),
            threads: Vec::with_capacity(jobs),
            alive: Arc::clone(&alive),
            compressed: Arc::default(),
            submitted: 0,
            collector: None,
        };
        pool.start_worker()?;
        let sink = Sink::new(out);
        pool.collector = Some(
            std::thread::Builder::new()
                .name("compress-out".into())
                .spawn(move || collect(sink, collector_rx, slots_rx, alive))?,
        );
        Ok(pool)
    }

    /// Start one more worker. Only the first must start: when the system refuses another
    /// thread, the blocks go to those running.
    fn start_worker(&mut self) -> io::Result<()> {
        let codec = Codec::new(self.compression)?;
        let rx = Arc::clone(&self.work_rx);
        let tx = self.collector_tx.clone().ok_or_else(pool_gone)?;
        let compressed = Arc::clone(&self.compressed);
        self.alive.fetch_add(1, Ordering::SeqCst);
        let alive = Alive(Arc::clone(&self.alive));
        match std::thread::Builder::new()
            .name("compress".into())
            .spawn(move || worker(alive, codec, rx, tx, compressed))
        {
            Ok(t) => self.threads.push(t),
            // The closure, and with it the `Alive` guard, is dropped with the error.
            Err(e) if self.threads.is_empty() => return Err(e),
            Err(_) => self.jobs = self.threads.len(),
        }
        Ok(())
    }

    fn submit(&mut self, block: Vec<u8>) -> io::Result<()> {
        // Wait for a free slot: the collector frees one per block written.
        let slots = self.slots.as_ref().ok_or_else(pool_gone)?;
        if slots.send(()).is_err() {
            return Err(self.failure());
        }
        let busy = self.submitted - self.compressed.load(Ordering::SeqCst);
        if busy >= self.threads.len() as u64 && self.threads.len() < self.jobs {
            self.start_worker()?;
        }
        let block = Arc::new(block);
        let (Some(work), Some(collector)) = (&self.work, &self.collector_tx) else {
            return Err(pool_gone());
        };
        if collector
            .send(ToCollector::Input(Arc::clone(&block)))
            .is_err()
            || work.send((self.submitted, block)).is_err()
        {
            return Err(self.failure());
        }
        self.submitted += 1;
        Ok(())
    }
}

impl<W> Pool<W> {
    /// Why the pool stopped taking blocks: the collector's error (a write failed, a
    /// block could not be compressed), which it stopped on.
    fn failure(&mut self) -> io::Error {
        match self.close() {
            Err(e) => e,
            Ok(_) => pool_gone(),
        }
    }

    /// Let the workers and the collector finish; the collector's result, which holds
    /// every block submitted when all went well.
    fn close(&mut self) -> io::Result<Sink<W>> {
        self.collector_tx = None;
        self.work = None;
        self.slots = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let collector = self.collector.take().ok_or_else(pool_gone)?;
        let sink = collector
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the compression output thread panicked")))?;
        if sink.written != self.submitted {
            return Err(pool_gone());
        }
        Ok(sink)
    }
}

impl<W> Drop for Pool<W> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn pool_gone() -> io::Error {
    io::Error::other("a compression worker thread stopped unexpectedly")
}

/// Counts a worker as running until it returns, however it returns.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn worker(
    _alive: Alive,
    mut codec: Codec,
    rx: WorkQueue,
    tx: Sender<ToCollector>,
    compressed: Arc<AtomicU64>,
) {
    loop {
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((seq, block)) = next else { return };
        // A panic must not leave the collector waiting for a block that never comes.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| codec.compress(&block)))
            .unwrap_or_else(|_| Err(io::Error::other("a compression worker thread panicked")));
        compressed.fetch_add(1, Ordering::SeqCst);
        drop(block);
        if tx.send(ToCollector::Output(seq, out)).is_err() {
            return;
        }
    }
}

/// The collector: hash each block as it is cut, put the compressed blocks back in order
/// and write them, freeing a slot for each. Stops at the first error, which the writer
/// then reports; returns the sink once the workers are gone.
fn collect<W: Write>(
    mut sink: Sink<W>,
    from: Receiver<ToCollector>,
    slots: Receiver<()>,
    alive: Arc<AtomicUsize>,
) -> io::Result<Sink<W>> {
    let mut ready: BTreeMap<u64, io::Result<Vec<u8>>> = BTreeMap::new();
    loop {
        match from.recv_timeout(Duration::from_millis(100)) {
            Ok(ToCollector::Input(block)) => sink.input(&block),
            Ok(ToCollector::Output(seq, out)) => {
                ready.insert(seq, out);
                while let Some(out) = ready.remove(&sink.written) {
                    sink.output(&out?)?;
                    // The writer may already be gone (an error on its side).
                    let _ = slots.try_recv();
                }
            }
            // The pool keeps a sender to start workers with, so the channel closes only
            // when the pool does: a pool whose workers all returned is checked for here.
            Err(RecvTimeoutError::Timeout) if alive.load(Ordering::SeqCst) == 0 => {
                return Err(pool_gone())
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    match ready.is_empty() {
        true => Ok(sink),
        false => Err(pool_gone()),
    }
}

enum Workers<W> {
    /// `jobs <= 1`: compress on the caller's thread, the same bytes as the pool.
    Here(Codec, Sink<W>),
    Pool(Pool<W>),
}

/// Fixed-size block splitting, on one thread or a pool.
struct Blocks<W> {
    block_size: usize,
    buf: Vec<u8>,
    workers: Workers<W>,
    blocks: u64,
}

impl<W: Write + Send + 'static> Blocks<W> {
    fn new(c: Compression, jobs: usize, out: W, block_size: usize) -> io::Result<Self> {
        let workers = if jobs <= 1 {
            Workers::Here(Codec::new(c)?, Sink::new(out))
        } else {
            Workers::Pool(Pool::new(c, jobs, out)?)
        };
        Ok(Blocks {
            block_size,
            buf: Vec::with_capacity(block_size),
            workers,
            blocks: 0,
        })
    }

    /// Hand the (full or final) buffer to a compressor.
    fn dispatch(&mut self) -> io::Result<()> {
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(self.block_size));
        self.blocks += 1;
        match &mut self.workers {
            Workers::Here(codec, sink) => {
                sink.input(&block);
                sink.output(&codec.compress(&block)?)
            }
            Workers::Pool(pool) => pool.submit(block),
        }
    }

    fn finish(mut self) -> io::Result<Compressed<W>> {
        // An empty input still yields one valid member/frame.
        if !self.buf.is_empty() || self.blocks == 0 {
            self.dispatch()?;
        }
        match self.workers {
            Workers::Here(_, sink) => sink.finish(),
            Workers::Pool(mut pool) => pool.close()?.finish(),
        }
    }
}

impl<W: Write + Send + 'static> Write for Blocks<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
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
    Plain(HashingWriter<W>),
    Blocks(Box<Blocks<W>>),
}

/// A writer that compresses a layer tar deterministically and hashes what it is given.
/// Call [`LayerCompressor::finish`] to write the last block and get the inner writer
/// back; dropping it loses data.
pub struct LayerCompressor<W: Write> {
    inner: Inner<W>,
}

impl<W: Write + Send + 'static> LayerCompressor<W> {
    /// Write the last block, wait for the workers, and return the inner writer with the
    /// sha256 and length of everything written (for a layer: its diff_id).
    pub fn finish(self) -> io::Result<Compressed<W>> {
        match self.inner {
            Inner::Plain(mut w) => {
                w.flush()?;
                Ok(w.finish())
            }
            Inner::Blocks(b) => (*b).finish(),
        }
    }
}

impl<W: Write + Send + 'static> Write for LayerCompressor<W> {
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
pub fn compressed_writer<W: Write + Send + 'static>(
    c: Compression,
    jobs: usize,
    out: W,
) -> io::Result<LayerCompressor<W>> {
    let inner = match c {
        Compression::None => Inner::Plain(HashingWriter::new(out)),
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
    Ok(w.finish()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfl_follows_zlib() {
        assert_eq!(gzip_xfl(1), 4);
        assert_eq!(gzip_xfl(6), 0);
        assert_eq!(gzip_xfl(9), 2);
        assert_eq!(gzip_xfl(12), 2);
    }

    #[test]
    fn out_of_range_level_is_an_error() {
        assert!(compressed_writer(Compression::Gzip(13), 1, Vec::new()).is_err());
        assert!(compressed_writer(Compression::Gzip(13), 8, Vec::new()).is_err());
    }

    fn workers(b: &Blocks<Vec<u8>>) -> usize {
        match &b.workers {
            Workers::Pool(p) => p.threads.len(),
            Workers::Here(..) => 0,
        }
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
        let slow_bytes = slow.finish().unwrap().0;

        // A burst of blocks, each slow to compress, finds every worker busy: all start.
        let data = varied(24 * 4096, 99);
        let mut burst = Blocks::new(Compression::Gzip(12), 4, Vec::new(), 4096).unwrap();
        burst.write_all(&data).unwrap();
        assert_eq!(workers(&burst), 4);
        let burst_bytes = burst.finish().unwrap().0;

        // However many started, the bytes are those of one thread.
        let one = |c: Compression, data: &[u8]| {
            let mut b = Blocks::new(c, 1, Vec::new(), 4096).unwrap();
            b.write_all(data).unwrap();
            b.finish().unwrap().0
        };
        let slow_data: Vec<u8> = (0..6).flat_map(|i| varied(4096, i)).collect();
        assert_eq!(slow_bytes, one(Compression::Gzip(1), &slow_data));
        assert_eq!(burst_bytes, one(Compression::Gzip(12), &data));
    }
}
