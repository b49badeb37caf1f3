//! Path patterns of `[[layer.copy]] paths`: absolute paths whose components may hold
//! `*` (any run of characters but `/`), `?` (one character), `[abc]`, `[a-z]`, `[!a]`
//! (one character of, or not of, a set), and `**` as a whole component (any number of
//! directories, none included). As in Go's `filepath.Match` (and so Docker's `COPY`), a
//! wildcard also matches a leading `.`.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern as written, for messages.
    pub text: String,
    /// The components, root first.
    pub parts: Vec<Part>,
}

/// One component of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A name without wildcards.
    Literal(Vec<u8>),
    /// A name with wildcards.
    Wild(Vec<u8>),
    /// `**`.
    AnyDirs,
}

/// Why a pattern is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("is not an absolute path")]
    NotAbsolute,
    #[error("has a `..` component")]
    DotDot,
    #[error("names the root itself")]
    Root,
    #[error("has an unclosed `[`")]
    Unclosed,
    #[error("contains a NUL character")]
    Nul,
}

impl Pattern {
    /// Parse a pattern written in the manifest.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if !text.starts_with('/') {
            return Err(PatternError::NotAbsolute);
        }
        if text.contains('\0') {
            return Err(PatternError::Nul);
        }
        let mut parts = Vec::new();
        for c in text.split('/') {
            match c {
                "" | "." => continue,
                ".." => return Err(PatternError::DotDot),
                "**" => parts.push(Part::AnyDirs),
                c if c.contains(['*', '?', '[']) => {
                    // Validate brackets now, so matching never fails.
                    matches(c.as_bytes(), b"").map_err(|()| PatternError::Unclosed)?;
                    parts.push(Part::Wild(c.as_bytes().to_vec()))
                }
                c => parts.push(Part::Literal(c.as_bytes().to_vec())),
            }
        }
        if parts.is_empty() {
            return Err(PatternError::Root);
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The number of leading literal components.
    pub fn literal_len(&self) -> usize {
        self.parts
            .iter()
            .take_while(|p| matches!(p, Part::Literal(_)))
            .count()
    }
}

impl Part {
    /// Does this (non-`**`) part match one name?
    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Part::Literal(l) => l == name,
            Part::Wild(w) => matches(w, name).unwrap_or(false),
            Part::AnyDirs => true,
        }
    }
}

/// Match `name` against one wildcard component; `Err` for an unclosed `[`.
fn matches(pat: &[u8], name: &[u8]) -> Result<bool, ()> {
    // Iterative matching with backtracking to the last `*`.
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let mut ok = true;
    loop {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' if n < name.len() => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    let (hit, len) = class(&pat[p..], name.get(n).copied())?;
                    if hit {
                        p += len;
                        n += 1;
                        continue;
                    }
                }
                c if n < name.len() && c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            break;
        }
        match star {
            Some((sp, sn)) if sn < name.len() => {
                star = Some((sp, sn + 1));
                p = sp + 1;
                n = sn + 1;
            }
            _ => {
                ok = false;
                // Still validate the rest of the pattern's brackets.
                let mut q = p;
                while q < pat.len() {
                    if pat[q] == b'[' {
                        q += class(&pat[q..], None)?.1;
                    } else {
                        q += 1;
                    }
                }
                break;
            }
        }
    }
    Ok(ok)
}

/// Match one character against the class at the start of `pat` (`[...]`): whether it
/// matched and the class's length. `c` is `None` past the end of the name.
fn class(pat: &[u8], c: Option<u8>) -> Result<(bool, usize), ()> {
    let mut i = 1;
    let negate = matches!(pat.get(1), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let Some(&b) = pat.get(i) else { return Err(()) };
        if b == b']' && !first {
            break;
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            let e = pat[i + 2];
            hit |= c.is_some_and(|c| b <= c && c <= e);
            i += 3;
        } else {
            hit |= c == Some(b);
            i += 1;
        }
    }
    Ok((c.is_some() && hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(p.as_bytes(), n.as_bytes()).unwrap()
    }

    #[test]
    fn wildcards_match_like_filepath_match() {
        assert!(m("*", "UTC"));
        assert!(m("*", ".hidden"));
        assert!(m("*.crt", "ca-certificates.crt"));
        assert!(!m("*.crt", "ca.pem"));
        assert!(m("lib?.so", "libz.so"));
        assert!(!m("lib?.so", "lib.so"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(matches(b"[abc", b"a").is_err());
    }

    #[test]
    fn patterns_parse_into_parts() {
        let p = Pattern::parse("/usr/share/zoneinfo/**").unwrap();
        assert_eq!(p.literal_len(), 3);
        assert_eq!(p.parts[3], Part::AnyDirs);
        assert_eq!(Pattern::parse("usr"), Err(PatternError::NotAbsolute));
        assert_eq!(Pattern::parse("/a/../b"), Err(PatternError::DotDot));
        assert_eq!(Pattern::parse("/"), Err(PatternError::Root));
        assert_eq!(Pattern::parse("/a/[b"), Err(PatternError::Unclosed));
        assert_eq!(Pattern::parse("//etc/./passwd").unwrap().literal_len(), 2);
    }
}
