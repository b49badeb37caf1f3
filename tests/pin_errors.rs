//! A pin its bytes contradict ends the loop: the error names where the pin is written
//! (the manifest's `file:line:column`, or the lock), which side holds the value that
//! differs, and a fix that works: following the printed fix makes the next build pass.

mod common;

use common::cli::*;
use common::server::TestServer;
use std::path::Path;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in:\n{s}"))
        + start.len();
    let rest = &s[i..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("no `{end}` after `{start}` in:\n{s}"))]
}

/// Do what the hint says: replace the quoted digest at `file:line:column` (1-based; the
/// column is that of the opening quote) with `digest`.
fn edit_pin(dir: &Path, place: &str, digest: &str) {
    let mut parts = place.rsplitn(3, ':');
    let column: usize = parts.next().unwrap().parse().unwrap();
    let line: usize = parts.next().unwrap().parse().unwrap();
    let file = dir.join(parts.next().unwrap());
    let old = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
    let l = &mut lines[line - 1];
    let at = l.char_indices().nth(column - 1).unwrap().0;
    assert_eq!(&l[at..at + 1], "\"", "{place} is not a string: {l}");
    l.replace_range(at + 1..at + 65, digest);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_wrong_manifest_pin_names_its_place_and_the_digest_to_write() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let site = dir.join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("app.txt"), "new\n").unwrap();
    let srv = TestServer::serve_dir(&site);
    let wrong = hex(b"old\n");
    let right = hex(b"new\n");
    std::fs::write(
        dir.join("scratch.toml"),
        format!(
            "[image]\nname = \"p\"\nsource_date_epoch = 1\n\n[[layer]]\n[[layer.file]]\nsrc = \"{}\"\nsha256 = \"{wrong}\"\ndest = \"/app.txt\"\n",
            srv.url("/app.txt")
        ),
    )
    .unwrap();
    let cache = dir.join("cache");
    for cmd in [&["build"][..], &["lock"][..]] {
        let o = run(compose(&cache).current_dir(dir).args(cmd));
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("error: scratch.toml:8:10: the sha256 of file `http"),
            "{cmd:?}: {err}"
        );
        assert!(
            err.contains(&format!(
                "scratch.toml pins {wrong}, the downloaded bytes have {right}"
            )),
            "{err}"
        );
        assert!(
            err.contains("the manifest's pin is the one that differs"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "change `sha256` at scratch.toml:8:10 to \"{right}\", then run `compose lock`"
            )),
            "{err}"
        );
        assert!(!err.contains("run `compose lock` again"), "{err}");
    }
    // Do what it says.
    let o = run(compose(&cache).current_dir(dir).arg("build"));
    let err = text(&o.stderr);
    let place = between(&err, "change `sha256` at ", " to \"");
    let digest = between(&err, &format!("{place} to \""), "\"");
    edit_pin(dir, place, digest);
    run_ok(compose(&cache).current_dir(dir).arg("lock"));
    run_ok(compose(&cache).current_dir(dir).args(["build", "--locked"]));
}

#[test]
fn a_wrong_lock_pin_is_fixed_by_the_printed_lock_update() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let site = dir.join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("app.txt"), "v1\n").unwrap();
    std::fs::write(site.join("other.txt"), "other\n").unwrap();
    let srv = TestServer::serve_dir(&site);
    let url = srv.url("/app.txt");
    std::fs::write(
        dir.join("app.toml"),
        format!(
            "[image]\nname = \"p\"\nsource_date_epoch = 1\n\n[[layer]]\n[[layer.file]]\nsrc = \"{url}\"\ndest = \"/app.txt\"\n[[layer.file]]\nsrc = \"{}\"\ndest = \"/other.txt\"\n",
            srv.url("/other.txt")
        ),
    )
    .unwrap();
    run_ok(
        compose(&dir.join("cache1"))
            .current_dir(dir)
            .args(["-f", "app.toml", "lock"]),
    );
    let other_pin = hex(b"other\n");
    assert!(std::fs::read_to_string(dir.join("app.lock"))
        .unwrap()
        .contains(&other_pin));
    // Upstream changes the file; a machine without it in its cache downloads the new bytes.
    std::fs::write(site.join("app.txt"), "v2\n").unwrap();
    let cache = dir.join("cache2");
    let o = run(compose(&cache)
        .current_dir(dir)
        .args(["-f", "app.toml", "build"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "error: app.toml:7:7: file `{url}` (layer 1) does not match app.lock: the lock records sha256 {}, the downloaded bytes have {}",
            hex(b"v1\n"),
            hex(b"v2\n")
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "app.lock's record is the one that differs (app.toml does not pin this input)"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!("run `compose lock --update {url}`")),
        "{err}"
    );
    // `compose lock` alone keeps the lock's pin, and fails the same way.
    let o = run(compose(&cache)
        .current_dir(dir)
        .args(["-f", "app.toml", "lock"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("does not match app.lock"));
    // The printed command re-pins that input only.
    let command = between(&err, "run `compose ", "`");
    let mut c = compose(&cache);
    c.current_dir(dir).args(["-f", "app.toml"]);
    c.args(command.split(' '));
    run_ok(&mut c);
    let lock = std::fs::read_to_string(dir.join("app.lock")).unwrap();
    assert!(
        lock.contains(&hex(b"v2\n")) && lock.contains(&other_pin),
        "{lock}"
    );
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["-f", "app.toml", "build", "--locked"]),
    );
}

#[test]
fn a_changed_local_file_names_its_pin_and_the_fix() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(dir.join("b.txt"), "b\n").unwrap();
    std::fs::write(
        dir.join("app.toml"),
        format!(
            "[image]\nname = \"p\"\nsource_date_epoch = 1\n\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\nsha256 = \"{}\"\ndest = \"/a\"\n[[layer.file]]\nsrc = \"b.txt\"\ndest = \"/b\"\n",
            hex(b"a\n")
        ),
    )
    .unwrap();
    let cache = dir.join("cache");
    let compose_app = || {
        let mut c = compose(&cache);
        c.current_dir(dir).args(["-f", "app.toml"]);
        c
    };
    run_ok(compose_app().arg("lock"));

    // Pinned in the manifest: an error naming the pin and the digest to write.
    std::fs::write(dir.join("a.txt"), "a2\n").unwrap();
    let o = run(compose_app().arg("build"));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "error: app.toml:8:10: the sha256 of file `a.txt` (layer 1) does not match: app.toml pins {}, the file has {}",
            hex(b"a\n"),
            hex(b"a2\n")
        )),
        "{err}"
    );
    assert!(
        err.contains("If the file's new content is intended"),
        "{err}"
    );
    assert!(err.contains("if not, restore the file"), "{err}");
    let place = between(&err, "change `sha256` at ", " to \"");
    let digest = between(&err, &format!("{place} to \""), "\"");
    edit_pin(dir, place, digest);
    run_ok(compose_app().arg("lock"));
    run_ok(compose_app().args(["build", "--locked"]));

    // Pinned by the lock only: stale, named with the lock's real name and the input's
    // place; `--locked` refuses it and the printed fix works.
    std::fs::write(dir.join("b.txt"), "b2\n").unwrap();
    let o = run(compose_app().args(["build", "--locked"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("error: app.lock is out of date:"), "{err}");
    assert!(
        err.contains(&format!(
            "app.toml:11:7: file `b.txt`: app.lock pins sha256:{}, the input is now sha256:{}",
            hex(b"b\n"),
            hex(b"b2\n")
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: run `compose lock` and commit app.lock"),
        "{err}"
    );
    assert!(!err.contains("scratch.lock"), "{err}");
    let o = run(compose_app().args(["lock", "--check"]));
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("  - app.toml:11:7: file `b.txt`: app.lock pins sha256:"),
        "{out}"
    );
    assert!(!out.contains("scratch.lock"), "{out}");
    run_ok(compose_app().arg("lock"));
    run_ok(compose_app().args(["build", "--locked"]));
}

#[test]
fn a_manifest_pin_that_disagrees_with_the_lock_names_both_files() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    let manifest = |pin: &str| {
        format!(
            "[image]\nname = \"p\"\nsource_date_epoch = 1\n\n[[layer]]\n[[layer.file]]\nsrc = \"a.txt\"\nsha256 = \"{pin}\"\ndest = \"/a\"\n"
        )
    };
    std::fs::write(dir.join("app.toml"), manifest(&hex(b"a\n"))).unwrap();
    let cache = dir.join("cache");
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["-f", "app.toml", "lock"]),
    );
    std::fs::write(dir.join("a.txt"), "a2\n").unwrap();
    std::fs::write(dir.join("app.toml"), manifest(&hex(b"a2\n"))).unwrap();
    let o = run(compose(&cache)
        .current_dir(dir)
        .args(["-f", "app.toml", "build"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("error: app.toml:8:10: sha256 of file `a.txt` (layer 1): app.toml pins"),
        "{err}"
    );
    assert!(err.contains("but app.lock records"), "{err}");
    assert!(
        err.contains("run `compose lock` to record it in app.lock; otherwise correct `sha256` at app.toml:8:10"),
        "{err}"
    );
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["-f", "app.toml", "lock"]),
    );
    run_ok(
        compose(&cache)
            .current_dir(dir)
            .args(["-f", "app.toml", "build", "--locked"]),
    );
}
