//! The dev loop: after only the top layer changed, a rebuild reads nothing of the layers
//! below it (the tree of the layers below comes from the snapshot the layer cache keeps),
//! and writes exactly the bytes a cold build writes.

mod common;

use common::cli::*;
use common::server::TestServer;
use std::path::{Path, PathBuf};

/// A gzipped tar of a small base: directories, files, a symlink, and `bin/tool`.
fn base_tar_gz(files: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_entry_type(kind);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add("bin/", tar::EntryType::Directory, b"", None);
    add("bin/tool", tar::EntryType::Regular, b"the tool\n", None);
    add("usr/", tar::EntryType::Directory, b"", None);
    add("usr/share/", tar::EntryType::Directory, b"", None);
    for i in 0..files {
        let text = format!("file {i}\n");
        add(
            &format!("usr/share/f{i}"),
            tar::EntryType::Regular,
            text.as_bytes(),
            None,
        );
    }
    add("usr/bin", tar::EntryType::Symlink, b"", Some("../bin"));
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    scratch_compose::digest::Sha256Digest::of(bytes).hex()
}

/// A project whose base is served by `srv` (pinned) and whose app is a local file.
fn project(dir: &Path, base_url: &str, base_sha: &str, upper: &str) {
    std::fs::write(
        dir.join("scratch.toml"),
        format!(
            "[image]\nname = \"dev\"\nsource_date_epoch = 1\n\n[config]\nentrypoint = [\"/app\"]\n\n\
             [[layer]]\ncomment = \"base\"\ntar = \"{base_url}\"\nsha256 = \"{base_sha}\"\n\n[[layer]]\n{upper}"
        ),
    )
    .unwrap();
}

fn build(cache: &Path, dir: &Path, out: &str) -> String {
    build_verbose(cache, dir, out).0
}

/// The digest printed and the debug log.
fn build_verbose(cache: &Path, dir: &Path, out: &str) -> (String, String) {
    let o = compose(cache)
        .arg("-v")
        .arg("-f")
        .arg(dir.join("scratch.toml"))
        .args(["build", "-o"])
        .arg(dir.join(out))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    (String::from_utf8_lossy(&o.stdout).trim().to_string(), log)
}

/// A work folder: a server of a base of `files` files (its URL and sha256), an empty
/// project folder and where the cache goes.
struct Setup {
    work: tempfile::TempDir,
    srv_dir: PathBuf,
    srv: TestServer,
    url: String,
    sha: String,
    dir: PathBuf,
    cache: PathBuf,
}

fn setup(files: usize) -> Setup {
    let work = tempfile::tempdir().unwrap();
    let srv_dir = work.path().join("srv");
    std::fs::create_dir_all(&srv_dir).unwrap();
    let base = base_tar_gz(files);
    std::fs::write(srv_dir.join("base.tar.gz"), &base).unwrap();
    let srv = TestServer::serve_dir(&srv_dir);
    let (url, sha) = (srv.url("/base.tar.gz"), sha256_hex(&base));
    let dir = work.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let cache = work.path().join("cache");
    Setup {
        work,
        srv_dir,
        srv,
        url,
        sha,
        dir,
        cache,
    }
}

/// Remove every trace of the blob `hex` (and what was derived from it) from the store.
fn forget(cache: &Path, hex: &str) {
    let _ = std::fs::remove_file(cache.join("blobs/sha256").join(hex));
    let inflated = cache.join("derived/tar");
    let _ = std::fs::remove_file(inflated.join(hex));
    let _ = std::fs::remove_file(inflated.join(format!("{hex}.sha256")));
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn a_rebuild_after_an_app_change_reads_nothing_of_the_base() {
    let Setup {
        work,
        srv_dir,
        srv,
        url,
        sha,
        dir,
        cache,
    } = setup(300);
    let upper = "[[layer.file]]\nsrc = \"app\"\ndest = \"/app\"\nmode = \"0755\"\n";
    project(&dir, &url, &sha, upper);
    std::fs::write(dir.join("app"), "#!/bin/sh\necho one\n").unwrap();
    build(&cache, &dir, "out");
    assert_eq!(srv.hits("/base.tar.gz"), 1);

    // The app changes; the base is gone from the store and cannot be downloaded again.
    std::fs::write(dir.join("app"), "#!/bin/sh\necho two\n").unwrap();
    forget(&cache, &sha);
    drop(srv);
    let (warm, log) = build_verbose(&cache, &dir, "out");
    assert!(log.contains("tree snapshot opened"), "{log}");
    // The root, its three children and the app's check: not the 300 files of the base.
    let read = log
        .lines()
        .find_map(|l| {
            l.split("] ")
                .nth(1)?
                .strip_suffix(" names read from the tree snapshot")
        })
        .and_then(|l| l.split(" of ").next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no count of names read: {log}"));
    assert!(read < 10, "{read} names read: {log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("layer 1 (") && l.contains("entries read")),
        "only the app layer is read: {log}"
    );

    // A cold build of the same manifest, from a fresh store, writes the same image.
    let srv = TestServer::serve_dir(&srv_dir);
    project(&dir, &srv.url("/base.tar.gz"), &sha, upper);
    let cold_cache = work.path().join("cold-cache");
    let cold = build(&cold_cache, &dir, "cold");
    // The URL differs (a new port); with a comment it is in no digest.
    assert_eq!(warm, cold);
    let layout = |d: &str| {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(d).join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(layout("out"), layout("cold"));
}

#[test]
fn an_upper_layer_that_needs_a_lower_files_bytes_is_merged_from_the_bottom() {
    let s = setup(20);
    let (work, url, sha, dir, cache) = (&s.work, &s.url, &s.sha, &s.dir, &s.cache);
    // The upper layer is a tar that hard-links a new name to the base's bin/tool and
    // changes the tool's owner through it: its canonical form carries the tool's bytes.
    let upper_tar = |marker: &str| {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Link);
        h.set_link_name("bin/tool").unwrap();
        h.set_mode(0o700);
        h.set_uid(5);
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "bin/tool2", &b""[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(marker.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, "etc-marker", marker.as_bytes())
            .unwrap();
        b.into_inner().unwrap()
    };
    std::fs::write(dir.join("upper.tar"), upper_tar("one\n")).unwrap();
    let upper = "tar = \"upper.tar\"\n";
    project(dir, url, sha, upper);
    build(cache, dir, "out");
    std::fs::write(dir.join("upper.tar"), upper_tar("two\n")).unwrap();
    let (warm, log) = build_verbose(cache, dir, "out");
    assert!(log.contains("merging from the bottom"), "{log}");
    let cold = build(&work.path().join("cold-cache"), dir, "cold");
    assert_eq!(warm, cold);
}

#[test]
fn a_cache_without_a_snapshot_it_can_read_keeps_one_on_the_next_rebuild() {
    let s = setup(20);
    let (url, sha, dir, cache) = (&s.url, &s.sha, &s.dir, &s.cache);
    let upper = "[[layer.file]]\nsrc = \"app\"\ndest = \"/app\"\nmode = \"0755\"\n";
    project(dir, url, sha, upper);
    std::fs::write(dir.join("app"), "#!/bin/sh\necho one\n").unwrap();
    build(cache, dir, "out");

    // As a cache written by an older version: the snapshots are not there (or not in a
    // format this version reads).
    for record in std::fs::read_dir(cache.join("layers")).unwrap() {
        let text = std::fs::read_to_string(record.unwrap().path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(tree) = json["tree"].as_str() {
            let hex = tree.trim_start_matches("sha256:");
            std::fs::remove_file(cache.join("blobs/sha256").join(hex)).unwrap();
        }
    }
    std::fs::write(dir.join("app"), "#!/bin/sh\necho two\n").unwrap();
    let (_, log) = build_verbose(cache, dir, "out");
    assert!(!log.contains("tree snapshot opened"), "{log}");
    std::fs::write(dir.join("app"), "#!/bin/sh\necho three\n").unwrap();
    let (_, log) = build_verbose(cache, dir, "out");
    assert!(log.contains("tree snapshot opened"), "{log}");
}
