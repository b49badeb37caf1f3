use super::*;

const FILE: &str = "proj/scratch.toml";

/// The error for `text`, as `line:column: message`.
fn err(text: &str) -> String {
    let e = Manifest::parse(text, Path::new(FILE)).unwrap_err();
    assert!(e.hint().is_some(), "every manifest error has a hint: {e}");
    let s = e.to_string();
    s.strip_prefix(&format!("{FILE}:"))
        .unwrap_or_else(|| panic!("no file position in {s}"))
        .to_string()
}

fn ok(text: &str) -> Manifest {
    Manifest::parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"))
}

const HEAD: &str = "[image]\nname = \"x\"\n";

/// `HEAD` + `rest`: the errors below are on line 3 and after.
fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

const DESIGN_EXAMPLE: &str = r#"
[image]
name = "scratch-alpine"            # the image reference (RepoTags name:tag)
tag = "3.19.4"                     # default "latest"

[config]                           # the OCI image config
cmd = ["/bin/sh"]
env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

[[layer]]                          # one [[layer]] = one image layer, applied in order
tar = "https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.4-x86_64.tar.gz"
sha256 = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211"

[[layer]]
remove = ["/etc/apk", "/lib/apk", "/sbin/apk"]      # whiteouts over lower layers
[[layer.file]]
src = "target/release/hello"       # path relative to scratch.toml, or a URL with sha256
dest = "/usr/local/bin/hello"
mode = "0755"
[[layer.file]]
dest = "/etc/hello.toml"
content = "greeting = \"hi\"\n"
[[layer.symlink]]
dest = "/usr/bin/hello"
target = "/usr/local/bin/hello"
"#;

#[test]
fn design_example_parses() {
    let m = ok(DESIGN_EXAMPLE);
    assert_eq!(m.image.name, "scratch-alpine");
    assert_eq!(m.image.tag, "3.19.4");
    assert_eq!(m.image.platforms, vec![Platform::linux_amd64()]);
    assert_eq!(m.dir, PathBuf::from("proj"));
    assert_eq!(m.layers.len(), 2);
    let tar = m.layers[0].tar.as_ref().unwrap();
    assert!(tar.location.is_remote());
    assert_eq!(
        tar.sha256.unwrap().hex(),
        "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211"
    );
    let l = &m.layers[1];
    assert_eq!(l.remove.len(), 3);
    assert_eq!(l.remove[0].path.display(), "/etc/apk");
    assert!(!l.remove[0].optional);
    assert_eq!(l.remove[0].pos.as_ref().unwrap().line, 15);
    assert_eq!(l.files[0].mode, Some(0o755));
    assert_eq!(
        l.files[0].source,
        FileSource::Source(SourceSpec {
            location: Location::Local {
                written: "target/release/hello".into(),
                path: PathBuf::from("proj/target/release/hello"),
            },
            sha256: None,
        })
    );
    assert_eq!(
        l.files[1].source,
        FileSource::Inline("greeting = \"hi\"\n".into())
    );
    assert_eq!(l.symlinks[0].target, "/usr/local/bin/hello");
    let inputs = m.inputs();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].kind, InputKind::Tar);
    assert_eq!(inputs[1].kind, InputKind::File);
    assert_eq!(inputs[1].key, "target/release/hello");
    assert_eq!(inputs[1].layer, 1);
    let pos = inputs[1].pos.as_ref().unwrap();
    assert_eq!((pos.line, pos.column), (17, 7));
    assert_eq!(
        inputs[1].describe(),
        "proj/scratch.toml:17:7: file `target/release/hello` (layer 2)"
    );
}

const FULL: &str = r#"#:schema ../schemas/scratch.schema.json
[image]
name = "registry.example.com:5000/team/app"
tag = "v1.2"
source_date_epoch = 1700000000
platforms = ["linux/amd64", "aarch64"]
squash = true
usrmerge = true
strict = true
compression = "zstd:19"
sbom = "both"
annotations = { "org.opencontainers.image.source" = "https://example.com/app" }
base = "oci-archive:base.tar"

[config]
entrypoint = ["/app"]
cmd = ["--serve"]
env = ["A=1", "B=x=y"]
workdir = "/srv"
user = "1000:1000"
labels = { maintainer = "me" }
exposed_ports = ["80", "53/udp"]
volumes = ["/data"]
stop_signal = "SIGINT"

[[layer]]
comment = "base for amd64"
platform = "linux/amd64"
tar = "rootfs-amd64.tar.zst"
sha256 = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
license = "GPL-2.0-only AND MIT"
supplier = "Organization: Example"

[[layer]]
platforms = ["linux/arm64"]
tar = "file:///srv/rootfs-arm64.tar"

[[layer]]
remove = ["/var/cache/"]
[[layer.file]]
src = "https://example.com/tool"
sha256 = "0000000000000000000000000000000000000000000000000000000000000002"
dest = "/usr/bin/tool"
mode = "755"
uid = 1
gid = 2
[[layer.file]]
dest = "/etc/motd"
content = "hi\n"
[[layer.dir]]
dest = "/tmp"
mode = "1777"
[[layer.dir]]
src = "static"
dest = "/srv/static"
uid = 1000
gid = 1000
[[layer.symlink]]
dest = "/bin/tool"
target = "../usr/bin/tool"
uid = 3
gid = 4
[[layer.copy]]
from = "rootfs"
paths = ["/etc/ssl/certs/**", "/usr/share/zoneinfo/UTC"]
dest = "/opt"
symlinks = "follow"

[[input.rootfs]]
platform = "linux/amd64"
tar = "rootfs-amd64.tar.zst"
sha256 = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
[[input.rootfs]]
platforms = ["linux/arm64"]
tar = "file:///srv/rootfs-arm64.tar"

[[accounts.group]]
name = "staff"
gid = 50
[[accounts.user]]
name = "app"
uid = 1000
gid = 1000
home = "/srv"
shell = "/bin/sh"
groups = ["staff"]

[cache]
from = ["registry.example.com:5000/team/app-cache", "registry.example.com:5000/team/main-cache:ci"]
to = "registry.example.com:5000/team/app-cache,max=2G"
"#;

#[test]
fn full_manifest_uses_every_key() {
    let m = ok(FULL);
    assert_eq!(m.cache.from.len(), 2);
    assert_eq!(
        m.cache.from[1].reference.to_string(),
        "registry.example.com:5000/team/main-cache:ci"
    );
    let to = m.cache.to.as_ref().unwrap();
    assert_eq!(
        (to.reference.tag.as_deref(), to.max),
        (Some("compose-cache"), Some(2 << 30))
    );
    let amd = Platform::linux_amd64();
    let arm: Platform = "linux/arm64".parse().unwrap();
    assert_eq!(
        m.image,
        ImageSettings {
            name: "registry.example.com:5000/team/app".into(),
            tag: "v1.2".into(),
            source_date_epoch: Some(1_700_000_000),
            platforms: vec![amd.clone(), arm.clone()],
            squash: true,
            usrmerge: true,
            strict: true,
            compression: Some(Compression::Zstd(19)),
            sbom: Some(crate::sbom::SbomFormat::Both),
            annotations: [(
                "org.opencontainers.image.source".to_string(),
                "https://example.com/app".to_string()
            )]
            .into(),
            base: Some(
                crate::manifest::BaseSpec::parse(
                    "oci-archive:base.tar",
                    Path::new(FILE).parent().unwrap()
                )
                .unwrap()
            ),
        }
    );
    assert_eq!(
        m.config,
        ConfigSettings {
            entrypoint: Some(vec!["/app".into()]),
            cmd: Some(vec!["--serve".into()]),
            env: vec!["A=1".into(), "B=x=y".into()],
            workdir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            labels: [("maintainer".to_string(), "me".to_string())].into(),
            exposed_ports: vec!["80/tcp".into(), "53/udp".into()],
            volumes: vec!["/data".into()],
            stop_signal: Some("SIGINT".into()),
        }
    );
    let digest = |n: u8| {
        let mut d = [0u8; 32];
        d[31] = n;
        Sha256Digest(d)
    };
    assert_eq!(
        m.layers[0],
        LayerSpec {
            index: 0,
            comment: Some("base for amd64".into()),
            platforms: Some(vec![amd.clone()]),
            tar: Some(SourceSpec {
                location: Location::Local {
                    written: "rootfs-amd64.tar.zst".into(),
                    path: PathBuf::from("proj/rootfs-amd64.tar.zst"),
                },
                sha256: Some(digest(1)),
            }),
            image: None,
            remove: vec![],
            files: vec![],
            dirs: vec![],
            symlinks: vec![],
            copies: vec![],
            accounts: None,
        }
    );
    assert_eq!(m.layers[1].platforms, Some(vec![arm.clone()]));
    assert_eq!(
        m.layers[1].tar.as_ref().unwrap().location,
        Location::Url("file:///srv/rootfs-arm64.tar".into())
    );
    assert!(!m.layers[1].tar.as_ref().unwrap().location.is_remote());
    assert_eq!(
        m.layers[2],
        LayerSpec {
            index: 2,
            comment: None,
            platforms: None,
            tar: None,
            image: None,
            remove: vec![Removal {
                path: ImagePath::parse_str("var/cache").unwrap(),
                optional: false,
                pos: m.layers[2].remove[0].pos.clone(),
            }],
            files: vec![
                FileSpec {
                    dest: ImagePath::parse_str("usr/bin/tool").unwrap(),
                    source: FileSource::Source(SourceSpec {
                        location: Location::Url("https://example.com/tool".into()),
                        sha256: Some(digest(2)),
                    }),
                    mode: Some(0o755),
                    uid: Some(1),
                    gid: Some(2),
                },
                FileSpec {
                    dest: ImagePath::parse_str("etc/motd").unwrap(),
                    source: FileSource::Inline("hi\n".into()),
                    mode: None,
                    uid: None,
                    gid: None,
                }
            ],
            dirs: vec![
                DirSpec {
                    dest: ImagePath::parse_str("tmp").unwrap(),
                    src: None,
                    mode: Some(0o1777),
                    uid: None,
                    gid: None,
                },
                DirSpec {
                    dest: ImagePath::parse_str("srv/static").unwrap(),
                    src: Some(Location::Local {
                        written: "static".into(),
                        path: PathBuf::from("proj/static"),
                    }),
                    mode: None,
                    uid: Some(1000),
                    gid: Some(1000),
                },
            ],
            symlinks: vec![SymlinkSpec {
                dest: ImagePath::parse_str("bin/tool").unwrap(),
                target: "../usr/bin/tool".into(),
                uid: Some(3),
                gid: Some(4),
            }],
            copies: vec![CopySpec {
                from: "rootfs".into(),
                paths: vec!["/etc/ssl/certs/**".into(), "/usr/share/zoneinfo/UTC".into()],
                dest: Some(ImagePath::parse_str("/opt").unwrap()),
                symlinks: SymlinkMode::Follow,
            }],
            accounts: None,
        }
    );
    assert_eq!(
        m.accounts,
        AccountsSpec {
            users: vec![UserSpec {
                name: "app".into(),
                uid: 1000,
                gid: 1000,
                home: "/srv".into(),
                shell: "/bin/sh".into(),
                groups: vec!["staff".into()],
            }],
            groups: vec![GroupSpec {
                name: "staff".into(),
                gid: 50,
            }],
        }
    );
    let rootfs = &m.named_inputs["rootfs"];
    assert_eq!(
        rootfs.variant_for(&arm).unwrap().source.location.key(),
        "file:///srv/rootfs-arm64.tar"
    );
    let amd_layers: Vec<usize> = m.layers_for(&amd).map(|l| l.index).collect();
    let arm_layers: Vec<usize> = m.layers_for(&arm).map(|l| l.index).collect();
    assert_eq!(amd_layers, vec![0, 2, 3]);
    assert_eq!(arm_layers, vec![1, 2, 3]);
    assert_eq!(m.layers[3].accounts.as_ref(), Some(&m.accounts));
    assert_eq!(
        m.layers[3].describe(),
        "layer 4 (accounts: users app (1000); groups staff (50))"
    );
    let inputs = m.inputs();
    let summary: Vec<(InputKind, &str, usize, bool)> = inputs
        .iter()
        .map(|i| (i.kind, i.key.as_str(), i.layer, i.pin.is_some()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (InputKind::Tar, "rootfs-amd64.tar.zst", 0, true),
            (InputKind::Tar, "file:///srv/rootfs-arm64.tar", 1, false),
            (InputKind::File, "https://example.com/tool", 2, true),
            (InputKind::Dir, "static", 2, false),
            (InputKind::Tar, "rootfs-amd64.tar.zst", 2, true),
            (InputKind::Tar, "file:///srv/rootfs-arm64.tar", 2, false),
        ]
    );
    assert_eq!(inputs[4].platforms, Some(vec![amd.clone()]));
    // The position of the first [[input.rootfs]]'s `tar` (two lines below its header).
    let header = FULL.lines().position(|l| l == "[[input.rootfs]]").unwrap();
    assert_eq!(inputs[4].pos.as_ref().unwrap().line, header + 3);
    assert_eq!(inputs[0].platforms, Some(vec![amd]));
    assert_eq!(inputs[2].platforms, None);
}

/// Every key the schema knows appears in `FULL`, so the test above covers them all.
#[test]
fn full_manifest_covers_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let mut keys = Vec::new();
    let props = schema["properties"].as_object().unwrap();
    keys.extend(props.keys().cloned());
    for def in schema["definitions"].as_object().unwrap().values() {
        if let Some(p) = def["properties"].as_object() {
            keys.extend(p.keys().cloned());
        }
    }
    assert!(keys.len() > 30, "{keys:?}");
    for key in keys {
        let used = FULL.lines().any(|l| {
            let l = l.trim_start_matches('[').trim_start();
            l.starts_with(&format!("{key} "))
                || l.starts_with(&format!("{key}]"))
                || l.starts_with(&format!("layer.{key}]"))
                || l.starts_with(&format!("{key}."))
                || l.contains(&format!(".{key}]"))
        });
        assert!(used, "FULL does not use `{key}`");
    }
}

#[test]
fn defaults() {
    let m = ok(&with_head("[[layer]]\nremove = [\"/x\"]\n"));
    assert_eq!(m.image.tag, "latest");
    assert_eq!(m.image.platforms, vec![Platform::linux_amd64()]);
    assert_eq!(m.image.compression, None);
    assert_eq!(m.image.source_date_epoch, None);
    assert!(!m.image.squash);
    assert_eq!(m.config, ConfigSettings::default());
    let m = ok(HEAD);
    assert!(m.layers.is_empty());
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scratch.toml");
    std::fs::write(&path, with_head("[[layer]]\ntar = \"a.tar\"\n")).unwrap();
    let m = Manifest::load(&path).unwrap();
    assert_eq!(m.dir, dir.path());
    assert_eq!(
        m.layers[0].tar.as_ref().unwrap().location,
        Location::Local {
            written: "a.tar".into(),
            path: dir.path().join("a.tar")
        }
    );
    let missing = dir.path().join("nope.toml");
    let e = Manifest::load(&missing).unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("cannot read manifest {}: ", missing.display())));
    assert!(e.hint().unwrap().contains("-f PATH"));
}

// One test per error kind, asserting position and message.

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
