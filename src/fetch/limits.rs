//! Bounds on one download, so that a hostile or broken server can neither hold a build
//! open forever nor fill the disk: a low-speed limit as curl has it (give up when the
//! transfer stays slower than N bytes/s for T seconds), and a most-bytes limit (the size
//! the lock records for a pinned input, else [`DEFAULT_MAX_DOWNLOAD`] or
//! [`MAX_DOWNLOAD_ENV`]).

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The slowest transfer rate, in bytes per second, tolerated for [`LOW_SPEED_TIME_ENV`]
/// seconds (`0` turns the limit off). Default [`DEFAULT_LOW_SPEED_LIMIT`].
pub const LOW_SPEED_LIMIT_ENV: &str = "SCRATCH_LOW_SPEED_LIMIT";

/// How long, in seconds (fractions allowed), a transfer may stay below
/// [`LOW_SPEED_LIMIT_ENV`] before it is abandoned. Default [`DEFAULT_LOW_SPEED_TIME`].
pub const LOW_SPEED_TIME_ENV: &str = "SCRATCH_LOW_SPEED_TIME";

/// The most bytes one download of an input whose size is not recorded may have (bytes, or
/// with a `K`, `M`, `G` or `T` suffix, powers of 1024). Default [`DEFAULT_MAX_DOWNLOAD`].
pub const MAX_DOWNLOAD_ENV: &str = "SCRATCH_MAX_DOWNLOAD_SIZE";

/// 1 KiB/s: far below any working link, far above a server that trickles.
pub const DEFAULT_LOW_SPEED_LIMIT: u64 = 1024;

/// 30 s, the same as the read timeout.
pub const DEFAULT_LOW_SPEED_TIME: Duration = Duration::from_secs(30);

/// 8 GiB: more than any root filesystem tarball, less than a full disk on most machines.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 8 << 30;

/// The low-speed limit: abort when fewer than `bytes_per_sec × time` bytes arrive in any
/// window of `time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowSpeed {
    /// Bytes per second; 0 turns the limit off.
    pub bytes_per_sec: u64,
    pub time: Duration,
}

impl Default for LowSpeed {
    fn default() -> LowSpeed {
        LowSpeed {
            bytes_per_sec: DEFAULT_LOW_SPEED_LIMIT,
            time: DEFAULT_LOW_SPEED_TIME,
        }
    }
}

impl LowSpeed {
    /// The defaults, overridden by [`LOW_SPEED_LIMIT_ENV`] and [`LOW_SPEED_TIME_ENV`];
    /// an error message naming the variable when one is malformed.
    pub fn from_env() -> Result<LowSpeed, String> {
        let mut l = LowSpeed::default();
        if let Some(v) = env_text(LOW_SPEED_LIMIT_ENV) {
            l.bytes_per_sec = parse_size(&v).ok_or_else(|| {
                format!("{LOW_SPEED_LIMIT_ENV}=`{v}` is not a number of bytes per second (0 turns the limit off)")
            })?;
        }
        if let Some(v) = env_text(LOW_SPEED_TIME_ENV) {
            l.time = match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
                _ => {
                    return Err(format!(
                        "{LOW_SPEED_TIME_ENV}=`{v}` is not a number of seconds between 0 and 86400"
                    ))
                }
            };
        }
        Ok(l)
    }
}

/// [`DEFAULT_MAX_DOWNLOAD`], overridden by [`MAX_DOWNLOAD_ENV`]; an error message naming
/// the variable when it is malformed.
pub fn max_download_from_env() -> Result<u64, String> {
    match env_text(MAX_DOWNLOAD_ENV) {
        None => Ok(DEFAULT_MAX_DOWNLOAD),
        Some(v) => parse_size(&v).filter(|n| *n > 0).ok_or_else(|| {
            format!("{MAX_DOWNLOAD_ENV}=`{v}` is not a size in bytes (e.g. 20000000000 or 20G)")
        }),
    }
}

fn env_text(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// `123`, `64K`, `10M`, `8G`, `1T` (powers of 1024; an optional `iB`/`B` after the
/// letter).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// Why a bounded read stopped a transfer; found again in the read error's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    /// Fewer than `bytes_per_sec` bytes a second arrived for `time`.
    TooSlow { bytes_per_sec: u64, time: Duration },
    /// More bytes than `limit` arrived; `recorded` when the limit is the size the lock
    /// records (else the download maximum).
    TooLarge { limit: u64, recorded: bool },
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::TooSlow {
                bytes_per_sec,
                time,
            } => write!(
                f,
                "the transfer stayed below {bytes_per_sec} bytes/s for {:.1} s",
                time.as_secs_f64()
            ),
            Exceeded::TooLarge {
                limit,
                recorded: true,
            } => write!(
                f,
                "the server sent more than the {limit} bytes the lock records"
            ),
            Exceeded::TooLarge {
                limit,
                recorded: false,
            } => write!(
                f,
                "the server sent more than {limit} bytes, the most one download may have"
            ),
        }
    }
}

impl std::error::Error for Exceeded {}

/// The [`Exceeded`] behind a read error, if that is what it is.
pub fn exceeded(e: &io::Error) -> Option<&Exceeded> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Exceeded>())
}

/// A reader that fails with [`Exceeded`] as soon as the transfer is too slow or too long.
/// It reads at most one byte past `max` (to tell "exactly `max`" from "more").
pub struct Bounded<R> {
    inner: R,
    low_speed: LowSpeed,
    max: u64,
    recorded: bool,
    total: u64,
    window_start: Instant,
    window_bytes: u64,
}

impl<R: Read> Bounded<R> {
    /// Bounds `inner` to `max` bytes (`recorded`: the lock's size for it) and `low_speed`;
    /// the clock starts now.
    pub fn new(inner: R, low_speed: LowSpeed, max: u64, recorded: bool) -> Bounded<R> {
        Bounded {
            inner,
            low_speed,
            max,
            recorded,
            total: 0,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }

    fn fail(&self, why: Exceeded) -> io::Error {
        let kind = match why {
            Exceeded::TooSlow { .. } => io::ErrorKind::TimedOut,
            Exceeded::TooLarge { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, why)
    }

    /// Curl's rule: when a whole window of `time` passed with fewer bytes than the rate
    /// asks, give up; once the rate is met, a new window starts.
    fn check_speed(&mut self) -> io::Result<()> {
        let LowSpeed {
            bytes_per_sec,
            time,
        } = self.low_speed;
        if bytes_per_sec == 0 {
            return Ok(());
        }
        let elapsed = self.window_start.elapsed();
        let needed = (bytes_per_sec as f64 * elapsed.as_secs_f64()) as u64;
        if self.window_bytes >= needed.max(1) {
            self.window_start = Instant::now();
            self.window_bytes = 0;
        } else if elapsed >= time {
            return Err(self.fail(Exceeded::TooSlow {
                bytes_per_sec,
                time,
            }));
        }
        Ok(())
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed is enough to know the body is too long.
        let room = self.max.saturating_sub(self.total).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.total += n as u64;
        self.window_bytes += n as u64;
        if self.total > self.max {
            return Err(self.fail(Exceeded::TooLarge {
                limit: self.max,
                recorded: self.recorded,
            }));
        }
        if n > 0 {
            self.check_speed()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size(" 10MiB "), Some(10 << 20));
        assert_eq!(parse_size("8g"), Some(8 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5X"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999T"), None);
    }

    #[test]
    fn exactly_the_limit_passes_and_one_byte_more_fails() {
        let data = vec![7u8; 1000];
        let mut out = Vec::new();
        let mut r = Bounded::new(&data[..], LowSpeed::default(), 1000, true);
        assert_eq!(io::copy(&mut r, &mut out).unwrap(), 1000);

        let mut r = Bounded::new(&data[..], LowSpeed::default(), 999, true);
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(
            exceeded(&e),
            Some(&Exceeded::TooLarge {
                limit: 999,
                recorded: true
            })
        );
        assert!(e.to_string().contains("999 bytes the lock records"), "{e}");
    }

    /// A reader that hands out one byte per call, sleeping first.
    struct Slow(Duration);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = 1;
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_below_the_rate_is_stopped_after_the_time() {
        let low = LowSpeed {
            bytes_per_sec: 1000,
            time: Duration::from_millis(200),
        };
        let t0 = Instant::now();
        let mut r = Bounded::new(Slow(Duration::from_millis(20)), low, u64::MAX - 1, false);
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(
            matches!(exceeded(&e), Some(Exceeded::TooSlow { .. })),
            "{e}"
        );
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn a_limit_of_zero_turns_the_speed_check_off() {
        let low = LowSpeed {
            bytes_per_sec: 0,
            time: Duration::from_millis(1),
        };
        let mut r = Bounded::new(Slow(Duration::from_millis(2)), low, 20, false).take(20);
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 20);
    }
}
