//! The examples build, reproduce bit for bit under every variation of the environment,
//! and match their golden digests (any change of output bytes must be deliberate and
//! bump `compat_level`).

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Golden image-manifest digests of the examples whose inputs are all pinned. If one
/// changes, the output bytes changed: bump `scratch_compose::COMPAT_LEVEL` with it.
const GOLDEN: &[(&str, &str, &str)] = &[
    // (example, format, digest printed by `compose build`)
    (
        "alpine",
        "oci",
        "sha256:c0367bcadfde4abca911eed32d57102b3e289a3ec48a54fd65500c90994a25e8",
    ),
    (
        "slim-alpine",
        "oci",
        "sha256:f34c42cdb5a384b1782c2b5d714858b809b1adf791a98ce2d89082224724e6c3",
    ),
];

fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name).join("scratch.toml")
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn examples_match_their_golden_digests() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut report = Vec::new();
    for (name, format, want) in GOLDEN {
        let out = dir.path().join(format!("{name}.{format}"));
        let got = build_ok(&cache, &example(name), format, &out, &[]);
        assert!(
            got.starts_with("sha256:") && got.len() == 71,
            "{name}: printed {got:?}"
        );
        if got != *want {
            report.push(format!("{name} ({format}): golden {want}, got {got}"));
        }
    }
    assert!(
        report.is_empty(),
        "golden digests moved (bump COMPAT_LEVEL if deliberate):\n{}",
        report.join("\n")
    );
}

/// A shell command line that runs compose with the given umask, TZ, LANG and cwd.
fn varied(umask: &str, tz: &str, lang: &str, cwd: &Path, cache: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_compose"));
    c.current_dir(cwd)
        .env("TZ", tz)
        .env("LANG", lang)
        .env("LC_ALL", lang);
    c.env_remove("SCRATCH_MIRRORS")
        .env_remove("SCRATCH_CACHE_DIR");
    c.arg("--cache-dir").arg(cache);
    c
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn outputs_are_byte_identical_across_environments() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let manifest = example("alpine");
    let mut digests = Vec::new();
    // (umask, TZ, LANG, jobs, SOURCE_DATE_EPOCH in the environment, cache)
    let variants = [
        ("022", "UTC", "C", "1", None, "cache-a"),
        (
            "077",
            "Asia/Kolkata",
            "tr_TR.UTF-8",
            "2",
            Some("123456789"),
            "cache-a",
        ),
        (
            "002",
            "America/St_Johns",
            "C.UTF-8",
            "4",
            Some("1"),
            "cache-b",
        ),
    ];
    let mut layouts = Vec::new();
    for (i, (umask, tz, lang, jobs, sde, cache)) in variants.iter().enumerate() {
        let cwd = dir.path().join(format!("cwd{i}"));
        std::fs::create_dir_all(&cwd).unwrap();
        for format in ["oci-archive", "docker-archive", "oci"] {
            let out = cwd.join(format!("out-{format}"));
            let mut c = varied(umask, tz, lang, &cwd, &dir.path().join(cache));
            if let Some(v) = sde {
                c.env("SOURCE_DATE_EPOCH", v);
            } else {
                c.env_remove("SOURCE_DATE_EPOCH");
            }
            for m in alpine_mirrors(&fx) {
                c.arg("--mirror").arg(m);
            }
            c.arg("-q").arg("-j").arg(jobs).arg("-f").arg(&manifest);
            c.args(["build", "--format", format, "-o"]).arg(&out);
            let printed = run_ok(&mut c);
            if format == "oci" {
                layouts.push(tree_digests(&out));
            } else {
                digests.push((format, sha256_file(&out), printed));
            }
        }
    }
    for format in ["oci-archive", "docker-archive"] {
        let all: Vec<_> = digests.iter().filter(|d| d.0 == format).collect();
        assert!(
            all.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2),
            "{format} differs: {all:#?}"
        );
    }
    assert!(
        layouts.windows(2).all(|w| w[0] == w[1]),
        "OCI layouts differ"
    );
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn output_is_identical_for_a_non_root_user() {
    let Some(fx) = fixtures() else { return };
    // Only root can switch users; elsewhere this variation is covered by whoever runs it.
    if !Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
    {
        eprintln!("skipping: not root");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("compose-nonroot")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let manifest = example("alpine");
    let root_out = dir.path().join("root.tar");
    build_ok(
        &dir.path().join("cache-root"),
        &manifest,
        "oci-archive",
        &root_out,
        &[],
    );
    let user_out = dir.path().join("user.tar");
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    c.arg(env!("CARGO_BIN_EXE_compose")).env("HOME", dir.path());
    c.arg("--cache-dir").arg(dir.path().join("cache-user"));
    for m in alpine_mirrors(&fx) {
        c.arg("--mirror").arg(m);
    }
    c.arg("-q")
        .arg("-f")
        .arg(&manifest)
        .args(["build", "--format", "oci-archive", "-o"])
        .arg(&user_out);
    run_ok(&mut c);
    assert_eq!(sha256_file(&root_out), sha256_file(&user_out));
}

#[test]
fn static_binary_example_builds_twice_to_the_same_bytes() {
    let script = repo_root().join("examples/static-binary/build.sh");
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("hello-{i}.tar"));
        let mut c = Command::new("bash");
        c.arg(&script).env("COMPOSE", env!("CARGO_BIN_EXE_compose"));
        c.env("SCRATCH_CACHE_DIR", dir.path().join(format!("cache-{i}")));
        c.args(["-q", "--format", "oci-archive", "-o"]).arg(&out);
        let printed = run_ok(&mut c);
        outs.push((printed, sha256_file(&out)));
    }
    assert_eq!(outs[0], outs[1]);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn source_date_epoch_alone_changes_only_mtimes() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The alpine example without its own epoch.
    let text = std::fs::read_to_string(example("alpine"))
        .unwrap()
        .replace("source_date_epoch = 1700000000\n", "");
    let manifest = dir.path().join("scratch.toml");
    std::fs::write(&manifest, text).unwrap();
    let cache = dir.path().join("cache");
    let fx = fixtures().unwrap();
    let mut outs = Vec::new();
    for epoch in ["0", "1700000000"] {
        let out = dir.path().join(format!("rootfs-{epoch}.tar"));
        let mut c = compose(&cache);
        c.env("SOURCE_DATE_EPOCH", epoch);
        for m in alpine_mirrors(&fx) {
            c.arg("--mirror").arg(m);
        }
        c.arg("-q")
            .arg("-f")
            .arg(&manifest)
            .args(["build", "--format", "rootfs", "-o"])
            .arg(&out);
        run_ok(&mut c);
        outs.push(out);
    }
    assert_ne!(sha256_file(&outs[0]), sha256_file(&outs[1]));
    assert_eq!(tree_listing(&[&outs[0]]), tree_listing(&[&outs[1]]));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn metadata_file_holds_the_printed_digests() {
    if fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta.json");
    let out = dir.path().join("img.tar");
    let printed = build_ok(
        &dir.path().join("cache"),
        &example("alpine"),
        "oci-archive",
        &out,
        &["--metadata-file", meta.to_str().unwrap()],
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["digest"], printed.as_str());
    assert_eq!(m["format"], "oci-archive");
    let amd64 = &m["platforms"]["linux/amd64"];
    assert_eq!(amd64["manifest"], printed.as_str());
    assert_eq!(amd64["layers"].as_array().unwrap().len(), 1);
    assert!(amd64["config"].as_str().unwrap().starts_with("sha256:"));
}
