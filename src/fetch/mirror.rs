//! Mirror rules: rewrite input URLs by prefix before fetching, so a pinned manifest can be
//! built from a private mirror or a local directory without editing it.

use super::FetchError;
use std::fmt;
use std::str::FromStr;

/// The environment variable holding whitespace-separated `PREFIX=REPLACEMENT` rules.
pub const MIRRORS_ENV: &str = "SCRATCH_MIRRORS";

/// One rule: a URL starting with `prefix` is fetched from `replacement` + the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRule {
    pub prefix: String,
    pub replacement: String,
}

impl FromStr for MirrorRule {
    type Err = FetchError;

    /// Parses `PREFIX=REPLACEMENT` (split at the first `=`; both sides non-empty).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| FetchError::BadMirror {
            rule: s.to_string(),
            origin: None,
            reason: reason.to_string(),
        };
        let (prefix, replacement) = s
            .split_once('=')
            .ok_or_else(|| bad("no `=`: expected PREFIX=REPLACEMENT"))?;
        if prefix.is_empty() {
            return Err(bad("the PREFIX before `=` is empty"));
        }
        if replacement.is_empty() {
            return Err(bad("the REPLACEMENT after `=` is empty"));
        }
        if prefix.chars().any(char::is_whitespace) || replacement.chars().any(char::is_whitespace) {
            return Err(bad("contains whitespace"));
        }
        Ok(MirrorRule {
            prefix: prefix.to_string(),
            replacement: replacement.to_string(),
        })
    }
}

impl fmt::Display for MirrorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.prefix, self.replacement)
    }
}

/// Parses whitespace-separated rules, naming `origin` in errors.
pub fn parse_rules(text: &str, origin: &str) -> Result<Vec<MirrorRule>, FetchError> {
    text.split_whitespace()
        .map(|r| {
            r.parse::<MirrorRule>().map_err(|e| match e {
                FetchError::BadMirror { rule, reason, .. } => FetchError::BadMirror {
                    rule,
                    origin: Some(origin.to_string()),
                    reason,
                },
                other => other,
            })
        })
        .collect()
}

/// The rules in `SCRATCH_MIRRORS` (none when unset or empty).
pub fn mirrors_from_env() -> Result<Vec<MirrorRule>, FetchError> {
    match std::env::var(MIRRORS_ENV) {
        Ok(v) => parse_rules(&v, MIRRORS_ENV),
        Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
        Err(std::env::VarError::NotUnicode(_)) => Err(FetchError::BadMirror {
            rule: "<not UTF-8>".into(),
            origin: Some(MIRRORS_ENV.into()),
            reason: "the value is not valid UTF-8".into(),
        }),
    }
}

/// Rewrites `url` by the longest matching prefix; on equal length the earlier rule wins (so
/// put `--mirror` rules before `SCRATCH_MIRRORS` ones). `None` when no rule matches.
pub fn apply(rules: &[MirrorRule], url: &str) -> Option<String> {
    let mut best: Option<&MirrorRule> = None;
    for r in rules {
        let longer = match best {
            Some(b) => r.prefix.len() > b.prefix.len(),
            None => true,
        };
        if longer && url.starts_with(&r.prefix) {
            best = Some(r);
        }
    }
    best.map(|r| format!("{}{}", r.replacement, &url[r.prefix.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(s: &[&str]) -> Vec<MirrorRule> {
        s.iter().map(|r| r.parse().unwrap()).collect()
    }

    #[test]
    fn parses_at_first_equals_sign() {
        let r: MirrorRule = "https://a/?x=1=http://b/".parse().unwrap();
        assert_eq!(r.prefix, "https://a/?x");
        assert_eq!(r.replacement, "1=http://b/");
        assert_eq!(r.to_string(), "https://a/?x=1=http://b/");
    }

    #[test]
    fn parse_errors_are_clear() {
        for (bad, needle) in [
            ("https://a/", "no `=`"),
            ("=http://b/", "PREFIX"),
            ("https://a/=", "REPLACEMENT"),
        ] {
            let e = bad.parse::<MirrorRule>().unwrap_err();
            let s = e.to_string();
            assert!(s.contains(bad) && s.contains(needle), "{s}");
            assert!(e.hint().unwrap().contains("PREFIX=REPLACEMENT"));
        }
        let e = parse_rules("a=b  nope", MIRRORS_ENV)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nope`") && e.contains(MIRRORS_ENV), "{e}");
    }

    #[test]
    fn longest_prefix_wins_then_first() {
        let rs = rules(&[
            "https://h/=http://one/",
            "https://h/alpine/=http://two/",
            "https://h/=http://three/",
        ]);
        assert_eq!(
            apply(&rs, "https://h/alpine/x.tar").as_deref(),
            Some("http://two/x.tar")
        );
        assert_eq!(
            apply(&rs, "https://h/other").as_deref(),
            Some("http://one/other")
        );
        assert_eq!(apply(&rs, "https://elsewhere/x"), None);
    }

    #[test]
    fn whitespace_separated_list() {
        let rs = parse_rules("  a=b\n\tc=d  ", "test").unwrap();
        assert_eq!(rs, rules(&["a=b", "c=d"]));
        assert!(parse_rules("   ", "test").unwrap().is_empty());
    }
}
