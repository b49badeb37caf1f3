//! License strings from package databases and the manifest, turned into SPDX license
//! expressions both SPDX and CycloneDX validators accept.
//!
//! Known identifiers are matched case-insensitively against the SPDX list snapshot in
//! `spdx-licenses.txt` / `spdx-exceptions.txt` (regenerated with the snippet at the end of
//! this comment) and written in the list's spelling. Debian's DEP-5 short names (`GPL-2+`,
//! `Expat`, `BSD-3-clause`) are mapped to their SPDX identifiers first. Any other name
//! becomes `LicenseRef-<name>`, which the SPDX writer declares with the original text, so
//! nothing a package declared is lost. Lowercase `and`/`or`/`with` (DEP-5, old apk
//! databases) are operators; two names side by side (old apk `MIT BSD`) are joined by AND.
//!
//! ```text
//! python3 - <<'PY'   # in a venv with cyclonedx-python-lib and license_expression
//! # keep ids in both cyclonedx/schema/_res/spdx.SNAPSHOT.schema.json's enum and
//! # license_expression/data/scancode-licensedb-index.json (spdx_license_key, is_exception)
//! PY
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A declared license as an SPDX expression, with the names it had to invent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// A valid SPDX license expression (only list identifiers and `LicenseRef-…`).
    pub expression: String,
    /// The string as the package or manifest declared it.
    pub declared: String,
    /// Every `LicenseRef-…` used in `expression`, with the name it stands for.
    pub refs: BTreeMap<String, String>,
}

impl License {
    /// True when the expression uses only SPDX list identifiers.
    pub fn is_spdx_listed(&self) -> bool {
        self.refs.is_empty()
    }
}

/// The naming conventions a license string follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SPDX identifiers (apk `L:`, the manifest's `license`).
    Spdx,
    /// Debian's machine-readable copyright format short names.
    Dep5,
}

/// Identifiers by their lower-case spelling.
type IdTable = BTreeMap<String, &'static str>;

/// The SPDX license and exception identifiers we know.
fn known() -> &'static (IdTable, IdTable) {
    static KNOWN: OnceLock<(IdTable, IdTable)> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let load = |text: &'static str| {
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| (l.to_ascii_lowercase(), l))
                .collect()
        };
        (
            load(include_str!("spdx-licenses.txt")),
            load(include_str!("spdx-exceptions.txt")),
        )
    })
}

/// DEP-5 short names whose SPDX identifier is spelled differently.
fn dep5_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "expat" => "MIT",
        "public-domain" | "public_domain" | "pd" => return None,
        "bsd-2-clause" => "BSD-2-Clause",
        "bsd-3-clause" => "BSD-3-Clause",
        "bsd-4-clause" => "BSD-4-Clause",
        "zlib" => "Zlib",
        "artistic" => "Artistic-1.0-Perl",
        "artistic-2.0" => "Artistic-2.0",
        "apache-2.0" | "apache-2" => "Apache-2.0",
        "mpl-1.1" => "MPL-1.1",
        "mpl-2.0" => "MPL-2.0",
        _ => {
            // GPL-2, GPL-2+, LGPL-2.1+, AGPL-3+, GFDL-1.2+ and friends.
            for family in ["gpl", "lgpl", "agpl", "gfdl"] {
                let Some(rest) = lower.strip_prefix(family).and_then(|r| r.strip_prefix('-'))
                else {
                    continue;
                };
                let (ver, later) = match rest.strip_suffix('+') {
                    Some(v) => (v, true),
                    None => (rest, false),
                };
                let ver = if ver.contains('.') {
                    ver.to_string()
                } else {
                    format!("{ver}.0")
                };
                let id = format!(
                    "{}-{ver}-{}",
                    family.to_ascii_uppercase(),
                    if later { "or-later" } else { "only" }
                );
                return known().0.get(&id.to_ascii_lowercase()).copied();
            }
            return None;
        }
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    With,
    Name(String),
}

fn tokenize(raw: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let spaced = raw
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " ");
    for word in spaced.split_whitespace() {
        out.push(match word {
            "(" => Token::Open,
            ")" => Token::Close,
            w if w.eq_ignore_ascii_case("and") || w == "&" => Token::And,
            w if w.eq_ignore_ascii_case("or") || w == "|" => Token::Or,
            w if w.eq_ignore_ascii_case("with") => Token::With,
            w => Token::Name(w.to_string()),
        });
    }
    out
}

/// Letters, digits, `.` and `-` only, as `LicenseRef-` identifiers must be.
fn idstring(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

struct Builder {
    dialect: Dialect,
    refs: BTreeMap<String, String>,
}

impl Builder {
    fn license(&mut self, name: &str) -> String {
        if self.dialect == Dialect::Dep5 {
            if let Some(id) = dep5_name(name) {
                return id.to_string();
            }
        }
        let k = &known().0;
        if let Some(id) = k.get(&name.to_ascii_lowercase()) {
            return id.to_string();
        }
        if let Some(base) = name.strip_suffix('+') {
            // `ID+` is SPDX's "or later" operator on any listed identifier.
            if let Some(id) = k.get(&base.to_ascii_lowercase()) {
                return format!("{id}+");
            }
        }
        if name.len() > "LicenseRef-".len()
            && name.starts_with("LicenseRef-")
            && idstring(name) == name
        {
            self.refs.insert(name.to_string(), name.to_string());
            return name.to_string();
        }
        let id = format!("LicenseRef-{}", idstring(name));
        self.refs.insert(id.clone(), name.to_string());
        id
    }

    fn exception(&self, name: &str) -> Option<String> {
        known()
            .1
            .get(&name.to_ascii_lowercase())
            .map(|s| s.to_string())
    }

    /// expr := term (("AND"|"OR"|adjacent) term)*; term := "(" expr ")" | NAME ["WITH" NAME]
    fn expr(&mut self, toks: &[Token], pos: &mut usize, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut out = self.term(toks, pos, depth)?;
        loop {
            let op = match toks.get(*pos) {
                Some(Token::And) => "AND",
                Some(Token::Or) => "OR",
                Some(Token::Name(_)) | Some(Token::Open) => {
                    let rhs = self.term(toks, pos, depth)?;
                    out = format!("{out} AND {rhs}");
                    continue;
                }
                _ => return Some(out),
            };
            *pos += 1;
            let rhs = self.term(toks, pos, depth)?;
            out = format!("{out} {op} {rhs}");
        }
    }

    fn term(&mut self, toks: &[Token], pos: &mut usize, depth: usize) -> Option<String> {
        match toks.get(*pos)? {
            Token::Open => {
                *pos += 1;
                let inner = self.expr(toks, pos, depth + 1)?;
                if toks.get(*pos) != Some(&Token::Close) {
                    return None;
                }
                *pos += 1;
                Some(format!("({inner})"))
            }
            Token::Name(n) => {
                *pos += 1;
                let lic = self.license(n);
                if toks.get(*pos) == Some(&Token::With) {
                    let Some(Token::Name(x)) = toks.get(*pos + 1) else {
                        return None;
                    };
                    *pos += 2;
                    // An exception we do not know cannot be written after WITH: fold it
                    // into one LicenseRef for the pair.
                    return Some(match self.exception(x) {
                        Some(x) if !lic.starts_with("LicenseRef-") => format!("{lic} WITH {x}"),
                        _ => {
                            let raw = format!("{n} with {x}");
                            let id = format!("LicenseRef-{}", idstring(&format!("{n}-with-{x}")));
                            self.refs.insert(id.clone(), raw);
                            id
                        }
                    });
                }
                Some(lic)
            }
            _ => None,
        }
    }
}

/// Parse a declared license string. `None` for an empty string or the conventional "no
/// license" words; an unparsable string becomes one `LicenseRef-` for the whole text.
pub fn parse(raw: &str, dialect: Dialect) -> Option<License> {
    let declared = raw.trim();
    if declared.is_empty()
        || ["noassertion", "none", "unknown"].contains(&declared.to_ascii_lowercase().as_str())
    {
        return None;
    }
    let toks = tokenize(declared);
    let mut b = Builder {
        dialect,
        refs: BTreeMap::new(),
    };
    let mut pos = 0;
    let expression = match b.expr(&toks, &mut pos, 0) {
        Some(e) if pos == toks.len() => e,
        _ => {
            b.refs.clear();
            let id = format!("LicenseRef-{}", idstring(declared));
            b.refs.insert(id.clone(), declared.to_string());
            id
        }
    };
    Some(License {
        expression,
        declared: declared.to_string(),
        refs: b.refs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(raw: &str, d: Dialect) -> String {
        parse(raw, d).unwrap().expression
    }

    #[test]
    fn spdx_expressions_keep_their_shape_in_the_lists_spelling() {
        assert_eq!(expr("GPL-2.0-only", Dialect::Spdx), "GPL-2.0-only");
        assert_eq!(
            expr("mit AND (bsd-2-clause OR Apache-2.0)", Dialect::Spdx),
            "MIT AND (BSD-2-Clause OR Apache-2.0)"
        );
        assert_eq!(
            expr(
                "GPL-2.0-or-later WITH Classpath-exception-2.0",
                Dialect::Spdx
            ),
            "GPL-2.0-or-later WITH Classpath-exception-2.0"
        );
        assert!(parse("MIT", Dialect::Spdx).unwrap().is_spdx_listed());
    }

    #[test]
    fn old_apk_lists_are_joined_and_unknown_names_become_refs() {
        let l = parse("MIT BSD custom:foo", Dialect::Spdx).unwrap();
        assert_eq!(
            l.expression,
            "MIT AND LicenseRef-BSD AND LicenseRef-custom-foo"
        );
        assert_eq!(l.refs.get("LicenseRef-custom-foo").unwrap(), "custom:foo");
        assert!(!l.is_spdx_listed());
    }

    #[test]
    fn dep5_short_names_map_to_spdx() {
        assert_eq!(
            expr("GPL-2+ or Artistic", Dialect::Dep5),
            "GPL-2.0-or-later OR Artistic-1.0-Perl"
        );
        assert_eq!(expr("LGPL-2.1+", Dialect::Dep5), "LGPL-2.1-or-later");
        assert_eq!(expr("Expat", Dialect::Dep5), "MIT");
        assert_eq!(
            expr("BSD-3-clause and public-domain", Dialect::Dep5),
            "BSD-3-Clause AND LicenseRef-public-domain"
        );
    }

    #[test]
    fn unparsable_text_is_one_ref_and_empty_is_none() {
        let l = parse("GPL (", Dialect::Spdx).unwrap();
        assert_eq!(l.expression, "LicenseRef-GPL--");
        assert_eq!(l.refs.len(), 1);
        assert!(parse("  ", Dialect::Spdx).is_none());
        assert!(parse("NOASSERTION", Dialect::Spdx).is_none());
        // Deep nesting is refused, not recursed into.
        let deep = format!("{}MIT{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep, Dialect::Spdx)
            .unwrap()
            .expression
            .starts_with("LicenseRef-"));
    }

    #[test]
    fn unknown_exception_folds_into_one_ref() {
        let l = parse("GPL-2.0-only WITH Foo-exception", Dialect::Spdx).unwrap();
        assert_eq!(l.expression, "LicenseRef-GPL-2.0-only-with-Foo-exception");
        assert_eq!(l.refs.len(), 1);
    }
}
