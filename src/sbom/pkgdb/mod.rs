//! The packages a rootfs input declares, read from its own package databases.
//!
//! A rootfs tarball (Alpine's minirootfs, a Debian debootstrap) records what it contains in
//! `lib/apk/db/installed` or `var/lib/dpkg/status`; these are the lists `apk info` and
//! `dpkg-query -W` print. We read them from the input's entries (never the host), with a
//! size limit on every file read, and return one [`Package`] per installed package with the
//! files it owns, so the SBOM can tell which packages a later layer removed.

mod apk;
mod dep5;
mod dpkg;

pub use apk::parse_installed as parse_apk_installed;
pub use dep5::parse as parse_dep5;
pub use dpkg::parse_status as parse_dpkg_status;

use super::license::License;
use super::purl::Purl;
use super::SbomError;
use crate::entry::{Entry, ImagePath, Kind};
use std::collections::BTreeMap;
use std::io::Read;

/// Which package manager's database a package came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    Apk,
    Deb,
}

impl Ecosystem {
    /// The purl type (`apk`, `deb`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Apk => "apk",
            Ecosystem::Deb => "deb",
        }
    }

    /// The database path inside a rootfs.
    pub fn database(self) -> &'static str {
        match self {
            Ecosystem::Apk => "lib/apk/db/installed",
            Ecosystem::Deb => "var/lib/dpkg/status",
        }
    }

    /// The namespace when the rootfs has no `os-release`.
    fn default_distro(self) -> &'static str {
        match self {
            Ecosystem::Apk => "alpine",
            Ecosystem::Deb => "debian",
        }
    }
}

/// A hash a database records for a package (apk: SHA-1 of the package's control data).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Checksum {
    /// `SHA1` or `SHA256`, as SPDX spells it.
    pub algorithm: &'static str,
    /// Lower-case hex.
    pub hex: String,
}

/// One installed package, as its database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    /// The declared license (apk `L:`; dpkg: the machine-readable copyright file).
    pub license: Option<License>,
    /// The source package (apk `o:`, dpkg `Source:` without its version).
    pub origin: Option<String>,
    pub checksum: Option<Checksum>,
    /// The maintainer (apk `m:`, dpkg `Maintainer:`).
    pub maintainer: Option<String>,
    pub homepage: Option<String>,
    /// The one-line summary.
    pub summary: Option<String>,
    /// dpkg's state when it is not `installed` (`config-files`, `half-installed`, …).
    pub state: Option<String>,
    /// The non-directory paths the package owns that its input contains (directories are
    /// shared between packages, so they say nothing about removal).
    pub files: Vec<ImagePath>,
    /// The distribution (`alpine`, `debian`, `ubuntu`): the purl namespace.
    pub distro: String,
    /// `ID-VERSION_ID` from `os-release`, when there is one (purl's `distro` qualifier).
    pub distro_release: Option<String>,
}

impl Package {
    /// The package URL: `pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.4`.
    pub fn purl(&self) -> Purl {
        let mut qualifiers = Vec::new();
        if let Some(a) = &self.arch {
            qualifiers.push(("arch".to_string(), a.clone()));
        }
        if let Some(d) = &self.distro_release {
            qualifiers.push(("distro".to_string(), d.clone()));
        }
        if let Some(o) = &self.origin {
            if o != &self.name && self.ecosystem == Ecosystem::Apk {
                qualifiers.push(("upstream".to_string(), o.clone()));
            }
        }
        Purl {
            kind: self.ecosystem.purl_type().to_string(),
            namespace: Some(self.distro.clone()),
            name: self.name.clone(),
            version: Some(self.version.clone()),
            qualifiers,
        }
    }
}

/// Size limits for the files read from a rootfs: a hostile input cannot make us read or
/// hold more than these.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `lib/apk/db/installed`, `var/lib/dpkg/status`.
    pub database: u64,
    /// Each `var/lib/dpkg/info/*.list`.
    pub file_list: u64,
    /// Each `usr/share/doc/*/copyright`; larger ones are skipped (no license).
    pub copyright: u64,
    /// `etc/os-release`.
    pub os_release: u64,
    /// Packages per database.
    pub packages: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            database: 64 << 20,
            file_list: 16 << 20,
            copyright: 1 << 20,
            os_release: 64 << 10,
            packages: 200_000,
        }
    }
}

/// The entries of one input, by path, with bounded reads of their bytes.
pub struct Rootfs<'a> {
    by_path: BTreeMap<&'a ImagePath, &'a Entry>,
    label: &'a str,
    limits: Limits,
}

impl<'a> Rootfs<'a> {
    /// Index `entries` (one input's, as the layer reader returned them); `label` names the
    /// input in messages.
    pub fn new(entries: &'a [Entry], label: &'a str, limits: Limits) -> Rootfs<'a> {
        Rootfs {
            by_path: entries.iter().map(|e| (&e.path, e)).collect(),
            label,
            limits,
        }
    }

    /// The regular file at `path` (hard links followed once; symlinks are not followed, so
    /// nothing outside the input is ever read), or `None` when there is none.
    pub fn file(&self, path: &str) -> Option<&'a Entry> {
        let p = ImagePath::parse_str(path).ok()?;
        let e = *self.by_path.get(&p)?;
        match &e.kind {
            Kind::File(_) => Some(e),
            Kind::HardLink(t) => match self.by_path.get(t) {
                Some(t) if matches!(t.kind, Kind::File(_)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// The bytes of the file at `path`, `None` when absent, an error when larger than
    /// `limit` or unreadable.
    pub fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, SbomError> {
        let Some(e) = self.file(path) else {
            return Ok(None);
        };
        let Kind::File(content) = &e.kind else {
            return Ok(None);
        };
        if content.len() > limit {
            return Err(SbomError::TooLarge {
                input: self.label.to_string(),
                path: path.to_string(),
                size: content.len(),
                limit,
            });
        }
        let mut buf = Vec::with_capacity(content.len() as usize);
        content
            .open()
            .and_then(|r| r.take(limit).read_to_end(&mut buf))
            .map_err(|source| SbomError::Read {
                input: self.label.to_string(),
                path: path.to_string(),
                source,
            })?;
        Ok(Some(buf))
    }

    /// True when the input contains `path` and it is not a directory.
    pub fn has_non_dir(&self, path: &ImagePath) -> bool {
        self.by_path
            .get(path)
            .is_some_and(|e| !matches!(e.kind, Kind::Dir))
    }

    /// The input's label, for messages.
    pub fn label(&self) -> &str {
        self.label
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

/// `ID` and `VERSION_ID` from `etc/os-release` (or `usr/lib/os-release`, which it usually
/// links to), lower-cased ID.
fn os_release(fs: &Rootfs) -> Result<(Option<String>, Option<String>), SbomError> {
    let limit = fs.limits.os_release;
    let bytes = match fs.read("etc/os-release", limit)? {
        Some(b) => b,
        None => match fs.read("usr/lib/os-release", limit)? {
            Some(b) => b,
            None => return Ok((None, None)),
        },
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut id = None;
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        let valid = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'));
        match k.trim() {
            "ID" if valid => id = Some(v.to_ascii_lowercase()),
            "VERSION_ID" if valid => version = Some(v),
            _ => {}
        }
    }
    Ok((id, version))
}

/// Every package the input's databases list, apk then dpkg, each sorted by name, version
/// and architecture. An input with no database gives an empty list.
pub fn scan(fs: &Rootfs) -> Result<Vec<Package>, SbomError> {
    let (id, version) = os_release(fs)?;
    let mut out = Vec::new();
    for eco in [Ecosystem::Apk, Ecosystem::Deb] {
        let Some(db) = fs.read(eco.database(), fs.limits.database)? else {
            continue;
        };
        let mut pkgs = match eco {
            Ecosystem::Apk => apk::parse_installed(&db, fs.label, fs.limits.packages)?,
            Ecosystem::Deb => {
                let mut p = dpkg::parse_status(&db, fs.label, fs.limits.packages)?;
                dpkg::add_files_and_licenses(&mut p, fs)?;
                p
            }
        };
        let distro = id
            .clone()
            .unwrap_or_else(|| eco.default_distro().to_string());
        let release = match (&id, &version) {
            (Some(i), Some(v)) => Some(format!("{i}-{v}")),
            _ => None,
        };
        for p in &mut pkgs {
            p.files.retain(|f| fs.has_non_dir(f));
            p.files.sort();
            p.files.dedup();
            p.distro = distro.clone();
            p.distro_release = release.clone();
        }
        pkgs.sort_by(|a, b| (&a.name, &a.version, &a.arch).cmp(&(&b.name, &b.version, &b.arch)));
        out.extend(pkgs);
    }
    Ok(out)
}

/// What became of a package's files in the finished image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Every file it owns is still there (or it owns none).
    Present,
    /// A later layer removed some of its files: the count removed and owned.
    Partial { removed: usize, owned: usize },
    /// A later layer removed every file it owns: it is left out of the SBOM.
    Removed,
}

/// Classify `pkg` by which of its files `present` says are in the final image.
pub fn presence(pkg: &Package, present: impl Fn(&ImagePath) -> bool) -> Presence {
    let removed = pkg.files.iter().filter(|p| !present(p)).count();
    match removed {
        0 => Presence::Present,
        n if n == pkg.files.len() => Presence::Removed,
        n => Presence::Partial {
            removed: n,
            owned: pkg.files.len(),
        },
    }
}

/// Split a database into its stanzas (blank-line separated), each with its first line
/// number (1-based), for error messages.
fn stanzas(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    let mut lines = text.lines().enumerate().peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
            lines.next();
        }
        let (first, _) = *lines.peek()?;
        let mut stanza = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.trim().is_empty() {
                break;
            }
            stanza.push(*l);
            lines.next();
        }
        Some((first + 1, stanza))
    })
}

#[cfg(test)]
mod tests;
