//! Distroless by design: paths taken from named inputs, accounts, preflight checks of the
//! final tree, and `compose tree`, through the real binary. Where a container engine is
//! present, the preflight verdicts are compared with what happens at run time.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// podman and Docker keep global state: one test at a time talks to them.
static ENGINE: Mutex<()> = Mutex::new(());

const MUSL_LD: &str = "/lib/ld-musl-x86_64.so.1";
const GLIBC_LD: &str = "/lib64/ld-linux-x86-64.so.2";

/// A project folder with a manifest whose `[input.alpine]` (and `[input.alpine-arm64]`)
/// are the fixture minirootfs.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Option<Project> {
        fixtures()?;
        Some(Project {
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `scratch.toml`: `[image]` + `body` + the Alpine inputs.
    fn manifest(&self, image_extra: &str, body: &str) -> PathBuf {
        let fx = fixtures().unwrap();
        let alpine = |arch: &str| {
            let p = fx.join(format!("alpine/alpine-minirootfs-3.19.4-{arch}.tar.gz"));
            format!(
                "tar = \"{}\"\nsha256 = \"{}\"\n",
                p.display(),
                sha256_file(&p)
            )
        };
        let text = format!(
            "[image]\nname = \"distroless-test\"\nsource_date_epoch = 1700000000\n{image_extra}\n{body}\n[input.alpine]\n{}\n[input.alpine-arm64]\n{}",
            alpine("x86_64"),
            alpine("aarch64")
        );
        let path = self.path("scratch.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn compose(&self, args: &[&str]) -> Output {
        let mut c = compose(&self.path("cache"));
        c.arg("-f").arg(self.path("scratch.toml")).args(args);
        run(&mut c)
    }

    /// `compose build` to a docker-archive; (exit code, stderr).
    fn build(&self, extra: &[&str]) -> (i32, String) {
        let out = self.path("image.tar");
        let mut args = vec![
            "build",
            "--format",
            "docker-archive",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = self.compose(&args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn tree(&self, extra: &[&str]) -> String {
        let mut args = vec!["tree"];
        args.extend_from_slice(extra);
        let o = self.compose(&args);
        assert!(
            o.status.success(),
            "tree failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// Preflight lines of a build's stderr.
fn preflight(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("preflight ("))
        .collect()
}

fn podman(args: &[&str]) -> Output {
    run(Command::new("podman").args(args))
}

/// Load `archive` into podman and run it (with `--network none`): (exit code, stdout + stderr).
fn podman_run(archive: &Path, run_args: &[&str]) -> (i32, String) {
    let _ = podman(&["rmi", "-f", "docker.io/library/distroless-test:latest"]);
    let loaded = podman(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(run_args);
    let o = podman(&args);
    let _ = podman(&["rmi", "-f", "docker.io/library/distroless-test:latest"]);
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

const IMAGE: &str = "docker.io/library/distroless-test:latest";

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn a_musl_program_without_its_loader_is_caught_and_passes_with_it() {
    let Some(p) = Project::new() else { return };
    let copy = |paths: &str| {
        format!("[config]\nentrypoint = [\"/bin/busybox\", \"echo\", \"started\"]\n[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [{paths}]\n")
    };
    p.manifest("", &copy("\"/bin/busybox\""));
    let (code, err) = p.build(&[]);
    assert_eq!(code, 0, "warnings only by default: {err}");
    let lines = preflight(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("/bin/busybox is dynamically linked (musl): its interpreter /lib/ld-musl-x86_64.so.1 is not in the image"), "{err}");
    assert!(lines[0].contains("CGO_ENABLED=0"), "{err}");
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the image would not start"), "{err}");
    // What the runtime says about the same image.
    if have_tool("podman") {
        let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        p.build(&[]);
        let (code, said) = podman_run(&p.path("image.tar"), &[IMAGE]);
        assert_ne!(code, 0, "{said}");
    }
    // With the loader (which is also musl's libc) the program starts.
    p.manifest("", &copy(&format!("\"/bin/busybox\", \"{MUSL_LD}\"")));
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 0, "{err}");
    assert!(preflight(&err).is_empty(), "{err}");
    if have_tool("podman") {
        let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let (code, said) = podman_run(&p.path("image.tar"), &[IMAGE]);
        assert_eq!((code, said.trim()), (0, "started"));
    }
}

#[test]
#[ignore = "needs ../shared fixtures, podman, gcc (cargo test -- --ignored runs it; CI does)"]
fn a_dynamic_gcc_program_is_caught_and_passes_with_glibc_from_a_rootfs() {
    let Some(p) = Project::new() else { return };
    if !have_tool("gcc") {
        return;
    }
    std::fs::write(
        p.path("hello.c"),
        "#include <stdio.h>\nint main(void){puts(\"hello from glibc\");return 0;}\n",
    )
    .unwrap();
    run_ok(
        Command::new("gcc")
            .arg("-o")
            .arg(p.path("hello"))
            .arg(p.path("hello.c")),
    );
    let app = "[config]\nentrypoint = [\"/hello\"]\n[[layer]]\n[[layer.file]]\nsrc = \"hello\"\ndest = \"/hello\"\nmode = \"0755\"\n";
    p.manifest("", app);
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "/hello is dynamically linked (glibc): its interpreter {GLIBC_LD} is not in the image"
        )),
        "{err}"
    );
    // A "rootfs" with the loader and libc: the host's glibc, as a tar input.
    let libs = [
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
    ];
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg("/")
        .arg("-chf")
        .arg(p.path("glibc.tar"))
        .args(libs);
    run_ok(&mut tar);
    // Only the loader: libc.so.6 is named as missing.
    let copy = |paths: &str| {
        format!("{app}[[layer]]\n[[layer.copy]]\nfrom = \"glibc\"\npaths = [{paths}]\n[input.glibc]\ntar = \"glibc.tar\"\n")
    };
    p.manifest("", &copy("\"/lib64/ld-linux-x86-64.so.2\""));
    let (code, err) = p.build(&[]);
    assert_eq!(code, 0, "{err}");
    let lines = preflight(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("library libc.so.6, needed by /hello, is not in the image"),
        "{err}"
    );
    p.manifest(
        "",
        &copy("\"/lib64/ld-linux-x86-64.so.2\", \"/lib/x86_64-linux-gnu/libc.so.6\""),
    );
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 0, "{err}");
    if have_tool("podman") {
        let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let (code, said) = podman_run(&p.path("image.tar"), &[IMAGE]);
        assert_eq!((code, said.trim()), (0, "hello from glibc"));
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn an_arm64_program_in_an_amd64_image_is_caught() {
    let Some(p) = Project::new() else { return };
    let body = "[config]\nentrypoint = [\"/bin/busybox\", \"true\"]\n[[layer]]\n[[layer.copy]]\nfrom = \"alpine-arm64\"\npaths = [\"/bin/busybox\", \"/lib/ld-musl-aarch64.so.1\"]\n";
    p.manifest("", body);
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/bin/busybox is a 64-bit AArch64 (linux/arm64) program, but this image is for linux/amd64"), "{err}");
    p.manifest("platforms = [\"linux/arm64\"]", body);
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn missing_dangling_and_script_entrypoints_and_unknown_users() {
    let Some(p) = Project::new() else { return };
    let cases = [
        ("entrypoint = [\"/app\"]", "[[layer.file]]\ndest = \"/etc/x\"\ncontent = \"x\"\n", "/app does not exist in the image"),
        (
            "entrypoint = [\"/app\"]",
            "[[layer.symlink]]\ndest = \"/app\"\ntarget = \"/usr/bin/app\"\n",
            "/app is a dangling symlink: /app -> /usr/bin/app",
        ),
        (
            "entrypoint = [\"/run.sh\"]",
            "[[layer.file]]\ndest = \"/run.sh\"\ncontent = \"#!/bin/sh\\necho hi\\n\"\nmode = \"0755\"\n",
            "script /run.sh names the interpreter /bin/sh, which is not in the image",
        ),
        (
            "entrypoint = [\"/run.sh\"]",
            "[[layer.file]]\ndest = \"/run.sh\"\ncontent = \"echo hi\\n\"\nmode = \"0644\"\n",
            "/run.sh is not executable",
        ),
        (
            "entrypoint = [\"/bin/busybox\", \"true\"]\nuser = \"app\"",
            "[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/bin/busybox\", \"/lib/ld-musl-x86_64.so.1\", \"/etc/passwd\"]\n",
            "[config] user `app` is not in /etc/passwd",
        ),
    ];
    for (config, layer, expected) in cases {
        p.manifest("", &format!("[config]\n{config}\n[[layer]]\n{layer}"));
        let (code, err) = p.build(&["--strict"]);
        assert_eq!(code, 2, "{config}: {err}");
        assert!(
            err.contains(expected),
            "{config}: expected {expected:?} in:\n{err}"
        );
    }
    // The script passes once its interpreter is there (busybox's sh).
    p.manifest(
        "",
        "[config]\nentrypoint = [\"/run.sh\"]\n[[layer]]\n[[layer.file]]\ndest = \"/run.sh\"\ncontent = \"#!/bin/sh\\necho hi from sh\\n\"\nmode = \"0755\"\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/bin/sh\", \"/bin/busybox\", \"/lib/ld-musl-x86_64.so.1\"]\n",
    );
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 0, "{err}");
    if have_tool("podman") {
        let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let (code, said) = podman_run(&p.path("image.tar"), &[IMAGE]);
        assert_eq!((code, said.trim()), (0, "hi from sh"));
    }
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn strict_in_the_manifest_and_findings_in_the_metadata_file() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "strict = true",
        "[config]\nentrypoint = [\"/app\"]\n[[layer]]\n[[layer.file]]\ndest = \"/etc/x\"\ncontent = \"x\"\n",
    );
    let (code, err) = p.build(&[]);
    assert_eq!(code, 2, "{err}");
    p.manifest(
        "",
        "[config]\nentrypoint = [\"/app\"]\n[[layer]]\n[[layer.file]]\ndest = \"/etc/x\"\ncontent = \"x\"\n",
    );
    let meta = p.path("meta.json");
    let (code, err) = p.build(&["--metadata-file", meta.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let findings = &doc["preflight"]["linux/amd64"];
    assert_eq!(findings[0]["check"], "entrypoint", "{doc}");
    assert_eq!(findings[0]["path"], "/app");
    assert!(findings[0]["hint"].as_str().unwrap().contains("add it"));
    // A rebuild from the layer cache reports the same findings, without merging again;
    // with the remembered findings gone, it merges the tree to check it.
    let (code, err2) = p.build(&["-v"]);
    assert_eq!(code, 0);
    assert_eq!(preflight(&err), preflight(&err2));
    assert!(!err2.contains("merging the tree for preflight"), "{err2}");
    std::fs::remove_dir_all(p.path("cache/preflight")).unwrap();
    let (code, err3) = p.build(&["-v"]);
    assert_eq!(code, 0);
    assert!(err3.contains("merging the tree for preflight"), "{err3}");
    assert_eq!(preflight(&err), preflight(&err3));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn paths_by_glob_and_symlinks_kept_or_followed_shown_by_compose_tree() {
    let Some(p) = Project::new() else { return };
    let copy = |symlinks: &str| {
        format!("[config]\nentrypoint = [\"/x\"]\n[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/etc/ssl/cert.pem\", \"/etc/apk/keys/*.pub\"]\nsymlinks = \"{symlinks}\"\n")
    };
    p.manifest("", &copy("keep"));
    let tree = p.tree(&[]);
    assert!(
        tree.contains(" /etc/ssl/cert.pem -> certs/ca-certificates.crt\n"),
        "{tree}"
    );
    let keys: Vec<&str> = tree
        .lines()
        .filter(|l| l.contains("/etc/apk/keys/"))
        .collect();
    assert!(
        keys.len() >= 3 && keys.iter().all(|l| l.ends_with(".pub")),
        "{tree}"
    );
    p.manifest("", &copy("follow"));
    let tree = p.tree(&["--long"]);
    let cert = tree
        .lines()
        .find(|l| l.contains(" /etc/ssl/cert.pem"))
        .unwrap();
    assert!(
        cert.starts_with("-rw-r--r--") && cert.contains(" 221145 ") && cert.contains("sha256:"),
        "{cert}"
    );
    assert!(cert.ends_with("layer 1"), "{cert}");
    let json: serde_json::Value = serde_json::from_str(&p.tree(&["--json"])).unwrap();
    assert_eq!(json[0]["platform"], "linux/amd64");
    assert!(json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == "/etc/ssl/cert.pem" && e["type"] == "file"));
    // A pattern that matches nothing names the input and the pattern.
    p.manifest(
        "",
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/usr/share/zoneinfo/**\"]\n",
    );
    let (code, err) = p.build(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("input `alpine`: `/usr/share/zoneinfo/**` matches nothing"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, podman (cargo test -- --ignored runs it; CI does)"]
fn accounts_merge_over_alpine_and_id_resolves_them_in_a_container() {
    let Some(p) = Project::new() else { return };
    let fx = fixtures().unwrap();
    let rootfs = fx.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz");
    p.manifest(
        "",
        &format!(
            "[config]\ncmd = [\"id\"]\nuser = \"app\"\n[[layer]]\ntar = \"{}\"\n[[accounts.user]]\nname = \"app\"\nuid = 1000\ngroups = [\"wheel\"]\n[[accounts.group]]\nname = \"nobody\"\ngid = 65534\n",
            rootfs.display()
        ),
    );
    let (code, err) = p.build(&["--strict"]);
    assert_eq!(code, 0, "{err}");
    let tree = p.tree(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(&tree).unwrap();
    let home = json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/home/app")
        .cloned();
    assert_eq!(
        home.map(|h| (h["uid"].clone(), h["mode"].clone())),
        Some((1000.into(), "0755".into()))
    );
    if have_tool("podman") {
        let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let (code, said) = podman_run(&p.path("image.tar"), &[IMAGE]);
        assert_eq!(code, 0, "{said}");
        assert!(said.contains("uid=1000(app) gid=1000(app)"), "{said}");
        assert!(said.contains("10(wheel)"), "{said}");
        let (_, said) = podman_run(&p.path("image.tar"), &[IMAGE, "cat", "/etc/shadow"]);
        assert!(
            said.is_empty() || said.contains("Permission denied"),
            "shadow stays unreadable for app: {said}"
        );
    }
}

fn example_build(dir: &Path) -> PathBuf {
    let out = dir.join("distroless.tar");
    let mut c = Command::new("bash");
    c.arg(repo_root().join("examples/distroless/build.sh"));
    c.env("COMPOSE", env!("CARGO_BIN_EXE_compose"))
        .env("SCRATCH_CACHE_DIR", dir.join("cache"));
    c.args(["-q", "--strict", "--format", "docker-archive", "-o"])
        .arg(&out);
    run_ok(&mut c);
    out
}

#[test]
#[ignore = "needs ../shared fixtures, a Docker engine, podman (cargo test -- --ignored runs it; CI does)"]
fn the_distroless_example_finds_its_trust_store_in_podman_and_docker() {
    if fixtures().is_none() || !have_tool("rustc") || !have_tool("podman") {
        return;
    }
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let archive = example_build(dir.path());
    let name = "docker.io/library/scratch-distroless:latest";
    let _ = podman(&["rmi", "-f", name]);
    run_ok(Command::new("podman").args(["load", "-i", archive.to_str().unwrap()]));
    let said = run_ok(Command::new("podman").args(["run", "--rm", "--network", "none", name]));
    let _ = podman(&["rmi", "-f", name]);
    let expect = |said: &str| {
        assert!(
            said.contains("trust store: /etc/ssl/certs/ca-certificates.crt ("),
            "{said}"
        );
        assert!(said.contains("zoneinfo: UTC"), "{said}");
        assert!(said.contains("user: app (uid 1000)"), "{said}");
    };
    expect(&said);
    // Docker, when an engine runs.
    let mut docker = Command::new("docker");
    if std::env::var_os("DOCKER_HOST").is_none() {
        let sock = Path::new("/tmp/scratch-dockerd/docker.sock");
        if !sock.exists() {
            common::missing("a Docker engine ($DOCKER_HOST, or ../shared/tools/start-dockerd)");
        }
        docker.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    }
    let d = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.envs(docker.get_envs().filter_map(|(k, v)| Some((k, v?))));
        c.args(args);
        c
    };
    run_ok(&mut d(&["load", "-i", archive.to_str().unwrap()]));
    let said = run_ok(&mut d(&[
        "run",
        "--rm",
        "--network",
        "none",
        "scratch-distroless:latest",
    ]));
    let _ = run(&mut d(&["rmi", "-f", "scratch-distroless:latest"]));
    expect(&said);
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn per_platform_inputs_are_locked_built_and_verified() {
    let Some(p) = Project::new() else { return };
    let fx = fixtures().unwrap();
    let arch = |a: &str, platform: &str| {
        let path = fx.join(format!("alpine/alpine-minirootfs-3.19.4-{a}.tar.gz"));
        format!(
            "[[input.rootfs]]\nplatform = \"{platform}\"\ntar = \"{}\"\n",
            path.display()
        )
    };
    p.manifest(
        "platforms = [\"linux/amd64\", \"linux/arm64\"]",
        &format!(
            "[config]\nentrypoint = [\"/bin/busybox\", \"true\"]\n[[layer]]\n[[layer.copy]]\nfrom = \"rootfs\"\npaths = [\"/bin/busybox\", \"/lib/ld-musl-*.so.1\"]\n{}{}",
            arch("x86_64", "linux/amd64"),
            arch("aarch64", "linux/arm64")
        ),
    );
    let o = p.compose(&["lock"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lock = std::fs::read_to_string(p.path("scratch.lock")).unwrap();
    assert!(
        lock.contains("alpine-minirootfs-3.19.4-x86_64.tar.gz")
            && lock.contains("alpine-minirootfs-3.19.4-aarch64.tar.gz"),
        "{lock}"
    );
    let out = p.path("out");
    let o = p.compose(&["build", "--locked", "--strict", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(p
        .tree(&["--platform", "linux/arm64"])
        .contains(" /lib/ld-musl-aarch64.so.1\n"));
    assert!(p
        .tree(&["--platform", "linux/amd64"])
        .contains(" /lib/ld-musl-x86_64.so.1\n"));
    let o = p.compose(&["verify"]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
