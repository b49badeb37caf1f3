//! The sparse maps of GNU tar's sparse archives, in each of their four forms.
//!
//! * **Old GNU** (`S` type flag, `tar --sparse --format=gnu`): up to four (offset, length)
//!   pairs in the header, then as many 512-byte extension blocks of 21 pairs each as the
//!   "is extended" bytes ask for, before the data; the logical size is the header's
//!   `realsize` field, the header's size the stored bytes. A pair whose offset field
//!   starts with NUL ends the block's list, as in GNU tar, BSD tar and Go.
//! * **PAX 0.0**: `GNU.sparse.size` and repeated `GNU.sparse.offset` /
//!   `GNU.sparse.numbytes` records.
//! * **PAX 0.1**: `GNU.sparse.size` and one `GNU.sparse.map` record, `off,len,off,len…`.
//! * **PAX 1.0** (`tar --sparse --format=posix`, the default version): `GNU.sparse.major=1`,
//!   `GNU.sparse.minor=0`, `GNU.sparse.realsize`; the map is at the start of the entry's
//!   data as decimal numbers each ending in a newline (the count, then the pairs), padded
//!   to a whole block; the data segments follow.
//!
//! In every PAX form `GNU.sparse.name` is the real name (the header's is a placeholder
//! such as `d/GNUSparseFile.1234/f`) and `GNU.sparse.numblocks`, when present, must match
//! the map. Version records other than 0.0, 0.1 and 1.0 are refused: their map is unknown,
//! and reading the stored bytes as the file would be silently wrong.
//!
//! Each map holds at most [`MAX_SEGMENTS`] pairs, and one archive's sparse files at most
//! [`MAX_ARCHIVE_SEGMENTS`] data segments together. The checks that the segments are sorted,
//! disjoint, inside the logical size and add up to the stored bytes are
//! [`crate::sparse::SparseContent::new`]'s.

use crate::sparse::Segment;

/// The most (offset, length) pairs one sparse file's map may hold: 1 Mi, 16 MiB of memory.
pub const MAX_SEGMENTS: usize = 1 << 20;

/// The most data segments kept for all the sparse files of one archive: 4 Mi, 64 MiB of
/// memory (a map costs a few bytes of archive per segment, so without this an archive
/// could make memory grow several times faster than its own size).
pub const MAX_ARCHIVE_SEGMENTS: usize = 4 << 20;

/// How a PAX header says an entry is sparse.
#[derive(Debug, PartialEq, Eq)]
pub enum PaxSparse {
    /// Formats 0.0 and 0.1: the map was in the records.
    InRecords { segments: Vec<Segment>, size: u64 },
    /// Format 1.0: the map is at the start of the data.
    InData { size: u64 },
}

/// The `GNU.sparse.*` records of one PAX header, as they came.
#[derive(Debug, Default)]
pub struct PaxRecords {
    major: Option<Vec<u8>>,
    minor: Option<Vec<u8>>,
    size: Option<Vec<u8>>,
    numblocks: Option<Vec<u8>>,
    map: Option<Vec<u8>>,
    /// `GNU.sparse.offset` and `GNU.sparse.numbytes` values of format 0.0, in order.
    pairs: Vec<u8>,
    pair_count: usize,
    /// The real name (`GNU.sparse.name`).
    pub name: Option<Vec<u8>>,
    any: bool,
}

impl PaxRecords {
    /// Take one record whose key starts with `GNU.sparse.`; unknown keys are kept out.
    pub fn add(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), String> {
        self.any = true;
        match key {
            b"GNU.sparse.major" => self.major = Some(value),
            b"GNU.sparse.minor" => self.minor = Some(value),
            b"GNU.sparse.size" | b"GNU.sparse.realsize" => self.size = Some(value),
            b"GNU.sparse.numblocks" => self.numblocks = Some(value),
            b"GNU.sparse.map" => self.map = Some(value),
            b"GNU.sparse.name" => self.name = Some(value),
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                // 0.0's pairs, joined as 0.1's map so one parser reads both; an offset
                // must come before its length.
                let is_offset = key == b"GNU.sparse.offset";
                if is_offset != (self.pair_count % 2 == 0) {
                    return Err("GNU.sparse.offset and GNU.sparse.numbytes records do not \
                                alternate"
                        .into());
                }
                if self.pair_count / 2 >= MAX_SEGMENTS {
                    return Err(too_many());
                }
                if self.pair_count > 0 {
                    self.pairs.push(b',');
                }
                self.pairs.extend_from_slice(&value);
                self.pair_count += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// The sparse form these records describe, or `None` when they describe none.
    pub fn form(&self) -> Result<Option<PaxSparse>, String> {
        if !self.any {
            return Ok(None);
        }
        let version = (self.major.as_deref(), self.minor.as_deref());
        let size = || -> Result<u64, String> {
            let raw = self
                .size
                .as_deref()
                .ok_or("a GNU sparse file without GNU.sparse.size or GNU.sparse.realsize")?;
            decimal(raw).ok_or_else(|| bad_value("GNU.sparse.size", raw))
        };
        let in_records = match version {
            (Some(b"1"), Some(b"0")) => false,
            (Some(b"0"), Some(b"0" | b"1")) | (None, None) => true,
            (major, minor) => {
                let text = |v: Option<&[u8]>| {
                    v.map_or("?".into(), |v| String::from_utf8_lossy(v).into_owned())
                };
                return Err(format!(
                    "GNU sparse format {}.{} is not one of 0.0, 0.1 and 1.0",
                    text(major),
                    text(minor)
                ));
            }
        };
        if !in_records {
            return Ok(Some(PaxSparse::InData { size: size()? }));
        }
        let list: &[u8] = match (&self.map, self.pair_count) {
            (Some(map), 0) => map,
            (None, n) if n > 0 => {
                if n % 2 != 0 {
                    return Err("a GNU.sparse.offset record without its numbytes".into());
                }
                &self.pairs
            }
            (None, _) => {
                return Err("GNU.sparse records without a sparse map".into());
            }
            (Some(_), _) => {
                return Err("both a GNU.sparse.map and GNU.sparse.offset records".into());
            }
        };
        let segments = map_list(list)?;
        if let Some(raw) = &self.numblocks {
            let n = decimal(raw).ok_or_else(|| bad_value("GNU.sparse.numblocks", raw))?;
            if n != segments.len() as u64 {
                return Err(format!(
                    "GNU.sparse.numblocks says {n} segments but the map has {}",
                    segments.len()
                ));
            }
        }
        Ok(Some(PaxSparse::InRecords {
            segments,
            size: size()?,
        }))
    }
}

fn too_many() -> String {
    format!("a sparse map of more than {MAX_SEGMENTS} segments")
}

fn bad_value(key: &str, v: &[u8]) -> String {
    format!(
        "PAX record {key} has a bad value {:?}",
        String::from_utf8_lossy(v)
    )
}

/// A non-negative decimal number (at most 20 digits, no sign or spaces).
fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// `off,len,off,len…` (format 0.1's map; the empty string is no segments).
fn map_list(list: &[u8]) -> Result<Vec<Segment>, String> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut numbers = Vec::new();
    for part in list.split(|&b| b == b',') {
        if numbers.len() >= 2 * MAX_SEGMENTS {
            return Err(too_many());
        }
        numbers.push(decimal(part).ok_or_else(|| bad_value("GNU.sparse.map", part))?);
    }
    if numbers.len() % 2 != 0 {
        return Err("GNU.sparse.map has an odd number of values".into());
    }
    Ok(numbers
        .chunks_exact(2)
        .map(|p| Segment {
            offset: p[0],
            len: p[1],
        })
        .collect())
}

/// Format 1.0's map from the start of an entry's data, read block by block with
/// `next_block` (at most `max_blocks` blocks, the entry's data). Returns the segments and
/// the number of blocks the map took.
pub fn data_map(
    max_blocks: u64,
    mut next_block: impl FnMut() -> Result<[u8; 512], String>,
) -> Result<(Vec<Segment>, u64), String> {
    let mut blocks = 0u64;
    let mut block = [0u8; 512];
    let mut at = 512usize;
    let mut next_number = || -> Result<u64, String> {
        let mut digits: Vec<u8> = Vec::with_capacity(20);
        loop {
            if at == 512 {
                if blocks == max_blocks {
                    return Err("the sparse map runs past the entry's data".into());
                }
                block = next_block()?;
                blocks += 1;
                at = 0;
            }
            let b = block[at];
            at += 1;
            if b == b'\n' {
                return decimal(&digits).ok_or_else(|| {
                    format!(
                        "the sparse map holds a bad number {:?}",
                        String::from_utf8_lossy(&digits)
                    )
                });
            }
            if !b.is_ascii_digit() {
                return Err(format!("the sparse map holds a bad byte {b:#04x}"));
            }
            if digits.len() >= 20 {
                return Err("the sparse map holds a number that is too long".into());
            }
            digits.push(b);
        }
    };
    let count = next_number()?;
    if count > MAX_SEGMENTS as u64 {
        return Err(too_many());
    }
    let mut segments = Vec::new();
    for _ in 0..count {
        let offset = next_number()?;
        let len = next_number()?;
        segments.push(Segment { offset, len });
    }
    Ok((segments, blocks))
}

/// The old GNU header's sparse pairs and logical size: four pairs at byte 386, "is
/// extended" at 482, `realsize` at 483; then `next_block` for each extension block (21
/// pairs, "is extended" at 504). `number` parses a numeric header field.
pub fn old_gnu_map(
    header: &[u8; 512],
    number: impl Fn(&[u8]) -> Result<u64, String>,
    mut next_block: impl FnMut() -> Result<[u8; 512], String>,
) -> Result<(Vec<Segment>, u64), String> {
    if &header[257..265] != b"ustar  \0" {
        return Err(
            "an `S` entry in a header that is not GNU's (star's sparse files are \
                    not supported)"
                .into(),
        );
    }
    let size = number(&header[483..495]).map_err(|m| format!("sparse real size: {m}"))?;
    let mut segments = Vec::new();
    let pairs = |area: &[u8], segments: &mut Vec<Segment>| -> Result<(), String> {
        for pair in area.chunks_exact(24) {
            if pair[0] == 0 {
                break;
            }
            if segments.len() >= MAX_SEGMENTS {
                return Err(too_many());
            }
            let offset = number(&pair[..12]).map_err(|m| format!("sparse offset: {m}"))?;
            let len = number(&pair[12..]).map_err(|m| format!("sparse length: {m}"))?;
            segments.push(Segment { offset, len });
        }
        Ok(())
    };
    pairs(&header[386..482], &mut segments)?;
    let mut extended = header[482] != 0;
    while extended {
        let block = next_block()?;
        pairs(&block[..504], &mut segments)?;
        extended = block[504] != 0;
    }
    Ok((segments, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(offset: u64, len: u64) -> Segment {
        Segment { offset, len }
    }

    fn records(list: &[(&str, &str)]) -> PaxRecords {
        let mut r = PaxRecords::default();
        for (k, v) in list {
            r.add(k.as_bytes(), v.as_bytes().to_vec()).unwrap();
        }
        r
    }

    #[test]
    fn reads_the_pax_forms() {
        let v00 = records(&[
            ("GNU.sparse.size", "10"),
            ("GNU.sparse.numblocks", "2"),
            ("GNU.sparse.offset", "0"),
            ("GNU.sparse.numbytes", "2"),
            ("GNU.sparse.offset", "10"),
            ("GNU.sparse.numbytes", "0"),
        ]);
        let want = PaxSparse::InRecords {
            segments: vec![seg(0, 2), seg(10, 0)],
            size: 10,
        };
        assert_eq!(v00.form().unwrap(), Some(want));
        let v01 = records(&[("GNU.sparse.size", "7"), ("GNU.sparse.map", "1,2,5,2")]);
        assert_eq!(
            v01.form().unwrap(),
            Some(PaxSparse::InRecords {
                segments: vec![seg(1, 2), seg(5, 2)],
                size: 7
            })
        );
        let v10 = records(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.realsize", "9"),
        ]);
        assert_eq!(v10.form().unwrap(), Some(PaxSparse::InData { size: 9 }));
        assert_eq!(PaxRecords::default().form().unwrap(), None);
    }

    #[test]
    fn refuses_bad_pax_records() {
        for bad in [
            vec![("GNU.sparse.major", "2"), ("GNU.sparse.minor", "0")],
            vec![("GNU.sparse.size", "7"), ("GNU.sparse.map", "1,2,5")],
            vec![("GNU.sparse.size", "7"), ("GNU.sparse.map", "1,-2")],
            vec![("GNU.sparse.size", "x"), ("GNU.sparse.map", "1,2")],
            vec![("GNU.sparse.map", "1,2")],
            vec![("GNU.sparse.size", "7")],
            vec![
                ("GNU.sparse.size", "7"),
                ("GNU.sparse.numblocks", "2"),
                ("GNU.sparse.map", "1,2"),
            ],
        ] {
            assert!(records(&bad).form().is_err(), "{bad:?}");
        }
        let mut r = PaxRecords::default();
        assert!(r.add(b"GNU.sparse.numbytes", b"1".to_vec()).is_err());
    }

    #[test]
    fn reads_the_data_map_across_blocks() {
        // 100 segments take two blocks, and numbers run across the block boundary.
        let want: Vec<Segment> = (0..100).map(|i| seg(i * 10, 1)).collect();
        let mut text = b"100\n".to_vec();
        for s in &want {
            text.extend_from_slice(format!("{}\n{}\n", s.offset, s.len).as_bytes());
        }
        assert!(text.len() > 512 && text.len() < 1024);
        text.resize(1024, 0);
        let block = |i: usize| -> [u8; 512] { text[i * 512..(i + 1) * 512].try_into().unwrap() };
        let mut i = 0;
        let (segments, used) = data_map(4, || {
            i += 1;
            Ok(block(i - 1))
        })
        .unwrap();
        assert_eq!((segments, used), (want, 2));
        let err = data_map(1, || Ok(block(0))).unwrap_err();
        assert!(err.contains("runs past"), "{err}");
        let mut nul = block(0);
        nul[3] = 0;
        let err = data_map(1, || Ok(nul)).unwrap_err();
        assert!(err.contains("bad byte"), "{err}");
        let mut junk = [b'7'; 512];
        junk[0] = b'1';
        assert!(data_map(1, || Ok(junk)).unwrap_err().contains("too long"));
    }
}
