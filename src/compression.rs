//! The layer compression setting (`--compression`, `[image] compression`).

use std::fmt;
use std::str::FromStr;

/// How image layers are compressed. The implementations behind each are pinned and tied
/// to [`crate::compat::COMPAT_LEVEL`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Compression {
    /// gzip at a level 1..=12 (libdeflate levels; 6 is the default).
    Gzip(u8),
    /// zstd at a level 1..=19 (3 is the default).
    Zstd(u8),
    /// Uncompressed layers.
    None,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip(6)
    }
}

/// A compression string we cannot understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a compression: use gzip, gzip:LEVEL (1-12), zstd, zstd:LEVEL (1-19) or none")]
pub struct CompressionParseError(pub String);

impl FromStr for Compression {
    type Err = CompressionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CompressionParseError(s.to_string());
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => {
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 2 {
                    return Err(err());
                }
                (n, Some(l.parse::<u8>().map_err(|_| err())?))
            }
            None => (s, None),
        };
        match (name, level) {
            ("gzip", None) => Ok(Compression::Gzip(6)),
            ("gzip", Some(l)) if (1..=12).contains(&l) => Ok(Compression::Gzip(l)),
            ("zstd", None) => Ok(Compression::Zstd(3)),
            ("zstd", Some(l)) if (1..=19).contains(&l) => Ok(Compression::Zstd(l)),
            ("none", None) => Ok(Compression::None),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Gzip(l) => write!(f, "gzip:{l}"),
            Compression::Zstd(l) => write!(f, "zstd:{l}"),
            Compression::None => write!(f, "none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip(6));
        assert_eq!(
            "gzip:9".parse::<Compression>().unwrap().to_string(),
            "gzip:9"
        );
        assert_eq!("zstd".parse::<Compression>().unwrap().to_string(), "zstd:3");
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        for bad in [
            "gzip:0", "gzip:13", "zstd:20", "gz", "none:1", "gzip:", "gzip:+5",
        ] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
    }
}
