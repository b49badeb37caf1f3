//! The real layered image written by podman: our merger must give exactly the tree the
//! container runtime showed (`expected.lst`, from `podman export`).

mod common;
use common::cli::*;

#[test]
#[ignore = "needs ../shared fixtures (cargo test -- --ignored runs it; CI does)"]
fn podman_wh1_layers_merge_to_the_exported_tree() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("scratch.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[image]
name = "wh1"

[[layer]]
tar = "{fx}/alpine/alpine-minirootfs-3.19.4-x86_64.tar.gz"
[[layer]]
tar = "{fx}/podman-wh1/layer-2.tar"
[[layer]]
tar = "{fx}/podman-wh1/layer-3.tar"
"#,
            fx = fx.display()
        ),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("rootfs.tar");
    run_ok(
        compose(&cache)
            .arg("-q")
            .arg("-f")
            .arg(&manifest)
            .args(["build", "--format", "rootfs", "-o"])
            .arg(&out),
    );
    let got = tree_listing(&[&out]);
    let want = std::fs::read_to_string(fx.join("podman-wh1/expected.lst")).unwrap();
    if got != want {
        let g: Vec<&str> = got.lines().collect();
        let w: Vec<&str> = want.lines().collect();
        let missing: Vec<&&str> = w.iter().filter(|l| !g.contains(l)).take(20).collect();
        let extra: Vec<&&str> = g.iter().filter(|l| !w.contains(l)).take(20).collect();
        panic!(
            "merged tree differs from expected.lst\nmissing: {missing:#?}\nunexpected: {extra:#?}"
        );
    }
}
