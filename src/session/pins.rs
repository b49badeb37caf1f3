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
