//! How a recorded lock can differ from what the manifest, the inputs and the settings now
//! give ([`Staleness`]), told with the real names of the manifest and its lock
//! ([`FileNames`]): `NAME.toml` is locked in `NAME.lock`, or wherever `--lockfile` says.

use super::{InputKind, LOCK_FILE};
use crate::digest::Sha256Digest;
use crate::manifest::TextPos;
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
    /// ([`crate::base::lock::staleness`]), in words.
    Base(String),
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
            // Worded with the default names by `base::lock`, which knows neither file.
            Staleness::Base(what) => what
                .replace("scratch.lock", lock)
                .replace("scratch.toml", manifest),
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
