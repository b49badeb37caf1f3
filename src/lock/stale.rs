//! How a recorded lock can differ from what the manifest, the inputs and the settings now
//! give ([`Staleness`]), told with the real names of the manifest and its lock
//! ([`FileNames`]): `NAME.toml` is locked in `NAME.lock`, or wherever `--lockfile` says.

use super::{manifest_platforms, InputKind, Lock, LockedInput, PinnedInput, LOCK_FILE};
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::manifest::Manifest;
use crate::manifest::TextPos;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The manifest's and the lock's file names as messages show them (`app.toml`,
/// `app.lock`); the default is `scratch.toml` and `scratch.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNames {
    pub manifest: String,
    pub lock: String,
}

impl Default for FileNames {
    fn default() -> FileNames {
        FileNames {
            manifest: "scratch.toml".to_string(),
            lock: LOCK_FILE.to_string(),
        }
    }
}

impl FileNames {
    /// The names of `manifest` and `lock` (their last components).
    pub fn of(manifest: &Path, lock: &Path) -> FileNames {
        let name = |p: &Path, default: &str| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| default.to_string())
        };
        FileNames {
            manifest: name(manifest, "scratch.toml"),
            lock: name(lock, LOCK_FILE),
        }
    }
}

/// One way a recorded lock differs from what the manifest, the inputs or the settings
/// now give. Staleness is a warning, or an error with `--locked` / `lock --check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// There is no lock at all.
    NoLock,
    /// A manifest input the lock does not pin.
    NotInLock { kind: InputKind, source: String },
    /// A local input whose bytes differ from the lock's pin.
    LocalChanged {
        kind: InputKind,
        source: String,
        expected: Sha256Digest,
        actual: Sha256Digest,
        /// Where the manifest names the input, when known.
        at: Option<TextPos>,
    },
    /// A lock entry the manifest no longer uses.
    Unused { kind: InputKind, source: String },
    /// An input whose digest differs between the recorded and the current lock.
    InputChanged {
        kind: InputKind,
        source: String,
        recorded: Sha256Digest,
        current: Sha256Digest,
        /// Where the manifest names the input, when known.
        at: Option<TextPos>,
    },
    /// An input used on other platforms than recorded (empty = all).
    PlatformsChanged {
        kind: InputKind,
        source: String,
        recorded: Vec<String>,
        current: Vec<String>,
    },
    /// A setting (`source_date_epoch`, `compression`) that differs from the recorded one.
    Setting {
        name: &'static str,
        recorded: String,
        current: String,
    },
    /// A platform whose recorded output digests differ from the current ones, with what
    /// differs (config fields, layers, annotations) when it could be told.
    OutputChanged {
        platform: String,
        details: Vec<String>,
    },
    /// A platform of the manifest the lock records no image for.
    NoOutput { platform: String },
    /// A platform the lock records an image for, which the manifest no longer builds.
    PlatformRemoved { platform: String },
    /// `[image] base` or a `[[layer]] image` differs from what the lock records for it
    /// ([`crate::base::lock::staleness`]).
    Base(crate::base::lock::BaseStale),
}

fn platforms_text(p: &[String]) -> String {
    if p.is_empty() {
        "all platforms".to_string()
    } else {
        p.join(", ")
    }
}

impl Staleness {
    /// The finding in words, naming the manifest and the lock as `names` says.
    pub fn describe(&self, names: &FileNames) -> String {
        let (lock, manifest) = (&names.lock, &names.manifest);
        match self {
            Staleness::NoLock => format!("there is no {lock}"),
            Staleness::NotInLock { kind, source } => {
                format!("{kind} `{source}` is not pinned in {lock}")
            }
            Staleness::LocalChanged {
                kind,
                source,
                expected,
                actual,
                at,
            } => format!(
                "{}{kind} `{source}` changed: {lock} expects {expected}, the file now has {actual}",
                at.as_ref().map(|p| format!("{p}: ")).unwrap_or_default()
            ),
            Staleness::Unused { kind, source } => {
                format!("{lock} pins {kind} `{source}`, which {manifest} no longer uses")
            }
            Staleness::InputChanged {
                kind,
                source,
                recorded,
                current,
                at,
            } => format!(
                "{}{kind} `{source}`: {lock} pins {recorded}, the input is now {current}",
                at.as_ref().map(|p| format!("{p}: ")).unwrap_or_default()
            ),
            Staleness::PlatformsChanged {
                kind,
                source,
                recorded,
                current,
            } => format!(
                "{kind} `{source}`: {lock} records it for {}, {manifest} uses it for {}",
                platforms_text(recorded),
                platforms_text(current)
            ),
            Staleness::Setting {
                name,
                recorded,
                current,
            } => format!("{name}: {lock} records {recorded}, this build uses {current}"),
            Staleness::OutputChanged { platform, details } => {
                let mut s =
                    format!("the image for {platform} no longer has the digests {lock} records");
                for d in details {
                    s.push_str(&format!("\n      {d}"));
                }
                s
            }
            Staleness::NoOutput { platform } => format!("{lock} records no image for {platform}"),
            Staleness::PlatformRemoved { platform } => {
                format!("{lock} records an image for {platform}, which {manifest} no longer builds")
            }
            Staleness::Base(b) => b.describe(lock, manifest),
        }
    }
}

/// With the default names (`scratch.toml`, `scratch.lock`); commands that know the real
/// ones use [`Staleness::describe`].
impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&FileNames::default()))
    }
}

/// What a build finds stale before reading any input: no lock at all, manifest inputs the
/// lock lacks (from `pins`), lock entries the manifest no longer uses, and inputs used on
/// other platforms than recorded. Add [`PinnedInput::check_local`] results and
/// [`settings_staleness`] for the full list.
pub fn stale_report(
    manifest: &Manifest,
    lock: Option<&Lock>,
    pins: &[PinnedInput],
) -> Vec<Staleness> {
    let Some(lock) = lock else {
        return vec![Staleness::NoLock];
    };
    let mut out: Vec<Staleness> = Vec::new();
    for p in pins {
        if let Some(s) = &p.stale {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    let used = manifest_platforms(manifest);
    for entry in &lock.inputs {
        match used.get(&(entry.source.clone(), entry.kind)) {
            None => out.push(Staleness::Unused {
                kind: entry.kind,
                source: entry.source.clone(),
            }),
            Some(ps) if *ps != entry.platforms => out.push(Staleness::PlatformsChanged {
                kind: entry.kind,
                source: entry.source.clone(),
                recorded: entry.platforms.clone(),
                current: ps.clone(),
            }),
            Some(_) => {}
        }
    }
    out
}

/// The settings this build uses that differ from those the lock recorded.
pub fn settings_staleness(
    lock: &Lock,
    source_date_epoch: u64,
    compression: Compression,
) -> Vec<Staleness> {
    let mut out = Vec::new();
    if lock.source_date_epoch != source_date_epoch {
        out.push(Staleness::Setting {
            name: "source_date_epoch",
            recorded: lock.source_date_epoch.to_string(),
            current: source_date_epoch.to_string(),
        });
    }
    let current = compression.to_string();
    if lock.compression != current {
        out.push(Staleness::Setting {
            name: "compression",
            recorded: lock.compression.clone(),
            current,
        });
    }
    out
}

/// How `recorded` differs from a freshly computed lock `current`: settings, inputs added,
/// removed, changed or moved between platforms, and outputs (only for platforms whose
/// outputs `current` has computed). Empty when the lock is up to date.
pub fn staleness(recorded: &Lock, current: &Lock) -> Vec<Staleness> {
    let mut out = Vec::new();
    if recorded.compat_level != current.compat_level {
        out.push(Staleness::Setting {
            name: "compat_level",
            recorded: recorded.compat_level.to_string(),
            current: current.compat_level.to_string(),
        });
    }
    if recorded.source_date_epoch != current.source_date_epoch {
        out.push(Staleness::Setting {
            name: "source_date_epoch",
            recorded: recorded.source_date_epoch.to_string(),
            current: current.source_date_epoch.to_string(),
        });
    }
    if recorded.compression != current.compression {
        out.push(Staleness::Setting {
            name: "compression",
            recorded: recorded.compression.clone(),
            current: current.compression.clone(),
        });
    }
    let mut rec = recorded.clone();
    rec.normalise();
    let mut cur = current.clone();
    cur.normalise();
    let old: BTreeMap<(&str, InputKind), &LockedInput> = rec
        .inputs
        .iter()
        .map(|i| ((i.source.as_str(), i.kind), i))
        .collect();
    let new: BTreeMap<(&str, InputKind), &LockedInput> = cur
        .inputs
        .iter()
        .map(|i| ((i.source.as_str(), i.kind), i))
        .collect();
    for (&(source, kind), n) in &new {
        match old.get(&(source, kind)) {
            None => out.push(Staleness::NotInLock {
                kind,
                source: source.to_string(),
            }),
            Some(o) => {
                if o.sha256 != n.sha256 || o.size != n.size {
                    out.push(Staleness::InputChanged {
                        kind,
                        source: source.to_string(),
                        recorded: o.sha256,
                        current: n.sha256,
                        at: None,
                    });
                }
                if o.platforms != n.platforms {
                    out.push(Staleness::PlatformsChanged {
                        kind,
                        source: source.to_string(),
                        recorded: o.platforms.clone(),
                        current: n.platforms.clone(),
                    });
                }
            }
        }
    }
    for &(source, kind) in old.keys() {
        if !new.contains_key(&(source, kind)) {
            out.push(Staleness::Unused {
                kind,
                source: source.to_string(),
            });
        }
    }
    out.extend(
        crate::base::lock::staleness(rec.base.as_ref(), cur.base.as_ref())
            .into_iter()
            .map(Staleness::Base),
    );
    out.extend(
        crate::base::lock::images_staleness(&rec.images, &cur.images)
            .into_iter()
            .map(Staleness::Base),
    );
    for (platform, n) in &cur.outputs {
        if !rec.outputs.get(platform).is_some_and(|r| r.matches(n)) {
            out.push(Staleness::OutputChanged {
                platform: platform.clone(),
                details: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_use_the_real_file_names() {
        let names = FileNames::of(Path::new("dir/app.toml"), Path::new("locks/ci.lock"));
        assert_eq!(names.manifest, "app.toml");
        assert_eq!(names.lock, "ci.lock");
        let s = Staleness::Unused {
            kind: InputKind::Tar,
            source: "a.tar".into(),
        };
        assert_eq!(
            s.describe(&names),
            "ci.lock pins tar `a.tar`, which app.toml no longer uses"
        );
        assert_eq!(Staleness::NoLock.describe(&names), "there is no ci.lock");
        assert_eq!(Staleness::NoLock.to_string(), "there is no scratch.lock");
    }
}
