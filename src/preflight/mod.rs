//! Preflight: checks of an image's final tree, per platform, that catch the images that
//! cannot start before they ship.
//!
//! * the program (`entrypoint[0]`, else `cmd[0]`) exists, resolved through symlinks
//!   (root-scoped) and, when it has no `/`, through the config's `PATH`; it is a regular
//!   file, executable for the config's user;
//! * an ELF program's architecture matches the platform; its `PT_INTERP` exists; every
//!   `DT_NEEDED` library, and theirs in turn, is found by the rules of its loader (see
//!   [`loader`] for glibc's and musl's);
//! * a script's `#!` interpreter exists (and, for `/usr/bin/env NAME`, `NAME` is on `PATH`);
//! * a user or group given by name resolves in the tree's `/etc/passwd` and `/etc/group`.
//!
//! Each [`Finding`] says what is missing, for which file, and the usual fix. Findings are
//! warnings by default and errors with `build --strict` (or `[image] strict = true`).
//! Checks read only what they need (headers, a `#!` line, account files), within
//! limits, so hostile files cost bounded time and memory.

pub(crate) mod bytes;
pub mod elf;
mod exec;
pub mod loader;
pub mod report;

pub(crate) use bytes::read_text;

use std::fmt;

use crate::accounts::db;
use crate::entry::{Content, Entry, Kind};
use crate::manifest::ConfigSettings;
use crate::merge::Tree;
use crate::platform::Platform;
use crate::treeview::{Resolved, TreeView};

/// `PATH` when the config sets none: what Docker and podman give a container.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One problem that would stop the image from starting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// Which check: `entrypoint`, `permission`, `format`, `architecture`,
    /// `interpreter`, `library`, `shebang`, `user`, `group`.
    pub check: String,
    /// The file (or config key) the finding is about.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The usual fix.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (hint: {})", self.path, self.message, self.hint)
    }
}

/// Run every check on the final tree `entries` of one platform's image.
pub fn check(entries: &[Entry], config: &ConfigSettings, platform: &Platform) -> Vec<Finding> {
    check_view(&TreeView::new(entries), config, platform)
}

/// [`check`] on a merged tree, reading only the names the checks look up (a tree rebuilt
/// over a layer-cache snapshot stays mostly unread).
pub fn check_tree(tree: &mut Tree, config: &ConfigSettings, platform: &Platform) -> Vec<Finding> {
    check_view(&TreeView::of_tree(tree), config, platform)
}

fn check_view(view: &TreeView<'_>, config: &ConfigSettings, platform: &Platform) -> Vec<Finding> {
    let env = Env::of(config);
    let mut out = Vec::new();
    let user = user_ids(view, config.user.as_deref(), &mut out);
    let program = config
        .entrypoint
        .as_ref()
        .filter(|e| !e.is_empty())
        .or(config.cmd.as_ref().filter(|c| !c.is_empty()));
    match program {
        None => out.push(Finding {
            check: "entrypoint".to_string(),
            path: "[config]".to_string(),
            message: "neither `entrypoint` nor `cmd` is set: a container has nothing to run"
                .to_string(),
            hint: "set [config] entrypoint = [\"/path/to/program\"]".to_string(),
        }),
        Some(argv) => {
            let ctx = exec::Ctx {
                view,
                platform,
                env: &env,
                user,
                workdir: config.workdir.as_deref().unwrap_or("/"),
            };
            ctx.check_program(&argv[0], &argv[1..], &mut out);
        }
    }
    out
}

/// The environment variables the checks use.
pub(crate) struct Env {
    pub(crate) path: String,
    pub(crate) ld_library_path: Option<String>,
}

impl Env {
    fn of(config: &ConfigSettings) -> Env {
        let get = |key: &str| {
            config.env.iter().find_map(|kv| {
                kv.split_once('=')
                    .filter(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            })
        };
        Env {
            path: get("PATH").unwrap_or_else(|| DEFAULT_PATH.to_string()),
            ld_library_path: get("LD_LIBRARY_PATH").filter(|v| !v.is_empty()),
        }
    }
}

/// The numeric uid and gid of the config's `user`, when they can be known (findings for
/// names that do not resolve). No user is root.
fn user_ids(view: &TreeView<'_>, user: Option<&str>, out: &mut Vec<Finding>) -> Option<(u64, u64)> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Some((0, 0));
    };
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
    let mut uid_gid = None;
    if numeric(name) {
        let uid = name.parse().ok()?;
        // The runtime takes the primary group from /etc/passwd when it has the uid.
        let gid = account_text(view, "/etc/passwd")
            .and_then(|t| {
                db::parse_passwd(&t).into_iter().find_map(|l| match l {
                    db::Line::Record(p) if p.uid == uid => Some(p.gid),
                    _ => None,
                })
            })
            .unwrap_or(0);
        uid_gid = Some((uid, gid));
    } else {
        let passwd = account_text(view, "/etc/passwd");
        match passwd.as_deref().and_then(|t| db::lookup_user(t, name)) {
            Some(ids) => uid_gid = Some(ids),
            // A lower layer's file over a layer-cache tree snapshot: it exists, its bytes
            // are not at hand (as for executables in `exec`); nothing can be said.
            None if passwd.is_none() && bytes_not_kept(view, "/etc/passwd") => {}
            None => out.push(Finding {
                check: "user".to_string(),
                path: "/etc/passwd".to_string(),
                message: match passwd {
                    Some(_) => format!("[config] user `{name}` is not in /etc/passwd: the container will not start (\"unable to find user {name}\")"),
                    None => format!("[config] user `{name}` is a name, but the image has no /etc/passwd to look it up in"),
                },
                hint: format!("declare it ([[accounts.user]] name = \"{name}\" uid = …), or use a numeric user such as \"65532:65532\""),
            }),
        }
    }
    let Some(group) = group.filter(|g| !g.is_empty()) else {
        return uid_gid;
    };
    if numeric(group) {
        return uid_gid.map(|(u, _)| (u, group.parse().unwrap_or(0)));
    }
    let groups = account_text(view, "/etc/group");
    match groups.as_deref().and_then(|t| db::lookup_group(t, group)) {
        Some(gid) => uid_gid.map(|(u, _)| (u, gid)),
        None if groups.is_none() && bytes_not_kept(view, "/etc/group") => None,
        None => {
            out.push(Finding {
                check: "group".to_string(),
                path: "/etc/group".to_string(),
                message: match groups {
                    Some(_) => format!("[config] user's group `{group}` is not in /etc/group: the container will not start"),
                    None => format!("[config] user's group `{group}` is a name, but the image has no /etc/group to look it up in"),
                },
                hint: format!("declare it ([[accounts.group]] name = \"{group}\" gid = …), or use a numeric group"),
            });
            None
        }
    }
}

/// An account file's text, when the tree has it as a regular file.
/// Whether `path` is a regular file whose bytes the tree does not keep (a lower layer's
/// file in a tree rebuilt over the layer cache's snapshot).
fn bytes_not_kept(view: &TreeView<'_>, path: &str) -> bool {
    matches!(
        view.resolve(path.as_bytes(), true),
        Resolved::Found { entry, .. } if matches!(entry.kind, Kind::File(Content::NotKept { .. }))
    )
}

fn account_text(view: &TreeView<'_>, path: &str) -> Option<String> {
    match view.resolve(path.as_bytes(), true) {
        Resolved::Found { entry, .. } => match &entry.kind {
            Kind::File(c) => read_text(c, crate::accounts::MAX_ACCOUNT_FILE).ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
