//! `compose verify` and `compose lock` through the binary (issue 5): verify passes on a fresh
//! lock and fails, naming the cause, when the lock's recorded digests are altered, when an
//! input's bytes change, and when a setting that shapes the output changes; errors exit 2.
//! Each test builds a small project in a temporary folder: the Alpine minirootfs (served
//! from the fixtures through a `file://` mirror rule) under a layer of local files.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALPINE_AMD64: &str = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz";
const ALPINE_AMD64_SHA: &str = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211";
const ALPINE_ARM64: &str = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/aarch64/alpine-minirootfs-3.19.4-aarch64.tar.gz";
const ALPINE_ARM64_SHA: &str = "8616879c6e0f3c1b02ab12e1d1fcd8c4189d2f46f61067f2a9428a4d1b440586";

/// A project folder with `scratch.toml`, its local inputs and a private cache.
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cache: PathBuf,
    mirrors: Vec<String>,
}

/// The usual manifest: Alpine, then a layer with a local file and a local folder.
fn one_platform(epoch: Option<i64>, compression: Option<&str>) -> String {
    let mut m = String::from("[image]\nname = \"verify-test\"\n");
    if let Some(e) = epoch {
        m.push_str(&format!("source_date_epoch = {e}\n"));
    }
    if let Some(c) = compression {
        m.push_str(&format!("compression = \"{c}\"\n"));
    }
    m.push_str(&format!(
        r#"
[config]
cmd = ["/bin/sh"]

[[layer]]
tar = "{ALPINE_AMD64}"
sha256 = "{ALPINE_AMD64_SHA}"

[[layer]]
[[layer.file]]
src = "hello.txt"
dest = "/etc/hello.txt"

[[layer.dir]]
src = "site"
dest = "/srv/site"
"#
    ));
    m
}

impl Project {
    /// A project with `manifest`, or `None` (skip) without the fixtures.
    fn new(manifest: &str) -> Option<Project> {
        let fx = fixtures()?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        std::fs::create_dir_all(dir.join("site/css")).unwrap();
        std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
        std::fs::write(dir.join("site/index.html"), "<p>hi</p>\n").unwrap();
        std::fs::write(dir.join("site/css/a.css"), "p{}\n").unwrap();
        std::fs::write(dir.join("scratch.toml"), manifest).unwrap();
        Some(Project {
            cache: tmp.path().join("cache"),
            _tmp: tmp,
            dir,
            mirrors: alpine_mirrors(&fx),
        })
    }

    /// `compose --cache-dir … --mirror … -f scratch.toml ARGS`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.cmd_without_mirrors(args);
        for m in &self.mirrors {
            c.arg("--mirror").arg(m);
        }
        c
    }

    /// The same without the mirror rules: any download would fail (there is no network).
    fn cmd_without_mirrors(&self, args: &[&str]) -> Command {
        let mut c = compose(&self.cache);
        c.arg("-f").arg(self.dir.join("scratch.toml")).args(args);
        c
    }

    fn lock(&self) {
        run_ok(&mut self.cmd(&["lock"]));
    }

    fn verify(&self) -> Output {
        run(&mut self.cmd(&["verify"]))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("scratch.lock")
    }

    fn lock_text(&self) -> String {
        std::fs::read_to_string(self.lock_path()).unwrap()
    }

    fn lock_table(&self) -> toml::Table {
        self.lock_text().parse().unwrap()
    }

    /// Replace the one occurrence of `old` in scratch.lock with `new`.
    fn edit_lock(&self, old: &str, new: &str) {
        let text = self.lock_text();
        assert_eq!(text.matches(old).count(), 1, "{old} in:\n{text}");
        std::fs::write(self.lock_path(), text.replace(old, new)).unwrap();
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    /// Every file below the project folder with its bytes, to see that nothing was written.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        snapshot_into(&self.dir, &self.dir, &mut out);
        out.sort();
        out
    }
}

fn snapshot_into(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        let name = p.strip_prefix(root).unwrap().display().to_string();
        if p.is_dir() {
            out.push((name, Vec::new()));
            snapshot_into(root, &p, out);
        } else {
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
}

/// A recorded output value of scratch.lock: `output.<platform>.<key>`, or with a layer
/// index `output.<platform>.layer[i].<key>`.
fn recorded(lock: &toml::Table, platform: &str, layer: Option<usize>, key: &str) -> String {
    let out = &lock["output"][platform];
    let v = match layer {
        Some(i) => &out["layer"][i][key],
        None => &out[key],
    };
    v.as_str().unwrap().to_string()
}

/// The digest with its last hex digit changed.
fn altered(digest: &str) -> String {
    let (head, last) = digest.split_at(digest.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Exit 1 with a report on stdout that contains every one of `needles`.
fn assert_not_reproduced(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", show(o));
    let text = stdout(o);
    assert!(text.contains("not reproduced"), "{}", show(o));
    for n in needles {
        assert!(text.contains(n), "missing {n:?}: {}", show(o));
    }
}

/// Exit 2, nothing on stdout, and stderr naming every one of `needles`.
fn assert_error(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", show(o));
    assert!(
        o.stdout.is_empty(),
        "stdout must carry results only: {}",
        show(o)
    );
    for n in needles {
        assert!(stderr(o).contains(n), "missing {n:?}: {}", show(o));
    }
}

#[test]
fn verify_passes_on_a_fresh_lock_with_a_one_line_summary_and_writes_nothing() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let lock = p.lock_table();
    let before = p.snapshot();
    let o = p.verify();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one line: {}", show(&o));
    assert!(out.ends_with('\n'));
    let manifest = recorded(&lock, "linux/amd64", None, "manifest");
    assert!(
        out.contains(&manifest) && out.contains("linux/amd64"),
        "the summary names the platform and its manifest digest: {}",
        show(&o)
    );
    assert_eq!(p.snapshot(), before, "verify wrote into the project folder");
}

#[test]
fn verify_uses_the_cache_without_fetching_again() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    // Without the mirror rule the URL would have to be downloaded, and there is no network.
    let o = run(&mut p.cmd_without_mirrors(&["verify"]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn verify_fails_naming_the_manifest_when_its_recorded_digest_is_altered() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let real = recorded(&p.lock_table(), "linux/amd64", None, "manifest");
    let fake = altered(&real);
    p.edit_lock(&real, &fake);
    assert_not_reproduced(&p.verify(), &["linux/amd64", "manifest", &fake, &real]);
}

#[test]
fn verify_fails_naming_the_config_when_its_recorded_digest_is_altered() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let real = recorded(&p.lock_table(), "linux/amd64", None, "config");
    let fake = altered(&real);
    p.edit_lock(&real, &fake);
    assert_not_reproduced(&p.verify(), &["linux/amd64", "config", &fake, &real]);
}

#[test]
fn verify_fails_naming_the_layer_when_a_recorded_layer_digest_is_altered() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let lock = p.lock_table();
    // The blob digest of the second layer (the local files).
    let real = recorded(&lock, "linux/amd64", Some(1), "digest");
    let fake = altered(&real);
    p.edit_lock(&real, &fake);
    let o = p.verify();
    assert_not_reproduced(&o, &["linux/amd64", "layer 2", &fake]);
    assert!(!stdout(&o).contains("layer 1"), "{}", show(&o));
}

#[test]
fn verify_fails_naming_the_layer_when_a_recorded_diff_id_is_altered() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let real = recorded(&p.lock_table(), "linux/amd64", Some(0), "diff_id");
    let fake = altered(&real);
    p.edit_lock(&real, &fake);
    let o = p.verify();
    assert_not_reproduced(&o, &["linux/amd64", "layer 1", &fake]);
    assert!(!stdout(&o).contains("layer 2"), "{}", show(&o));
}

#[test]
fn verify_fails_naming_the_file_when_a_local_input_is_edited_after_lock() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    p.write("hello.txt", "hello, changed\n");
    let o = p.verify();
    assert_not_reproduced(&o, &["hello.txt", "layer 2"]);
    assert!(!stdout(&o).contains("layer 1"), "{}", show(&o));
    // Putting the bytes back reproduces again.
    p.write("hello.txt", "hello\n");
    assert_eq!(p.verify().status.code(), Some(0));
}

#[test]
fn verify_fails_naming_the_folder_when_a_file_in_a_local_folder_is_edited() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    p.write("site/css/a.css", "p{color:red}\n");
    assert_not_reproduced(&p.verify(), &["site", "layer 2"]);
}

#[test]
fn verify_fails_naming_the_epoch_when_source_date_epoch_changes() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    p.write("scratch.toml", &one_platform(Some(1_700_000_001), None));
    assert_not_reproduced(
        &p.verify(),
        &["source_date_epoch", "1700000000", "1700000001"],
    );
}

#[test]
fn verify_fails_when_the_environment_epoch_changes() {
    let Some(p) = Project::new(&one_platform(None, None)) else {
        return;
    };
    run_ok(p.cmd(&["lock"]).env("SOURCE_DATE_EPOCH", "1700000000"));
    let same = run(p.cmd(&["verify"]).env("SOURCE_DATE_EPOCH", "1700000000"));
    assert_eq!(same.status.code(), Some(0), "{}", show(&same));
    let other = run(p.cmd(&["verify"]).env("SOURCE_DATE_EPOCH", "1800000000"));
    assert_not_reproduced(&other, &["source_date_epoch", "1700000000", "1800000000"]);
}

#[test]
fn verify_fails_naming_the_compression_when_it_changes() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    p.write(
        "scratch.toml",
        &one_platform(Some(1_700_000_000), Some("zstd")),
    );
    assert_not_reproduced(&p.verify(), &["compression", "gzip", "zstd"]);
    // A level is a setting too.
    p.write(
        "scratch.toml",
        &one_platform(Some(1_700_000_000), Some("gzip:9")),
    );
    assert_not_reproduced(&p.verify(), &["compression", "gzip:9"]);
}

#[test]
fn verify_names_the_platform_of_a_multi_platform_image() {
    let manifest = format!(
        r#"[image]
name = "verify-multi"
source_date_epoch = 1700000000
platforms = ["linux/amd64", "linux/arm64"]

[[layer]]
platform = "linux/amd64"
tar = "{ALPINE_AMD64}"
sha256 = "{ALPINE_AMD64_SHA}"

[[layer]]
platform = "linux/arm64"
tar = "{ALPINE_ARM64}"
sha256 = "{ALPINE_ARM64_SHA}"
"#
    );
    let Some(p) = Project::new(&manifest) else {
        return;
    };
    p.lock();
    assert_eq!(p.verify().status.code(), Some(0));
    let real = recorded(&p.lock_table(), "linux/arm64/v8", Some(0), "digest");
    let fake = altered(&real);
    p.edit_lock(&real, &fake);
    let o = p.verify();
    assert_not_reproduced(&o, &["linux/arm64", &fake]);
    assert!(!stdout(&o).contains("linux/amd64"), "{}", show(&o));
}

#[test]
fn verify_without_a_lock_is_an_error() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    assert_error(&p.verify(), &["scratch.lock", "compose lock"]);
}

#[test]
fn verify_with_a_corrupt_lock_is_an_error() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let good = p.lock_text();
    // Not TOML at all.
    std::fs::write(p.lock_path(), "version = 1\n[[[ broken\n").unwrap();
    assert_error(&p.verify(), &["scratch.lock"]);
    // TOML, but a recorded digest that is not one.
    let manifest = recorded(&good.parse().unwrap(), "linux/amd64", None, "manifest");
    std::fs::write(p.lock_path(), good.replace(&manifest, "sha256:nonsense")).unwrap();
    assert_error(&p.verify(), &["scratch.lock", "nonsense"]);
    // A lock that records no outputs has nothing to verify against.
    let cut = good.find("[output").expect("outputs recorded");
    std::fs::write(p.lock_path(), &good[..cut]).unwrap();
    assert_error(&p.verify(), &["scratch.lock"]);
}

#[test]
fn lock_check_is_0_on_a_fresh_lock_and_1_after_a_change_and_writes_nothing() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let fresh = p.lock_text();
    let check = |p: &Project| run(&mut p.cmd(&["lock", "--check"]));
    let o = check(&p);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // An edited input.
    p.write("hello.txt", "edited\n");
    let o = check(&p);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(p.lock_text(), fresh, "lock --check must not write");
    p.write("hello.txt", "hello\n");
    assert_eq!(check(&p).status.code(), Some(0));
    // A changed setting.
    p.write("scratch.toml", &one_platform(Some(1_700_000_001), None));
    let o = check(&p);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(p.lock_text(), fresh, "lock --check must not write");
}

#[test]
fn lock_twice_leaves_the_lock_byte_identical() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let first = std::fs::read(p.lock_path()).unwrap();
    p.lock();
    assert_eq!(std::fs::read(p.lock_path()).unwrap(), first);
    // And from a cold cache, with one worker.
    std::fs::remove_dir_all(&p.cache).unwrap();
    run_ok(&mut p.cmd(&["-j", "1", "lock"]));
    assert_eq!(std::fs::read(p.lock_path()).unwrap(), first);
}

#[test]
fn verify_fails_naming_the_url_when_a_remote_input_changes() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    // Upstream now serves other bytes under the same name (here: the aarch64 tarball), and
    // the cache is cold, so verify must download them.
    let fx = fixtures().unwrap();
    let upstream = p.dir.parent().unwrap().join("changed-upstream");
    std::fs::create_dir_all(&upstream).unwrap();
    std::fs::copy(
        fx.join("alpine/alpine-minirootfs-3.19.4-aarch64.tar.gz"),
        upstream.join("alpine-minirootfs-3.19.4-x86_64.tar.gz"),
    )
    .unwrap();
    std::fs::remove_dir_all(&p.cache).unwrap();
    let mut c = p.cmd_without_mirrors(&["verify"]);
    c.arg("--mirror").arg(format!(
        "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/=file://{}/",
        upstream.display()
    ));
    assert_not_reproduced(
        &run(&mut c),
        &["alpine-minirootfs-3.19.4-x86_64.tar.gz", ALPINE_AMD64_SHA],
    );
}

#[test]
fn verify_fails_naming_the_config_when_the_manifest_config_changes() {
    let Some(p) = Project::new(&one_platform(Some(1_700_000_000), None)) else {
        return;
    };
    p.lock();
    let config = recorded(&p.lock_table(), "linux/amd64", None, "config");
    let changed = one_platform(Some(1_700_000_000), None).replace("/bin/sh", "/bin/ash");
    p.write("scratch.toml", &changed);
    let o = p.verify();
    assert_not_reproduced(&o, &["linux/amd64", "config", &config]);
    assert!(!stdout(&o).contains("layer"), "{}", show(&o));
}
