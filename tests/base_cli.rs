//! `[image] base` on the command line: until building on a base is wired in, every
//! command that would build refuses it clearly (exit 2) instead of building without it.

mod common;

use common::cli::*;

#[test]
fn a_build_with_a_base_is_refused_not_silently_built_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("scratch.toml");
    std::fs::write(
        &manifest,
        "[image]\nname = \"x\"\nbase = \"oci:layout\"\n\n[[layer]]\nremove = [\"/etc/motd\"]\n",
    )
    .unwrap();
    for args in [&["build"][..], &["lock"][..]] {
        let o = compose(&dir.path().join("cache"))
            .arg("-f")
            .arg(&manifest)
            .args(args)
            .arg("-q")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("[image] base `oci:layout`"), "{err}");
        assert!(o.stdout.is_empty());
    }
}
