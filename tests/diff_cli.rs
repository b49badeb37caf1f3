//! `compose diff` through the binary, on images `compose build` made: two builds that
//! differ in one file's mode, one file's content, one added and one whited-out file are
//! told apart by exactly those four; equal builds (in any output format) are equal; `--json`
//! parses; errors exit 2.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALPINE_AMD64: &str = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz";
const ALPINE_AMD64_SHA: &str = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211";

/// A manifest: Alpine, then a layer with `remove` (when given) and files `(src, dest, mode)`.
fn manifest(remove: Option<&str>, files: &[(&str, &str, Option<&str>)]) -> String {
    let mut m = format!(
        r#"[image]
name = "diff-test"
source_date_epoch = 1700000000

[config]
cmd = ["/bin/sh"]

[[layer]]
tar = "{ALPINE_AMD64}"
sha256 = "{ALPINE_AMD64_SHA}"

[[layer]]
"#
    );
    if let Some(r) = remove {
        m.push_str(&format!("remove = [\"{r}\"]\n"));
    }
    for (src, dest, mode) in files {
        m.push_str(&format!(
            "\n[[layer.file]]\nsrc = \"{src}\"\ndest = \"{dest}\"\n"
        ));
        if let Some(mode) = mode {
            m.push_str(&format!("mode = \"{mode}\"\n"));
        }
    }
    m
}

/// Two projects (`a`, `b`) in one temporary folder, sharing a cache.
struct Builds {
    tmp: tempfile::TempDir,
    mirrors: Vec<String>,
}

impl Builds {
    fn new() -> Option<Builds> {
        let fx = fixtures()?;
        let tmp = tempfile::tempdir().unwrap();
        for side in ["a", "b"] {
            let d = tmp.path().join(side);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("tool"), "#!/bin/sh\necho tool\n").unwrap();
        }
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        std::fs::write(a.join("app.conf"), "level = 1\n").unwrap();
        std::fs::write(b.join("app.conf"), "level = 2\n").unwrap();
        std::fs::write(b.join("new.txt"), "new\n").unwrap();
        std::fs::write(
            a.join("scratch.toml"),
            manifest(
                None,
                &[
                    ("app.conf", "/etc/app.conf", None),
                    ("tool", "/usr/bin/tool", Some("0644")),
                ],
            ),
        )
        .unwrap();
        std::fs::write(
            b.join("scratch.toml"),
            manifest(
                Some("/etc/motd"),
                &[
                    ("app.conf", "/etc/app.conf", None),
                    ("tool", "/usr/bin/tool", Some("0755")),
                    ("new.txt", "/etc/new.txt", None),
                ],
            ),
        )
        .unwrap();
        Some(Builds {
            tmp,
            mirrors: alpine_mirrors(&fx),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `compose build` of project `side` in `format` to `out`.
    fn build(&self, side: &str, format: &str, out: &str) -> PathBuf {
        let mut c = compose(&self.path("cache"));
        for m in &self.mirrors {
            c.arg("--mirror").arg(m);
        }
        let out = self.path(out);
        c.arg("-q")
            .arg("-f")
            .arg(self.path(side).join("scratch.toml"))
            .args(["build", "--format", format, "-o"])
            .arg(&out);
        run_ok(&mut c);
        out
    }

    fn diff(&self, a: &Path, b: &Path, extra: &[&str]) -> Output {
        let mut c: Command = compose(&self.path("cache"));
        c.arg("diff").args(extra).arg(a).arg(b);
        run(&mut c)
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The four differences the two projects were made to have, as (location, field).
fn the_four() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("layer 2 /etc/app.conf", "content"),
        ("layer 2 /etc/motd", "whiteout"),
        ("layer 2 /etc/new.txt", "added"),
        ("layer 2 /usr/bin/tool", "mode"),
    ]
    .iter()
    .map(|(l, f)| (l.to_string(), f.to_string()))
    .collect();
    v.sort();
    v
}

/// `(location, field)` of every difference of a `--json` report, sorted, and `equal`.
fn parse_json(o: &Output) -> (Vec<(String, String)>, bool, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{}", show(o)));
    let mut found: Vec<(String, String)> = v["differences"]
        .as_array()
        .expect("a differences list")
        .iter()
        .map(|d| {
            (
                d["location"].as_str().unwrap().to_string(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let equal = v["equal"].as_bool().expect("an equal flag");
    (found, equal, v)
}

#[test]
fn two_builds_differ_in_exactly_mode_content_added_and_whiteout() {
    let Some(w) = Builds::new() else {
        return;
    };
    let a = w.build("a", "oci", "a.oci");
    let b = w.build("b", "oci", "b.oci");

    // Strict: the four entries, plus the history line compose writes for the layer (it
    // lists the layer's operations, which differ); nothing else.
    let o = w.diff(&a, &b, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (found, equal, _) = parse_json(&o);
    assert!(!equal);
    let (layers, others): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|(l, _)| l.starts_with("layer "));
    assert_eq!(layers, the_four(), "{}", show(&o));
    assert!(
        others.iter().all(|(_, f)| f == "history"),
        "only history may differ besides the four: {others:?}"
    );

    // Without history: exactly the four, in text and in JSON.
    let o = w.diff(&a, &b, &["--ignore-history", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (found, equal, v) = parse_json(&o);
    assert_eq!(found, the_four(), "{}", show(&o));
    assert!(!equal);
    let d = v["differences"].as_array().unwrap();
    let mode = d
        .iter()
        .find(|d| d["field"] == "mode")
        .expect("a mode difference");
    assert_eq!(
        (mode["left"].as_str(), mode["right"].as_str()),
        (Some("0644"), Some("0755"))
    );

    let o = w.diff(&a, &b, &["--ignore-history"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "four differences and a count: {}", show(&o));
    for (location, field) in the_four() {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{location}: {field}")))
                .count(),
            1,
            "{location}: {field} once in:\n{text}"
        );
    }
}

#[test]
fn equal_builds_in_every_format_are_equal() {
    let Some(w) = Builds::new() else {
        return;
    };
    let oci = w.build("a", "oci", "a.oci");
    let again = w.build("a", "oci", "a2.oci");
    let archive = w.build("a", "oci-archive", "a.tar");
    let docker = w.build("a", "docker-archive", "a.docker.tar");
    for (x, y) in [(&oci, &again), (&oci, &archive), (&archive, &docker)] {
        let o = w.diff(x, y, &[]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{} vs {}: {}",
            x.display(),
            y.display(),
            show(&o)
        );
        let o = w.diff(x, y, &["--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let (found, equal, _) = parse_json(&o);
        assert!(equal && found.is_empty(), "{}", show(&o));
    }
    // The archives' layers are members of the outer tar: they are read there too.
    let b = w.build("b", "docker-archive", "b.docker.tar");
    let o = w.diff(&docker, &b, &["--ignore-history", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(parse_json(&o).0, the_four());
}

#[test]
fn a_rootfs_build_equals_its_image_and_errors_exit_2() {
    let Some(w) = Builds::new() else {
        return;
    };
    let oci = w.build("a", "oci", "a.oci");
    let rootfs = w.build("a", "rootfs", "a.rootfs.tar");
    let o = w.diff(&oci, &rootfs, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let missing = w.path("nothing-here");
    let o = w.diff(&oci, &missing, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(o.stdout.is_empty(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing-here"),
        "{}",
        show(&o)
    );
    let junk = w.path("junk.tar");
    std::fs::write(&junk, vec![0x42u8; 2048]).unwrap();
    let o = w.diff(&oci, &junk, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hint:"),
        "{}",
        show(&o)
    );
}
