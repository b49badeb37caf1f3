//! Copying a blob's bytes into an output file without passing them through this process.
//!
//! On Linux `copy_file_range(2)` does it: the kernel shares the extents where the file
//! system can (a reflink on btrfs and XFS, as `FICLONE` would, so there is no separate
//! clone call) and copies inside the kernel elsewhere (ext4, tmpfs). Where the call is
//! missing or refused (another system, an old kernel, two file systems before Linux 5.19,
//! a destination opened for appending) the bytes are read and written as by `cp`. Either
//! way the output's bytes are the same.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// How [`copy_range`] moved the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// All of them inside the kernel (`copy_file_range`).
    Kernel,
    /// Some or all of them through a buffer here.
    Plain,
}

/// Write `len` bytes of `src`, from `offset` on, at `dst`'s position, which moves past them
/// (`src`'s position is neither used nor moved). Fails when `src` holds fewer bytes there.
pub fn copy_range(src: &File, offset: u64, dst: &mut File, len: u64) -> io::Result<Copied> {
    let done = kernel_copy(src, offset, dst, len)?;
    if done == len {
        return Ok(Copied::Kernel);
    }
    plain_copy(src, offset + done, dst, len - done)?;
    Ok(Copied::Plain)
}

/// [`copy_range`] for the archive writer: the number of bytes written.
pub fn copy_blob(src: &File, offset: u64, dst: &mut File, len: u64) -> io::Result<u64> {
    copy_range(src, offset, dst, len).map(|_| len)
}

/// Copy with `copy_file_range` as far as the kernel does it; returns how far that was
/// (short when the call is refused, or returns 0 where a file system cannot say: the plain
/// copy then goes on, and tells a real end of file).
///
/// A large copy goes in [`WRITEBACK_CHUNK`] pieces, and a second thread asks the kernel to
/// start writing each piece out (`sync_file_range`, not waiting) while the next one is
/// copied. The work is the same (the output's pages are written out anyway, and ext4 does
/// it in the caller when a rename replaces an existing file), but on two cores it runs
/// beside the copy instead of after it. Nothing waits for the disk: durability is as
/// before.
#[cfg(target_os = "linux")]
fn kernel_copy(src: &File, offset: u64, dst: &mut File, len: u64) -> io::Result<u64> {
    use std::io::Seek;
    if len < 2 * WRITEBACK_CHUNK {
        return kernel_copy_chunks(src, offset, dst, len, 1 << 30, &|_, _| {});
    }
    let start = dst.stream_position()?;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, u64)>();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&*dst);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for (at, n) in rx {
                // SAFETY: `fd` is `dst`'s, open until this scope ends; the call only starts
                // writeback of pages already written, and its failure changes nothing.
                unsafe {
                    libc::sync_file_range(fd, at as i64, n as i64, libc::SYNC_FILE_RANGE_WRITE);
                }
            }
        });
        let sent = |at: u64, n: u64| {
            let _ = tx.send((start + at, n));
        };
        let done = kernel_copy_chunks(src, offset, dst, len, WRITEBACK_CHUNK as usize, &sent);
        drop(tx);
        done
    })
}

/// How much of a large copy is written out at a time (see [`kernel_copy`]).
const WRITEBACK_CHUNK: u64 = 32 << 20;

/// The `copy_file_range` loop, `chunk` bytes a call at most; `copied(at, n)` hears of each
/// `n` bytes written at `at` bytes past the destination's starting position.
#[cfg(target_os = "linux")]
fn kernel_copy_chunks(
    src: &File,
    offset: u64,
    dst: &mut File,
    len: u64,
    chunk: usize,
    copied: &dyn Fn(u64, u64),
) -> io::Result<u64> {
    use rustix::io::Errno;
    let mut from = offset;
    let mut done = 0;
    while done < len {
        // At most 1 GiB a call: the kernel caps a call near 2 GiB anyway.
        let want = (len - done).min(chunk as u64) as usize;
        match rustix::fs::copy_file_range(src, Some(&mut from), &*dst, None, want) {
            Ok(0) => break,
            Ok(n) => {
                copied(done, n as u64);
                done += n as u64;
            }
            Err(Errno::INTR) => continue,
            Err(
                Errno::NOSYS
                | Errno::XDEV
                | Errno::OPNOTSUPP
                | Errno::INVAL
                | Errno::BADF
                | Errno::PERM
                | Errno::TXTBSY,
            ) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

#[cfg(not(target_os = "linux"))]
fn kernel_copy(_: &File, _: u64, _: &mut File, _: u64) -> io::Result<u64> {
    Ok(0)
}

/// Copy through a buffer, reading at explicit offsets.
fn plain_copy(src: &File, offset: u64, dst: &mut File, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; (len.min(1 << 18)) as usize];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = match src.read_at(&mut buf[..want], offset + done) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the blob ended after {done} of {len} bytes (was it changed?)"),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};

    fn source(dir: &std::path::Path, len: usize) -> (File, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let p = dir.join("src");
        fs::write(&p, &bytes).unwrap();
        (File::open(&p).unwrap(), bytes)
    }

    #[test]
    fn copies_a_range_after_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = source(dir.path(), 300_000);
        let p = dir.path().join("dst");
        let mut dst = File::create(&p).unwrap();
        dst.write_all(b"head").unwrap();
        let how = copy_range(&src, 1000, &mut dst, 200_000).unwrap();
        dst.write_all(b"tail").unwrap();
        drop(dst);
        let mut want = b"head".to_vec();
        want.extend_from_slice(&bytes[1000..201_000]);
        want.extend_from_slice(b"tail");
        assert_eq!(fs::read(&p).unwrap(), want);
        #[cfg(target_os = "linux")]
        assert_eq!(how, Copied::Kernel, "two plain files: copy_file_range");
        let _ = how;
    }

    #[test]
    fn a_large_copy_written_out_as_it_goes_has_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let len = 2 * WRITEBACK_CHUNK as usize + 12_345;
        let (src, bytes) = source(dir.path(), len + 10);
        let p = dir.path().join("dst");
        let mut dst = File::create(&p).unwrap();
        dst.write_all(&[7; 901]).unwrap();
        copy_range(&src, 10, &mut dst, len as u64).unwrap();
        dst.write_all(b"tail").unwrap();
        drop(dst);
        let got = fs::read(&p).unwrap();
        assert_eq!(got.len(), 901 + len + 4);
        assert!(got[..901].iter().all(|&b| b == 7));
        assert!(
            got[901..901 + len] == bytes[10..10 + len],
            "the copied bytes differ"
        );
        assert_eq!(&got[901 + len..], b"tail");
    }

    #[test]
    fn falls_back_to_a_plain_copy_where_the_kernel_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = source(dir.path(), 70_000);
        let p = dir.path().join("dst");
        fs::write(&p, b"x").unwrap();
        // copy_file_range refuses a destination opened for appending (EBADF).
        let mut dst = OpenOptions::new().append(true).open(&p).unwrap();
        let how = copy_range(&src, 0, &mut dst, 70_000).unwrap();
        drop(dst);
        assert_eq!(how, Copied::Plain);
        let mut want = b"x".to_vec();
        want.extend_from_slice(&bytes);
        assert_eq!(fs::read(&p).unwrap(), want);
    }

    #[test]
    fn a_short_source_is_an_error_either_way() {
        let dir = tempfile::tempdir().unwrap();
        let (src, _) = source(dir.path(), 1000);
        let mut dst = File::create(dir.path().join("dst")).unwrap();
        let err = copy_range(&src, 500, &mut dst, 600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let p = dir.path().join("dst2");
        fs::write(&p, b"").unwrap();
        let mut dst = OpenOptions::new().append(true).open(&p).unwrap();
        let err = copy_range(&src, 0, &mut dst, 1001).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
