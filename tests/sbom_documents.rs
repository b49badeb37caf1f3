//! The SBOM and provenance documents, checked by the ecosystem's own tools: spdx-tools,
//! cyclonedx-python-lib's JSON validator, in-toto's DSSE verification, and `dpkg-query`.
//!
//! The Python packages come from `$COMPOSE_TEST_PYTHON` (`.ci/run` makes a venv with
//! `spdx-tools cyclonedx-python-lib in-toto securesystemslib`), else `python3`. Missing
//! tools fail the test when `CI` is set and skip it elsewhere.

mod common;

use scratch_compose::attest::{dsse, keys, provenance};
use scratch_compose::digest::Sha256Digest;
use scratch_compose::entry::{Content, Entry, ImagePath, Kind};
use scratch_compose::epoch::Epoch;
use scratch_compose::sbom::model::ItemKind;
use scratch_compose::sbom::model::{ImageSubject, InputItem, Sbom};
use scratch_compose::sbom::pkgdb::{self, Limits, Presence, Rootfs};
use scratch_compose::sbom::{cyclonedx, license, spdx};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::python::{check, python, sorted_lines, CHECK};

fn sbom_of(source: &str, bytes_digest: Sha256Digest, size: u64, pkgs: Vec<pkgdb::Package>) -> Sbom {
    Sbom {
        image: ImageSubject {
            name: "example.org/team/app".into(),
            tag: "1.0".into(),
            platform: "linux/amd64".parse().unwrap(),
            manifest_digest: Sha256Digest::of(b"the image manifest"),
        },
        epoch: Epoch(1_700_000_000),
        inputs: vec![InputItem {
            kind: ItemKind::Tar,
            source: source.into(),
            is_url: source.starts_with("https://"),
            sha256: bytes_digest,
            size,
            layers: vec![1],
            license: license::parse("MIT OR custom-thing", license::Dialect::Spdx),
            supplier: Some("Example Corp".into()),
            packages: pkgs.into_iter().map(|p| (p, Presence::Present)).collect(),
        }],
    }
}

fn write_both(dir: &Path, sbom: &Sbom) -> (PathBuf, PathBuf) {
    let s = dir.join("sbom.spdx.json");
    let c = dir.join("sbom.cdx.json");
    std::fs::write(&s, spdx::write(sbom)).unwrap();
    std::fs::write(&c, cyclonedx::write(sbom)).unwrap();
    (s, c)
}

#[test]
#[ignore = "needs ../shared fixtures, the Python validators (cargo test -- --ignored runs it; CI does)"]
fn alpine_sbom_lists_exactly_the_packages_of_its_own_database() {
    let Some(fixtures) = common::require_fixtures() else {
        return;
    };
    let Some(py) = python() else { return };
    let tarball = fixtures.join("alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) =
        scratch_compose::layer::read_input(&tarball, &dir.path().join("x.tar"), "alpine").unwrap();
    let pkgs = pkgdb::scan(&Rootfs::new(&entries, "alpine", Limits::default())).unwrap();
    assert!(pkgs
        .iter()
        .all(|p| p.distro_release.as_deref() == Some("alpine-3.19.4")));
    let bytes = std::fs::read(&tarball).unwrap();
    let sbom = sbom_of(
        "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz",
        Sha256Digest::of(&bytes),
        bytes.len() as u64,
        pkgs,
    );
    let (s, c) = write_both(dir.path(), &sbom);
    let want = sorted_lines(&check(&py, &["apkdb", tarball.to_str().unwrap()]));
    assert!(want.len() >= 10, "{want:?}");
    assert_eq!(
        sorted_lines(&check(&py, &["spdx", s.to_str().unwrap()])),
        want
    );
    assert_eq!(
        sorted_lines(&check(&py, &["cyclonedx", c.to_str().unwrap()])),
        want
    );
    // pyspdxtools, the command line users run, agrees.
    if let Some(bin) = py
        .parent()
        .map(|b| b.join("pyspdxtools"))
        .filter(|b| b.exists())
    {
        let st = Command::new(bin).arg("-i").arg(&s).output().unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
    // Deterministic: the same model writes the same bytes.
    assert_eq!(spdx::write(&sbom), std::fs::read(&s).unwrap());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&s).unwrap()).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(doc["documentNamespace"], spdx::namespace(&sbom));
    let musl = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "musl")
        .unwrap();
    assert_eq!(
        musl["externalRefs"][0]["referenceLocator"],
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.4"
    );
    assert_eq!(musl["licenseDeclared"], "MIT");
}

const STATUS: &str = "Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: time zone and daylight-saving time data

Package: purged
Status: purge ok not-installed
Architecture: amd64

Package: oldconf
Status: deinstall ok config-files
Architecture: amd64
Version: 3.1-2
Description: removed, configuration kept
";

fn file(path: &str, bytes: &[u8]) -> Entry {
    Entry::new(
        ImagePath::parse_str(path).unwrap(),
        Kind::File(Content::Inline(bytes.to_vec().into())),
        0o644,
    )
}

#[test]
#[ignore = "needs the Python validators (cargo test -- --ignored runs it; CI does)"]
fn debian_sbom_lists_what_dpkg_query_reports() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::write(admin.join("status"), STATUS).unwrap();
    std::fs::write(admin.join("available"), "").unwrap();
    let q = match Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version}\\n"])
        .output()
    {
        Ok(q) => q,
        Err(e) => common::missing(&format!("dpkg-query ({e})")),
    };
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let want = sorted_lines(&String::from_utf8(q.stdout).unwrap());
    assert_eq!(want.len(), 3, "{want:?}");

    let entries = vec![
        file("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        file("var/lib/dpkg/status", STATUS.as_bytes()),
        file("usr/share/doc/tzdata/copyright", b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: public-domain\n"),
    ];
    let pkgs = pkgdb::scan(&Rootfs::new(&entries, "debian", Limits::default())).unwrap();
    let sbom = sbom_of("rootfs/debian.tar", Sha256Digest::of(b"tar"), 3, pkgs);
    let (s, c) = write_both(dir.path(), &sbom);
    assert_eq!(
        sorted_lines(&check(&py, &["spdx", s.to_str().unwrap()])),
        want
    );
    assert_eq!(
        sorted_lines(&check(&py, &["cyclonedx", c.to_str().unwrap()])),
        want
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&s).unwrap()).unwrap();
    // Unlisted licenses are declared with the text the package gave.
    let refs: Vec<&str> = doc["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["licenseId"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["LicenseRef-custom-thing", "LicenseRef-public-domain"]
    );
}

#[test]
#[ignore = "needs the Python validators (cargo test -- --ignored runs it; CI does)"]
fn removed_packages_are_left_out_and_partly_removed_ones_marked() {
    let Some(py) = python() else { return };
    let db = "P:keep\nV:1\nF:bin\nR:a\nR:b\n\nP:gone\nV:2\nF:bin\nR:c\n";
    let entries = vec![
        file("lib/apk/db/installed", db.as_bytes()),
        file("bin/a", b""),
        file("bin/b", b""),
        file("bin/c", b""),
    ];
    let pkgs = pkgdb::scan(&Rootfs::new(&entries, "t", Limits::default())).unwrap();
    let removed = [
        ImagePath::parse_str("bin/b").unwrap(),
        ImagePath::parse_str("bin/c").unwrap(),
    ];
    let mut sbom = sbom_of("t.tar", Sha256Digest::of(b"t"), 1, vec![]);
    sbom.inputs[0].packages = pkgs
        .into_iter()
        .map(|p| {
            let pr = pkgdb::presence(&p, |f| !removed.contains(f));
            (p, pr)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (s, c) = write_both(dir.path(), &sbom);
    assert_eq!(check(&py, &["spdx", s.to_str().unwrap()]), "keep 1\n");
    assert_eq!(check(&py, &["cyclonedx", c.to_str().unwrap()]), "keep 1\n");
    let text = std::fs::read_to_string(&s).unwrap();
    assert!(
        text.contains("a later layer removed 1 of its 2 files"),
        "{text}"
    );
}

fn openssl(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[ignore = "needs the Python validators (cargo test -- --ignored runs it; CI does)"]
fn signed_provenance_verifies_with_in_toto_and_fails_when_tampered() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let pubkey = dir.path().join("key.pub");
    if !openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        key.to_str().unwrap(),
    ]) {
        common::missing("openssl");
    }
    assert!(openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        pubkey.to_str().unwrap()
    ]));
    let sbom = sbom_of(
        "https://example.org/rootfs.tar.gz",
        Sha256Digest::of(b"rootfs"),
        6,
        vec![],
    );
    let facts = provenance::Facts {
        image_ref: sbom.image_ref(),
        platform: sbom.image.platform.clone(),
        manifest_digest: sbom.image.manifest_digest,
        manifest: provenance::ParameterFile {
            name: "scratch.toml".into(),
            sha256: Sha256Digest::of(b"toml"),
        },
        lock: Some(provenance::ParameterFile {
            name: "scratch.lock".into(),
            sha256: Sha256Digest::of(b"lock"),
        }),
        epoch: sbom.epoch,
        compression: "gzip".into(),
        inputs: &sbom.inputs,
        byproducts: vec![("app.spdx.json".into(), Sha256Digest::of(b"sbom"))],
    };
    let statement = provenance::statement(&facts);
    let signing = keys::read_signing_key(&key).unwrap();
    let envelope = dsse::sign(
        scratch_compose::attest::IN_TOTO_MEDIA_TYPE,
        &statement,
        &signing,
    );
    // Reproducible: Ed25519 signatures are deterministic.
    assert_eq!(
        envelope,
        dsse::sign(
            scratch_compose::attest::IN_TOTO_MEDIA_TYPE,
            &statement,
            &signing
        )
    );
    let env_path = dir.path().join("app.intoto.json");
    std::fs::write(&env_path, &envelope).unwrap();
    let payload = check(
        &py,
        &["dsse", env_path.to_str().unwrap(), pubkey.to_str().unwrap()],
    );
    assert_eq!(payload.as_bytes(), statement.as_slice());
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(v["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        v["subject"][0]["digest"]["sha256"],
        sbom.image.manifest_digest.hex()
    );
    let dep = &v["predicate"]["buildDefinition"]["resolvedDependencies"][0];
    assert_eq!(dep["uri"], "https://example.org/rootfs.tar.gz");
    assert_eq!(dep["digest"]["sha256"], Sha256Digest::of(b"rootfs").hex());
    assert_eq!(
        v["predicate"]["buildDefinition"]["externalParameters"]["platform"],
        "linux/amd64"
    );
    assert!(v["predicate"]["runDetails"]["builder"]["id"]
        .as_str()
        .unwrap()
        .ends_with(env!("CARGO_PKG_VERSION")));
    // Our own verification agrees, with the public key from the PEM file.
    let verifying = keys::read_verifying_key(&pubkey).unwrap();
    assert!(dsse::parse(&envelope, "e").unwrap().verified_by(&verifying));
    // Another key, or a changed payload, is rejected by in-toto.
    let other = dir.path().join("other.pem");
    let other_pub = dir.path().join("other.pub");
    assert!(openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        other.to_str().unwrap()
    ]));
    assert!(openssl(&[
        "pkey",
        "-in",
        other.to_str().unwrap(),
        "-pubout",
        "-out",
        other_pub.to_str().unwrap()
    ]));
    let st = Command::new(&py)
        .args([
            CHECK,
            "dsse",
            env_path.to_str().unwrap(),
            other_pub.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!st.status.success());
    let mut tampered: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    use base64::Engine;
    tampered["payload"] = base64::engine::general_purpose::STANDARD
        .encode(statement.to_ascii_uppercase())
        .into();
    std::fs::write(&env_path, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let st = Command::new(&py)
        .args([
            CHECK,
            "dsse",
            env_path.to_str().unwrap(),
            pubkey.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!st.status.success());
    // The private key file is refused where a public key is expected, with a hint.
    let err = keys::read_verifying_key(&key).unwrap_err();
    assert!(err.to_string().contains("this is a private key"), "{err}");
    let err = keys::read_signing_key(&pubkey).unwrap_err();
    assert!(err.to_string().contains("this is a public key"), "{err}");
    assert!(err.hint().unwrap().contains("openssl genpkey"));
}
