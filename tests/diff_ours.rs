//! `compose diff` on images written by our own image writer, in every output format and
//! compression: each format opens, the same image compares equal across formats, and one
//! changed setting is named exactly.

mod diff_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diff_common::*;
use scratch_compose::compression::Compression;
use scratch_compose::diff::{self, DiffOptions, Field, Format};
use scratch_compose::epoch::Epoch;
use scratch_compose::image::{
    assemble, write_layer, write_output, BlobStore, HistoryEntry, ImageConfig, ImageName,
    OutputFormat, PlatformImage,
};

fn layers() -> Vec<Vec<u8>> {
    vec![
        tar(&[
            T::Dir("etc/", 0o755),
            T::File("etc/motd", 0o644, b"hello\n"),
        ]),
        tar(&[T::Dir("usr/", 0o755), T::File("usr/a", 0o755, b"a\n")]),
    ]
}

/// Write one image with `cfg` in `format` to `out`, layers compressed with `c`.
fn write(
    dir: &Path,
    c: Compression,
    cfg: ImageConfig,
    platforms: &[&str],
    format: OutputFormat,
    out: &Path,
) {
    write_annotated(dir, c, cfg, platforms, format, out, &BTreeMap::new())
}

/// [`write`] with image-manifest annotations.
fn write_annotated(
    dir: &Path,
    c: Compression,
    cfg: ImageConfig,
    platforms: &[&str],
    format: OutputFormat,
    out: &Path,
    annotations: &BTreeMap<String, String>,
) {
    let store = BlobStore::new(&dir.join("store")).unwrap();
    let name = ImageName::new("acc/app", "1").unwrap();
    let images: Vec<PlatformImage> = platforms
        .iter()
        .map(|p| PlatformImage {
            platform: p.parse().unwrap(),
            config: cfg.clone(),
            layers: layers()
                .iter()
                .map(|t| write_layer(&store, c, 1, |w| w.write_all(t)).unwrap())
                .collect(),
            base_history: Vec::new(),
            history: (0..2)
                .map(|i| HistoryEntry {
                    created_by: format!("compose: layer {i}"),
                    comment: None,
                    empty_layer: false,
                })
                .collect(),
        })
        .collect();
    let a = assemble(
        &store,
        &images,
        std::slice::from_ref(&name),
        Epoch(0),
        annotations,
    )
    .unwrap();
    write_output(
        &store,
        &a,
        format,
        std::slice::from_ref(&name),
        Epoch(0),
        out,
        &|_, _| false,
    )
    .unwrap();
}

fn cfg() -> ImageConfig {
    ImageConfig {
        cmd: Some(vec!["/bin/sh".into()]),
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    }
}

#[test]
fn our_formats_open_and_compare_equal() {
    let t = tempfile::tempdir().unwrap();
    let mut outs: Vec<(PathBuf, Format)> = Vec::new();
    for (i, (c, format, want)) in [
        (Compression::Gzip(6), OutputFormat::Oci, Format::OciLayout),
        (
            Compression::Gzip(6),
            OutputFormat::OciArchive,
            Format::OciArchive,
        ),
        (
            Compression::Gzip(6),
            OutputFormat::DockerArchive,
            Format::DockerArchive,
        ),
        (
            Compression::Zstd(3),
            OutputFormat::OciArchive,
            Format::OciArchive,
        ),
        (Compression::None, OutputFormat::Oci, Format::OciLayout),
    ]
    .into_iter()
    .enumerate()
    {
        let out = t.path().join(format!("out{i}"));
        write(
            &t.path().join(format!("w{i}")),
            c,
            cfg(),
            &["linux/amd64"],
            format,
            &out,
        );
        outs.push((out, want));
    }
    let s = tempfile::tempdir().unwrap();
    for (i, (p, want)) in outs.iter().enumerate() {
        let o = diff::open(p, None, &s.path().join(i.to_string())).unwrap();
        assert_eq!(o.format, *want, "{}", p.display());
    }
    // The gzip outputs are the same image.
    for (p, _) in &outs[1..3] {
        let mut out = Vec::new();
        let equal = diff::run_diff(
            &outs[0].0,
            p,
            None,
            &DiffOptions::default(),
            false,
            &mut out,
        )
        .unwrap();
        assert!(equal, "{}: {}", p.display(), String::from_utf8_lossy(&out));
    }
    // Another compression: the same files and config, other blobs, named layer by layer.
    for (p, _) in &outs[3..] {
        let s = tempfile::tempdir().unwrap();
        let x = diff::open(&outs[0].0, None, &s.path().join("x")).unwrap();
        let y = diff::open(p, None, &s.path().join("y")).unwrap();
        let r = diff::diff(&x, &y, &DiffOptions::default()).unwrap();
        let got: Vec<(String, Field)> = r
            .differences
            .iter()
            .map(|d| (d.location.clone(), d.field))
            .collect();
        assert_eq!(
            got,
            vec![
                ("layer 1".to_string(), Field::Blob),
                ("layer 2".to_string(), Field::Blob)
            ],
            "{r}"
        );
        assert!(
            r.differences[0]
                .left
                .starts_with("application/vnd.oci.image.layer.v1.tar+gzip sha256:"),
            "{r}"
        );
        // Relaxed comparisons look at images' meaning, not their encoding.
        let relaxed = DiffOptions {
            ignore_owner: true,
            ..Default::default()
        };
        assert!(diff::diff(&x, &y, &relaxed).unwrap().is_equal());
    }
}

#[test]
fn a_changed_manifest_annotation_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let ann = |v: &str| BTreeMap::from([("org.example.note".to_string(), v.to_string())]);
    let one = ["linux/amd64"];
    for (work, out, note) in [("wa", &a, "1"), ("wb", &b, "2")] {
        write_annotated(
            &t.path().join(work),
            Compression::Gzip(6),
            cfg(),
            &one,
            OutputFormat::Oci,
            out,
            &ann(note),
        );
    }
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(&a, None, &s.path().join("x")).unwrap();
    let y = diff::open(&b, None, &s.path().join("y")).unwrap();
    let r = diff::diff(&x, &y, &DiffOptions::default()).unwrap();
    let got: Vec<(String, Field, String, String)> = r
        .differences
        .iter()
        .map(|d| (d.location.clone(), d.field, d.left.clone(), d.right.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(
            "manifest.annotations.org.example.note".to_string(),
            Field::Manifest,
            "1".to_string(),
            "2".to_string()
        )]
    );
}

#[test]
fn a_changed_setting_in_our_image_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b.tar"));
    write(
        &t.path().join("wa"),
        Compression::Gzip(6),
        cfg(),
        &["linux/amd64", "linux/arm64"],
        OutputFormat::Oci,
        &a,
    );
    let mut changed = cfg();
    changed.workdir = Some("/srv".into());
    write(
        &t.path().join("wb"),
        Compression::Gzip(6),
        changed,
        &["linux/amd64", "linux/arm64"],
        OutputFormat::OciArchive,
        &b,
    );
    let mut out = Vec::new();
    let equal = diff::run_diff(&a, &b, None, &DiffOptions::default(), true, &mut out).unwrap();
    assert!(!equal);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let got: Vec<(String, String, String)> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["platform"].as_str().unwrap().to_string(),
                d["location"].as_str().unwrap().to_string(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "linux/amd64".into(),
                "config.WorkingDir".into(),
                Field::Config.name().into()
            ),
            (
                "linux/arm64/v8".into(),
                "config.WorkingDir".into(),
                Field::Config.name().into()
            ),
        ]
    );
}

#[test]
fn another_name_is_the_same_image() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let one = ["linux/amd64"];
    let store_a = t.path().join("wa");
    write(
        &store_a,
        Compression::Gzip(6),
        cfg(),
        &one,
        OutputFormat::Oci,
        &a,
    );
    write(
        &t.path().join("wb"),
        Compression::Gzip(6),
        cfg(),
        &one,
        OutputFormat::Oci,
        &b,
    );
    // Rename b's image by editing its index.json descriptor.
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "2".into();
    std::fs::write(b.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let s = tempfile::tempdir().unwrap();
    let x = diff::open(&a, None, &s.path().join("x")).unwrap();
    let y = diff::open(&b, None, &s.path().join("y")).unwrap();
    // index.json's descriptor annotations only name the image: not compared.
    let r = diff::diff(&x, &y, &DiffOptions::default()).unwrap();
    assert!(r.is_equal(), "{r}");
}
