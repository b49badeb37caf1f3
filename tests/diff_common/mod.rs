//! Hand-built images for the `compose diff` tests: plain tars, OCI layouts, oci-archives
//! and podman-shaped docker-archives, written byte by byte so the tests depend on nothing
//! but the reader under test.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One entry of a hand-built tar.
#[derive(Clone)]
pub enum T {
    Dir(&'static str, u32),
    File(&'static str, u32, &'static [u8]),
    Symlink(&'static str, &'static str),
    /// A file with explicit mtime and owner.
    FileAt(&'static str, u32, &'static [u8], u64, u64),
    /// A hard link to an earlier path.
    HardLink(&'static str, &'static str),
    /// A file with one extended attribute (name, value) in a PAX header.
    FileXattr(&'static str, &'static [u8], &'static str, &'static [u8]),
}

pub const MTIME: u64 = 1_700_000_000;

pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// A plain tar of `entries`, in order, mtime [`MTIME`], 0:0 unless told.
pub fn tar(entries: &[T]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (&str, &[u8]) = match e {
            T::Dir(p, m) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*m);
                (p, b"")
            }
            T::File(p, m, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                (p, d)
            }
            T::FileAt(p, m, d, mtime, uid) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                h.set_mtime(*mtime);
                h.set_uid(*uid);
                h.set_gid(*uid);
                (p, d)
            }
            T::HardLink(p, t) => {
                // As tar writes them: the link carries its inode's mode (runtimes apply it).
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_link_name(t).unwrap();
                (p, b"")
            }
            T::FileXattr(p, d, name, value) => {
                let key = format!("SCHILY.xattr.{name}");
                b.append_pax_extensions([(key.as_str(), *value)]).unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (p, d)
            }
            T::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(t).unwrap();
                (p, b"")
            }
        };
        h.set_size(data.len() as u64);
        h.set_path(path).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    g.write_all(b).unwrap();
    g.finish().unwrap()
}

/// A config with the usual fields; `rootfs` is filled in by the writers.
pub fn config() -> Value {
    json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "Labels": {"a": "1"}},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "compose"}]
    })
}

fn with_rootfs(mut cfg: Value, layers: &[Vec<u8>]) -> Vec<u8> {
    cfg["rootfs"] =
        json!({"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()});
    serde_json::to_vec(&cfg).unwrap()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// Write one image's blobs; returns the manifest's (digest, size).
fn put_image(dir: &Path, cfg: Value, layers: &[Vec<u8>]) -> (String, usize) {
    let cfg_bytes = with_rootfs(cfg, layers);
    let cfg_d = put_blob(dir, &cfg_bytes);
    let descs: Vec<Value> = layers
        .iter()
        .map(|l| {
            let gz = gzip(l);
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put_blob(dir, &gz), "size": gz.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_bytes.len()},
        "layers": descs,
    }))
    .unwrap();
    (put_blob(dir, &manifest), manifest.len())
}

fn finish_layout(dir: &Path, index: Value) {
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Write an OCI layout with one image of `layers` (plain tars, gzipped here).
pub fn oci_layout(dir: &Path, cfg: Value, layers: &[Vec<u8>]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let (m_d, m_len) = put_image(dir, cfg, layers);
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_d, "size": m_len}]});
    finish_layout(dir, index);
    m_d
}

/// One platform's image for [`oci_layout_multi`]: os, architecture, variant, layer tars.
pub type PlatformImage<'a> = (&'a str, &'a str, Option<&'a str>, Vec<Vec<u8>>);

/// Write an OCI layout whose `index.json` points to a nested index of one image per
/// `(os, architecture, variant)`, as compose writes several platforms.
pub fn oci_layout_multi(dir: &Path, images: &[PlatformImage<'_>]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut descs = Vec::new();
    for (os, arch, variant, layers) in images {
        let mut cfg = config();
        cfg["os"] = (*os).into();
        cfg["architecture"] = (*arch).into();
        let mut platform = json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            cfg["variant"] = (*v).into();
            platform["variant"] = (*v).into();
        }
        let (d, n) = put_image(dir, cfg, layers);
        descs.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": n, "platform": platform}));
    }
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs})).unwrap();
    let nd = put_blob(dir, &nested);
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd, "size": nested.len()}]});
    finish_layout(dir, index);
}

/// Tar a folder's files (relative names, sorted) into `out`.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for rel in files {
        b.append_path_with_name(dir.join(&rel), &rel).unwrap();
    }
    b.finish().unwrap();
}

fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// An oci-archive: the layout of [`oci_layout`] in a tar.
pub fn oci_archive(out: &Path, cfg: Value, layers: &[Vec<u8>]) {
    let tmp = tempfile::tempdir().unwrap();
    oci_layout(tmp.path(), cfg, layers);
    tar_dir(tmp.path(), out);
}

/// A docker-archive as `podman save --format docker-archive` writes it: plain layer tars
/// named `<hex>.tar`, the config `<hex>.json`, `manifest.json`, `repositories`, and a
/// legacy folder whose `layer.tar` is a symlink.
pub fn podman_docker_archive(out: &Path, cfg: Value, layers: &[Vec<u8>]) {
    let cfg_bytes = with_rootfs(cfg, layers);
    let cfg_hex = sha(&cfg_bytes)[7..].to_string();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o444);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let mut names = Vec::new();
    for l in layers {
        let name = format!("{}.tar", &sha(l)[7..]);
        add(&name, l);
        names.push(name);
    }
    add(&format!("{cfg_hex}.json"), &cfg_bytes);
    let manifest = json!([{"Config": format!("{cfg_hex}.json"), "RepoTags": ["localhost/x:latest"], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    add("repositories", br#"{"localhost/x":{"latest":"0"}}"#);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_path("0123/layer.tar").unwrap();
    h.set_link_name(format!("../{}", names[0])).unwrap();
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    b.finish().unwrap();
}
