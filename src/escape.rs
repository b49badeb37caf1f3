//! Text from inputs, made safe to show: names, paths, URLs and header values come from
//! archives, manifests and servers, and a raw ESC or BEL in one could retitle, recolour or
//! clear the user's terminal, or a CR/LF forge a line of output.
//!
//! [`Escaped`] is the one place this is done. Every line `compose` writes to stderr
//! (errors with their causes and hints, warnings, logs) goes through it, so no message
//! can carry a raw control character whichever type built it; entry names
//! ([`crate::entry::ImagePath`]) escape line breaks too when formatted. `--json` output
//! is escaped by JSON itself (`\u001b`).

use std::borrow::Cow;
use std::fmt::{self, Write};
use std::path::Path;

/// Text shown with every control character escaped as `\x1b`, `\n`, `\t`, `\r` or
/// `\u{202e}` (C0, DEL, C1 and the bidirectional overrides that reorder what is shown).
/// Invalid UTF-8 in bytes shows as `\xff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escaped<'a> {
    text: Cow<'a, str>,
    /// Keep `\n` as a line break (for whole messages, whose lines are ours).
    keep_newlines: bool,
}

/// `s` escaped, line breaks included: for one name, path or value.
pub fn text(s: &str) -> Escaped<'_> {
    Escaped {
        text: Cow::Borrowed(s),
        keep_newlines: false,
    }
}

/// A host path, escaped (lossy for names that are not UTF-8).
pub fn path(p: &Path) -> Escaped<'_> {
    Escaped {
        text: p.to_string_lossy(),
        keep_newlines: false,
    }
}

/// Raw bytes (an archive's entry name), escaped; invalid UTF-8 shows as `\xNN`.
pub fn bytes(b: &[u8]) -> Escaped<'static> {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        push_escaped(&mut out, chunk.valid(), false);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Escaped {
        text: Cow::Owned(out),
        keep_newlines: true, // already escaped: nothing left to do
    }
}

/// A whole message for stderr: every control character escaped except its line breaks.
pub fn message(s: &str) -> Escaped<'_> {
    Escaped {
        text: Cow::Borrowed(s),
        keep_newlines: true,
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.text.chars().any(needs_escape) {
            return f.write_str(&self.text);
        }
        let mut out = String::with_capacity(self.text.len() + 8);
        push_escaped(&mut out, &self.text, self.keep_newlines);
        f.write_str(&out)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, s: &str, keep_newlines: bool) {
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(
            text("a\x1b]0;pwned\x07b").to_string(),
            "a\\x1b]0;pwned\\x07b"
        );
        assert_eq!(text("x\ny\rz\t").to_string(), "x\\ny\\rz\\t");
        assert_eq!(text("\u{7f}\u{9b}").to_string(), "\\x7f\\x9b");
        assert_eq!(text("abc\u{202e}def").to_string(), "abc\\u{202e}def");
        assert_eq!(text("plain/é ok").to_string(), "plain/é ok");
    }

    #[test]
    fn messages_keep_their_line_breaks_only() {
        assert_eq!(message("a\x1b[2J\nb").to_string(), "a\\x1b[2J\nb");
    }

    #[test]
    fn bytes_show_invalid_utf8_as_hex() {
        assert_eq!(bytes(b"a\xffb\x1b\n").to_string(), "a\\xffb\\x1b\\n");
    }
}
