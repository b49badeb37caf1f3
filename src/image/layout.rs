//! An OCI layout made of blobs that already exist elsewhere (such as the image a lock
//! records, kept in the store), linked rather than copied where the file system allows.

use super::output::OCI_LAYOUT;
use super::ImageError;
use crate::digest::Sha256Digest;
use std::fs;
use std::path::{Path, PathBuf};

/// The media type of an image manifest that does not say its own.
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Write into `dir` an OCI layout holding the image whose manifest is `manifest`, taking
/// each blob from `find` (a verified file holding it, or `None` when there is none); false
/// when one of the blobs cannot be found.
pub fn layout_from_blobs<E: From<ImageError>>(
    manifest: &Sha256Digest,
    dir: &Path,
    mut find: impl FnMut(&Sha256Digest) -> Result<Option<PathBuf>, E>,
) -> Result<bool, E> {
    let Some(manifest_path) = find(manifest)? else {
        return Ok(false);
    };
    let bytes = fs::read(&manifest_path).map_err(|e| ImageError::io(&manifest_path, e))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
            what: "a kept image manifest",
            source,
        })?;
    let mut wanted = vec![*manifest];
    let named =
        std::iter::once(&json["config"]).chain(json["layers"].as_array().into_iter().flatten());
    for desc in named {
        match desc["digest"].as_str().map(str::parse::<Sha256Digest>) {
            Some(Ok(d)) => wanted.push(d),
            _ => return Ok(false),
        }
    }
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| ImageError::io(&blobs, e))?;
    for d in &wanted {
        let Some(src) = find(d)? else {
            return Ok(false);
        };
        let dest = blobs.join(d.hex());
        if fs::hard_link(&src, &dest).is_err() {
            fs::copy(&src, &dest).map_err(|e| ImageError::io(&dest, e))?;
        }
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": json["mediaType"].as_str().unwrap_or(MANIFEST_MEDIA_TYPE),
            "digest": manifest.to_string(),
            "size": bytes.len(),
        }],
    });
    for (name, text) in [
        ("index.json", index.to_string().into_bytes()),
        ("oci-layout", OCI_LAYOUT.to_vec()),
    ] {
        let p = dir.join(name);
        fs::write(&p, text).map_err(|e| ImageError::io(&p, e))?;
    }
    Ok(true)
}
