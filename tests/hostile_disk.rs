//! A full disk, for every format and compression: the build ends promptly (exit 2), names
//! the full place with "no space left" and the room the step needs, and leaves nothing
//! of itself behind. Needs a small tmpfs (`mount`, so root); fails under `CI` when it
//! cannot mount one, skips elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        match ok {
            true => Some(SmallDisk { dir }),
            false if std::env::var_os("CI").is_some() => {
                panic!("cannot mount a tmpfs (root is needed) and CI is set")
            }
            false => {
                eprintln!("skipping: cannot mount a tmpfs (run as root)");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every file left on the disk, except the cache's digest memos (`derived/stat`),
    /// which describe the input, not this build.
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if !["/derived/stat/", "/preflight/"]
                    .iter()
                    .any(|memo| p.to_string_lossy().contains(memo))
                {
                    // Small memos written whole before the layer (file identities, the
                    // preflight findings of a tree) are cache entries, not leftovers.
                    out.push(p);
                }
            }
        }
        out
    }

    fn clear(&self) {
        for e in std::fs::read_dir(self.path()).unwrap() {
            let p = e.unwrap().path();
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Bytes that do not compress, quickly.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A project whose one layer holds `size` bytes of noise, the file old enough to be read
/// in place.
fn project(size: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), noise(size)).unwrap();
    let mut m = std::fs::File::create(dir.path().join("scratch.toml")).unwrap();
    writeln!(
        m,
        "[image]\nname = \"full\"\nsource_date_epoch = 0\n\n[[layer]]\n[[layer.file]]\n\
         src = \"big.bin\"\ndest = \"/big.bin\""
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    dir
}

/// Run compose; fail the test if it has not ended within two minutes (a hang).
fn compose(project: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(project)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("compose {args:?} hung on a full disk");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const FORMATS: [(&str, &str); 4] = [
    ("oci", "out"),
    ("oci-archive", "out.tar"),
    ("docker-archive", "out.tar"),
    ("rootfs", "out.tar"),
];

fn check_failure(disk: &SmallDisk, case: &str, code: i32, err: &str) {
    assert_eq!(code, 2, "{case}: {err}");
    assert!(err.contains("no space left on device"), "{case}: {err}");
    assert!(
        err.contains(&disk.path().display().to_string()),
        "{case}: the full place is not named: {err}"
    );
    assert!(
        err.contains("needs about") || err.contains("needs more than"),
        "{case}: the room needed is not said: {err}"
    );
    for temp in [".stage-", ".part-", ".tmp-", ".compose-"] {
        assert!(!err.contains(temp), "{case}: a temporary name shows: {err}");
    }
    let left = disk.leftovers();
    assert!(left.is_empty(), "{case}: left behind {left:?}");
}

#[test]
fn every_format_and_compression_fails_cleanly_on_a_full_disk() {
    let Some(disk) = SmallDisk::mount(4) else {
        return;
    };
    let project = project(6 << 20);
    let roomy_cache = tempfile::tempdir().unwrap();
    for (format, out) in FORMATS {
        for compression in ["gzip", "zstd", "none"] {
            if format == "docker-archive" && compression == "zstd" {
                continue; // refused before anything is written
            }
            let output = disk.path().join(out);
            let output = output.to_str().unwrap();
            // The cache on the full disk: the layer (or, for a rootfs, the copy of the
            // input) does not fit.
            let cache = disk.path().join("cache");
            let case = format!("{format} {compression}, cache on the full disk");
            let (code, err) = compose(
                project.path(),
                &[
                    "-q",
                    "--cache-dir",
                    cache.to_str().unwrap(),
                    "build",
                    "--format",
                    format,
                    "--compression",
                    compression,
                    "-o",
                    output,
                ],
            );
            check_failure(&disk, &case, code, &err);
            disk.clear();
            // The cache elsewhere: the output does not fit.
            let case = format!("{format} {compression}, output on the full disk");
            let (code, err) = compose(
                project.path(),
                &[
                    "-q",
                    "--cache-dir",
                    roomy_cache.path().to_str().unwrap(),
                    "build",
                    "--format",
                    format,
                    "--compression",
                    compression,
                    "-o",
                    output,
                ],
            );
            check_failure(&disk, &case, code, &err);
            disk.clear();
        }
    }
    // Nothing of the builds is left in the roomy cache's temporaries either.
    let tmp = roomy_cache.path().join("tmp");
    let names: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(names.is_empty(), "left in the cache's tmp/: {names:?}");
}
