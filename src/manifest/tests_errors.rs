//! The manifest's errors: each at its `line:column`, with a hint.

use super::tests::{err, ok, with_head, FILE, HEAD};
use super::*;

#[test]
fn toml_syntax_error() {
    assert_eq!(
        err("[image\nname = \"x\"\n"),
        "1:7: unclosed table, expected `]`"
    );
}

#[test]
fn wrong_type() {
    let e = Manifest::parse(
        &with_head("[[layer]]\n[[layer.file]]\ndest = \"/a\"\nmode = 755\n"),
        Path::new(FILE),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{FILE}:6:8: invalid type: integer `755`, expected a string")
    );
    assert!(e.hint().unwrap().contains("mode = \"0755\""));
}

#[test]
fn unknown_key_suggests_the_closest() {
    assert_eq!(
        err("[image]\nnmae = \"x\"\n"),
        "2:1: unknown key `nmae` in [image]; did you mean `name`?"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.file]]\ndest = \"/a\"\nsrcc = \"a\"\n"
        )),
        "6:1: unknown key `srcc` in [[layer.file]]; did you mean `src`?"
    );
    assert_eq!(
        err(&with_head("[config]\nEntryPoint = []\n")),
        "4:1: unknown key `EntryPoint` in [config]; did you mean `entrypoint`?"
    );
    assert_eq!(
        err(&with_head("[[layers]]\ntar = \"x\"\n")),
        "3:3: unknown key `layers` in the top level; did you mean `layer`?"
    );
    assert_eq!(
        err(&with_head("[cache]\nto = \"h:5000/c\"\ntoo = 1\n")),
        "5:1: unknown key `too` in [cache]; did you mean `to`?"
    );
    assert!(err(&with_head("[cache]\nfrom = [\"h:5000/c,max=1G\"]\n")).contains("[cache] from"));
    let e = Manifest::parse(&format!("zzzzzz = 1\n{HEAD}"), Path::new(FILE)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{FILE}:1:1: unknown key `zzzzzz` in the top level")
    );
    assert_eq!(
        e.hint().unwrap(),
        "valid keys here: `image`, `config`, `layer`, `input`, `accounts`, `cache`"
    );
}

#[test]
fn missing_keys() {
    assert_eq!(err("[config]\n"), "1:1: missing the [image] table");
    assert_eq!(
        err("[image]\ntag = \"1\"\n"),
        "1:1: missing `name` in [image]"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.symlink]]\ntarget = \"/a\"\n"
        )),
        "4:1: missing `dest`"
    );
    assert_eq!(
        err(&with_head("[[layer]]\n[[layer.symlink]]\ndest = \"/a\"\n")),
        "4:1: missing `target` in [[layer.symlink]]"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.dir]]\ndest = \"/a\"\nsource = \"d\"\n"
        )),
        "6:1: unknown key `source` in [[layer.dir]]; did you mean `src`?"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.symlink]]\ndest = \"/a\"\ntarget = \"b\"\nmode = \"0777\"\n"
        )),
        "7:1: unknown key `mode` in [[layer.symlink]]"
    );
    assert_eq!(
        err(&with_head("[[layer]]\nplatfrom = \"linux/amd64\"\n")),
        "4:1: unknown key `platfrom` in [[layer]]; did you mean `platform`?"
    );
}

#[test]
fn relative_dest() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.file]]\ndest = \"etc/x\"\ncontent = \"\"\n"
        )),
        "5:8: dest `etc/x` is not an absolute path"
    );
    assert_eq!(
        err(&with_head("[[layer]]\nremove = [\"/a\", \"b\"]\n")),
        "4:17: remove path `b` is not an absolute path"
    );
}

#[test]
fn root_dest() {
    assert_eq!(
        err(&with_head("[[layer]]\n[[layer.dir]]\ndest = \"/./\"\n")),
        "5:8: dest `/./` is the image root; it must name a path below `/`"
    );
}

#[test]
fn dotdot_dest() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.symlink]]\ndest = \"/a/../b\"\ntarget = \"x\"\n"
        )),
        "5:8: dest `/a/../b`: path contains a `..` component"
    );
}

#[test]
fn bad_mode() {
    for (mode, col) in [
        ("\"rwx\"", 8),
        ("\"0788\"", 8),
        ("\"07777 \"", 8),
        ("\"17777\"", 8),
    ] {
        let text = with_head(&format!(
            "[[layer]]\n[[layer.file]]\ndest = \"/a\"\ncontent = \"\"\nmode = {mode}\n"
        ));
        assert_eq!(
            err(&text),
            format!(
                "7:{col}: mode `{}` is not an octal mode such as \"0755\", \"0644\" or \"1777\"",
                mode.trim_matches('"')
            )
        );
    }
}

#[test]
fn mode_parsing() {
    use super::validate::parse_mode;
    assert_eq!(parse_mode("0755"), Some(0o755));
    assert_eq!(parse_mode("644"), Some(0o644));
    assert_eq!(parse_mode("7777"), Some(0o7777));
    for bad in ["", "7", "75", "00755", "0o755", "-755", "8", "+755"] {
        assert_eq!(parse_mode(bad), None, "{bad}");
    }
}

#[test]
fn bad_digest() {
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"a.tar\"\nsha256 = \"ABC\"\n")),
        "5:10: sha256 `ABC` is not 64 lowercase hex digits"
    );
}

#[test]
fn bad_platform() {
    assert_eq!(
        err("[image]\nname = \"x\"\nplatforms = [\"linux/sparc\"]\n"),
        "3:14: `linux/sparc` is not a platform (expected os/arch[/variant], such as linux/amd64 or linux/arm64)"
    );
}

#[test]
fn duplicate_platform() {
    assert_eq!(
        err("[image]\nname = \"x\"\nplatforms = [\"linux/arm64\", \"arm64\"]\n"),
        "3:29: platform `linux/arm64/v8` is listed twice"
    );
}

#[test]
fn empty_platform_list() {
    assert_eq!(
        err("[image]\nname = \"x\"\nplatforms = []\n"),
        "3:13: `[image] platforms` must list at least one platform"
    );
}

#[test]
fn layer_platform_not_built() {
    assert_eq!(
        err(&with_head("[[layer]]\nplatform = \"linux/arm64\"\nremove = [\"/a\"]\n")),
        "4:12: layer 1 applies to `linux/arm64/v8`, which is not in [image] platforms (linux/amd64)"
    );
}

#[test]
fn platform_and_platforms() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\nplatform = \"linux/amd64\"\nplatforms = [\"linux/amd64\"]\nremove = [\"/a\"]\n"
        )),
        "5:13: `platform` and `platforms` cannot both be given in one [[layer]]"
    );
}

#[test]
fn bad_compression() {
    assert_eq!(
        err("[image]\nname = \"x\"\ncompression = \"gzip:13\"\n"),
        "3:15: `gzip:13` is not a compression"
    );
}

#[test]
fn bad_epoch() {
    assert_eq!(
        err("[image]\nname = \"x\"\nsource_date_epoch = 253402300800\n"),
        "3:21: source_date_epoch 253402300800 is after 9999-12-31T23:59:59Z"
    );
    assert_eq!(
        err("[image]\nname = \"x\"\nsource_date_epoch = -1\n"),
        "3:21: invalid value: integer `-1`, expected u64"
    );
}

#[test]
fn src_and_content() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.file]]\ndest = \"/a\"\nsrc = \"a\"\ncontent = \"x\"\n"
        )),
        "7:11: `src` and `content` cannot both be given in one [[layer.file]]"
    );
}

#[test]
fn pin_without_source() {
    assert_eq!(
        err(
            &with_head("[[layer]]\nremove = [\"/a\"]\nsha256 = \"{}\"\n").replace(
                "{}",
                "0000000000000000000000000000000000000000000000000000000000000000"
            )
        ),
        "5:10: `sha256` without `tar`: it pins the tar of the same table"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.file]]\ndest = \"/a\"\ncontent = \"x\"\nsha256 = \"00\"\n"
        )),
        "7:10: `sha256` without `src`: it pins the src of the same table"
    );
}

#[test]
fn file_without_source() {
    assert_eq!(
        err(&with_head("[[layer]]\n[[layer.file]]\ndest = \"/a\"\n")),
        "5:8: [[layer.file]] `/a` has neither `src` nor `content`"
    );
}

#[test]
fn empty_layer() {
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"a\"\n\n[[layer]]\ncomment = \"nothing\"\n")),
        "6:1: layer 2 has no source: give it `tar`, `image`, `remove`, [[layer.file]], [[layer.dir]], [[layer.symlink]] or [[layer.copy]]"
    );
}

#[test]
fn duplicate_dest_names_both() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.file]]\ndest = \"/a/b\"\ncontent = \"\"\n[[layer.symlink]]\ndest = \"//a/./b/\"\ntarget = \"x\"\n"
        )),
        "8:8: `/a/b` is written twice in layer 1: by [[layer.file]] at line 5, column 8, and by [[layer.symlink]] here"
    );
    // The same dest in two layers is fine: the later one wins.
    ok(&with_head(
        "[[layer]]\n[[layer.dir]]\ndest = \"/a\"\n[[layer]]\n[[layer.dir]]\ndest = \"/a\"\n",
    ));
}

#[test]
fn bad_url() {
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"ftp://example.com/a.tar\"\n")),
        "4:7: `ftp://example.com/a.tar`: the `ftp` scheme is not supported (use https, http or file)"
    );
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"https:///a.tar\"\n")),
        "4:7: `https:///a.tar`: the URL has no host"
    );
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"file://a.tar\"\n")),
        "4:7: `file://a.tar`: a file:// URL needs an absolute path (file:///path)"
    );
}

#[test]
fn remote_dir() {
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.dir]]\ndest = \"/a\"\nsrc = \"https://example.com/d\"\n"
        )),
        "6:7: [[layer.dir]] src `https://example.com/d` is a URL; a directory source must be a local directory"
    );
}

#[test]
fn empty_source_and_target() {
    assert_eq!(
        err(&with_head("[[layer]]\ntar = \"\"\n")),
        "4:7: `tar` is empty"
    );
    assert_eq!(
        err(&with_head(
            "[[layer]]\n[[layer.symlink]]\ndest = \"/a\"\ntarget = \"\"\n"
        )),
        "6:10: `target` is empty"
    );
}

#[test]
fn conflicting_pins() {
    let a = "a".repeat(64);
    let b = "b".repeat(64);
    assert_eq!(
        err(&with_head(&format!(
            "[[layer]]\ntar = \"https://x.org/t\"\nsha256 = \"{a}\"\n[[layer]]\n[[layer.file]]\ndest = \"/t\"\nsrc = \"https://x.org/t\"\nsha256 = \"{b}\"\n"
        ))),
        format!("10:10: `https://x.org/t` is pinned with two different digests: {a} (line 5) and {b}")
    );
}

#[test]
fn bad_env() {
    assert_eq!(
        err(&with_head("[config]\nenv = [\"A=1\", \"B\"]\n")),
        "4:15: env entry `B` is not KEY=VALUE (no `=`)"
    );
    assert_eq!(
        err(&with_head("[config]\nenv = [\"=1\"]\n")),
        "4:8: env entry `=1` has an empty KEY"
    );
    assert_eq!(
        err(&with_head("[config]\nenv = [\"A=1\", \"A=2\"]\n")),
        "4:15: env entry `A=2` sets `A` a second time"
    );
}

#[test]
fn bad_port() {
    for p in ["0", "65536", "80/icmp", "http", "80/", "/tcp"] {
        assert_eq!(
            err(&with_head(&format!("[config]\nexposed_ports = [\"{p}\"]\n"))),
            format!("4:18: exposed port `{p}` is not `N`, `N/tcp`, `N/udp` or `N/sctp` with N in 1-65535")
        );
    }
    assert_eq!(
        err(&with_head(
            "[config]\nexposed_ports = [\"80\", \"80/tcp\"]\n"
        )),
        "4:24: exposed port `80/tcp` is listed twice"
    );
}

#[test]
fn not_absolute_workdir_and_volume() {
    assert_eq!(
        err(&with_head("[config]\nworkdir = \"srv\"\n")),
        "4:11: workdir `srv` is not an absolute path"
    );
    assert_eq!(
        err(&with_head("[config]\nvolumes = [\"data\"]\n")),
        "4:12: volume `data` is not an absolute path"
    );
}

#[test]
fn bad_signal() {
    assert_eq!(
        err(&with_head("[config]\nstop_signal = \"term\"\n")),
        "4:15: stop_signal `term` is not a signal name such as SIGTERM or a signal number"
    );
    ok(&with_head("[config]\nstop_signal = \"15\"\n"));
}

#[test]
fn bad_name_and_tag() {
    assert_eq!(
        err("[image]\nname = \"My-Image\"\n"),
        "2:8: image name `My-Image` is not a valid image reference"
    );
    assert_eq!(
        err("[image]\nname = \"x\"\ntag = \"-1\"\n"),
        "3:7: image tag `-1` is not a valid tag"
    );
    for good in [
        "alpine",
        "acme/app",
        "localhost:5000/a/b",
        "team/my_app.v2-x",
    ] {
        ok(&format!("[image]\nname = \"{good}\"\n"));
    }
}

#[test]
fn empty_label_key() {
    assert_eq!(
        err(&with_head("[config]\nlabels = { \"\" = \"x\" }\n")),
        "4:10: [config] labels has an empty key"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        err(&with_head(
            "[config]\nlabels = { \"é\" = \"x\" }\nworkdir = \"é\"\n"
        )),
        "5:11: workdir `é` is not an absolute path"
    );
    assert_eq!(
        err(&with_head("[config]\ncmd = [\"é\", 1]\n")),
        "4:13: invalid type: integer `1`, expected a string"
    );
}

#[test]
fn closest_key() {
    use super::validate::closest;
    let valid: Vec<String> = ["name", "tag", "platforms", "source_date_epoch"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(closest("platform", &valid).as_deref(), Some("platforms"));
    assert_eq!(
        closest("source-date-epoch", &valid).as_deref(),
        Some("source_date_epoch")
    );
    assert_eq!(closest("xyz", &valid), None);
}

#[test]
fn remove_paths_may_be_optional_and_end_with_a_slash() {
    let m = ok("[image]\nname = \"x\"\n[[layer]]\nremove = [\"/a?\", \"/b/\", \"/c/?\"]\n");
    let r = &m.layers[0].remove;
    let got: Vec<(String, bool)> = r.iter().map(|r| (r.path.display(), r.optional)).collect();
    assert_eq!(
        got,
        vec![
            ("/a".to_string(), true),
            ("/b".to_string(), false),
            ("/c".to_string(), true)
        ]
    );
    let pos = r[1].pos.as_ref().unwrap();
    assert_eq!((pos.line, pos.column), (4, 18));
    assert!(err("[image]\nname = \"x\"\n[[layer]]\nremove = [\"/?\"]\n").contains("4:11"));
}

#[test]
fn base_image_reference() {
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let m = ok(&with_head(&format!("base = \"alpine:3.20@{d}\"\n")));
    let base = m.image.base.expect("a base");
    assert_eq!(base.digest, Some(d.parse().unwrap()));
    assert_eq!(base.lock_key(), "docker.io/library/alpine:3.20");
    let m = ok(&with_head("base = \"oci:layout\"\n"));
    assert_eq!(
        m.image.base.unwrap().source,
        crate::manifest::BaseSource::OciLayout(Path::new(FILE).parent().unwrap().join("layout"))
    );
}

#[test]
fn bad_base() {
    assert_eq!(
        err(&with_head("base = \"https://example.com/x\"\n")),
        "3:8: [image] base `https://example.com/x` is not a base image reference: `https://` is not a base reference; write HOST/REPOSITORY[:TAG]@sha256:…"
    );
    assert!(err(&with_head("base = \"alpine@sha256:1\"\n")).starts_with("3:8: [image] base"));
}
