//! What a command leaves behind when it stops early.
//!
//! Every temporary file or directory compose creates carries its owner in its name
//! ([`temp_prefix`], [`owner`]) in a folder this process watches. On SIGINT or SIGTERM
//! ([`install`], called by the command-line front end) the handler removes this process's
//! temporary entries from every watched folder, prints "interrupted" and exits with
//! status 130. A process killed outright (SIGKILL, a crash, a power cut) cannot clean up:
//! the next command that opens the cache, writes the same output or prunes the cache
//! removes the temporary entries of owners that are gone ([`Owner::Gone`]); entries
//! without an owner tag, or of a process another pid namespace runs, wait for the age
//! rule.

pub mod owner;

pub use owner::{owner_of, Owner};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The exit status of an interrupted command (128 + SIGINT, as shells report it).
pub const INTERRUPTED_STATUS: i32 = 130;

static WATCHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CRITICAL: Mutex<()> = Mutex::new(());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The prefix of a temporary name in `dir`: `base` and this process's owner tag. `dir` is
/// watched from now on, so an interrupt removes what this process creates there.
pub fn temp_prefix(dir: &Path, base: &str) -> String {
    watch(dir);
    format!("{base}{}", owner::tag())
}

/// Watch `dir`: on an interrupt, this process's temporary entries there are removed.
pub fn watch(dir: &Path) {
    let mut w = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
    if !w.iter().any(|d| d == dir) {
        w.push(dir.to_path_buf());
    }
}

/// Hold off an interrupt's cleanup while renames that must happen together run (an
/// output moved aside and its replacement moved in).
pub fn critical() -> MutexGuard<'static, ()> {
    CRITICAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// True once SIGINT or SIGTERM arrived: the handler is cleaning up and will end the
/// process; the front end must not report errors the cleanup caused.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Wait for the interrupt handler to end the process (it exits on its own).
pub fn wait_for_exit() -> ! {
    loop {
        std::thread::park();
    }
}

/// Handle SIGINT and SIGTERM from now on: remove this process's temporary entries,
/// print "interrupted" and exit with [`INTERRUPTED_STATUS`].
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                INTERRUPTED.store(true, Ordering::SeqCst);
                let _held = critical();
                remove_own();
                // Threads still running may have created a file since: once more.
                std::thread::sleep(Duration::from_millis(50));
                remove_own();
                eprintln!("interrupted");
                std::process::exit(INTERRUPTED_STATUS);
            }
        })?;
    Ok(())
}

/// Remove this process's temporary entries from every watched folder.
fn remove_own() {
    let dirs = WATCHED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let tag = owner::tag();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().contains(&tag) {
                let _ = remove_any(&e.path());
            }
        }
    }
}

/// Remove the entries of `dir` whose names start with `prefix` and whose owner is gone:
/// what a killed command left beside an output. Returns the files and bytes removed.
pub fn remove_dead(dir: &Path, prefix: &str) -> (u64, u64) {
    let mut freed = (0, 0);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return freed;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && owner_of(&name) == Owner::Gone {
            let (files, bytes) = usage(&e.path());
            if remove_any(&e.path()).is_ok() {
                freed.0 += files;
                freed.1 += bytes;
            }
        }
    }
    freed
}

/// Remove a file or a whole directory.
pub fn remove_any(p: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(p)?.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

/// The number of files below `p` (or 1 for a file) and their bytes.
pub fn usage(p: &Path) -> (u64, u64) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| usage(&e.path()))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Ok(m) => (1, m.len()),
        Err(_) => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_owners_leftovers_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!(".out.tmp-{}AAAAAA", owner::tag()));
        std::fs::write(&mine, b"x").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        child.wait().unwrap();
        let Ok(stat) = stat else { return };
        let start = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .nth(19)
            .unwrap()
            .to_string();
        let ns = owner::tag();
        let ns = &ns[ns.rfind('n').unwrap() + 1..ns.len() - 1];
        let dead = dir
            .path()
            .join(format!(".out.tmp-_p{pid}-{start}n{ns}_BBBBBB"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("blob"), b"12345").unwrap();
        let legacy = dir.path().join(".out.tmp-CCCCCC");
        std::fs::write(&legacy, b"y").unwrap();
        assert_eq!(remove_dead(dir.path(), ".out.tmp-"), (1, 5));
        assert!(mine.exists() && legacy.exists() && !dead.exists());
    }
}
