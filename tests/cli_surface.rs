//! The command line as users meet it: each command's help lists exactly the options it
//! uses, options work before or after the command, shell completions and man pages come
//! from the same definition, and `build -t` names the outputs.

mod common;
use common::cli::*;
use std::collections::BTreeSet;
use std::path::Path;

const SESSION: &[&str] = &[
    "file",
    "lockfile",
    "cache-dir",
    "mirror",
    "offline",
    "jobs",
    "quiet",
    "verbose",
    "confine-sources",
];

/// The long options a `--help` text lists (the lines that start an option).
fn listed(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|l| {
            let indent = l.len() - l.trim_start().len();
            let t = l.trim_start();
            let t = match t.strip_prefix('-') {
                Some(r) if r.len() > 3 && r.as_bytes()[1] == b',' => r[2..].trim_start(),
                _ => t,
            };
            let name = t.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
                .unwrap_or(name.len());
            (indent <= 6 && end > 0).then(|| name[..end].to_string())
        })
        .collect()
}

fn help_of(args: &[&str]) -> String {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    c.args(args).arg("--help");
    run_ok(&mut c)
}

#[test]
fn each_command_help_lists_only_the_options_it_uses() {
    let with_session = |own: &[&str]| -> Vec<String> {
        own.iter().chain(SESSION).map(|s| s.to_string()).collect()
    };
    let own = |own: &[&str]| -> Vec<String> { own.iter().map(|s| s.to_string()).collect() };
    let table: Vec<(Vec<&str>, Vec<String>)> = vec![
        (vec![], with_session(&["version"])),
        (vec!["lock"], with_session(&["check", "update", "refresh"])),
        (
            vec!["build"],
            with_session(&[
                "format",
                "output",
                "platform",
                "locked",
                "compression",
                "tag",
                "load",
                "metadata-file",
                "sbom",
                "sign-key",
                "strict",
                "cache-from",
                "cache-to",
                "insecure-registry",
            ]),
        ),
        (
            vec!["push"],
            with_session(&[
                "from",
                "platform",
                "locked",
                "compression",
                "sbom",
                "sign-key",
                "metadata-file",
                "cache-from",
                "cache-to",
                "insecure-registry",
            ]),
        ),
        (vec!["verify"], with_session(&["key", "attestation"])),
        (
            vec!["diff"],
            own(&[
                "platform",
                "ignore-mtime",
                "ignore-history",
                "ignore-label",
                "ignore-annotation",
                "ignore-owner",
                "json",
            ]),
        ),
        (vec!["tree"], with_session(&["long", "json", "platform"])),
        (vec!["cache"], own(&[])),
        (
            vec!["cache", "prune"],
            own(&["blobs", "all", "file", "lockfile", "cache-dir"]),
        ),
        (vec!["completions"], own(&[])),
        (vec!["man"], own(&[])),
    ];
    let mut wrong = Vec::new();
    for (cmd, want) in &table {
        let mut want: BTreeSet<String> = want.iter().cloned().collect();
        want.insert("help".into());
        let got = listed(&help_of(cmd));
        if got != want {
            wrong.push(format!(
                "compose {} --help: extra {:?}, missing {:?}",
                cmd.join(" "),
                got.difference(&want).collect::<Vec<_>>(),
                want.difference(&got).collect::<Vec<_>>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every command is in the table.
    let top = scratch_compose::cli::command();
    let names: BTreeSet<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
    let tabled: BTreeSet<&str> = table
        .iter()
        .filter_map(|(c, _)| c.first().copied())
        .collect();
    assert_eq!(names, tabled);
}

/// A project whose only layer is inline: builds with no fixture and no network.
fn project(dir: &Path) -> std::path::PathBuf {
    let m = dir.join("scratch.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"cli-test\"\ntag = \"7\"\nannotations = { \"org.example.k\" = \"v\" }\n\
         [config]\ncmd = [\"/bin/true\"]\n\
         [[layer]]\n[[layer.file]]\ndest = \"/etc/hello\"\ncontent = \"hi\\n\"\n\
         [[layer.dir]]\ndest = \"/tmp\"\nmode = \"1777\"\n\
         [[layer.symlink]]\ndest = \"/etc/link\"\ntarget = \"hello\"\n",
    )
    .unwrap();
    m
}

fn build(cache: &Path, args: &[&str]) -> String {
    let mut c = compose(cache);
    c.arg("-q").arg("build").args(args);
    run_ok(&mut c).trim().to_string()
}

#[test]
fn options_work_before_and_after_the_command() {
    let t = tempfile::tempdir().unwrap();
    let m = project(t.path());
    let cache = t.path().join("cache");
    let out1 = t.path().join("a.tar");
    let out2 = t.path().join("b.tar");
    let mut before = compose(&cache);
    before
        .arg("-f")
        .arg(&m)
        .args(["-q", "build", "--format", "oci-archive", "-o"]);
    let a = run_ok(before.arg(&out1));
    let mut after = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    after
        .args(["build", "-q", "--format", "oci-archive", "--cache-dir"])
        .arg(&cache)
        .arg("-f")
        .arg(&m)
        .arg("-o")
        .arg(&out2);
    let b = run_ok(&mut after);
    assert_eq!(a, b);
    assert_eq!(sha256_file(&out1), sha256_file(&out2));
    // diff takes none of them after the command.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    c.args(["diff", "-f"]).arg(&m).arg(&out1).arg(&out2);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("unexpected argument '-f'"));
}

#[test]
fn completions_cover_every_command_in_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
        let script = run_ok(c.args(["completions", shell]));
        assert!(script.len() > 1000, "{shell}: {script}");
        for word in [
            "lock",
            "build",
            "push",
            "verify",
            "diff",
            "tree",
            "prune",
            "--ignore-annotation",
            "docker-archive",
        ] {
            let w = word.trim_start_matches('-');
            assert!(script.contains(w), "{shell} completion lacks {word}");
        }
    }
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    let o = run(c.args(["completions", "tcsh"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bash_completion_completes_subcommands() {
    let t = tempfile::tempdir().unwrap();
    let script = t.path().join("compose.bash");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    std::fs::write(&script, run_ok(c.args(["completions", "bash"]))).unwrap();
    let mut b = std::process::Command::new("bash");
    b.arg("-c").arg(format!(
        "source {}; COMP_WORDS=(compose bu); COMP_CWORD=1; COMP_LINE='compose bu'; COMP_POINT=10; _compose compose bu compose; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    ));
    let got = run_ok(&mut b);
    assert_eq!(got.trim(), "build", "{got}");
}

#[test]
fn man_pages_are_written_for_every_command() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("man/man1");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    let printed = run_ok(c.arg("man").arg(&dir));
    let mut got: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    let want = [
        "compose-build.1",
        "compose-cache-prune.1",
        "compose-cache.1",
        "compose-completions.1",
        "compose-diff.1",
        "compose-lock.1",
        "compose-man.1",
        "compose-push.1",
        "compose-tree.1",
        "compose-verify.1",
        "compose.1",
    ];
    assert_eq!(got, want);
    assert_eq!(printed.lines().count(), want.len());
    let build = std::fs::read_to_string(dir.join("compose-build.1")).unwrap();
    assert!(build.starts_with(".ie"), "{build}");
    assert!(build.contains(".TH compose-build 1"), "{build}");
    assert!(build.contains("\\-\\-load"), "{build}");
    assert!(build.contains("\\-\\-locked"), "{build}");
    let diff = std::fs::read_to_string(dir.join("compose-diff.1")).unwrap();
    assert!(diff.contains("\\-\\-ignore\\-annotation"), "{diff}");
    assert!(
        !diff.contains("\\-\\-offline"),
        "diff uses no network: {diff}"
    );
    // The same bytes every time (no date in the pages).
    let again = t.path().join("again");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    run_ok(c.arg("man").arg(&again));
    assert_eq!(tree_digests(&dir), tree_digests(&again));
}

#[test]
fn tags_name_every_output_and_change_no_digest() {
    let t = tempfile::tempdir().unwrap();
    let m = project(t.path());
    let cache = t.path().join("cache");
    let m = m.to_str().unwrap();
    let plain = build(
        &cache,
        &["-f", m, "-o", t.path().join("plain").to_str().unwrap()],
    );
    // The OCI layout keeps one descriptor, named by the first -t; the digest unchanged.
    let layout = t.path().join("layout");
    let tagged = build(
        &cache,
        &[
            "-f",
            m,
            "-t",
            "registry.example.com:5000/team/app",
            "-t",
            "app:1.0",
            "-o",
            layout.to_str().unwrap(),
        ],
    );
    assert_eq!(plain, tagged);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(manifests[0]["digest"].as_str().unwrap(), plain);
    assert_eq!(
        manifests[0]["annotations"],
        serde_json::json!({
            "io.containerd.image.name": "registry.example.com:5000/team/app:7",
            "org.opencontainers.image.ref.name": "7",
        })
    );
    // docker-archive: every name in RepoTags and repositories.
    let archive = t.path().join("d.tar");
    let meta = t.path().join("meta.json");
    build(
        &cache,
        &[
            "-f",
            m,
            "-t",
            "app:1.0",
            "-t",
            "app:2.0",
            "-t",
            "app:1.0",
            "--format",
            "docker-archive",
            "-o",
            archive.to_str().unwrap(),
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
    );
    let member = |name: &str| -> serde_json::Value {
        let mut c = std::process::Command::new("tar");
        c.arg("-xOf").arg(&archive).arg(name);
        serde_json::from_str(&run_ok(&mut c)).unwrap()
    };
    assert_eq!(
        member("manifest.json")[0]["RepoTags"],
        serde_json::json!(["app:1.0", "app:2.0"])
    );
    let repos = member("repositories");
    assert_eq!(repos["app"].as_object().unwrap().len(), 2, "{repos}");
    // The metadata names them and gives the ID Docker and podman use: the config digest.
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["names"], serde_json::json!(["app:1.0", "app:2.0"]));
    let config = meta["platforms"]["linux/amd64"]["config"].as_str().unwrap();
    assert_eq!(meta["image_id"].as_str().unwrap(), config);
    assert_eq!(
        member("manifest.json")[0]["Config"].as_str().unwrap(),
        format!("blobs/sha256/{}", &config[7..])
    );
    assert_ne!(meta["image_id"], meta["digest"]);
}

#[test]
fn tags_that_cannot_be_used_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let m = project(t.path());
    let cache = t.path().join("cache");
    for (args, says) in [
        (
            vec!["-t", "App:1"],
            "-t/--tag App:1: image name `App` is invalid",
        ),
        (vec!["-t", "app:"], "-t/--tag app:: image tag"),
        (
            vec!["-t", "app", "--format", "rootfs"],
            "--format rootfs writes only the merged tree",
        ),
        (
            vec!["--load", "--format", "rootfs"],
            "--load needs an image",
        ),
        (
            vec!["--load", "--compression", "zstd"],
            "cannot hold zstd layers",
        ),
    ] {
        let mut c = compose(&cache);
        c.arg("-f")
            .arg(&m)
            .arg("build")
            .args(&args)
            .arg("-o")
            .arg(t.path().join("x"));
        let o = run(&mut c);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("hint:"), "{args:?}: {err}");
    }
}

#[test]
fn load_with_a_space_before_the_engine_says_to_write_it_with_equals() {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
    let o = run(c.args(["build", "--load", "podman"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--load=docker or --load=podman"), "{err}");
}
