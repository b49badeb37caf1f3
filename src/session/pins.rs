//! The pins of each input, from the manifest and the lock: what a build must find, what
//! `compose lock` keeps, and the check that bytes have the digest pinned for them. The
//! rules themselves (which side wins, what is stale) are `crate::lock`'s.

use super::{BuildError, Session};
use crate::digest::Sha256Digest;
use crate::fetch::FetchError;
use crate::lock::{self, InputKind, Lock, PinHolder, PinnedInput, WrongPin};
use crate::manifest::{InputRef, Manifest};
use crate::platform::Platform;
use crate::Result;

/// What `compose lock` should download again instead of keeping the old lock's pin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// Keep every pin the old lock has.
    #[default]
    Nothing,
    /// Re-pin every input the manifest does not pin itself.
    All,
    /// Re-pin inputs whose source is, or ends with, this string.
    Input(String),
}

impl Update {
    /// True when `input` is to be downloaded again.
    pub fn covers(&self, input: &InputRef) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Input(s) => input.key == *s || input.key.ends_with(s.as_str()),
        }
    }
}

/// The inputs of the layers that apply to `platforms`, each once, with the pins of the
/// manifest and `lock`.
pub fn wanted(
    manifest: &Manifest,
    lock: Option<&Lock>,
    platforms: &[Platform],
    names: &lock::FileNames,
) -> Result<Vec<PinnedInput>> {
    let pins = lock::resolve_pins(manifest, lock).map_err(|e| e.named(names))?;
    let mut wanted: Vec<PinnedInput> = Vec::new();
    for p in pins {
        let used = p
            .input
            .platforms
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|x| platforms.contains(x)));
        if used
            && !wanted
                .iter()
                .any(|w| w.input.kind == p.input.kind && w.input.key == p.input.key)
        {
            wanted.push(p);
        }
    }
    Ok(wanted)
}

/// Every input of the manifest, once, with the pin `compose lock` must enforce: the
/// manifest's, else the old lock's for a remote input not being updated (local inputs are
/// always hashed again).
pub fn for_lock(
    manifest: &Manifest,
    old: Option<&Lock>,
    update: &Update,
) -> Vec<(InputRef, Option<Sha256Digest>)> {
    let mut seen: Vec<(InputKind, String)> = Vec::new();
    let mut inputs = Vec::new();
    for input in manifest.inputs() {
        if seen.contains(&(input.kind, input.key.clone())) {
            continue;
        }
        seen.push((input.kind, input.key.clone()));
        let old_pin = old
            .and_then(|l| l.find(input.kind, &input.key))
            .filter(|_| !update.covers(&input) && input.location.is_remote())
            .map(|e| e.sha256);
        let pin = input.pin.or(old_pin);
        inputs.push((input, pin));
    }
    inputs
}

impl Session {
    /// The explanation of `input`'s bytes having `actual` instead of `pinned`: the
    /// manifest's pin when it is the manifest's, else the lock's.
    pub fn wrong_pin(
        &self,
        input: &InputRef,
        pinned: Sha256Digest,
        actual: Sha256Digest,
        via: Option<String>,
    ) -> WrongPin {
        let holder = match input.pin {
            Some(p) if p == pinned => PinHolder::Manifest {
                at: self
                    .manifest()
                    .pin_positions
                    .get(&input.key)
                    .cloned()
                    .unwrap_or_default(),
            },
            _ => PinHolder::Lock,
        };
        WrongPin {
            kind: input.kind,
            key: input.key.clone(),
            layer: input.layer,
            source_at: input.pos.clone(),
            remote: input.location.is_remote(),
            via,
            pinned,
            actual,
            holder,
            names: self.file_names(),
        }
    }

    /// An error when `actual` is not the `pin` (when there is one), saying where the pin
    /// is written and how to fix it.
    pub fn check_pin(
        &self,
        input: &InputRef,
        pin: Option<Sha256Digest>,
        actual: &Sha256Digest,
    ) -> Result<()> {
        match pin {
            Some(pin) if pin != *actual => Err(BuildError::WrongPin(Box::new(
                self.wrong_pin(input, pin, *actual, None),
            ))
            .into()),
            _ => Ok(()),
        }
    }

    /// `e` with each checksum error of one of `inputs` explained ([`Session::wrong_pin`]).
    pub fn explain_fetch(&self, e: FetchError, inputs: &[&InputRef]) -> FetchError {
        match e {
            FetchError::Checksum {
                url,
                original,
                expected,
                actual,
            } => {
                let written = original.clone().unwrap_or_else(|| url.clone());
                let input = inputs.iter().find(|i| {
                    i.key == written
                        || reqwest::Url::parse(&i.key)
                            .ok()
                            .and_then(|u| u.to_file_path().ok())
                            .is_some_and(|p| p.display().to_string() == written)
                });
                match input {
                    Some(i) => {
                        let via = original.is_some().then(|| url.clone());
                        FetchError::WrongPin(Box::new(self.wrong_pin(i, expected, actual, via)))
                    }
                    None => FetchError::Checksum {
                        url,
                        original,
                        expected,
                        actual,
                    },
                }
            }
            FetchError::Several(errors) => FetchError::Several(
                errors
                    .into_iter()
                    .map(|e| self.explain_fetch(e, inputs))
                    .collect(),
            ),
            other => other,
        }
    }
}

impl Update {
    /// True when `compose lock` should resolve the base's tag again: `--update` alone,
    /// `--update base`, or `--update` with (the end of) the base's reference.
    pub fn covers_base(&self, spec: &crate::manifest::BaseSpec) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Input(s) => {
                s == "base" || spec.written == *s || spec.lock_key().ends_with(s.as_str())
            }
        }
    }
}

/// The digest `[image] base` resolves from, if any: the reference's own `@sha256:`, else
/// (for a registry) the digest the lock records for the same reference, unless
/// `compose lock --update` moves it. A manifest pin that disagrees with the lock is an
/// error. A local base without a pin is read as it is now (the lock then only says
/// whether it changed, like a local input).
pub fn base_pin(
    spec: &crate::manifest::BaseSpec,
    lock: Option<&Lock>,
    pinning: super::base::BasePinning,
) -> Result<Option<Sha256Digest>> {
    let locked = lock
        .and_then(|l| l.base.as_ref())
        .filter(|b| b.source == spec.lock_key())
        .map(|b| b.digest);
    image_pin(spec, locked, pinning)
}

/// [`base_pin`] for the image of a `[[layer]] image`, which the lock records under
/// `[[image]]` by the same key.
pub fn layer_image_pin(
    spec: &crate::manifest::BaseSpec,
    lock: Option<&Lock>,
    pinning: super::base::BasePinning,
) -> Result<Option<Sha256Digest>> {
    let locked = lock
        .and_then(|l| l.images.iter().find(|b| b.source == spec.lock_key()))
        .map(|b| b.digest);
    image_pin(spec, locked, pinning)
}

/// The pin of an image reference given what the lock records for it (`locked`).
fn image_pin(
    spec: &crate::manifest::BaseSpec,
    locked: Option<Sha256Digest>,
    pinning: super::base::BasePinning,
) -> Result<Option<Sha256Digest>> {
    if let Some(d) = spec.digest {
        return match locked {
            Some(l) if l != d && pinning == super::base::BasePinning::Locked => {
                Err(super::base::pin_mismatch(spec, d, l))
            }
            _ => Ok(Some(d)),
        };
    }
    if !spec.is_remote() {
        return Ok(None);
    }
    Ok(match pinning {
        super::base::BasePinning::Lock { update: true } => None,
        _ => locked,
    })
}

#[cfg(test)]
mod base_pin_tests {
    use super::*;
    use crate::base::LockedBase;
    use crate::compression::Compression;
    use crate::manifest::BaseSpec;
    use crate::session::base::BasePinning;
    use std::path::Path;

    fn d(b: u8) -> Sha256Digest {
        Sha256Digest([b; 32])
    }

    fn lock_with(source: &str, digest: Sha256Digest) -> Lock {
        let mut l = Lock::new(0, Compression::None, Vec::new());
        l.base = Some(LockedBase {
            source: source.into(),
            digest,
            platforms: Default::default(),
        });
        l
    }

    #[test]
    fn a_tag_is_pinned_by_the_lock_until_lock_updates_it() {
        let spec = BaseSpec::parse("localhost:5000/base:1", Path::new("/m")).unwrap();
        let lock = lock_with("localhost:5000/base:1", d(1));
        let pin = |l: Option<&Lock>, p| base_pin(&spec, l, p).unwrap();
        assert_eq!(pin(Some(&lock), BasePinning::Locked), Some(d(1)));
        assert_eq!(pin(None, BasePinning::Locked), None, "resolve refuses it");
        assert_eq!(
            pin(Some(&lock), BasePinning::Lock { update: false }),
            Some(d(1))
        );
        assert_eq!(pin(Some(&lock), BasePinning::Lock { update: true }), None);
        // Another reference does not take this one's pin.
        let other = lock_with("localhost:5000/base:2", d(1));
        assert_eq!(pin(Some(&other), BasePinning::Locked), None);
    }

    #[test]
    fn the_manifest_pin_wins_and_must_agree_with_the_lock_at_build_time() {
        let text = format!("localhost:5000/base:1@{}", d(2));
        let spec = BaseSpec::parse(&text, Path::new("/m")).unwrap();
        let same = lock_with("localhost:5000/base:1", d(2));
        assert_eq!(
            base_pin(&spec, Some(&same), BasePinning::Locked).unwrap(),
            Some(d(2))
        );
        let other = lock_with("localhost:5000/base:1", d(1));
        let e = base_pin(&spec, Some(&other), BasePinning::Locked).unwrap_err();
        assert!(e.to_string().contains("scratch.toml pins"), "{e}");
        assert_eq!(
            base_pin(&spec, Some(&other), BasePinning::Lock { update: false }).unwrap(),
            Some(d(2)),
            "compose lock records the manifest's pin"
        );
    }

    #[test]
    fn a_local_base_is_read_as_it_is_now() {
        let spec = BaseSpec::parse("oci:layout", Path::new("/m")).unwrap();
        let lock = lock_with("oci:layout", d(1));
        assert_eq!(
            base_pin(&spec, Some(&lock), BasePinning::Locked).unwrap(),
            None
        );
    }

    #[test]
    fn update_names_the_base() {
        let spec = BaseSpec::parse("localhost:5000/team/base:1", Path::new("/m")).unwrap();
        assert!(Update::All.covers_base(&spec));
        assert!(Update::Input("base".into()).covers_base(&spec));
        assert!(Update::Input("team/base:1".into()).covers_base(&spec));
        assert!(!Update::Input("other".into()).covers_base(&spec));
        assert!(!Update::Nothing.covers_base(&spec));
    }
}
