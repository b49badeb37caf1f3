//! Where the dynamic loader looks for a `DT_NEEDED` library, for glibc and musl.
//!
//! **glibc** (`ld.so(8)`): a name with a `/` is a path. Otherwise, in order: the
//! `DT_RPATH` of the object and of the objects that loaded it (only while the object has
//! no `DT_RUNPATH`), `LD_LIBRARY_PATH`, the object's own `DT_RUNPATH` (for its direct
//! needs only), `/etc/ld.so.cache`, then the system directories. The system directories
//! differ between builds of glibc: Debian and Ubuntu use `/lib/<triplet>`,
//! `/usr/lib/<triplet>`, `/lib`, `/usr/lib`; Fedora and upstream on 64-bit use `/lib64`,
//! `/usr/lib64`. Preflight accepts the union. The cache holds what `ldconfig` found in
//! the system directories and in those `/etc/ld.so.conf` lists (with its `include`
//! lines); without reading its binary format, preflight searches the `ld.so.conf`
//! directories only when the tree has an `/etc/ld.so.cache`. A candidate of the wrong
//! class or machine is skipped, as glibc skips it. A name the loader already loaded
//! (the interpreter's own name, as `libc.so.6` needs `ld-linux-x86-64.so.2`) is found.
//!
//! **musl** (`ldso/dynlink.c`): names starting `libc.`, `libpthread.`, `librt.`, `libm.`,
//! `libdl.`, `libutil.`, `libxnet.` are the loader itself (so `libc.musl-x86_64.so.1`
//! always resolves). A name with a `/` is a path. Otherwise: `LD_LIBRARY_PATH`, then the
//! `DT_RUNPATH` or `DT_RPATH` of the object and of each object that loaded it, then the
//! directories listed in `/etc/ld-musl-<arch>.path` (separated by `:` or newlines) when
//! that file exists, else `/lib:/usr/local/lib:/usr/lib`. musl takes the first file it
//! finds, whatever its machine.
//!
//! Both expand `$ORIGIN` (and `${ORIGIN}`) to the directory of the object that holds the
//! path list.

use crate::platform::Platform;
use crate::treeview::{Resolved, TreeView};

/// The C library whose loader a program names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    Glibc,
    Musl,
}

impl Libc {
    /// The C library of an interpreter path (`/lib/ld-musl-x86_64.so.1` is musl; anything
    /// else, such as `/lib64/ld-linux-x86-64.so.2`, is taken for glibc).
    pub fn of_interpreter(interp: &[u8]) -> Libc {
        let name = interp.rsplit(|&b| b == b'/').next().unwrap_or(interp);
        if name.starts_with(b"ld-musl-") {
            Libc::Musl
        } else {
            Libc::Glibc
        }
    }
}

/// True when musl's loader answers for `name` itself.
pub fn musl_builtin(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"lib") else {
        return false;
    };
    [
        &b"c."[..],
        b"pthread.",
        b"rt.",
        b"m.",
        b"dl.",
        b"util.",
        b"xnet.",
    ]
    .iter()
    .any(|r| rest.starts_with(r))
}

/// The Debian multiarch triplet of a platform.
fn triplet(p: &Platform) -> Option<&'static str> {
    Some(match p.architecture.as_str() {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "386" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// musl's name for an architecture in `/etc/ld-musl-<arch>.path`.
fn musl_arch(p: &Platform) -> &'static str {
    match p.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "arm" => {
            if p.variant.as_deref() == Some("v6") {
                "arm"
            } else {
                "armhf"
            }
        }
        "ppc64le" => "powerpc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        _ => "unknown",
    }
}

/// glibc's system directories for the platform (the union of distributions' choices).
pub fn glibc_system_dirs(p: &Platform) -> Vec<String> {
    let mut dirs = Vec::new();
    if let Some(t) = triplet(p) {
        dirs.push(format!("/lib/{t}"));
        dirs.push(format!("/usr/lib/{t}"));
    }
    if matches!(
        p.architecture.as_str(),
        "amd64" | "arm64" | "ppc64le" | "s390x" | "riscv64"
    ) {
        dirs.push("/lib64".to_string());
        dirs.push("/usr/lib64".to_string());
    }
    dirs.push("/lib".to_string());
    dirs.push("/usr/lib".to_string());
    dirs
}

/// musl's system directories: `/etc/ld-musl-<arch>.path` when the tree has it.
pub fn musl_system_dirs(view: &TreeView<'_>, p: &Platform) -> (Vec<String>, String) {
    let file = format!("/etc/ld-musl-{}.path", musl_arch(p));
    if let Some(text) = read_small(view, &file) {
        let dirs = text
            .split([':', '\n'])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        return (dirs, file);
    }
    (
        ["/lib", "/usr/local/lib", "/usr/lib"]
            .map(str::to_string)
            .to_vec(),
        "musl's default".to_string(),
    )
}

/// The directories `/etc/ld.so.conf` lists (following `include` lines), when the tree
/// has an `/etc/ld.so.cache` built from it.
pub fn ld_so_conf_dirs(view: &TreeView<'_>) -> Vec<String> {
    if !matches!(
        view.resolve(b"/etc/ld.so.cache", true),
        Resolved::Found { .. }
    ) {
        return Vec::new();
    }
    let mut out = Vec::new();
    conf_file(view, "/etc/ld.so.conf", 0, &mut out);
    out
}

fn conf_file(view: &TreeView<'_>, path: &str, depth: u32, out: &mut Vec<String>) {
    if depth > 4 || out.len() > 256 {
        return;
    }
    let Some(text) = read_small(view, path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            for file in expand_include(view, pattern.trim()) {
                conf_file(view, &file, depth + 1, out);
            }
        } else if line.starts_with('/') {
            out.extend(
                line.split([' ', '\t', ',', ':'])
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            );
        }
    }
}

/// The files an `include` pattern names (a `*` allowed in the last component).
fn expand_include(view: &TreeView<'_>, pattern: &str) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("/etc", pattern));
    if !name.contains('*') {
        return vec![format!("{dir}/{name}")];
    }
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let real = match view.resolve(dir.as_bytes(), true) {
        Resolved::Found { path, .. } | Resolved::ImplicitDir { path } => path,
        _ => return Vec::new(),
    };
    let mut files: Vec<String> = view
        .children(real.as_bytes())
        .into_iter()
        .map(|e| String::from_utf8_lossy(e.path.file_name()).into_owned())
        .filter(|n| {
            n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len()
        })
        .map(|n| format!("{dir}/{n}"))
        .collect();
    files.sort();
    files
}

/// A small text file of the tree, when it is a readable regular file.
fn read_small(view: &TreeView<'_>, path: &str) -> Option<String> {
    match view.resolve(path.as_bytes(), true) {
        Resolved::Found { entry, .. } => match &entry.kind {
            crate::entry::Kind::File(c) => super::read_text(c, 1 << 20).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A colon-separated path list with `$ORIGIN` expanded to `origin` (a directory).
pub fn expand_path_list(list: &[u8], origin: &str) -> Vec<String> {
    String::from_utf8_lossy(list)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Content, Entry, ImagePath, Kind};

    #[test]
    fn musl_reserved_names_are_the_loader() {
        assert!(musl_builtin(b"libc.musl-x86_64.so.1"));
        assert!(musl_builtin(b"libc.so"));
        assert!(musl_builtin(b"libpthread.so.0"));
        assert!(!musl_builtin(b"libcrypto.so.3"));
        assert!(!musl_builtin(b"libz.so.1"));
        assert_eq!(
            Libc::of_interpreter(b"/lib/ld-musl-aarch64.so.1"),
            Libc::Musl
        );
        assert_eq!(
            Libc::of_interpreter(b"/lib64/ld-linux-x86-64.so.2"),
            Libc::Glibc
        );
    }

    #[test]
    fn origin_is_expanded_in_both_spellings() {
        assert_eq!(
            expand_path_list(b"$ORIGIN/../lib:${ORIGIN}/x::/opt", "/app/bin"),
            ["/app/bin/../lib", "/app/bin/x", "/opt"]
        );
    }

    #[test]
    fn system_directories_per_platform_and_libc() {
        let amd64 = Platform::linux_amd64();
        let dirs = glibc_system_dirs(&amd64);
        assert_eq!(
            dirs[..2],
            ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]
        );
        assert!(dirs.contains(&"/lib64".to_string()));
        let entries = vec![Entry::new(
            ImagePath::parse_str("etc/ld-musl-aarch64.path").unwrap(),
            Kind::File(Content::Inline(std::sync::Arc::from(
                &b"/opt/lib\n/usr/lib:/lib\n"[..],
            ))),
            0o644,
        )];
        let view = TreeView::new(&entries);
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(
            musl_system_dirs(&view, &arm64).0,
            ["/opt/lib", "/usr/lib", "/lib"]
        );
        assert_eq!(
            musl_system_dirs(&view, &amd64).0,
            ["/lib", "/usr/local/lib", "/usr/lib"]
        );
    }

    #[test]
    fn ld_so_conf_is_read_with_includes_only_when_a_cache_exists() {
        let f = |p: &str, t: &str| {
            Entry::new(
                ImagePath::parse_str(p).unwrap(),
                Kind::File(Content::Inline(std::sync::Arc::from(t.as_bytes()))),
                0o644,
            )
        };
        let mut entries = vec![
            Entry::dir(ImagePath::parse_str("etc/ld.so.conf.d").unwrap()),
            f("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"),
            f(
                "etc/ld.so.conf.d/a.conf",
                "# multiarch\n/usr/lib/x86_64-linux-gnu/extra\n",
            ),
            f("etc/ld.so.conf.d/b.conf", "/opt/b/lib\n"),
            f("etc/ld.so.conf.d/skip.txt", "/nope\n"),
        ];
        assert!(ld_so_conf_dirs(&TreeView::new(&entries)).is_empty());
        entries.push(f("etc/ld.so.cache", "cache"));
        assert_eq!(
            ld_so_conf_dirs(&TreeView::new(&entries)),
            ["/usr/lib/x86_64-linux-gnu/extra", "/opt/b/lib"]
        );
    }
}
