//! Interrupted builds clean up: SIGINT or SIGTERM removes the build's temporary files,
//! prints "interrupted" and exits 130; what a SIGKILLed build leaves behind is removed by
//! the next build or `compose cache prune` as soon as its process is gone.

mod common;

use common::cli::*;
use common::server::{Fault, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A project whose one input downloads slowly (a chunk every 50 ms: about 40 s in all),
/// pinned in the manifest.
struct Slow {
    _work: tempfile::TempDir,
    dir: PathBuf,
    cache: PathBuf,
    srv: TestServer,
}

impl Slow {
    fn new() -> Slow {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().to_path_buf();
        let site = dir.join("site");
        std::fs::create_dir(&site).unwrap();
        let body: Vec<u8> = (0..800 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(site.join("big.bin"), &body).unwrap();
        let srv = TestServer::serve_dir(&site);
        srv.set_fault(
            "/big.bin",
            Fault::Trickle {
                chunk: 1024,
                delay: Duration::from_millis(50),
            },
        );
        std::fs::write(
            dir.join("scratch.toml"),
            format!(
                "[image]\nname = \"slow\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"{}\"\nsha256 = \"{}\"\ndest = \"/big.bin\"\n",
                srv.url("/big.bin"),
                hex(&body)
            ),
        )
        .unwrap();
        Slow {
            cache: dir.join("cache"),
            _work: work,
            dir,
            srv,
        }
    }

    /// `compose build -o out` started in the background, once its download has begun.
    fn start_build(&self) -> Child {
        let child = compose(&self.cache)
            .current_dir(&self.dir)
            .args(["build", "-o", "out"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.temp_entries().is_empty() {
            assert!(Instant::now() < deadline, "the download never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Some bytes in, well before the end.
        std::thread::sleep(Duration::from_millis(300));
        child
    }

    /// What is in the cache's `tmp/`.
    fn temp_entries(&self) -> Vec<String> {
        names(&self.cache.join("tmp"))
    }

    /// Everything beside the manifest that a build writes (outputs, temporary outputs).
    fn outputs(&self) -> Vec<String> {
        names(&self.dir)
            .into_iter()
            .filter(|n| !["scratch.toml", "site", "cache"].contains(&n.as_str()))
            .collect()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

#[test]
fn sigint_and_sigterm_remove_the_build_s_temporary_files_and_exit_130() {
    for sig in ["INT", "TERM"] {
        let p = Slow::new();
        let child = p.start_build();
        assert!(!p.temp_entries().is_empty());
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "SIG{sig}: {err}");
        assert!(err.trim_end().ends_with("interrupted"), "SIG{sig}: {err}");
        assert!(
            !err.contains("error:") && !err.contains("panicked"),
            "{err}"
        );
        assert_eq!(text(&o.stdout), "");
        assert_eq!(p.temp_entries(), Vec::<String>::new(), "SIG{sig}");
        assert_eq!(p.outputs(), Vec::<String>::new(), "SIG{sig}");
        assert!(names(&p.cache.join("blobs/sha256")).is_empty());
    }
}

#[test]
fn a_killed_build_s_leftovers_go_with_the_next_build_or_prune() {
    let p = Slow::new();
    let mut child = p.start_build();
    signal(&child, "KILL");
    child.wait().unwrap();
    let left = p.temp_entries();
    assert!(
        left.iter()
            .any(|n| n.starts_with(".part-") || n.starts_with(".stage-")),
        "{left:?}"
    );
    // Within the hour, the owner being gone is enough: prune removes them.
    let out = run_ok(
        compose(&p.cache)
            .current_dir(&p.dir)
            .args(["cache", "prune"]),
    );
    // What it removed counts: at least the partial download.
    assert!(
        out.starts_with("freed ") && !out.contains(" in 0 files"),
        "{out}"
    );
    assert_eq!(p.temp_entries(), Vec::<String>::new());

    // Again, and this time the next build cleans up (and succeeds).
    let mut child = p.start_build();
    signal(&child, "KILL");
    child.wait().unwrap();
    assert!(!p.temp_entries().is_empty());
    p.srv.clear_faults();
    run_ok(
        compose(&p.cache)
            .current_dir(&p.dir)
            .args(["build", "-o", "out"]),
    );
    assert_eq!(p.temp_entries(), Vec::<String>::new());
    assert_eq!(p.outputs(), vec!["out".to_string()]);
}

/// The tag a process that has ended would have put in its temporary names.
fn dead_owner_tag() -> Option<String> {
    let mut child = std::process::Command::new("sleep")
        .arg("0.2")
        .spawn()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id()));
    child.wait().unwrap();
    let stat = stat.ok()?;
    let start = stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ns = ns.to_str()?.strip_prefix("pid:[")?.strip_suffix(']')?;
    Some(format!("_p{}-{start}n{ns}_", child.id()))
}

#[test]
fn a_killed_build_s_partial_output_goes_with_the_next_build() {
    let Some(tag) = dead_owner_tag() else {
        eprintln!("skipping: no /proc");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        dir.join("scratch.toml"),
        "[image]\nname = \"p\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\ndest = \"/a\"\n",
    )
    .unwrap();
    // What a build killed while writing `out` and `img.tar` left.
    let dead_dir = dir.join(format!(".out.tmp-{tag}AbCdEf"));
    std::fs::create_dir_all(dead_dir.join("blobs")).unwrap();
    let dead_file = dir.join(format!(".img.tar.tmp-{tag}GhIjKl"));
    std::fs::write(&dead_file, b"partial").unwrap();
    // An older compose's temporary name (no owner): left to the age rule.
    let untagged = dir.join(".out.tmp-MnOpQr");
    std::fs::write(&untagged, b"?").unwrap();
    let cache = dir.join("cache");
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["build", "-o", "out"]),
    );
    assert!(!dead_dir.exists());
    assert!(dead_file.exists(), "another output's leftovers wait for it");
    assert!(untagged.exists());
    run_ok(compose(&cache).current_dir(dir).args([
        "build",
        "--format",
        "oci-archive",
        "-o",
        "img.tar",
    ]));
    assert!(!dead_file.exists());
}

#[test]
fn prune_blobs_outside_a_project_asks_for_all_and_prints_sizes_for_people() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("a.txt"), vec![b'x'; 3000]).unwrap();
    std::fs::write(
        project.join("scratch.toml"),
        "[image]\nname = \"p\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\ndest = \"/a\"\n",
    )
    .unwrap();
    let cache = work.path().join("cache");
    run_ok(compose(&cache).current_dir(&project).arg("lock"));
    let blobs = || names(&cache.join("blobs/sha256"));
    assert!(!blobs().is_empty());

    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = run(compose(&cache)
        .current_dir(&elsewhere)
        .args(["cache", "prune", "--blobs"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("there is no manifest at scratch.toml"),
        "{err}"
    );
    assert!(err.contains("--all"), "{err}");
    assert!(!blobs().is_empty(), "nothing removed");

    let out = run_ok(
        compose(&cache)
            .current_dir(&elsewhere)
            .args(["cache", "prune", "--all"]),
    );
    assert!(blobs().is_empty());
    let size = out
        .strip_prefix("freed ")
        .and_then(|s| s.split(" in ").next())
        .unwrap_or_else(|| panic!("{out}"));
    let (number, unit) = size.split_once(' ').unwrap();
    assert!(["B", "KiB", "MiB"].contains(&unit), "{out}");
    assert!(number.parse::<f64>().is_ok(), "{out}");
    assert!(unit == "B" || number.contains('.'), "{out}");
}

#[test]
fn prune_keeps_what_the_chosen_lockfile_pins() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "kept\n").unwrap();
    std::fs::write(
        dir.join("app.toml"),
        "[image]\nname = \"p\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\ndest = \"/a\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.join("locks")).unwrap();
    for (how, env) in [("--lockfile", false), ("SCRATCH_LOCKFILE", true)] {
        let cache = dir.join(format!("cache-{env}"));
        let with_lock = |args: &[&str]| {
            let mut c = compose(&cache);
            c.current_dir(dir).args(["-f", "app.toml"]);
            if env {
                c.env("SCRATCH_LOCKFILE", "locks/ci.lock");
            } else {
                c.args(["--lockfile", "locks/ci.lock"]);
            }
            c.args(args);
            c
        };
        // `compose lock` keeps the image it records (manifest, config, layers) as blobs.
        run_ok(&mut with_lock(&["lock"]));
        let lock = std::fs::read_to_string(dir.join("locks/ci.lock")).unwrap();
        let recorded: Vec<String> = lock
            .lines()
            .filter(|l| !l.starts_with("diff_id"))
            .filter_map(|l| l.split_once("\"sha256:"))
            .map(|(_, d)| d.trim_end_matches('"').to_string())
            .collect();
        let blobs = || names(&cache.join("blobs/sha256"));
        assert!(!recorded.is_empty() && recorded.iter().all(|d| blobs().contains(d)));
        std::fs::write(cache.join("blobs/sha256").join(hex(b"other")), b"other").unwrap();
        run_ok(&mut with_lock(&["cache", "prune", "--blobs"]));
        assert!(
            recorded.iter().all(|d| blobs().contains(d)),
            "{how}: what the lock names stays: {:?}",
            blobs()
        );
        assert!(!blobs().contains(&hex(b"other")), "{how}");
    }
    assert!(!dir.join("app.lock").exists());
}

/// Exit status of a process that ended by SIGPIPE, as Unix tools do.
fn ended_quietly(o: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    o.status.signal() == Some(13) || o.status.success()
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        dir.join("scratch.toml"),
        "[image]\nname = \"p\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\ndest = \"/a\"\n",
    )
    .unwrap();
    let cache = dir.join("cache");
    for args in [
        &["lock", "--check"][..],
        &["build", "-o", "out"][..],
        &["cache", "prune"][..],
    ] {
        let mut child = compose(&cache)
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before compose writes its result.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = text(&o.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {err}"
        );
        assert!(ended_quietly(&o), "{args:?}: {:?} {err}", o.status);
    }
}

#[test]
fn an_interrupted_diff_removes_its_scratch_folder() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // An input that never ends: the diff waits on it with its scratch folder made.
    let fifo = work.path().join("a.tar");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .arg("diff")
        .arg(&fifo)
        .arg(work.path().join("b.tar"))
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while names(&tmp).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no scratch folder"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert_eq!(names(&tmp), Vec::<String>::new());
}
