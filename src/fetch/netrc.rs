//! `~/.netrc` credentials, so private mirrors that need a login work like they do for curl.
//!
//! Only `machine`, `default`, `login`, `password` (and the ignored `account`, `macdef`)
//! are understood. Credentials are sent as HTTP basic auth to the matching host only; the
//! HTTP client drops them when a redirect leaves that host.

use std::path::{Path, PathBuf};

/// One `machine` (or `default`) entry.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    /// `None` for `default`.
    machine: Option<String>,
    login: Option<String>,
    password: Option<String>,
}

/// Parsed netrc credentials. `Debug` never shows passwords.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Netrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<&str> = self
            .entries
            .iter()
            .map(|e| e.machine.as_deref().unwrap_or("default"))
            .collect();
        f.debug_struct("Netrc").field("machines", &hosts).finish()
    }
}

/// Where the netrc file is: `$NETRC`, else `$HOME/.netrc`.
pub fn default_netrc_path() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = var("NETRC") {
        return Some(PathBuf::from(p));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".netrc"))
}

impl Netrc {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> std::io::Result<Netrc> {
        Ok(Netrc::parse(&std::fs::read_to_string(path)?))
    }

    /// Parses netrc text; unknown tokens are skipped.
    pub fn parse(text: &str) -> Netrc {
        let mut entries: Vec<Entry> = Vec::new();
        let mut lines = text.lines();
        let mut tokens: Vec<String> = Vec::new();
        // Tokenise line by line so `macdef` bodies (up to an empty line) can be skipped.
        while let Some(line) = lines.next() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let mut macdef = false;
            for w in line.split_whitespace() {
                if w == "macdef" {
                    macdef = true;
                    break;
                }
                tokens.push(w.to_string());
            }
            if macdef {
                for l in lines.by_ref() {
                    if l.trim().is_empty() {
                        break;
                    }
                }
            }
        }
        let mut it = tokens.into_iter();
        while let Some(tok) = it.next() {
            match tok.as_str() {
                "machine" => entries.push(Entry {
                    machine: it.next(),
                    login: None,
                    password: None,
                }),
                "default" => entries.push(Entry {
                    machine: None,
                    login: None,
                    password: None,
                }),
                "login" | "password" | "account" => {
                    let val = it.next();
                    if let Some(e) = entries.last_mut() {
                        match tok.as_str() {
                            "login" => e.login = val,
                            "password" => e.password = val,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Netrc { entries }
    }

    /// The login and password for `host`: its `machine` entry, else `default`.
    pub fn credentials(&self, host: &str) -> Option<(&str, &str)> {
        let entry = self
            .entries
            .iter()
            .find(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
            })
            .or_else(|| self.entries.iter().find(|e| e.machine.is_none()))?;
        Some((
            entry.login.as_deref()?,
            entry.password.as_deref().unwrap_or(""),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_default_and_macdef() {
        let n = Netrc::parse(
            "machine mirror.example login alice password s3cret\n\
             macdef init\n  cd /pub\n  get x\n\n\
             machine other.example\n  login bob\n  password pw account acc\n\
             default login anon password guest\n",
        );
        assert_eq!(n.credentials("mirror.example"), Some(("alice", "s3cret")));
        assert_eq!(n.credentials("MIRROR.example"), Some(("alice", "s3cret")));
        assert_eq!(n.credentials("other.example"), Some(("bob", "pw")));
        assert_eq!(n.credentials("elsewhere"), Some(("anon", "guest")));
        assert!(!format!("{n:?}").contains("s3cret"));
        assert_eq!(Netrc::parse("machine a login x").credentials("b"), None);
    }
}
