//! One lock per manifest: `NAME.toml` is locked in `NAME.lock` beside it, `--lockfile`
//! (or `SCRATCH_LOCKFILE`) chooses another path, the lock records its manifest, and a lock
//! of another manifest is refused.

mod common;

use common::cli::*;
use std::path::Path;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two manifests in one folder, with different files.
fn two_manifests(dir: &Path) {
    for name in ["a", "b"] {
        std::fs::write(dir.join(format!("{name}.txt")), format!("{name}\n")).unwrap();
        std::fs::write(
            dir.join(format!("{name}.toml")),
            format!(
                "[image]\nname = \"{name}\"\nsource_date_epoch = 1\n[[layer]]\n[[layer.file]]\nsrc = \"{name}.txt\"\ndest = \"/{name}.txt\"\n"
            ),
        )
        .unwrap();
    }
}

#[test]
fn each_manifest_gets_its_own_lock_named_after_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    two_manifests(dir);
    let cache = dir.join("cache");
    for name in ["a", "b"] {
        run_ok(
            compose(&cache)
                .current_dir(dir)
                .args(["-f", &format!("{name}.toml"), "lock"]),
        );
    }
    assert!(!dir.join("scratch.lock").exists());
    let a = std::fs::read_to_string(dir.join("a.lock")).unwrap();
    let b = std::fs::read_to_string(dir.join("b.lock")).unwrap();
    assert!(
        a.contains("manifest = \"a.toml\"") && a.contains("a.txt"),
        "{a}"
    );
    assert!(
        b.contains("manifest = \"b.toml\"") && b.contains("b.txt"),
        "{b}"
    );
    for name in ["a", "b"] {
        let o = run(compose(&cache).current_dir(dir).args([
            "-f",
            &format!("{name}.toml"),
            "build",
            "--locked",
            "-o",
            &format!("out-{name}"),
        ]));
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("stale"), "{name}: {}", stderr(&o));
    }
}

#[test]
fn lockfile_option_and_variable_choose_the_lock_and_another_manifests_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    two_manifests(dir);
    let cache = dir.join("cache");
    std::fs::create_dir(dir.join("locks")).unwrap();
    run_ok(compose(&cache).current_dir(dir).args([
        "-f",
        "a.toml",
        "--lockfile",
        "locks/a-ci.lock",
        "lock",
    ]));
    assert!(!dir.join("a.lock").exists());
    let text = std::fs::read_to_string(dir.join("locks/a-ci.lock")).unwrap();
    assert!(text.contains("manifest = \"../a.toml\""), "{text}");
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .env("SCRATCH_LOCKFILE", "locks/a-ci.lock")
            .args(["-f", "a.toml", "build", "--locked", "-o", "out"]),
    );

    // b.toml with a's lock: refused, naming both, for every command that reads it.
    for args in [
        &["build", "-o", "out-b"][..],
        &["build", "--locked", "-o", "out-b"][..],
        &["lock", "--check"][..],
        &["lock"][..],
        &["verify"][..],
    ] {
        let o = run(compose(&cache)
            .current_dir(dir)
            .args(["-f", "b.toml", "--lockfile", "locks/a-ci.lock"])
            .args(args));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(
            e.contains("this lock was made from") && e.contains("a.toml, not from"),
            "{args:?}: {e}"
        );
        assert!(e.contains("--lockfile"), "{args:?}: {e}");
    }
    // Nothing was overwritten.
    assert_eq!(
        std::fs::read_to_string(dir.join("locks/a-ci.lock")).unwrap(),
        text
    );
}
