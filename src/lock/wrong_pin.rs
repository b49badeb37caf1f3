//! A pin its bytes contradict, told so that the next command fixes it: where the pin is
//! written (the manifest's `file:line:column`, or the lock), which side holds the value
//! that differs, and the command that re-pins it. "Run `compose lock` again" is not
//! enough: `compose lock` keeps the pins it finds, so it fails the same way.

use super::{FileNames, InputKind};
use crate::digest::Sha256Digest;
use crate::manifest::TextPos;
use std::fmt;

/// Who holds a pin that differs from the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinHolder {
    /// `sha256` in the manifest, written at these places (every one must change).
    Manifest { at: Vec<TextPos> },
    /// The lock alone (the manifest does not pin the input).
    Lock,
}

/// A pin its bytes contradict: a download, or a local file, whose sha256 is not the one
/// the manifest or the lock pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongPin {
    pub kind: InputKind,
    /// The source as written (the lock key; what `compose lock --update` takes).
    pub key: String,
    /// 0-based index of the layer using it.
    pub layer: usize,
    /// Where the manifest names the source, when known.
    pub source_at: Option<TextPos>,
    /// True for a download, false for a local file.
    pub remote: bool,
    /// The URL the bytes came from, when a mirror rule rewrote it.
    pub via: Option<String>,
    pub pinned: Sha256Digest,
    pub actual: Sha256Digest,
    pub holder: PinHolder,
    pub names: FileNames,
}

impl WrongPin {
    fn input(&self) -> String {
        format!("{} `{}` (layer {})", self.kind, self.key, self.layer + 1)
    }

    fn bytes(&self) -> String {
        match (&self.via, self.remote) {
            (Some(url), _) => format!("the bytes downloaded from {url} have"),
            (None, true) => "the downloaded bytes have".to_string(),
            (None, false) => "the file has".to_string(),
        }
    }

    /// What to do: the command or edit that re-pins the input, and what else the
    /// difference may mean.
    pub fn hint(&self) -> String {
        let otherwise = if self.remote {
            "if not, the file changed upstream or was altered on the way: keep the pin and fetch it from a source you trust (--mirror PREFIX=REPLACEMENT)"
        } else {
            "if not, restore the file"
        };
        let wanted = if self.remote {
            "If these bytes are the ones you want"
        } else {
            "If the file's new content is intended"
        };
        match &self.holder {
            PinHolder::Manifest { at } => {
                let places = match at.len() {
                    0 => format!("in {}", self.names.manifest),
                    1 => format!("at {}", at[0]),
                    _ => format!(
                        "at {}",
                        at.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" and ")
                    ),
                };
                format!(
                    "the manifest's pin is the one that differs. {wanted}, change `sha256` {places} to \"{}\", then run `compose lock`; {otherwise}",
                    self.actual.hex()
                )
            }
            PinHolder::Lock => format!(
                "{}'s record is the one that differs ({} does not pin this input). {wanted}, run `compose lock --update {}` to pin it again (every other pin stays); {otherwise}",
                self.names.lock,
                self.names.manifest,
                shell_word(&self.key)
            ),
        }
    }
}

impl fmt::Display for WrongPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.holder {
            PinHolder::Manifest { at } => {
                let pos = at.first().or(self.source_at.as_ref());
                if let Some(p) = pos {
                    write!(f, "{p}: ")?;
                }
                write!(
                    f,
                    "the sha256 of {} does not match: {} pins {}, {} {}",
                    self.input(),
                    self.names.manifest,
                    self.pinned.hex(),
                    self.bytes(),
                    self.actual.hex()
                )
            }
            PinHolder::Lock => {
                if let Some(p) = &self.source_at {
                    write!(f, "{p}: ")?;
                }
                write!(
                    f,
                    "{} does not match {}: the lock records sha256 {}, {} {}",
                    self.input(),
                    self.names.lock,
                    self.pinned.hex(),
                    self.bytes(),
                    self.actual.hex()
                )
            }
        }
    }
}

/// `s` as one shell word: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | ':' | '@' | '%' | '+' | '=' | ',')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pin(holder: PinHolder, remote: bool) -> WrongPin {
        WrongPin {
            kind: InputKind::Tar,
            key: "https://h/a b.tar".into(),
            layer: 0,
            source_at: Some(TextPos {
                file: PathBuf::from("app.toml"),
                line: 5,
                column: 7,
            }),
            remote,
            via: None,
            pinned: Sha256Digest([1; 32]),
            actual: Sha256Digest([2; 32]),
            holder,
            names: FileNames::of("app.toml".as_ref(), "app.lock".as_ref()),
        }
    }

    #[test]
    fn a_manifest_pin_is_fixed_where_it_is_written() {
        let at = TextPos {
            file: PathBuf::from("app.toml"),
            line: 6,
            column: 10,
        };
        let p = pin(PinHolder::Manifest { at: vec![at] }, true);
        let text = p.to_string();
        assert!(
            text.starts_with("app.toml:6:10: the sha256 of tar"),
            "{text}"
        );
        assert!(text.contains("app.toml pins 0101"), "{text}");
        let hint = p.hint();
        assert!(hint.contains("at app.toml:6:10 to \"0202"), "{hint}");
        assert!(hint.contains("then run `compose lock`"), "{hint}");
    }

    #[test]
    fn a_lock_pin_is_fixed_by_updating_that_input() {
        let p = pin(PinHolder::Lock, true);
        let text = p.to_string();
        assert!(text.starts_with("app.toml:5:7: tar"), "{text}");
        assert!(text.contains("does not match app.lock"), "{text}");
        assert!(
            p.hint()
                .contains("compose lock --update 'https://h/a b.tar'"),
            "{}",
            p.hint()
        );
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("https://h/x.tar?y=1"), "'https://h/x.tar?y=1'");
        assert_eq!(shell_word("rootfs/app.tar"), "rootfs/app.tar");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
