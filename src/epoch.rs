//! The build epoch: every mtime and every `created` timestamp in the output.

use std::fmt;

/// Seconds since 1970-01-01T00:00:00Z; the only time that ever enters an image.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Hash)]
pub struct Epoch(pub u64);

/// A `SOURCE_DATE_EPOCH` value that is not a plain decimal integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "SOURCE_DATE_EPOCH=`{0}` is not a non-negative decimal integer of seconds (such as 1700000000)"
)]
pub struct EpochParseError(pub String);

/// The largest epoch we accept: 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
pub const MAX_EPOCH: u64 = 253_402_300_799;

impl Epoch {
    /// Parse strictly: ASCII decimal digits only, no sign, no spaces, no fraction.
    pub fn parse(s: &str) -> Result<Epoch, EpochParseError> {
        let err = || EpochParseError(s.to_string());
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let v: u64 = s.parse().map_err(|_| err())?;
        if v > MAX_EPOCH {
            return Err(err());
        }
        Ok(Epoch(v))
    }

    /// The epoch from the manifest, else `SOURCE_DATE_EPOCH`, else 0.
    pub fn resolve(manifest: Option<u64>, env: Option<&str>) -> Result<Epoch, EpochParseError> {
        match (manifest, env) {
            (Some(v), _) => Ok(Epoch(v)),
            (None, Some(s)) => Epoch::parse(s),
            (None, None) => Ok(Epoch(0)),
        }
    }

    /// RFC 3339 in UTC with a `Z` and whole seconds: `1970-01-01T00:00:00Z`.
    pub fn rfc3339(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Epoch(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Epoch(1_700_000_000).rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(Epoch(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Epoch(MAX_EPOCH).rfc3339(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parses_strictly() {
        assert_eq!(Epoch::parse("1700000000"), Ok(Epoch(1_700_000_000)));
        for bad in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1.5",
            "0x10",
            "1e9",
            "253402300800",
        ] {
            assert!(Epoch::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Epoch::resolve(Some(5), Some("7")), Ok(Epoch(5)));
        assert_eq!(Epoch::resolve(None, Some("7")), Ok(Epoch(7)));
        assert_eq!(Epoch::resolve(None, None), Ok(Epoch(0)));
    }
}
