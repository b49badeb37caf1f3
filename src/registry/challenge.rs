//! `WWW-Authenticate` challenges (RFC 7235): which scheme a registry wants, and for Bearer
//! the token service's `realm`, `service` and `scope`.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (or whatever else the server said, lowercased).
    pub scheme: String,
    /// The auth-params, e.g. `realm`, `service`, `scope`.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge in a header value, in order. Malformed parts are skipped rather than
/// refused: the caller reports "no usable challenge" with the header's text.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut s = Scanner { rest: header };
    loop {
        s.skip_ws_and_commas();
        let Some(word) = s.token() else { break };
        s.skip_ws();
        if s.peek() == Some('=') {
            // `name=value`: a parameter of the current challenge.
            s.bump();
            s.skip_ws();
            let value = if s.peek() == Some('"') {
                s.quoted()
            } else {
                s.token().unwrap_or_default()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(word.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

struct Scanner<'a> {
    rest: &'a str,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_ws_and_commas(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    /// A token (RFC 7230 tchar run; `/`, `:` and `=`-free), or None at the end.
    fn token(&mut self) -> Option<String> {
        loop {
            let end = self
                .rest
                .find(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '"')
                .unwrap_or(self.rest.len());
            if end == 0 {
                // Not a token: skip one character so the scan always advances.
                self.bump()?;
                continue;
            }
            let t = self.rest[..end].to_string();
            self.rest = &self.rest[end..];
            return Some(t);
        }
    }

    /// A quoted string, unescaping `\x`; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.bump();
        let mut v = String::new();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(n) = self.bump() {
                        v.push(n);
                    }
                }
                c => v.push(c),
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_realm_service_and_scope() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/alpine:pull,push")
        );
    }

    #[test]
    fn basic_case_spaces_escapes_and_tokens() {
        let c = parse(r#"basic  Realm = "a \"quoted\" realm" , charset=UTF-8"#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c[0].param("charset"), Some("UTF-8"));
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = parse(r#"Basic realm="x", Bearer realm="https://t/token",service="s""#);
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["basic", "bearer"]
        );
        assert_eq!(c[1].param("service"), Some("s"));
        assert_eq!(c[0].params.len(), 1);
    }

    #[test]
    fn garbage_does_not_panic_or_loop() {
        for h in [
            "",
            "=",
            "\"",
            ",,,",
            "Bearer realm=\"unterminated",
            "Bearer =x",
            "é=\"",
        ] {
            let _ = parse(h);
        }
        assert!(parse("").is_empty());
    }
}
