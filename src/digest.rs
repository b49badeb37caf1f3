//! sha256 digests: the identity of every input, blob and image.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;
use std::sync::mpsc;

/// A sha256 digest. Displays as `sha256:<hex>`; [`Sha256Digest::hex`] gives the bare hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

/// A string that is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a sha256 digest (expected 64 lowercase hex digits, optionally prefixed by `sha256:`)")]
pub struct DigestParseError(pub String);

impl Sha256Digest {
    /// The digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// The digest of everything a reader yields, and its length. Reads in 256 KiB
    /// chunks (a `BufReader` around a file is bypassed at that size).
    pub fn of_reader(mut r: impl Read) -> io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut len = 0u64;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok((Sha256Digest(hasher.finalize().into()), len))
    }

    /// The bare lowercase hex form.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let h = s.strip_prefix("sha256:").unwrap_or(s);
        if h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestParseError(s.to_string()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map_err(|_| DigestParseError(s.to_string()))?;
        Ok(Sha256Digest(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Sha256Digest, u64) {
        (
            self.inner,
            Sha256Digest(self.hasher.finalize().into()),
            self.len,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and byte count of what was read so far.
    pub fn finish(self) -> (Sha256Digest, u64) {
        (Sha256Digest(self.hasher.finalize().into()), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Bytes per chunk handed to the hashing thread of [`hash_in_background`].
const PIPE_CHUNK: usize = 256 << 10;
/// Full chunks that may wait for the hashing thread before the producer blocks.
const PIPE_DEPTH: usize = 4;

/// Run `produce` on this thread while a second thread hashes, counts and writes to `inner`
/// everything it writes, and return `produce`'s result, `inner`, the digest and the count.
///
/// sha256 is sequential, so on the producer's thread (inflating an input into the cache)
/// it adds its whole cost to the critical path. Here it overlaps with the producer. Bytes
/// reach `inner` in order and unchanged, so the result is exactly that of a
/// [`HashingWriter`]. An error writing to `inner` is returned rather than the producer's
/// resulting "broken pipe".
pub fn hash_in_background<W: Write + Send, T>(
    inner: W,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<(T, W, Sha256Digest, u64)> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let consumer = scope.spawn(move || -> io::Result<(W, Sha256Digest, u64)> {
            let mut w = HashingWriter::new(inner);
            for mut chunk in full_rx {
                w.write_all(&chunk)?;
                chunk.clear();
                // The producer may have finished and gone; the chunk is then just freed.
                let _ = empty_tx.send(chunk);
            }
            w.flush()?;
            Ok(w.finish())
        });
        let mut pipe = Pipe {
            buf: Vec::with_capacity(PIPE_CHUNK),
            full: Some(full_tx),
            empty: empty_rx,
        };
        let produced = produce(&mut pipe);
        let closed = pipe.close();
        let consumed = consumer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        let (w, digest, len) = consumed?;
        let value = produced?;
        closed?;
        Ok((value, w, digest, len))
    })
}

/// The producer's end of [`hash_in_background`]: fills a chunk, then sends it.
struct Pipe {
    buf: Vec<u8>,
    full: Option<mpsc::SyncSender<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
}

impl Pipe {
    fn send(&mut self) -> io::Result<()> {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        let full = self.full.as_ref().ok_or_else(pipe_closed)?;
        full.send(chunk).map_err(|_| pipe_closed())
    }

    /// Send what is left and let the hashing thread finish.
    fn close(mut self) -> io::Result<()> {
        let sent = if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        };
        self.full = None;
        sent
    }
}

fn pipe_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the hashing thread stopped")
}

impl Write for Pipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (PIPE_CHUNK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == PIPE_CHUNK {
            self.send()?;
        }
        Ok(take)
    }

    /// Chunks go out when full: flushing early would only add hand-offs.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_and_parse_round_trip() {
        let d = Sha256Digest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
        assert_eq!(d.hex().parse::<Sha256Digest>().unwrap(), d);
        assert!("sha256:XYZ".parse::<Sha256Digest>().is_err());
        assert!(d.hex().to_uppercase().parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn background_hashing_matches_a_hashing_writer_for_any_write_pattern() {
        let data: Vec<u8> = (0..3 * PIPE_CHUNK + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for step in [
            1,
            511,
            PIPE_CHUNK - 1,
            PIPE_CHUNK,
            PIPE_CHUNK + 1,
            data.len(),
        ] {
            let (value, out, digest, len) = hash_in_background(Vec::new(), |w| {
                for part in data.chunks(step) {
                    w.write_all(part)?;
                }
                Ok(step)
            })
            .unwrap();
            assert_eq!(value, step);
            assert_eq!(out, data, "step {step}");
            assert_eq!(digest, Sha256Digest::of(&data));
            assert_eq!(len, data.len() as u64);
        }
        let (_, out, digest, len) = hash_in_background(Vec::new(), |_| Ok(())).unwrap();
        assert!(out.is_empty());
        assert_eq!((digest, len), (Sha256Digest::of(b""), 0));
    }

    /// A writer that fails after `room` bytes, like a full disk.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room < buf.len() {
                return Err(io::Error::other("no space left on device"));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn background_hashing_reports_the_writers_error_not_a_broken_pipe() {
        let big = vec![1u8; 64 * PIPE_CHUNK];
        let Err(err) = hash_in_background(Full { room: PIPE_CHUNK }, |w| w.write_all(&big)) else {
            panic!("the write must fail");
        };
        assert!(err.to_string().contains("no space left"), "{err}");
    }

    #[test]
    fn background_hashing_returns_the_producers_error() {
        let Err(err) = hash_in_background(Vec::new(), |w| -> io::Result<()> {
            w.write_all(&[0u8; 1000])?;
            Err(io::Error::other("corrupt input"))
        }) else {
            panic!("the producer failed");
        };
        assert!(err.to_string().contains("corrupt input"), "{err}");
    }
}
