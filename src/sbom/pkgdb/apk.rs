//! apk's installed database (`lib/apk/db/installed`): one stanza per package, one
//! `X:value` line per field. We keep the fields `apk info -v` and SBOM tools use: `P` name,
//! `V` version, `A` arch, `L` license, `o` origin, `C` checksum, `m` maintainer, `U` URL,
//! `T` summary, and the `F` (directory) / `R` (file in it) lines that list what it owns.

use super::{stanzas, Checksum, Ecosystem, Package};
use crate::entry::ImagePath;
use crate::sbom::license::{self, Dialect};
use crate::sbom::SbomError;
use base64::Engine;

/// Parse the database's bytes; `label` names the input in errors. At most `max_packages`.
pub fn parse_installed(
    bytes: &[u8],
    label: &str,
    max_packages: usize,
) -> Result<Vec<Package>, SbomError> {
    let text = String::from_utf8_lossy(bytes);
    let path = super::Ecosystem::Apk.database();
    let bad = |line: usize, message: String| SbomError::Malformed {
        input: label.to_string(),
        path: path.to_string(),
        line,
        message,
    };
    let mut out = Vec::new();
    for (line, stanza) in stanzas(&text) {
        if out.len() == max_packages {
            return Err(bad(line, format!("more than {max_packages} packages")));
        }
        let mut p = Package {
            ecosystem: Ecosystem::Apk,
            name: String::new(),
            version: String::new(),
            arch: None,
            license: None,
            origin: None,
            checksum: None,
            maintainer: None,
            homepage: None,
            summary: None,
            state: None,
            files: Vec::new(),
            distro: String::new(),
            distro_release: None,
        };
        let mut dir = ImagePath::root();
        for (i, l) in stanza.iter().enumerate() {
            let Some((key, raw)) = l.split_once(':') else {
                return Err(bad(
                    line + i,
                    format!("`{}` is not a `X:value` line", truncate(l)),
                ));
            };
            let value = raw.trim();
            let opt = || (!value.is_empty()).then(|| value.to_string());
            match key {
                "P" => p.name = value.to_string(),
                "V" => p.version = value.to_string(),
                "A" => p.arch = opt(),
                "L" => p.license = license::parse(value, Dialect::Spdx),
                "o" => p.origin = opt(),
                "C" => p.checksum = checksum(value),
                "m" => p.maintainer = opt(),
                "U" => p.homepage = opt(),
                "T" => p.summary = opt(),
                "F" => {
                    dir = ImagePath::parse_str(raw).map_err(|e| {
                        bad(line + i, format!("directory `{}`: {e}", truncate(raw)))
                    })?;
                }
                "R" => {
                    if matches!(raw, "" | "." | "..") || raw.contains(['/', '\0']) {
                        return Err(bad(line + i, format!("file name `{}`", truncate(raw))));
                    }
                    p.files.push(dir.join(raw.as_bytes()));
                }
                _ => {}
            }
        }
        if p.name.is_empty() || p.version.is_empty() {
            return Err(bad(
                line,
                "a package without a name (P:) or version (V:)".into(),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

/// apk's checksum: `Q1` + base64 is SHA-1, `Q2` + base64 SHA-256; anything else (old MD5
/// hex) is not kept.
fn checksum(v: &str) -> Option<Checksum> {
    let (algorithm, b64, len) = match v.get(..2)? {
        "Q1" => ("SHA1", &v[2..], 20),
        "Q2" => ("SHA256", &v[2..], 32),
        _ => return None,
    };
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (raw.len() == len).then(|| Checksum {
        algorithm,
        hex: hex::encode(raw),
    })
}

/// A line shortened for messages.
pub(super) fn truncate(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
