//! Where a build's SBOMs and provenance go: files beside the output, and artifact
//! manifests inside OCI outputs.
//!
//! Beside `OUT` (the `-o` path): `OUT.spdx.json`, `OUT.cdx.json` and `OUT.intoto.json`
//! (the DSSE envelope, or the bare statement when unsigned); with several platforms the
//! platform goes in the name, `OUT.linux-arm64-v8.spdx.json`.

use crate::image::referrer::Attachment;
use crate::platform::Platform;
use crate::session::supply::PlatformDocuments;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The name of the provenance file suffix.
pub const PROVENANCE_SUFFIX: &str = "intoto.json";

/// The file beside `output` for one platform's document with `suffix`.
pub fn beside(output: &Path, platform: Option<&Platform>, suffix: &str) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "out".into());
    if let Some(p) = platform {
        name.push(format!(".{}", p.to_string().replace('/', "-")));
    }
    name.push(format!(".{suffix}"));
    output.with_file_name(name)
}

/// Write every document beside `output` (atomically, each file).
pub fn write_beside(output: &Path, docs: &[PlatformDocuments]) -> Result<Vec<PathBuf>> {
    let several = docs.len() > 1;
    let mut written = Vec::new();
    for d in docs {
        let p = several.then_some(&d.platform);
        let mut files: Vec<(PathBuf, &[u8])> = d
            .sboms
            .iter()
            .map(|(f, b)| (beside(output, p, f.file_suffix()), b.as_slice()))
            .collect();
        if let Some(prov) = &d.provenance {
            files.push((beside(output, p, PROVENANCE_SUFFIX), prov.as_slice()));
        }
        for (path, bytes) in files {
            write_atomically(&path, bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The documents as attachments to their image manifests.
pub fn attachments(docs: &[PlatformDocuments]) -> Vec<Attachment> {
    docs.iter()
        .flat_map(|d| {
            d.attachments()
                .into_iter()
                .map(|(artifact_type, bytes)| Attachment {
                    subject: d.subject.clone(),
                    artifact_type: artifact_type.to_string(),
                    document: bytes.to_vec(),
                })
        })
        .collect()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| format!(".{}.tmp-", n.to_string_lossy()))
        .unwrap_or_else(|| ".document.tmp-".into());
    crate::cleanup::remove_dead(&dir, &base);
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(&dir, &base))
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| Error::io(path, e))?;
    set_mode_0644(tmp.as_file()).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode_0644(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode_0644(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beside_the_output() {
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(
            beside(Path::new("out"), None, "spdx.json"),
            PathBuf::from("out.spdx.json")
        );
        assert_eq!(
            beside(Path::new("dist/image.tar"), Some(&arm), "cdx.json"),
            PathBuf::from("dist/image.tar.linux-arm64-v8.cdx.json")
        );
    }
}
