//! Validation of `[accounts]`.

use std::collections::HashMap;

use super::error::{ManifestError, Problem};
use super::raw::RawAccounts;
use super::validate::Ctx;
use super::{AccountsSpec, GroupSpec, UserSpec};

type Result<T> = std::result::Result<T, ManifestError>;

/// A name `/etc/passwd` and `/etc/group` can hold and tools accept (as `useradd`'s
/// default rule, plus a trailing `$` for machine accounts).
fn valid_account_name(name: &str) -> bool {
    let b = name.as_bytes();
    let body = b.strip_suffix(b"$").unwrap_or(b);
    !body.is_empty()
        && b.len() <= 256
        && (body[0].is_ascii_alphabetic() || body[0] == b'_')
        && body
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl Ctx<'_> {
    /// Users and groups: valid names, each name and id once, absolute homes and shells.
    pub(super) fn accounts(&self, raw: &RawAccounts) -> Result<AccountsSpec> {
        let mut out = AccountsSpec::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut once = |ctx: &Self, kind: &str, key: String, span: std::ops::Range<usize>| {
            let line = ctx.pos(span.clone()).line;
            match seen.get(&format!("{kind} {key}")) {
                Some(&first_line) => Err(ctx.err(
                    span,
                    Problem::DuplicateAccount {
                        kind: kind.to_string(),
                        key,
                        first_line,
                    },
                )),
                None => {
                    seen.insert(format!("{kind} {key}"), line);
                    Ok(())
                }
            }
        };
        for g in &raw.group {
            let r = g.get_ref();
            let name = r.name.get_ref();
            if !valid_account_name(name) {
                return Err(self.err(
                    r.name.span(),
                    Problem::BadAccountName {
                        kind: "group".to_string(),
                        name: name.clone(),
                    },
                ));
            }
            once(self, "group", format!("`{name}`"), r.name.span())?;
            once(self, "group", format!("gid {}", r.gid), g.span())?;
            out.groups.push(GroupSpec {
                name: name.clone(),
                gid: r.gid,
            });
        }
        for u in &raw.user {
            let r = u.get_ref();
            let name = r.name.get_ref();
            if !valid_account_name(name) {
                return Err(self.err(
                    r.name.span(),
                    Problem::BadAccountName {
                        kind: "user".to_string(),
                        name: name.clone(),
                    },
                ));
            }
            once(self, "user", format!("`{name}`"), r.name.span())?;
            once(self, "user", format!("uid {}", r.uid), u.span())?;
            let path = |v: &Option<toml::Spanned<String>>, what: &str, default: String| match v {
                Some(s)
                    if !s.get_ref().starts_with('/') || s.get_ref().contains(['\0', ':', '\n']) =>
                {
                    Err(self.err(
                        s.span(),
                        Problem::NotAbsolute {
                            what: what.to_string(),
                            value: s.get_ref().clone(),
                        },
                    ))
                }
                Some(s) => Ok(s.get_ref().clone()),
                None => Ok(default),
            };
            let mut groups = Vec::new();
            for g in &r.groups {
                if !valid_account_name(g.get_ref()) {
                    return Err(self.err(
                        g.span(),
                        Problem::BadAccountName {
                            kind: "group".to_string(),
                            name: g.get_ref().clone(),
                        },
                    ));
                }
                if !groups.contains(g.get_ref()) {
                    groups.push(g.get_ref().clone());
                }
            }
            out.users.push(UserSpec {
                name: name.clone(),
                uid: r.uid,
                gid: r.gid.unwrap_or(r.uid),
                home: path(&r.home, "home", format!("/home/{name}"))?,
                shell: path(&r.shell, "shell", "/sbin/nologin".to_string())?,
                groups,
            });
        }
        Ok(out)
    }
}
