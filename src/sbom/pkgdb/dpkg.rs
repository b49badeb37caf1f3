//! dpkg's status database (`var/lib/dpkg/status`): RFC 822-style paragraphs, one per
//! package, continuation lines indented. A package is listed when its state is anything
//! but `not-installed`, exactly as `dpkg-query -W` lists it. Owned files come from
//! `var/lib/dpkg/info/NAME[:ARCH].list`, licenses from a machine-readable
//! `usr/share/doc/NAME/copyright`.

use super::apk::truncate;
use super::{stanzas, Ecosystem, Package, Rootfs};
use crate::entry::ImagePath;
use crate::sbom::SbomError;

/// Parse the status file's bytes; `label` names the input in errors. At most
/// `max_packages` listed packages.
pub fn parse_status(
    bytes: &[u8],
    label: &str,
    max_packages: usize,
) -> Result<Vec<Package>, SbomError> {
    let text = String::from_utf8_lossy(bytes);
    let bad = |line: usize, message: String| SbomError::Malformed {
        input: label.to_string(),
        path: Ecosystem::Deb.database().to_string(),
        line,
        message,
    };
    let mut out = Vec::new();
    for (line, stanza) in stanzas(&text) {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (i, l) in stanza.iter().enumerate() {
            if l.starts_with([' ', '\t']) {
                match fields.last_mut() {
                    // Only the first line of a multi-line field is kept.
                    Some(_) => continue,
                    None => {
                        return Err(bad(line + i, "a continuation line before any field".into()))
                    }
                }
            }
            let Some((k, v)) = l.split_once(':') else {
                return Err(bad(
                    line + i,
                    format!("`{}` is not a `Field: value` line", truncate(l)),
                ));
            };
            fields.push((k.trim(), v.trim().to_string()));
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let Some(name) = get("Package") else {
            return Err(bad(line, "a paragraph without a `Package:` field".into()));
        };
        let status = get("Status").unwrap_or_default();
        let state = status.split_whitespace().nth(2).unwrap_or("not-installed");
        if state == "not-installed" {
            continue;
        }
        if out.len() == max_packages {
            return Err(bad(line, format!("more than {max_packages} packages")));
        }
        let Some(version) = get("Version") else {
            return Err(bad(
                line,
                format!("package `{}` has no `Version:`", truncate(&name)),
            ));
        };
        let origin = get("Source").map(|s| match s.split_once(' ') {
            Some((src, _version)) => src.to_string(),
            None => s,
        });
        out.push(Package {
            ecosystem: Ecosystem::Deb,
            name,
            version,
            arch: get("Architecture"),
            license: None,
            origin,
            checksum: None,
            maintainer: get("Maintainer"),
            homepage: get("Homepage"),
            summary: get("Description"),
            state: (state != "installed").then(|| state.to_string()),
            files: Vec::new(),
            distro: String::new(),
            distro_release: None,
        });
    }
    Ok(out)
}

/// Fill in each package's owned files and machine-readable license from the rootfs.
pub(super) fn add_files_and_licenses(pkgs: &mut [Package], fs: &Rootfs) -> Result<(), SbomError> {
    let limits = fs.limits();
    for p in pkgs.iter_mut() {
        let mut list = None;
        let candidates = match &p.arch {
            Some(a) => vec![format!("{}:{a}", p.name), p.name.clone()],
            None => vec![p.name.clone()],
        };
        for c in &candidates {
            if valid_name(c) {
                if let Some(b) =
                    fs.read(&format!("var/lib/dpkg/info/{c}.list"), limits.file_list)?
                {
                    list = Some(b);
                    break;
                }
            }
        }
        if let Some(bytes) = list {
            for l in String::from_utf8_lossy(&bytes).lines() {
                if let Ok(path) = ImagePath::parse_str(l) {
                    if !path.is_root() {
                        p.files.push(path);
                    }
                }
            }
        }
        if valid_name(&p.name) {
            // A copyright file over the limit only costs the license, not the build.
            let path = format!("usr/share/doc/{}/copyright", p.name);
            if let Ok(Some(bytes)) = fs.read(&path, limits.copyright) {
                p.license = super::dep5::parse(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    Ok(())
}

/// A package name that is one path component.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '\0'])
}
