//! Every example ships its scratch.lock, fresh: `compose lock --check` passes, and the
//! first build is quiet and works with `--locked`. The examples whose inputs come from the
//! internet are checked through a mirror of the same files (the pins make it the same).

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}

/// `compose` with the fixtures' Alpine mirrors, on example `name`.
fn on(cache: &Path, name: &str) -> Command {
    let fx = fixtures().expect("fixtures");
    let mut c = compose(cache);
    for m in alpine_mirrors(&fx) {
        c.arg("--mirror").arg(m);
    }
    c.arg("-f").arg(example(name));
    c
}

/// Compile an example's Rust program as its build.sh does, into `target/` (git-ignored).
fn compile(name: &str, program: &str) {
    let here = example(name);
    std::fs::create_dir_all(here.join("target")).unwrap();
    let mut c = Command::new("rustc");
    c.args([
        "--edition",
        "2021",
        "-C",
        "opt-level=2",
        "-C",
        "target-feature=+crt-static",
    ])
    .args([
        "-C",
        "strip=symbols",
        "-C",
        "codegen-units=1",
        "--remap-path-prefix",
    ])
    .arg(format!("{}=/src", here.display()))
    .arg("-o")
    .arg(here.join("target").join(program))
    .arg(here.join(format!("{program}.rs")));
    run_ok(&mut c);
}

#[test]
fn every_example_ships_a_lock() {
    let mut missing = Vec::new();
    for e in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let dir = e.unwrap().path();
        if dir.join("scratch.toml").is_file() && !dir.join("scratch.lock").is_file() {
            missing.push(dir.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "examples without scratch.lock: {missing:?}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn the_examples_locks_are_fresh_and_their_locked_builds_quiet() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    compile("distroless", "trust");
    for name in ["alpine", "alpine-multiarch", "slim-alpine", "distroless"] {
        let o = run(on(&cache, name).args(["lock", "--check"]));
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let out = t.path().join(format!("{name}.tar"));
        let o = run(on(&cache, name)
            .args(["build", "--locked", "--format", "oci-archive", "-o"])
            .arg(&out));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert!(
            !err.contains("warning"),
            "{name}: the first build is not quiet: {err}"
        );
    }
}

#[test]
fn the_static_binary_example_is_locked_or_relocked_for_this_toolchain() {
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("static-binary");
    std::fs::create_dir(&copy).unwrap();
    for f in ["build.sh", "hello.rs", "scratch.toml", "scratch.lock"] {
        std::fs::copy(example("static-binary").join(f), copy.join(f)).unwrap();
    }
    // The script every Rust example's build.sh calls, beside the copy as in examples/.
    let shared = example("static-binary").join("../rust-example.sh");
    std::fs::copy(shared, t.path().join("rust-example.sh")).unwrap();
    let shipped = std::fs::read_to_string(copy.join("scratch.lock")).unwrap();
    let build = |extra: &[&str]| {
        let mut c = Command::new("bash");
        c.arg(copy.join("build.sh"))
            .env("COMPOSE", env!("CARGO_BIN_EXE_compose"))
            .env("SCRATCH_CACHE_DIR", t.path().join("cache"))
            .args(extra);
        run(&mut c)
    };
    let o = build(&["--locked"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let relocked = std::fs::read_to_string(copy.join("scratch.lock")).unwrap();
    if relocked != shipped {
        // Another toolchain: only the program's pin and what follows from it moved.
        assert!(err.contains("locking again"), "{err}");
        let changed: Vec<&str> = relocked
            .lines()
            .filter(|l| !shipped.lines().any(|s| s == *l))
            .collect();
        assert!(
            changed.iter().all(|l| l.starts_with("sha256 = ")
                || l.starts_with("size = ")
                || l.starts_with("manifest = ")
                || l.starts_with("config = ")
                || l.starts_with("diff_id = ")
                || l.starts_with("digest = ")),
            "{changed:?}"
        );
    }
    // Once locked, the build is quiet and --locked holds.
    let o = build(&["--locked", "-q"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    let mut check = compose(&t.path().join("cache"));
    check
        .arg("-f")
        .arg(copy.join("scratch.toml"))
        .args(["lock", "--check"]);
    assert_eq!(run(&mut check).status.code(), Some(0));
}
