//! Full disks, named as such: recognising "no space left" among I/O errors and saying
//! where, how much the step needs and how much is free, so that the user knows what to
//! free or where else to build.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Whether `e` says the file system (or the user's quota on it) is full. The kind
/// survives the wrappers that add a path to a message, so this holds for them too.
pub fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(code) if code == libc::ENOSPC || code == libc::EDQUOT)
}

/// A write that failed because the file system holding `dir` is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFull {
    /// The directory the user chose (cache or output), never a temporary name in it.
    pub dir: PathBuf,
    /// What was being written, e.g. "writing a layer blob".
    pub step: String,
    /// How many bytes the step writes in all, when known.
    pub needed: Option<Need>,
}

impl DiskFull {
    /// The error for `step` failing on a full disk at `path` (a file or a directory,
    /// possibly a temporary one), which needs about `needed` bytes.
    pub fn new(path: &Path, step: impl Into<String>, needed: Option<Need>) -> DiskFull {
        DiskFull {
            dir: shown_dir(path),
            step: step.into(),
            needed,
        }
    }

    /// What to do about it: how much more room to make, given what is free now.
    pub fn hint(&self) -> String {
        let free = free_space(&self.dir).unwrap_or(0);
        let room = match self.needed {
            Some(Need::About(n)) if n > free => {
                format!("free at least {} more there", human(n - free))
            }
            Some(Need::About(n)) => format!("keep {} free there", human(n)),
            Some(Need::MoreThan(n)) => format!("free more than {} there", human(n)),
            None => "free space there".to_string(),
        };
        format!(
            "{room}, or build elsewhere: --cache-dir DIR (or SCRATCH_CACHE_DIR) for the \
             cache, -o PATH for the output; nothing of this build was left behind"
        )
    }
}

impl fmt::Display for DiskFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no space left on device in {}: {}",
            crate::escape::path(&self.dir),
            self.step
        )?;
        match self.needed {
            Some(Need::About(n)) => write!(f, " needs about {}", human(n))?,
            Some(Need::MoreThan(n)) => write!(f, " needs more than {}", human(n))?,
            None => write!(f, " failed")?,
        }
        // Measured when shown: after the failed build removed what it had written.
        match free_space(&self.dir) {
            Some(free) => write!(f, "; {} free", human(free)),
            None => Ok(()),
        }
    }
}

/// The room a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// About this many bytes in all (a layer's tar, an output's blobs).
    About(u64),
    /// More than the bytes it had written when the disk filled (a stream of unknown size).
    MoreThan(u64),
}

impl std::error::Error for DiskFull {}

/// The directory to name for `path`: its part before the first temporary name
/// (`.part-*`, `.stage-*`, `.tmp-*`, `.compose-*`, `.NAME.tmp-*`), since those are gone
/// once the build has failed; for a file, the directory holding it.
fn shown_dir(path: &Path) -> PathBuf {
    let mut dir = PathBuf::new();
    for c in path.components() {
        let name = c.as_os_str().to_string_lossy();
        let temporary = name.starts_with('.')
            && [".part-", ".stage-", ".tmp-", ".compose-"]
                .iter()
                .any(|p| name.starts_with(p) || name.contains(".tmp-"));
        if temporary {
            return dir;
        }
        dir.push(c);
    }
    match path.is_dir() {
        true => dir,
        false => dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

/// Bytes available to this user on the file system holding `dir`.
pub fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `s` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// A size as people read it: `512 B`, `20.0 MiB`, `1.5 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_enospc_and_quota_whatever_the_wrapper() {
        assert!(is_full(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_full(&io::Error::from_raw_os_error(libc::EDQUOT)));
        let wrapped = io::Error::new(io::ErrorKind::StorageFull, "x: no space");
        assert!(is_full(&wrapped));
        assert!(!is_full(&io::Error::from_raw_os_error(libc::EFBIG)));
        assert!(!is_full(&io::Error::other("no space left on device")));
    }

    #[test]
    fn temporary_names_are_never_shown() {
        let d = shown_dir(Path::new("/c/tmp/.stage-AbC/blobs/sha256/.tmp-XyZ"));
        assert_eq!(d, Path::new("/c/tmp"));
        assert_eq!(shown_dir(Path::new("/o/.out.tar.tmp-1")), Path::new("/o"));
        assert_eq!(shown_dir(Path::new("/c/tmp/.part-1")), Path::new("/c/tmp"));
        // A user's hidden directory is not a temporary name.
        assert_eq!(
            shown_dir(Path::new("/home/u/.cache/x/.part-1")),
            Path::new("/home/u/.cache/x")
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(20 << 20), "20.0 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }

    #[test]
    fn the_message_names_the_place_the_need_and_what_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_space(dir.path()).unwrap();
        let e = DiskFull {
            dir: dir.path().to_path_buf(),
            step: "writing a layer blob".into(),
            needed: Some(Need::About(free + (60 << 20))),
        };
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!(
                "no space left on device in {}: writing a layer blob needs about ",
                dir.path().display()
            )),
            "{shown}"
        );
        assert!(shown.ends_with(" free"), "{shown}");
        // Other writers change what is free; the hint asks for the difference.
        let hint = e.hint();
        assert!(
            hint.contains("free at least ") && hint.contains(" more there"),
            "{hint}"
        );
    }
}
