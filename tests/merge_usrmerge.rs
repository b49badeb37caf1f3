//! `[image] usrmerge = true`: directory entries that land on a symlink to a directory
//! (Debian's `bin -> usr/bin`) merge through it instead of replacing it, in every layer;
//! whiteouts below such a directory apply to its target; without the option the
//! runtime-exact behaviour (the directory replaces the symlink) stays. The end-to-end case
//! runs `/bin/sh` and `/usr/bin/env` in podman.

mod common;
mod merge_common;

use common::cli::*;
use merge_common::*;
use scratch_compose::entry::Entry;
use scratch_compose::merge::MergeOptions;
use std::process::Command;

const USRMERGE: MergeOptions = MergeOptions {
    strict_duplicates: false,
    usrmerge: true,
};

/// A Debian (bookworm) style base: `/bin`, `/sbin`, `/lib` are symlinks into `/usr`.
fn debian_base() -> Vec<Entry> {
    vec![
        d("usr", 0o755),
        d("usr/bin", 0o755),
        f("usr/bin/env", 0o755, "env"),
        d("usr/lib", 0o755),
        d("usr/sbin", 0o755),
        l("bin", "usr/bin"),
        l("lib", "/usr/lib"),
        l("sbin", "usr/sbin"),
    ]
}

/// An old-style layer: real `bin/` and `lib/` directories.
fn old_style() -> Vec<Entry> {
    vec![
        d("bin", 0o700),
        f("bin/sh", 0o755, "sh"),
        d("lib", 0o755),
        d("lib/modules", 0o755),
        f("lib/modules/x.ko", 0o644, "ko"),
    ]
}

#[test]
fn directories_merge_through_the_symlinks() {
    let got = merge_checked(vec![debian_base(), old_style()], &USRMERGE).unwrap();
    assert_eq!(
        listing(&got),
        "\
/bin symlink 0777 0:0 -> usr/bin
/lib symlink 0777 0:0 -> /usr/lib
/sbin symlink 0777 0:0 -> usr/sbin
/usr dir 0755 0:0
/usr/bin dir 0755 0:0
/usr/bin/env file 0755 0:0 \"env\"
/usr/bin/sh file 0755 0:0 \"sh\"
/usr/lib dir 0755 0:0
/usr/lib/modules dir 0755 0:0
/usr/lib/modules/x.ko file 0644 0:0 \"ko\"
/usr/sbin dir 0755 0:0
"
    );
}

#[test]
fn without_the_option_the_directory_replaces_the_symlink() {
    let got = merge_checked(vec![debian_base(), old_style()], &MergeOptions::default()).unwrap();
    let text = listing(&got);
    assert!(text.contains("/bin dir 0700 0:0\n/bin/sh file"), "{text}");
    assert!(!text.contains("/usr/bin/sh"), "{text}");
}

#[test]
fn whiteouts_below_a_merged_directory_apply_to_its_target() {
    let got = merge_checked(
        vec![
            debian_base(),
            old_style(),
            vec![d("bin", 0o755), wh("bin/sh"), wh("bin/env")],
            vec![opq("lib/modules")],
        ],
        &USRMERGE,
    )
    .unwrap();
    let text = listing(&got);
    assert!(!text.contains("/usr/bin/sh"), "{text}");
    assert!(!text.contains("/usr/bin/env"), "{text}");
    assert!(!text.contains("x.ko"), "{text}");
    assert!(text.contains("/bin symlink"), "{text}");
    assert!(text.contains("/usr/lib/modules dir"), "{text}");
}

#[test]
fn only_symlinks_to_existing_directories_merge() {
    // A symlink to a file, a dangling one and a loop are replaced, as runtimes do.
    let got = merge_checked(
        vec![
            vec![
                f("busybox", 0o755, "bb"),
                l("tofile", "busybox"),
                l("dangling", "usr/missing"),
                l("loop", "loop"),
            ],
            vec![
                d("tofile", 0o755),
                d("dangling", 0o755),
                d("loop", 0o755),
                f("loop/x", 0o644, ""),
            ],
        ],
        &USRMERGE,
    )
    .unwrap();
    let text = listing(&got);
    for dir in ["/tofile dir", "/dangling dir", "/loop dir"] {
        assert!(text.contains(dir), "{dir}: {text}");
    }
    assert!(!text.contains("/usr"), "{text}");
}

#[test]
fn the_same_layer_can_make_the_symlink_and_merge_through_it() {
    let got = merge_checked(
        vec![vec![
            d("usr/bin", 0o755),
            l("bin", "usr/bin"),
            d("bin", 0o755),
            f("bin/true", 0o755, "t"),
        ]],
        &USRMERGE,
    )
    .unwrap();
    let text = listing(&got);
    assert!(text.contains("/bin symlink"), "{text}");
    assert!(text.contains("/usr/bin/true file"), "{text}");
}

/// The image runs: a Debian-style busybox base, an old-style layer with `bin/sh` above.
#[test]
#[ignore = "needs podman, busybox (cargo test -- --ignored runs it; CI does)"]
fn podman_runs_bin_sh_and_usr_bin_env_in_a_usrmerged_image() {
    if !have_tool("podman") || !have_tool("busybox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let busybox = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v busybox"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::copy(busybox.trim(), ws.join("busybox")).unwrap();
    // The old-style layer, as a tar made by GNU tar: a real bin/ with sh -> busybox.
    let old = ws.join("old");
    std::fs::create_dir_all(old.join("bin")).unwrap();
    std::os::unix::fs::symlink("busybox", old.join("bin/sh")).unwrap();
    let st = Command::new("tar")
        .args(["--format=gnu", "--owner=0", "--group=0", "-C"])
        .arg(&old)
        .args(["-cf", "old-style.tar", "bin"])
        .current_dir(ws)
        .status()
        .unwrap();
    assert!(st.success());
    let manifest = |usrmerge: bool| {
        format!(
            r#"[image]
name = "localhost/compose-usrmerge-test"
source_date_epoch = 1
usrmerge = {usrmerge}

[[layer]]
comment = "Debian-style: /bin is a symlink into /usr"
[[layer.file]]
src = "busybox"
dest = "/usr/bin/busybox"
mode = "0755"
[[layer.symlink]]
dest = "/usr/bin/env"
target = "busybox"
[[layer.symlink]]
dest = "/bin"
target = "usr/bin"

[[layer]]
tar = "old-style.tar"
"#
        )
    };
    std::fs::write(ws.join("scratch.toml"), manifest(true)).unwrap();
    let archive = ws.join("image.tar");
    run_ok(
        compose(&ws.join("cache"))
            .current_dir(ws)
            .args([
                "-q",
                "-f",
                "scratch.toml",
                "build",
                "--format",
                "oci-archive",
                "-o",
            ])
            .arg(&archive),
    );
    let image = "localhost/compose-usrmerge-test:latest";
    let _ = Command::new("podman").args(["rmi", "-f", image]).output();
    run_ok(Command::new("podman").args(["load", "-i"]).arg(&archive));
    let sh = run_ok(Command::new("podman").args([
        "run",
        "--rm",
        image,
        "/bin/sh",
        "-c",
        "echo sh-runs",
    ]));
    let env = run_ok(Command::new("podman").args([
        "run",
        "--rm",
        "-e",
        "PROBE=env-runs",
        image,
        "/usr/bin/env",
    ]));
    let listing = run_ok(Command::new("podman").args([
        "run",
        "--rm",
        image,
        "/usr/bin/busybox",
        "readlink",
        "/bin",
    ]));
    let _ = Command::new("podman").args(["rmi", "-f", image]).output();
    assert_eq!(sh.trim(), "sh-runs");
    assert!(env.contains("PROBE=env-runs"), "{env}");
    assert_eq!(listing.trim(), "usr/bin");

    // Without the option, the runtime-exact default: bin/ replaces the symlink, and its
    // sh -> busybox dangles.
    std::fs::write(ws.join("scratch.toml"), manifest(false)).unwrap();
    let rootfs = ws.join("rootfs.tar");
    run_ok(
        compose(&ws.join("cache"))
            .current_dir(ws)
            .args([
                "-q",
                "-f",
                "scratch.toml",
                "build",
                "--format",
                "rootfs",
                "-o",
            ])
            .arg(&rootfs),
    );
    let names = run_ok(Command::new("tar").arg("-tvf").arg(&rootfs));
    assert!(
        names
            .lines()
            .any(|l| l.starts_with('d') && l.ends_with(" bin/")),
        "{names}"
    );
}
