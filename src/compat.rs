//! The output format's version, on the ground floor: every stage that shapes output bytes
//! (tar, compressors, JSON) and every record of them (the lock, the layer cache, output
//! memos) refers to it, and it refers to nothing.

/// The version of the output format. Bumped whenever the bytes of any output can change
/// for the same inputs (tar canonical form, compressor, block size, JSON shape). A lock
/// recorded at another level is refused rather than silently rebuilt differently.
///
/// History: 1, the first format; 2, gzip members of 256 KiB instead of 1 MiB.
pub const COMPAT_LEVEL: u32 = 2;
