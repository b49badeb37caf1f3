//! The lock is law: every key of the manifest, edited in turn after `compose lock`, makes
//! `compose lock --check` exit 1 and `compose build --locked` exit 2 (naming what differs
//! and saying to run `compose lock`), and a plain `compose build` warn with the same text.
//! One function decides staleness for all of them, so they never disagree.

mod common;

use common::cli::*;
use std::path::Path;
use std::process::Output;

const BASE: &str = r#"[image]
name = "stale-test"
tag = "v1"
source_date_epoch = 1
platforms = ["linux/amd64", "linux/arm64"]
compression = "gzip"
annotations = { "org.example.note" = "note-a" }

[config]
entrypoint = ["/bin/app"]
cmd = ["--serve"]
env = ["MODE=prod"]
workdir = "/srv"
user = "1000:1000"
labels = { "org.example.label" = "label-a" }
exposed_ports = ["80/tcp"]
volumes = ["/data"]
stop_signal = "SIGTERM"

[[layer]]
comment = "the base"
tar = "base.tar"

[[layer]]
platform = "linux/amd64"
[[layer.file]]
content = "amd64\n"
dest = "/etc/arch"

[[layer]]
remove = ["/etc/gone"]

[[layer.file]]
src = "app"
dest = "/bin/app"
mode = "0755"
uid = 1
gid = 2

[[layer.dir]]
dest = "/srv"
src = "site"
mode = "0750"
uid = 1000
gid = 1001

[[layer.symlink]]
dest = "/bin/run"
target = "app"
uid = 3
gid = 4
"#;

/// One edit of the manifest: what it changes, the text replaced (found exactly once) and
/// its replacement, and a word `build --locked` must name.
struct Edit {
    key: &'static str,
    from: &'static str,
    to: &'static str,
    names: &'static str,
}

const EDITS: &[Edit] = &[
    Edit {
        key: "image.name",
        from: "name = \"stale-test\"",
        to: "name = \"stale-test-2\"",
        names: "",
    },
    Edit {
        key: "image.tag",
        from: "tag = \"v1\"",
        to: "tag = \"v2\"",
        names: "",
    },
    Edit {
        key: "image.source_date_epoch",
        from: "source_date_epoch = 1\n",
        to: "source_date_epoch = 2\n",
        names: "source_date_epoch",
    },
    Edit {
        key: "image.platforms",
        from: "platforms = [\"linux/amd64\", \"linux/arm64\"]",
        to: "platforms = [\"linux/amd64\"]",
        names: "linux/arm64",
    },
    Edit {
        key: "image.squash",
        from: "tag = \"v1\"\n",
        to: "tag = \"v1\"\nsquash = true\n",
        names: "layer",
    },
    Edit {
        key: "image.compression",
        from: "compression = \"gzip\"",
        to: "compression = \"zstd\"",
        names: "compression",
    },
    Edit {
        key: "image.annotations",
        from: "\"note-a\"",
        to: "\"note-b\"",
        names: "org.example.note",
    },
    Edit {
        key: "config.entrypoint",
        from: "entrypoint = [\"/bin/app\"]",
        to: "entrypoint = [\"/bin/app\", \"-v\"]",
        names: "Entrypoint",
    },
    Edit {
        key: "config.cmd",
        from: "cmd = [\"--serve\"]",
        to: "cmd = [\"--serve\", \"--fast\"]",
        names: "Cmd",
    },
    Edit {
        key: "config.env",
        from: "MODE=prod",
        to: "MODE=dev",
        names: "Env",
    },
    Edit {
        key: "config.workdir",
        from: "workdir = \"/srv\"",
        to: "workdir = \"/data\"",
        names: "WorkingDir",
    },
    Edit {
        key: "config.user",
        from: "user = \"1000:1000\"",
        to: "user = \"0:0\"",
        names: "User",
    },
    Edit {
        key: "config.labels",
        from: "\"label-a\"",
        to: "\"label-b\"",
        names: "org.example.label",
    },
    Edit {
        key: "config.exposed_ports",
        from: "exposed_ports = [\"80/tcp\"]",
        to: "exposed_ports = [\"8080/tcp\"]",
        names: "ExposedPorts",
    },
    Edit {
        key: "config.volumes",
        from: "volumes = [\"/data\"]",
        to: "volumes = [\"/cache\"]",
        names: "Volumes",
    },
    Edit {
        key: "config.stop_signal",
        from: "stop_signal = \"SIGTERM\"",
        to: "stop_signal = \"SIGINT\"",
        names: "StopSignal",
    },
    Edit {
        key: "layer.comment",
        from: "comment = \"the base\"",
        to: "comment = \"the base image\"",
        names: "history",
    },
    Edit {
        key: "layer.tar",
        from: "tar = \"base.tar\"",
        to: "tar = \"base2.tar\"",
        names: "base2.tar",
    },
    Edit {
        key: "layer.platform",
        from: "platform = \"linux/amd64\"",
        to: "platform = \"linux/arm64\"",
        names: "layer 2",
    },
    Edit {
        key: "layer.platforms",
        from: "platform = \"linux/amd64\"",
        to: "platforms = [\"linux/amd64\", \"linux/arm64\"]",
        names: "layer 2",
    },
    Edit {
        key: "layer.remove",
        from: "remove = [\"/etc/gone\"]",
        to: "remove = [\"/etc/hostname\"]",
        names: "layer 3",
    },
    Edit {
        key: "layer.file.content",
        from: "content = \"amd64\\n\"",
        to: "content = \"x86-64\\n\"",
        names: "layer 2",
    },
    Edit {
        key: "layer.file.src",
        from: "src = \"app\"",
        to: "src = \"app2\"",
        names: "app2",
    },
    Edit {
        key: "layer.file.dest",
        from: "dest = \"/bin/app\"",
        to: "dest = \"/bin/app-2\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.file.mode",
        from: "mode = \"0755\"",
        to: "mode = \"0700\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.file.uid",
        from: "uid = 1\n",
        to: "uid = 10\n",
        names: "layer 3",
    },
    Edit {
        key: "layer.file.gid",
        from: "gid = 2\n",
        to: "gid = 20\n",
        names: "layer 3",
    },
    Edit {
        key: "layer.dir.dest",
        from: "dest = \"/srv\"",
        to: "dest = \"/www\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.dir.src",
        from: "src = \"site\"",
        to: "src = \"site2\"",
        names: "site2",
    },
    Edit {
        key: "layer.dir.mode",
        from: "mode = \"0750\"",
        to: "mode = \"0755\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.dir.uid",
        from: "uid = 1000\n",
        to: "uid = 2000\n",
        names: "layer 3",
    },
    Edit {
        key: "layer.dir.gid",
        from: "gid = 1001\n",
        to: "gid = 2001\n",
        names: "layer 3",
    },
    Edit {
        key: "layer.symlink.dest",
        from: "dest = \"/bin/run\"",
        to: "dest = \"/bin/start\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.symlink.target",
        from: "target = \"app\"",
        to: "target = \"/bin/app\"",
        names: "layer 3",
    },
    Edit {
        key: "layer.symlink.uid",
        from: "uid = 3\n",
        to: "uid = 30\n",
        names: "layer 3",
    },
    Edit {
        key: "layer.symlink.gid",
        from: "gid = 4\n",
        to: "gid = 40\n",
        names: "layer 3",
    },
];

/// A tar with `/etc/gone`, `/etc/hostname` and `marker` holding `marker`.
fn tar_with(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add("etc/", b"", true);
    add("etc/gone", b"soon gone\n", false);
    add("etc/hostname", b"stale\n", false);
    add("etc/marker", marker.as_bytes(), false);
    b.into_inner().unwrap()
}

fn project(dir: &Path) {
    std::fs::write(dir.join("base.tar"), tar_with("one\n")).unwrap();
    std::fs::write(dir.join("base2.tar"), tar_with("two\n")).unwrap();
    std::fs::write(dir.join("app"), "#!/bin/sh\necho app\n").unwrap();
    std::fs::write(dir.join("app2"), "#!/bin/sh\necho app 2\n").unwrap();
    for (d, text) in [("site", "hello\n"), ("site2", "hello 2\n")] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
        std::fs::write(dir.join(d).join("index.html"), text).unwrap();
    }
    std::fs::write(dir.join("scratch.toml"), BASE).unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `lock --check`, `build --locked` and `build` on the project as it is now.
struct Verdicts {
    check: Output,
    locked: Output,
    plain: Output,
}

fn verdicts(dir: &Path, cache: &Path, format: &str, platform: Option<&str>) -> Verdicts {
    let m = dir.join("scratch.toml");
    let check = compose(cache)
        .arg("-f")
        .arg(&m)
        .args(["lock", "--check"])
        .output()
        .unwrap();
    let build = |locked: bool| {
        let mut c = compose(cache);
        c.arg("-f")
            .arg(&m)
            .args(["build", "--format", format, "-o"]);
        c.arg(dir.join(if format == "oci" { "out" } else { "out.tar" }));
        if let Some(p) = platform {
            c.args(["--platform", p]);
        }
        if locked {
            c.arg("--locked");
        }
        c.output().unwrap()
    };
    Verdicts {
        check,
        locked: build(true),
        plain: build(false),
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn every_manifest_key_edited_after_lock_makes_check_and_locked_build_agree() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let cache = work.path().join("cache");
    project(&dir);
    run_ok(
        compose(&cache)
            .arg("-q")
            .arg("-f")
            .arg(dir.join("scratch.toml"))
            .arg("lock"),
    );
    let fresh = verdicts(&dir, &cache, "oci", None);
    assert_eq!(code(&fresh.check), 0, "{}", stderr(&fresh.check));
    assert_eq!(code(&fresh.locked), 0, "{}", stderr(&fresh.locked));
    assert!(
        !stderr(&fresh.plain).contains("stale"),
        "{}",
        stderr(&fresh.plain)
    );

    let mut failures = Vec::new();
    for e in EDITS {
        assert_eq!(BASE.matches(e.from).count(), 1, "{}: `{}`", e.key, e.from);
        std::fs::write(dir.join("scratch.toml"), BASE.replacen(e.from, e.to, 1)).unwrap();
        let v = verdicts(&dir, &cache, "oci", None);
        let (check, locked, plain) = (code(&v.check), code(&v.locked), code(&v.plain));
        let said = stderr(&v.locked);
        // A key the lock does not record (the name and tag are not in any recorded
        // digest) must leave both fresh; every other key must make both stale.
        let expect_stale = !e.names.is_empty();
        let ok = if expect_stale {
            check == 1
                && locked == 2
                && said.contains("compose lock")
                && said.contains(e.names)
                && plain == 0
                && stderr(&v.plain).contains("stale lock")
        } else {
            check == 0 && locked == 0 && plain == 0
        };
        if !ok {
            failures.push(format!(
                "{}: lock --check exit {check}, build --locked exit {locked}, build exit {plain}\n--- build --locked said:\n{said}--- lock --check said:\n{}",
                e.key,
                stderr(&v.check)
            ));
        }
    }
    std::fs::write(dir.join("scratch.toml"), BASE).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_rootfs_build_with_locked_refuses_a_config_the_lock_does_not_record() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let cache = work.path().join("cache");
    project(&dir);
    run_ok(
        compose(&cache)
            .arg("-q")
            .arg("-f")
            .arg(dir.join("scratch.toml"))
            .arg("lock"),
    );
    let fresh = verdicts(&dir, &cache, "rootfs", Some("linux/amd64"));
    assert_eq!(code(&fresh.locked), 0, "{}", stderr(&fresh.locked));
    std::fs::write(
        dir.join("scratch.toml"),
        BASE.replacen("user = \"1000:1000\"", "user = \"0:0\"", 1),
    )
    .unwrap();
    let v = verdicts(&dir, &cache, "rootfs", Some("linux/amd64"));
    assert_eq!(code(&v.check), 1, "{}", stderr(&v.check));
    assert_eq!(code(&v.locked), 2, "{}", stderr(&v.locked));
    assert!(stderr(&v.locked).contains("User"), "{}", stderr(&v.locked));
    assert!(
        stderr(&v.plain).contains("stale lock"),
        "{}",
        stderr(&v.plain)
    );
}

#[test]
fn verify_names_the_same_staleness_as_lock_check() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let cache = work.path().join("cache");
    project(&dir);
    let m = dir.join("scratch.toml");
    run_ok(compose(&cache).arg("-q").arg("-f").arg(&m).arg("lock"));
    std::fs::write(
        &m,
        BASE.replacen(
            "entrypoint = [\"/bin/app\"]",
            "entrypoint = [\"/bin/sh\"]",
            1,
        ),
    )
    .unwrap();
    let o = compose(&cache)
        .arg("-f")
        .arg(&m)
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("not reproduced"), "{text}");
    assert!(text.contains("Entrypoint"), "{text}");
}

#[test]
fn an_input_used_on_several_platforms_is_locked_for_all_of_them() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let cache = dir.join("cache");
    std::fs::write(dir.join("tool"), "tool\n").unwrap();
    let m = dir.join("scratch.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"t\"\nsource_date_epoch = 1\nplatforms = [\"linux/amd64\", \"linux/arm64\", \"linux/riscv64\"]\n\n\
         [[layer]]\nplatform = \"linux/amd64\"\n[[layer.file]]\nsrc = \"tool\"\ndest = \"/tool\"\n\n\
         [[layer]]\nplatform = \"linux/arm64\"\n[[layer.file]]\nsrc = \"tool\"\ndest = \"/tool\"\n\n\
         [[layer]]\n[[layer.file]]\ncontent = \"x\"\ndest = \"/x\"\n",
    )
    .unwrap();
    run_ok(compose(&cache).arg("-q").arg("-f").arg(&m).arg("lock"));
    let lock = std::fs::read_to_string(dir.join("scratch.lock")).unwrap();
    assert!(
        lock.contains("platforms = [\"linux/amd64\", \"linux/arm64/v8\"]"),
        "{lock}"
    );
    let check = compose(&cache)
        .arg("-f")
        .arg(&m)
        .args(["lock", "--check"])
        .output()
        .unwrap();
    assert_eq!(code(&check), 0, "{}", stderr(&check));
    let locked = compose(&cache)
        .arg("-f")
        .arg(&m)
        .args(["build", "--locked", "-o"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(code(&locked), 0, "{}", stderr(&locked));
}
