use super::*;
use crate::entry::{Content, ImagePath};
use crate::preflight::elf::tests::tiny_elf;
use std::sync::Arc;

const X86_64: u16 = 62;
const AARCH64: u16 = 183;
const GLIBC_LD: &str = "/lib64/ld-linux-x86-64.so.2";
const MUSL_LD: &str = "/lib/ld-musl-x86_64.so.1";

fn file(path: &str, bytes: &[u8], mode: u32) -> Entry {
    Entry::new(
        ImagePath::parse_str(path).unwrap(),
        Kind::File(Content::Inline(Arc::from(bytes))),
        mode,
    )
}

fn link(path: &str, target: &str) -> Entry {
    Entry::new(
        ImagePath::parse_str(path).unwrap(),
        Kind::Symlink(target.as_bytes().to_vec()),
        0o777,
    )
}

fn config(entrypoint: &str) -> ConfigSettings {
    ConfigSettings {
        entrypoint: Some(vec![entrypoint.to_string()]),
        ..ConfigSettings::default()
    }
}

fn run(entries: &[Entry], config: &ConfigSettings) -> Vec<Finding> {
    check(entries, config, &Platform::linux_amd64())
}

fn checks(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.check.as_str()).collect()
}

fn glibc_app() -> Entry {
    file(
        "app",
        &tiny_elf(X86_64, Some(GLIBC_LD), &["libc.so.6"], None),
        0o755,
    )
}

fn glibc_runtime() -> Vec<Entry> {
    vec![
        file(
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            &tiny_elf(X86_64, None, &[], None),
            0o755,
        ),
        link(
            "lib64/ld-linux-x86-64.so.2",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        ),
        file(
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            &tiny_elf(X86_64, None, &["ld-linux-x86-64.so.2"], None),
            0o755,
        ),
    ]
}

#[test]
fn a_static_program_passes() {
    let entries = vec![file("app", &tiny_elf(X86_64, None, &[], None), 0o755)];
    assert_eq!(run(&entries, &config("/app")), []);
}

#[test]
fn a_dynamic_program_without_its_loader_names_the_interpreter() {
    let f = run(&[glibc_app()], &config("/app"));
    assert_eq!(checks(&f), ["interpreter"], "{f:?}");
    assert!(f[0].message.contains(GLIBC_LD), "{}", f[0].message);
    assert!(f[0].message.contains("glibc"));
    assert!(f[0].hint.contains("crt-static") && f[0].hint.contains("CGO_ENABLED=0"));
}

#[test]
fn a_dynamic_glibc_program_passes_with_loader_and_libc() {
    let mut entries = glibc_runtime();
    entries.push(glibc_app());
    assert_eq!(run(&entries, &config("/app")), []);
}

#[test]
fn a_missing_library_is_named_with_who_needs_it() {
    let mut entries = glibc_runtime();
    entries.push(file(
        "app",
        &tiny_elf(X86_64, Some(GLIBC_LD), &["libz.so.1", "libc.so.6"], None),
        0o755,
    ));
    let f = run(&entries, &config("/app"));
    assert_eq!(checks(&f), ["library"], "{f:?}");
    assert!(
        f[0].message.contains("library libz.so.1, needed by /app"),
        "{}",
        f[0].message
    );
}

#[test]
fn a_library_of_the_wrong_machine_is_skipped_by_glibc() {
    let mut entries = glibc_runtime();
    entries.push(file(
        "app",
        &tiny_elf(X86_64, Some(GLIBC_LD), &["libz.so.1", "libc.so.6"], None),
        0o755,
    ));
    entries.push(file(
        "lib/libz.so.1",
        &tiny_elf(AARCH64, None, &[], None),
        0o755,
    ));
    assert_eq!(checks(&run(&entries, &config("/app"))), ["library"]);
    entries.push(file(
        "usr/lib/libz.so.1",
        &tiny_elf(X86_64, None, &[], None),
        0o755,
    ));
    assert_eq!(run(&entries, &config("/app")), []);
}

#[test]
fn musl_programs_find_libc_in_the_loader_and_libraries_in_its_paths() {
    let mut entries = vec![
        file(
            "lib/ld-musl-x86_64.so.1",
            &tiny_elf(X86_64, None, &[], None),
            0o755,
        ),
        file(
            "app",
            &tiny_elf(
                X86_64,
                Some(MUSL_LD),
                &["libz.so.1", "libc.musl-x86_64.so.1"],
                None,
            ),
            0o755,
        ),
        file(
            "opt/lib/libz.so.1",
            &tiny_elf(X86_64, None, &[], None),
            0o755,
        ),
    ];
    let f = run(&entries, &config("/app"));
    assert_eq!(checks(&f), ["library"], "{f:?}");
    assert!(f[0].message.contains("musl's default"), "{}", f[0].message);
    entries.push(file("etc/ld-musl-x86_64.path", b"/opt/lib\n", 0o644));
    assert_eq!(run(&entries, &config("/app")), []);
}

#[test]
fn runpath_with_origin_is_followed() {
    let entries = vec![
        file(
            "lib/ld-musl-x86_64.so.1",
            &tiny_elf(X86_64, None, &[], None),
            0o755,
        ),
        file(
            "opt/app/bin/app",
            &tiny_elf(
                X86_64,
                Some(MUSL_LD),
                &["libfoo.so"],
                Some("$ORIGIN/../lib"),
            ),
            0o755,
        ),
        file(
            "opt/app/lib/libfoo.so",
            &tiny_elf(X86_64, None, &["libbar.so"], Some("${ORIGIN}")),
            0o755,
        ),
        file(
            "opt/app/lib/libbar.so",
            &tiny_elf(X86_64, None, &[], None),
            0o755,
        ),
    ];
    assert_eq!(run(&entries, &config("/opt/app/bin/app")), []);
}

#[test]
fn an_arm64_program_in_an_amd64_image_is_caught() {
    let entries = vec![file("app", &tiny_elf(AARCH64, None, &[], None), 0o755)];
    let f = run(&entries, &config("/app"));
    assert_eq!(checks(&f), ["architecture"]);
    assert!(f[0].message.contains("AArch64 (linux/arm64)") && f[0].message.contains("linux/amd64"));
    let arm: Platform = "linux/arm64".parse().unwrap();
    assert_eq!(check(&entries, &config("/app"), &arm), []);
}

#[test]
fn missing_and_dangling_entrypoints_are_caught() {
    let f = run(&[], &config("/app"));
    assert_eq!(checks(&f), ["entrypoint"]);
    assert!(f[0].message.contains("/app does not exist"));
    let f = run(&[link("app", "/usr/bin/real")], &config("/app"));
    assert_eq!(checks(&f), ["entrypoint"]);
    assert!(
        f[0].message
            .contains("dangling symlink: /app -> /usr/bin/real"),
        "{}",
        f[0].message
    );
    let none = ConfigSettings::default();
    assert_eq!(checks(&run(&[], &none)), ["entrypoint"]);
}

#[test]
fn a_relative_command_is_looked_up_on_path() {
    let entries = vec![file(
        "usr/bin/app",
        &tiny_elf(X86_64, None, &[], None),
        0o755,
    )];
    let mut c = ConfigSettings {
        cmd: Some(vec!["app".into(), "--flag".into()]),
        ..ConfigSettings::default()
    };
    assert_eq!(run(&entries, &c), []);
    c.env = vec!["PATH=/opt/bin".into()];
    let f = run(&entries, &c);
    assert_eq!(checks(&f), ["entrypoint"]);
    assert!(f[0].message.contains("not found in PATH (/opt/bin)"));
}

#[test]
fn scripts_need_their_interpreter() {
    let script = file("run.sh", b"#!/bin/sh -e\necho hi\n", 0o755);
    let f = run(std::slice::from_ref(&script), &config("/run.sh"));
    assert_eq!(checks(&f), ["shebang"]);
    assert!(
        f[0].message.contains("interpreter /bin/sh"),
        "{}",
        f[0].message
    );
    let sh = file("bin/busybox", &tiny_elf(X86_64, None, &[], None), 0o755);
    let entries = vec![script, sh, link("bin/sh", "busybox")];
    assert_eq!(run(&entries, &config("/run.sh")), []);
    // env NAME needs NAME on PATH.
    let py = file("app.py", b"#!/usr/bin/env python3\n", 0o755);
    let env = file("usr/bin/env", &tiny_elf(X86_64, None, &[], None), 0o755);
    let f = run(&[py.clone(), env.clone()], &config("/app.py"));
    assert_eq!(checks(&f), ["shebang"]);
    assert!(f[0].message.contains("`env python3`"));
    let python = file("usr/bin/python3", &tiny_elf(X86_64, None, &[], None), 0o755);
    assert_eq!(run(&[py, env, python], &config("/app.py")), []);
}

#[test]
fn permissions_and_formats() {
    let f = run(
        &[file("app", &tiny_elf(X86_64, None, &[], None), 0o644)],
        &config("/app"),
    );
    assert_eq!(checks(&f), ["permission"]);
    // Owner-only execute, run as another user.
    let mut owned = file("app", &tiny_elf(X86_64, None, &[], None), 0o700);
    owned.uid = 5;
    let mut c = config("/app");
    c.user = Some("1000".into());
    assert_eq!(checks(&run(&[owned.clone()], &c)), ["permission"]);
    c.user = Some("5".into());
    assert_eq!(run(&[owned], &c), []);
    let f = run(&[file("app", b"hello", 0o755)], &config("/app"));
    assert_eq!(checks(&f), ["format"]);
    let f = run(
        &[file("app", b"\x7fELF\x02\x01\x01garbage", 0o755)],
        &config("/app"),
    );
    assert_eq!(checks(&f), ["format"]);
}

#[test]
fn named_users_and_groups_must_resolve() {
    let app = file("app", &tiny_elf(X86_64, None, &[], None), 0o755);
    let mut c = config("/app");
    c.user = Some("app".into());
    let f = run(std::slice::from_ref(&app), &c);
    assert_eq!(checks(&f), ["user"]);
    assert!(f[0].message.contains("no /etc/passwd") && f[0].hint.contains("numeric user"));
    let passwd = file(
        "etc/passwd",
        b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/sbin/nologin\n",
        0o644,
    );
    assert_eq!(run(&[app.clone(), passwd.clone()], &c), []);
    c.user = Some("app:staff".into());
    assert_eq!(checks(&run(&[app.clone(), passwd.clone()], &c)), ["group"]);
    let group = file("etc/group", b"staff:x:50:\n", 0o644);
    assert_eq!(run(&[app.clone(), passwd.clone(), group], &c), []);
    c.user = Some("nobody".into());
    let f = run(&[app, passwd], &c);
    assert_eq!(checks(&f), ["user"]);
    assert!(f[0].message.contains("not in /etc/passwd"));
}
