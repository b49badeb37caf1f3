//! Driving the `compose` binary from tests: a clean environment, the fixtures, the tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$SCRATCH_SHARED` when set, else `../shared` beside the checkout, when it holds the
/// fixtures.
pub fn shared_dir() -> Option<PathBuf> {
    Some(super::shared_root()).filter(|p| p.join("fixtures").is_dir())
}

/// The shared fixtures; a test that needs them fails when they are missing (such tests
/// are `#[ignore]`d by default: [`super::missing`]). Always `Some`.
pub fn fixtures() -> Option<PathBuf> {
    match shared_dir() {
        Some(s) => Some(s.join("fixtures")),
        None => super::missing("../shared/fixtures (or $SCRATCH_SHARED/fixtures)"),
    }
}

/// True when `tool` is on PATH; a test that needs it fails when it is not (such tests are
/// `#[ignore]`d by default: [`super::missing`]).
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        super::missing(tool);
    }
    found
}

/// `docker` talking to `$DOCKER_HOST`, else to the private engine `start-dockerd` runs; a
/// test that needs it fails when there is neither.
pub fn docker_cmd() -> Command {
    let mut c = Command::new("docker");
    if std::env::var_os("DOCKER_HOST").is_none() {
        let sock = Path::new("/tmp/scratch-dockerd/docker.sock");
        if !sock.exists() {
            super::missing("a Docker engine ($DOCKER_HOST, or ../shared/tools/start-dockerd)");
        }
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    }
    c
}

/// A mirror rule that serves the upstream Alpine URLs from the flat fixtures folder.
pub fn alpine_mirrors(fixtures: &Path) -> Vec<String> {
    ["x86_64", "aarch64"]
        .iter()
        .map(|arch| {
            format!(
                "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/{arch}/=file://{}/alpine/",
                fixtures.display()
            )
        })
        .collect()
}

/// The `compose` binary with a clean environment: no inherited SCRATCH_* or
/// SOURCE_DATE_EPOCH, the given cache.
pub fn compose(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("SCRATCH_") || k == "SOURCE_DATE_EPOCH" {
            c.env_remove(&k);
        }
    }
    c.arg("--cache-dir").arg(cache);
    c
}

/// Run and require success; returns stdout as a string.
pub fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed ({}):\nstdout: {}\nstderr: {}",
        c,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run and return the whole output, whatever the status.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("spawn")
}

/// sha256 hex of a file.
pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// Every file below `dir` (relative path → sha256), for comparing output trees byte for byte.
pub fn tree_digests(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        let mut es: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        es.sort();
        for p in es {
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().display().to_string(),
                    sha256_file(&p),
                ));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v
}

/// `../shared/tools/tree-listing SOURCE…`: the canonical listing of a tar or directory.
pub fn tree_listing(sources: &[&Path]) -> String {
    let tool = shared_dir().expect("shared").join("tools/tree-listing");
    let mut c = Command::new("python3");
    c.arg(tool);
    for s in sources {
        c.arg(s);
    }
    run_ok(&mut c)
}

/// `compose --mirror … -q -f MANIFEST build --format FORMAT -o OUT`: a build whose
/// upstream Alpine URLs are served from the fixtures.
pub fn build_cmd(cache: &Path, manifest: &Path, format: &str, out: &Path) -> Command {
    let fx = fixtures().expect("fixtures");
    let mut c = compose(cache);
    for m in alpine_mirrors(&fx) {
        c.arg("--mirror").arg(m);
    }
    c.arg("-q").arg("-f").arg(manifest);
    c.args(["build", "--format", format, "-o"]).arg(out);
    c
}

/// [`build_cmd`] with `extra` options, run to success; the digest it printed.
pub fn build_ok(cache: &Path, manifest: &Path, format: &str, out: &Path, extra: &[&str]) -> String {
    run_ok(build_cmd(cache, manifest, format, out).args(extra))
        .trim()
        .to_string()
}
