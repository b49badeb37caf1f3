use super::*;

pub(super) const FILE: &str = "proj/scratch.toml";

/// The error for `text`, as `line:column: message`.
pub(super) fn err(text: &str) -> String {
    let e = Manifest::parse(text, Path::new(FILE)).unwrap_err();
    assert!(e.hint().is_some(), "every manifest error has a hint: {e}");
    let s = e.to_string();
    s.strip_prefix(&format!("{FILE}:"))
        .unwrap_or_else(|| panic!("no file position in {s}"))
        .to_string()
}

pub(super) fn ok(text: &str) -> Manifest {
    Manifest::parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) const HEAD: &str = "[image]\nname = \"x\"\n";

/// `HEAD` + `rest`: the errors below are on line 3 and after.
pub(super) fn with_head(rest: &str) -> String {
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
