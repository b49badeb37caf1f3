//! `compose tree`: the merged tree of an image as users inspect it, in text (one line
//! per entry, like `ls -l`) or JSON, optionally with content digests and the layer each
//! entry comes from.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::digest::Sha256Digest;
use crate::entry::{Entry, ImagePath, Kind};

/// Which layer last wrote each path (its label), for `--long`.
#[derive(Debug, Default, Clone)]
pub struct Origins(HashMap<ImagePath, String>);

impl Origins {
    /// Record that layer `label` wrote every entry of its canonical form `layer`.
    pub fn record(&mut self, label: &str, layer: &[Entry]) {
        for e in layer {
            if !e.path.file_name().starts_with(b".wh.") {
                self.0.insert(e.path.clone(), label.to_string());
            }
        }
    }

    /// The layer that last wrote `path`.
    pub fn of(&self, path: &ImagePath) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }
}

/// One platform's tree, ready to print.
pub struct PlatformTree<'a> {
    pub platform: String,
    pub entries: &'a [Entry],
    /// Present with `--long`.
    pub origins: Option<&'a Origins>,
}

/// The sha256 of a regular file's content (`--long`).
fn content_digest(e: &Entry) -> std::io::Result<Option<Sha256Digest>> {
    match &e.kind {
        Kind::File(c) => Ok(Some(Sha256Digest::of_reader(c.open()?)?.0)),
        _ => Ok(None),
    }
}

/// `ls -l` style permissions with the type letter (`-`, `d`, `l`, `h` for a hard link,
/// `c`, `b`, `p`), including setuid, setgid and sticky.
pub fn mode_string(e: &Entry) -> String {
    let t = match e.kind {
        Kind::File(_) => '-',
        Kind::Dir => 'd',
        Kind::Symlink(_) => 'l',
        Kind::HardLink(_) => 'h',
        Kind::CharDevice { .. } => 'c',
        Kind::BlockDevice { .. } => 'b',
        Kind::Fifo => 'p',
    };
    let m = e.mode;
    let mut s = String::with_capacity(10);
    s.push(t);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, m & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn target_of(e: &Entry) -> Option<String> {
    match &e.kind {
        Kind::Symlink(t) => Some(String::from_utf8_lossy(t).into_owned()),
        Kind::HardLink(t) => Some(t.display()),
        _ => None,
    }
}

/// The text listing: per entry `MODE UID:GID SIZE PATH[ -> TARGET]` (`link to` for hard
/// links, `major,minor` for devices in the size column), with `--long` the content
/// digest and layer appended; a `== PLATFORM ==` heading when there are several.
pub fn render_text(trees: &[PlatformTree<'_>]) -> std::io::Result<String> {
    let mut out = String::new();
    for t in trees {
        if trees.len() > 1 {
            let _ = writeln!(out, "== {} ==", t.platform);
        }
        for e in t.entries {
            let size = match e.kind {
                Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                    format!("{major},{minor}")
                }
                _ => e.size().to_string(),
            };
            let _ = write!(
                out,
                "{} {:>5}:{:<5} {size:>10} {}",
                mode_string(e),
                e.uid,
                e.gid,
                e.path
            );
            match (&e.kind, target_of(e)) {
                (Kind::HardLink(_), Some(t)) => {
                    let _ = write!(out, " link to {t}");
                }
                (_, Some(t)) => {
                    let _ = write!(out, " -> {t}");
                }
                _ => {}
            }
            if let Some(o) = t.origins {
                let digest = content_digest(e)?.map(|d| format!("sha256:{}", d.hex()));
                let _ = write!(
                    out,
                    "  {}  {}",
                    digest.as_deref().unwrap_or("-"),
                    o.of(&e.path).unwrap_or("-")
                );
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// The JSON listing: `[{"platform": P, "entries": [{path, type, mode, uid, gid, size,
/// target?, major?, minor?, xattrs?, sha256?, layer?}]}]`, keys sorted.
pub fn render_json(trees: &[PlatformTree<'_>]) -> std::io::Result<String> {
    use serde_json::{json, Map, Value};
    let mut list = Vec::new();
    for t in trees {
        let mut entries = Vec::new();
        for e in t.entries {
            let mut m = Map::new();
            m.insert("path".into(), json!(e.path.display()));
            m.insert("type".into(), json!(e.kind.name()));
            m.insert("mode".into(), json!(format!("{:04o}", e.mode)));
            m.insert("uid".into(), json!(e.uid));
            m.insert("gid".into(), json!(e.gid));
            m.insert("size".into(), json!(e.size()));
            if let Some(target) = target_of(e) {
                m.insert("target".into(), json!(target));
            }
            if let Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } = e.kind {
                m.insert("major".into(), json!(major));
                m.insert("minor".into(), json!(minor));
            }
            if !e.xattrs.is_empty() {
                let x: Map<String, Value> = e
                    .xattrs
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(String::from_utf8_lossy(v))))
                    .collect();
                m.insert("xattrs".into(), Value::Object(x));
            }
            if let Some(o) = t.origins {
                if let Some(d) = content_digest(e)? {
                    m.insert("sha256".into(), json!(format!("sha256:{}", d.hex())));
                }
                if let Some(l) = o.of(&e.path) {
                    m.insert("layer".into(), json!(l));
                }
            }
            entries.push(Value::Object(m));
        }
        list.push(json!({ "platform": t.platform, "entries": entries }));
    }
    let mut s = serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default();
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Content;
    use std::sync::Arc;

    fn entries() -> Vec<Entry> {
        let p = |s: &str| ImagePath::parse_str(s).unwrap();
        let mut passwd = Entry::new(
            p("etc/passwd"),
            Kind::File(Content::Inline(Arc::from(&b"root\n"[..]))),
            0o644,
        );
        passwd.uid = 0;
        let mut su = Entry::new(p("bin/su"), Kind::File(Content::Empty), 0o4755);
        su.gid = 1;
        vec![
            Entry::dir(p("bin")),
            su,
            Entry::new(p("bin/sh"), Kind::HardLink(p("bin/su")), 0o4755),
            Entry::dir(p("etc")),
            Entry::new(
                p("etc/localtime"),
                Kind::Symlink(b"/usr/share/zoneinfo/UTC".to_vec()),
                0o777,
            ),
            passwd,
            Entry::new(
                p("dev/null"),
                Kind::CharDevice { major: 1, minor: 3 },
                0o666,
            ),
            Entry::new(p("tmp"), Kind::Dir, 0o1777),
        ]
    }

    #[test]
    fn text_lists_type_mode_owner_size_path_and_targets() {
        let e = entries();
        let text = render_text(&[PlatformTree {
            platform: "linux/amd64".into(),
            entries: &e,
            origins: None,
        }])
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "drwxr-xr-x     0:0              0 /bin");
        assert_eq!(lines[1], "-rwsr-xr-x     0:1              0 /bin/su");
        assert_eq!(
            lines[2],
            "hrwsr-xr-x     0:0              0 /bin/sh link to /bin/su"
        );
        assert_eq!(
            lines[4],
            "lrwxrwxrwx     0:0              0 /etc/localtime -> /usr/share/zoneinfo/UTC"
        );
        assert_eq!(lines[5], "-rw-r--r--     0:0              5 /etc/passwd");
        assert_eq!(lines[6], "crw-rw-rw-     0:0            1,3 /dev/null");
        assert_eq!(lines[7], "drwxrwxrwt     0:0              0 /tmp");
    }

    #[test]
    fn long_adds_digests_and_layers_and_json_has_the_same() {
        let e = entries();
        let mut o = Origins::default();
        o.record("layer 1 (base)", &e[..4]);
        o.record("layer 2", &e[4..]);
        let trees = [
            PlatformTree {
                platform: "linux/amd64".into(),
                entries: &e,
                origins: Some(&o),
            },
            PlatformTree {
                platform: "linux/arm64/v8".into(),
                entries: &e[..1],
                origins: Some(&o),
            },
        ];
        let text = render_text(&trees).unwrap();
        assert!(text.starts_with("== linux/amd64 ==\n"));
        let root_digest = "sha256:".to_string() + &Sha256Digest::of(b"root\n").hex();
        assert!(
            text.contains(&format!("/etc/passwd  {root_digest}  layer 2\n")),
            "{text}"
        );
        assert!(text.contains("/bin  -  layer 1 (base)\n"));
        assert!(text.contains("== linux/arm64/v8 ==\n"));
        let json: serde_json::Value = serde_json::from_str(&render_json(&trees).unwrap()).unwrap();
        let passwd = &json[0]["entries"][5];
        assert_eq!(passwd["path"], "/etc/passwd");
        assert_eq!(passwd["mode"], "0644");
        assert_eq!(passwd["sha256"], root_digest.as_str());
        assert_eq!(passwd["layer"], "layer 2");
        assert_eq!(json[0]["entries"][6]["major"], 1);
        assert_eq!(json[1]["platform"], "linux/arm64/v8");
    }
}
