//! What `scratch.lock` records for a base: the digest the reference resolved to (a tag is
//! resolved once, by `compose lock`) and, per platform, the manifest, the config and every
//! layer blob with its size, so a build can fetch and check each of them and `--offline`
//! knows exactly what the cache must hold.

use super::resolve::{BlobRef, ResolvedBase};
use crate::digest::Sha256Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `[base]` table of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// The reference as the lock keys it ([`crate::manifest::BaseSpec::lock_key`]).
    pub source: String,
    /// The manifest or index digest it resolved to.
    pub digest: Sha256Digest,
    /// Per platform (`linux/arm64/v8`), the image picked.
    #[serde(default, rename = "platform")]
    pub platforms: BTreeMap<String, LockedBaseImage>,
}

/// One platform's base image in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBaseImage {
    pub manifest: Sha256Digest,
    pub manifest_size: u64,
    pub config: Sha256Digest,
    pub config_size: u64,
    /// The layer blobs, bottom first.
    #[serde(default, rename = "layer")]
    pub layers: Vec<LockedBlob>,
}

/// One layer blob in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBlob {
    pub digest: Sha256Digest,
    pub size: u64,
    pub media_type: String,
}

impl From<&BlobRef> for LockedBlob {
    fn from(b: &BlobRef) -> Self {
        LockedBlob {
            digest: b.digest,
            size: b.size,
            media_type: b.media_type.clone(),
        }
    }
}

impl LockedBase {
    /// What to record for `base`.
    pub fn of(base: &ResolvedBase) -> LockedBase {
        LockedBase {
            source: base.spec.lock_key(),
            digest: base.digest,
            platforms: base
                .images
                .iter()
                .map(|i| {
                    (
                        i.platform.to_string(),
                        LockedBaseImage {
                            manifest: i.manifest.digest,
                            manifest_size: i.manifest.size,
                            config: i.config_blob.digest,
                            config_size: i.config_blob.size,
                            layers: i.layers.iter().map(|l| (&l.blob).into()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The table as TOML (`[base]`, `[base.platform."linux/amd64"]`, `[[…layer]]`),
    /// stable: fields in a fixed order, platforms sorted.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct Wrapper<'a> {
            base: &'a LockedBase,
        }
        toml::to_string(&Wrapper { base: self }).expect("a lock table always serializes")
    }

    /// Read the `[base]` table of a lock's text, when it has one.
    pub fn from_toml(text: &str) -> Result<Option<LockedBase>, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            base: Option<LockedBase>,
        }
        let w: Wrapper = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(w.base)
    }

    /// How `now` differs from this record, one line per difference (empty: the same);
    /// `what` names it (`base`, or `image` for a `[[layer]] image`).
    pub fn differences(&self, now: &LockedBase, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.source != now.source {
            out.push(format!("{what}: `{}` is now `{}`", self.source, now.source));
        }
        if self.digest != now.digest {
            out.push(format!(
                "{what} `{}`: locked at {}, now resolves to {}",
                now.source, self.digest, now.digest
            ));
        }
        for p in now.platforms.keys() {
            if !self.platforms.contains_key(p) {
                out.push(format!(
                    "{what} `{}`: platform {p} is not locked",
                    now.source
                ));
            }
        }
        for (p, locked) in &self.platforms {
            match now.platforms.get(p) {
                None => out.push(format!(
                    "{what} `{}`: platform {p} is locked but no longer built",
                    now.source
                )),
                Some(n) if n != locked => out.push(format!(
                    "{what} `{}`: platform {p}: manifest {} is now {}",
                    now.source, locked.manifest, n.manifest
                )),
                Some(_) => {}
            }
        }
        out
    }
}

/// How the lock's record of a base or of a `[[layer]] image` is stale. The lines name
/// neither the lock nor the manifest: [`BaseStale::describe`] is given their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseStale {
    /// `what` (`base` or `image`) `source` is not pinned in the lock.
    NotPinned { what: &'static str, source: String },
    /// The lock pins `what` `source`, which the manifest no longer uses.
    Unused { what: &'static str, source: String },
    /// One way the pinned one differs from what the manifest now resolves to.
    Differs(String),
}

impl BaseStale {
    /// In words, naming the lock and the manifest files as given.
    pub fn describe(&self, lock: &str, manifest: &str) -> String {
        match self {
            BaseStale::NotPinned { what, source } => {
                format!("{what} `{source}` is not pinned in {lock}")
            }
            BaseStale::Unused { what, source } => {
                format!("{lock} pins {what} `{source}`, which {manifest} no longer uses")
            }
            BaseStale::Differs(line) => line.clone(),
        }
    }
}

/// The `[[image]]` tables of the lock (the images of `[[layer]] image`), in order.
pub fn images_toml(images: &[LockedBase]) -> String {
    #[derive(Serialize)]
    struct Wrapper<'a> {
        image: &'a [LockedBase],
    }
    toml::to_string(&Wrapper { image: images }).expect("a lock table always serializes")
}

/// What makes a lock stale about the images of `[[layer]] image`, matched by source.
pub fn images_staleness(recorded: &[LockedBase], current: &[LockedBase]) -> Vec<BaseStale> {
    let mut out = Vec::new();
    for c in current {
        match recorded.iter().find(|r| r.source == c.source) {
            None => out.push(BaseStale::NotPinned {
                what: "image",
                source: c.source.clone(),
            }),
            Some(r) => out.extend(
                r.differences(c, "image")
                    .into_iter()
                    .map(BaseStale::Differs),
            ),
        }
    }
    for r in recorded {
        if !current.iter().any(|c| c.source == r.source) {
            out.push(BaseStale::Unused {
                what: "image",
                source: r.source.clone(),
            });
        }
    }
    out
}

/// What makes a lock stale about its base: one item per difference between the base the
/// lock records and the one the manifest now resolves to (none for both absent).
pub fn staleness(recorded: Option<&LockedBase>, current: Option<&LockedBase>) -> Vec<BaseStale> {
    match (recorded, current) {
        (None, None) => Vec::new(),
        (None, Some(c)) => vec![BaseStale::NotPinned {
            what: "base",
            source: c.source.clone(),
        }],
        (Some(r), None) => vec![BaseStale::Unused {
            what: "base",
            source: r.source.clone(),
        }],
        (Some(r), Some(c)) => r
            .differences(c, "base")
            .into_iter()
            .map(BaseStale::Differs)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> Sha256Digest {
        Sha256Digest([b; 32])
    }

    fn sample() -> LockedBase {
        LockedBase {
            source: "localhost:5000/base:1".into(),
            digest: d(1),
            platforms: [(
                "linux/amd64".to_string(),
                LockedBaseImage {
                    manifest: d(2),
                    manifest_size: 400,
                    config: d(3),
                    config_size: 500,
                    layers: vec![LockedBlob {
                        digest: d(4),
                        size: 600,
                        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                    }],
                },
            )]
            .into(),
        }
    }

    #[test]
    fn the_table_round_trips_and_reads_well() {
        let l = sample();
        let text = l.to_toml();
        assert!(
            text.starts_with("[base]\nsource = \"localhost:5000/base:1\"\n"),
            "{text}"
        );
        assert!(text.contains("[base.platform.\"linux/amd64\"]"), "{text}");
        assert!(
            text.contains("[[base.platform.\"linux/amd64\".layer]]"),
            "{text}"
        );
        assert_eq!(LockedBase::from_toml(&text).unwrap(), Some(l));
        assert_eq!(LockedBase::from_toml("version = 1\n").unwrap(), None);
    }

    #[test]
    fn a_lock_with_a_base_and_images_round_trips_and_tells_them_apart() {
        let mut l = crate::lock::Lock::new(0, crate::compression::Compression::None, vec![]);
        l.base = Some(sample());
        let mut tools = sample();
        tools.source = "oci:tools".into();
        l.images = vec![tools.clone()];
        let text = l.to_toml();
        assert!(
            text.contains("\n[[image]]\nsource = \"oci:tools\"\n"),
            "{text}"
        );
        let back = crate::lock::Lock::parse(&text, std::path::Path::new("scratch.lock")).unwrap();
        assert_eq!(back, l);
        assert!(staleness(Some(&sample()), Some(&sample())).is_empty());
        let said = |s: &BaseStale| s.describe("app.lock", "app.toml");
        assert_eq!(
            said(&staleness(None, Some(&sample()))[0]),
            "base `localhost:5000/base:1` is not pinned in app.lock"
        );
        assert_eq!(
            said(&staleness(Some(&sample()), None)[0]),
            "app.lock pins base `localhost:5000/base:1`, which app.toml no longer uses"
        );
        let mut moved = tools.clone();
        moved.digest = d(7);
        let found = images_staleness(&[tools], &[moved]);
        assert!(
            said(&found[0]).starts_with("image `oci:tools`"),
            "{found:?}"
        );
    }

    #[test]
    fn differences_name_what_moved() {
        let a = sample();
        assert!(a.differences(&a, "base").is_empty());
        let mut b = sample();
        b.digest = d(9);
        b.platforms.get_mut("linux/amd64").unwrap().manifest = d(8);
        let diff = a.differences(&b, "base");
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].contains("now resolves to"));
        assert!(diff[1].contains("linux/amd64"));
    }
}
