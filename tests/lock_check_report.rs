//! `compose lock --check` reports results on stdout, with the fix: a missing lock is
//! "no lock", not "stale"; a stale one lists every difference; a lock written before
//! locks recorded their manifest is still fresh.

mod common;

use common::cli::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn lock_check_reports_missing_and_stale_locks_as_results_with_the_fix() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        dir.join("scratch.toml"),
        "[image]\nname = \"c\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\ndest = \"/a.txt\"\n",
    )
    .unwrap();
    let cache = dir.join("cache");
    let check = || run(compose(&cache).current_dir(dir).args(["lock", "--check"]));

    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("no lock: scratch.lock does not exist"),
        "{out}"
    );
    assert!(
        out.contains("fix: run `compose lock` to create it"),
        "{out}"
    );
    assert!(
        !out.contains("stale") && !text(&o.stderr).contains("stale"),
        "{out}"
    );

    run_ok(compose(&cache).current_dir(dir).arg("lock"));
    let o = check();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");

    std::fs::write(dir.join("a.txt"), "changed\n").unwrap();
    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("stale: scratch.lock does not match the manifest\n"),
        "{out}"
    );
    assert!(out.contains("\n  - ") && out.contains("a.txt"), "{out}");
    assert!(
        out.ends_with("fix: run `compose lock` to update it, then commit it\n"),
        "{out}"
    );
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();

    // A lock from before locks recorded their manifest is not stale for that alone.
    let lock = std::fs::read_to_string(dir.join("scratch.lock")).unwrap();
    let older: String = lock
        .lines()
        // The lock's own `manifest = "scratch.toml"`, not the outputs' manifest digests.
        .filter(|l| *l != "manifest = \"scratch.toml\"")
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(older, lock);
    std::fs::write(dir.join("scratch.lock"), &older).unwrap();
    let o = check();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["build", "--locked", "-o", "out"]),
    );
}
