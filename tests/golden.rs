//! The golden fixture set (`tests/data/golden`): every kind of entry and overlay case,
//! built into every format, must give exactly the committed digests. A change of any of
//! them is a change of output bytes: bump `scratch_compose::COMPAT_LEVEL` with it.
//! Also: the same image whatever form the inputs take (compressed or not, any mtime,
//! another file system), and canonical layers that an independent applier agrees with.

mod common;
use common::cli::*;
use std::path::{Path, PathBuf};

/// (format, extra build options, the digest `compose build` prints, sha256 of the output file)
const GOLDEN: &[(&str, &[&str], &str, &str)] = &[
    (
        "oci-archive",
        &[],
        "sha256:ba721888b881ceb511e4bee5605573db1ab4108333936f2f44d996cd053e6cb7",
        "0aad7ca715a3c7b912f9c618309ea46fdd1d41c9ba822e9bec9fb58af3cbd338",
    ),
    (
        "docker-archive",
        &[],
        "sha256:ba721888b881ceb511e4bee5605573db1ab4108333936f2f44d996cd053e6cb7",
        "36127b6c4766d3b9541cb64c4a50dba0ffe73061996fe9d992e8a967bab207a2",
    ),
    (
        "rootfs",
        &[],
        "sha256:bcc702255ded23d82e5d6fe055d2eb9268013a1f7bcf25336fd4cb809d7c5b81",
        "bcc702255ded23d82e5d6fe055d2eb9268013a1f7bcf25336fd4cb809d7c5b81",
    ),
    (
        "oci-archive",
        &["--compression", "zstd"],
        "sha256:fc848e6ac9a0650a5b8ee71d686d012edeb4b1b620ea351e0d7eb96e57aa1898",
        "25131843b175a50e7c09c40ae202972a8b8d2c2d85623e0bf07c921330506c3d",
    ),
    (
        "oci-archive",
        &["--compression", "none"],
        "sha256:7315912d4335faa14f46d3d8bb9f910490736671cb76f4f7f77740640460858e",
        "ea2d1cbb05e6bbb8e9c6827bb3a9b1e913391c9132b71ac404140e883dbc85fe",
    ),
    (
        "oci-archive",
        &["--compression", "gzip:9"],
        "sha256:796368bb04ea0463b2d36b3a7928c3e26ced7971c1085d2875868f46a318cc98",
        "0454dc34679bc0748da2c18140d05b71085fce738867e73cb6ecd6e7ab642455",
    ),
];

fn golden_dir() -> PathBuf {
    repo_root().join("tests/data/golden")
}

fn build(cache: &Path, manifest: &Path, format: &str, out: &Path, extra: &[&str]) -> String {
    let mut c = compose(cache);
    // A random epoch and zone in the environment must not matter: the manifest sets one.
    c.env("SOURCE_DATE_EPOCH", "987654321")
        .env("TZ", "Pacific/Chatham");
    c.arg("-q")
        .arg("-f")
        .arg(manifest)
        .args(["build", "--format", format, "-o"])
        .arg(out)
        .args(extra);
    run_ok(&mut c).trim().to_string()
}

#[test]
fn the_golden_fixture_set_gives_exactly_the_committed_digests() {
    assert_eq!(
        scratch_compose::COMPAT_LEVEL,
        2,
        "these goldens are compat_level 2's: a new level needs its own digests"
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let manifest = golden_dir().join("scratch.toml");
    let mut moved = Vec::new();
    for (i, (format, extra, printed, file)) in GOLDEN.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let got_printed = build(&cache, &manifest, format, &out, extra);
        let got_file = sha256_file(&out);
        if got_printed != *printed || got_file != *file {
            moved.push(format!(
                "    (\"{format}\", &{extra:?}, \"{got_printed}\", \"{got_file}\"),"
            ));
        }
    }
    assert!(
        moved.is_empty(),
        "golden digests moved; if deliberate, bump COMPAT_LEVEL and use:\n{}",
        moved.join("\n")
    );
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn squash_writes_the_merged_tree_as_one_layer() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(golden_dir().join("scratch.toml")).unwrap();
    let squashed = dir.path().join("scratch.toml");
    std::fs::write(
        &squashed,
        text.replace("[image]\n", "[image]\nsquash = true\n"),
    )
    .unwrap();
    for f in ["lower.tar", "upper.tar"] {
        std::fs::copy(golden_dir().join(f), dir.path().join(f)).unwrap();
    }
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    build(&cache, &squashed, "oci", &layout, &[]);
    let layers = layer_blobs(&layout);
    assert_eq!(layers.len(), 1);
    let rootfs = dir.path().join("rootfs.tar");
    build(&cache, &squashed, "rootfs", &rootfs, &[]);
    if shared_dir().is_some() {
        assert_eq!(tree_listing(&[&layers[0]]), tree_listing(&[&rootfs]));
    }
}

/// The layer blobs of a one-platform OCI layout, in order.
fn layer_blobs(layout: &Path) -> Vec<PathBuf> {
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let blob = |d: &serde_json::Value| {
        layout
            .join("blobs/sha256")
            .join(d.as_str().unwrap().trim_start_matches("sha256:"))
    };
    let index = read(layout.join("index.json"));
    let manifest = read(blob(&index["manifests"][0]["digest"]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect()
}

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn canonical_layers_applied_by_an_independent_tool_give_the_rootfs() {
    if shared_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let manifest = golden_dir().join("scratch.toml");
    let layout = dir.path().join("layout");
    build(&cache, &manifest, "oci", &layout, &[]);
    let rootfs = dir.path().join("rootfs.tar");
    build(&cache, &manifest, "rootfs", &rootfs, &[]);
    let layers = layer_blobs(&layout);
    assert_eq!(layers.len(), 4);
    let refs: Vec<&Path> = layers.iter().map(|p| p.as_path()).collect();
    assert_eq!(tree_listing(&refs), tree_listing(&[&rootfs]));
    // The inputs themselves, applied by the same tool, agree where our layers add nothing.
    let inputs = tree_listing(&[
        &golden_dir().join("lower.tar"),
        &golden_dir().join("upper.tar"),
    ]);
    let ours = tree_listing(&[&layers[0], &layers[1]]);
    assert_eq!(ours, inputs);
}

#[test]
#[ignore = "needs zstd, xz (cargo test -- --ignored runs it; CI does)"]
fn the_form_of_an_input_does_not_change_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let src = golden_dir().join("lower.tar");
    // The same tar plain, gzip-, zstd- and xz-compressed, with an odd mtime, on tmpfs when
    // there is one.
    let places: Vec<PathBuf> = [
        Some(dir.path().to_path_buf()),
        Some(PathBuf::from("/dev/shm")),
    ]
    .into_iter()
    .flatten()
    .filter(|p| p.is_dir())
    .collect();
    let mut digests = Vec::new();
    for (i, place) in places.iter().enumerate() {
        let work = tempfile::Builder::new()
            .prefix("compose-golden")
            .tempdir_in(place)
            .unwrap();
        for (name, cmd) in [
            ("plain.tar", "cat"),
            ("gz.tar.gz", "gzip -9 -c"),
            ("zst.tar.zst", "zstd -q -c"),
            ("xz.tar.xz", "xz -c"),
        ] {
            let path = work.path().join(name);
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{cmd} < '{}' > '{}'",
                    src.display(),
                    path.display()
                ))
                .status()
                .unwrap();
            if !status.success() {
                common::missing(cmd);
            }
            let _ = std::process::Command::new("touch")
                .args(["-d", "2001-02-03 04:05:06"])
                .arg(&path)
                .status();
            let manifest = work.path().join(format!("{name}.toml"));
            std::fs::write(
                &manifest,
                format!(
                    "[image]\nname = \"forms\"\nsource_date_epoch = 5\n\n[[layer]]\ncomment = \"lower\"\ntar = \"{name}\"\nsha256 = \"{}\"\n",
                    sha256_file(&path)
                ),
            )
            .unwrap();
            let out = work.path().join(format!("{name}.out"));
            let printed = build(
                &dir.path().join(format!("cache-{i}")),
                &manifest,
                "oci-archive",
                &out,
                &[],
            );
            digests.push((
                place.display().to_string(),
                name,
                printed,
                sha256_file(&out),
            ));
        }
    }
    assert!(digests.len() >= 4);
    assert!(
        digests
            .windows(2)
            .all(|w| w[0].2 == w[1].2 && w[0].3 == w[1].3),
        "{digests:#?}"
    );
}
