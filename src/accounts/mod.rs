//! Accounts as apko has them: the users and groups `[accounts]` declares, merged into the
//! `/etc/passwd`, `/etc/group` and (when the tree has one) `/etc/shadow` the lower layers
//! hold.
//!
//! Rules:
//!
//! * A declared user or group replaces every lower record with the same name or the same
//!   id, with a warning naming the record it replaced (an identical record replaces
//!   silently). Supplementary groups list the user as a member.
//! * A user's primary group that no group has is created with the user's name (as
//!   `useradd` does with `USERGROUPS_ENAB`).
//! * The files are sorted by id, then name; lines that are not records (comments, NIS
//!   lines) follow in their original order. The same inputs always give the same bytes.
//! * Shadow lines of new users have a locked password (`!`); `/etc/shadow` is written
//!   only when the tree already has one.
//! * Existing files keep their mode, owner and xattrs (and a symlinked `/etc/passwd` is
//!   written where it points); new files are 0644 0:0.
//! * A missing home directory is created 0755, owned by the user (except `/` and
//!   `/nonexistent`).

pub mod db;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::manifest::AccountsSpec;
use crate::preflight::read_text;
use crate::treeview::{Resolved, TreeView};
use db::{GroupEntry, Line, PasswdEntry};

/// The largest account file read (real ones are a few KiB).
pub const MAX_ACCOUNT_FILE: u64 = 16 << 20;

/// What merging the accounts produced: the entries of the accounts layer and what the
/// user should know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Merged {
    /// The account files (and new home directories) to put on top of the tree.
    pub entries: Vec<Entry>,
    /// Replaced lower records.
    pub warnings: Vec<String>,
}

/// Why the accounts could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountsError {
    /// A user lists a supplementary group that exists nowhere.
    #[error("[accounts] user `{user}` lists group `{group}`, which neither [[accounts.group]] nor the tree's /etc/group defines")]
    UnknownGroup { user: String, group: String },
    /// An account file could not be read.
    #[error("[accounts] cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}

impl AccountsError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            AccountsError::UnknownGroup { group, .. } => format!(
                "declare it: [[accounts.group]] name = \"{group}\" gid = …, or remove it from `groups`"
            ),
            AccountsError::Read { .. } => {
                "the lower layers' account file is not a readable regular file; replace or remove it".to_string()
            }
        }
    }
}

/// The accounts layer over a merged tree: [`merge`] on what it looks up of it.
pub fn layer_over(
    tree: &mut crate::merge::Tree,
    spec: &AccountsSpec,
) -> Result<Merged, AccountsError> {
    merge(&TreeView::of_tree(tree), spec)
}

/// Merge `spec` over the account files of the tree `lower` shows.
pub fn merge(lower: &TreeView<'_>, spec: &AccountsSpec) -> Result<Merged, AccountsError> {
    let mut out = Merged::default();
    if spec.is_empty() {
        return Ok(out);
    }
    // Over a layer-cache tree snapshot, lower files may have no bytes: hand one back
    // unchanged, which makes the producer merge from the bottom, with every byte.
    for path in ["etc/passwd", "etc/group", "etc/shadow"] {
        if let Resolved::Found { entry, .. } = lower.resolve(path.as_bytes(), true) {
            if matches!(entry.kind, Kind::File(Content::NotKept { .. })) {
                out.entries.push(entry.into_owned());
                return Ok(out);
            }
        }
    }
    let passwd = AccountFile::read(lower, "etc/passwd")?;
    let group = AccountFile::read(lower, "etc/group")?;
    let shadow = AccountFile::read(lower, "etc/shadow")?;

    // Groups: declared ones, then each user's primary group when nothing has that gid.
    let mut groups = records(db::parse_group(&group.text));
    let group_other = others(db::parse_group(&group.text));
    for g in &spec.groups {
        let new = GroupEntry {
            name: g.name.clone(),
            password: "x".to_string(),
            gid: g.gid,
            members: Vec::new(),
        };
        replace(
            &mut groups,
            new,
            |a, b| a.name == b.name || a.gid == b.gid,
            |old| {
                out.warnings.push(format!(
                    "[accounts] group `{}` (gid {}) replaces /etc/group's `{}`",
                    g.name,
                    g.gid,
                    old.render()
                ))
            },
        );
    }
    for u in &spec.users {
        if !groups.iter().any(|g| g.gid == u.gid) {
            groups.push(GroupEntry {
                name: u.name.clone(),
                password: "x".to_string(),
                gid: u.gid,
                members: Vec::new(),
            });
        }
    }

    // Users.
    let mut users = records(db::parse_passwd(&passwd.text));
    let passwd_other = others(db::parse_passwd(&passwd.text));
    let mut removed_names: BTreeSet<String> = BTreeSet::new();
    for u in &spec.users {
        let new = PasswdEntry {
            name: u.name.clone(),
            password: "x".to_string(),
            uid: u.uid,
            gid: u.gid,
            gecos: String::new(),
            home: u.home.clone(),
            shell: u.shell.clone(),
        };
        replace(
            &mut users,
            new,
            |a, b| a.name == b.name || a.uid == b.uid,
            |old| {
                removed_names.insert(old.name.clone());
                out.warnings.push(format!(
                    "[accounts] user `{}` (uid {}) replaces /etc/passwd's `{}`",
                    u.name,
                    u.uid,
                    old.render()
                ))
            },
        );
    }
    // Supplementary groups.
    for u in &spec.users {
        for name in &u.groups {
            let g = groups.iter_mut().find(|g| &g.name == name).ok_or_else(|| {
                AccountsError::UnknownGroup {
                    user: u.name.clone(),
                    group: name.clone(),
                }
            })?;
            if !g.members.contains(&u.name) {
                g.members.push(u.name.clone());
            }
        }
    }
    users.sort_by(|a, b| (a.uid, &a.name).cmp(&(b.uid, &b.name)));
    groups.sort_by(|a, b| (a.gid, &a.name).cmp(&(b.gid, &b.name)));

    out.entries.push(passwd.entry(db::render_lines(
        users.iter().map(PasswdEntry::render).chain(passwd_other),
    )));
    out.entries.push(group.entry(db::render_lines(
        groups.iter().map(GroupEntry::render).chain(group_other),
    )));
    if shadow.existed {
        out.entries
            .push(shadow.entry(merge_shadow(&shadow.text, &users, spec, &removed_names)));
    }
    for u in &spec.users {
        if u.home == "/" || u.home == "/nonexistent" {
            continue;
        }
        let Ok(path) = ImagePath::parse_str(&u.home) else {
            continue;
        };
        if matches!(
            lower.resolve(path.as_bytes(), true),
            Resolved::Missing { .. }
        ) {
            let mut e = Entry::dir(path);
            e.uid = u.uid;
            e.gid = u.gid;
            out.entries.push(e);
        }
    }
    Ok(out)
}

/// Shadow lines: lower lines of users still present, declared users locked, in the
/// order of `/etc/passwd`, then lines of names it lacks by name, then other lines.
fn merge_shadow(
    text: &str,
    users: &[PasswdEntry],
    spec: &AccountsSpec,
    removed: &BTreeSet<String>,
) -> String {
    let lines = db::parse_shadow(text);
    let mut by_name: std::collections::BTreeMap<String, String> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Record((n, l)) if !removed.contains(n) => Some((n.clone(), l.clone())),
            _ => None,
        })
        .collect();
    for u in &spec.users {
        by_name.insert(u.name.clone(), format!("{}:!::0:::::", u.name));
    }
    let mut out = Vec::new();
    for u in users {
        if let Some(l) = by_name.remove(&u.name) {
            out.push(l);
        }
    }
    out.extend(by_name.into_values());
    out.extend(lines.into_iter().filter_map(|l| match l {
        Line::Other(o) => Some(o),
        Line::Record(_) => None,
    }));
    db::render_lines(out)
}

/// Put `new` into `list`, removing every record `same` matches (reported through
/// `replaced` unless identical).
fn replace<T: PartialEq>(
    list: &mut Vec<T>,
    new: T,
    same: impl Fn(&T, &T) -> bool,
    mut replaced: impl FnMut(&T),
) {
    list.retain(|old| {
        if !same(old, &new) {
            return true;
        }
        if *old != new {
            replaced(old);
        }
        false
    });
    list.push(new);
}

fn records<T>(lines: Vec<Line<T>>) -> Vec<T> {
    lines
        .into_iter()
        .filter_map(|l| match l {
            Line::Record(r) => Some(r),
            Line::Other(_) => None,
        })
        .collect()
}

fn others<T>(lines: Vec<Line<T>>) -> Vec<String> {
    lines
        .into_iter()
        .filter_map(|l| match l {
            Line::Other(o) => Some(o),
            Line::Record(_) => None,
        })
        .collect()
}

/// An account file of the lower tree: where it is written back and with what metadata.
struct AccountFile {
    existed: bool,
    /// The lower entry (mode, owner, xattrs), or a 0644 0:0 file.
    template: Entry,
    text: String,
}

impl AccountFile {
    fn read(view: &TreeView<'_>, path: &str) -> Result<AccountFile, AccountsError> {
        let display = format!("/{path}");
        let new = |p: ImagePath| AccountFile {
            existed: false,
            template: Entry::new(p, Kind::File(Content::Empty), 0o644),
            text: String::new(),
        };
        match view.resolve(path.as_bytes(), true) {
            Resolved::Found { path, entry } => {
                let Kind::File(content) = &entry.kind else {
                    return Err(AccountsError::Read {
                        path: display,
                        reason: format!("it is a {}", entry.kind.name()),
                    });
                };
                let text =
                    read_text(content, MAX_ACCOUNT_FILE).map_err(|reason| AccountsError::Read {
                        path: display,
                        reason,
                    })?;
                let mut template = entry.into_owned();
                template.path = path;
                Ok(AccountFile {
                    existed: true,
                    template,
                    text,
                })
            }
            // Missing, or a dangling symlink: a new file replaces it.
            _ => Ok(new(ImagePath::parse_str(path).unwrap_or_default())),
        }
    }

    fn entry(&self, text: String) -> Entry {
        let mut e = self.template.clone();
        e.kind = Kind::File(Content::Inline(Arc::from(text.into_bytes())));
        e
    }
}

#[cfg(test)]
mod tests;
