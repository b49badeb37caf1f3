//! The docker-archive metadata: `manifest.json` and `repositories`.
//!
//! Docker 25+ writes these beside an OCI layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`); older Docker and podman read only `manifest.json`. Paths point
//! into `blobs/sha256/`, so the very same blobs serve both readers. Both files are
//! canonical JSON *without* a trailing newline (a frozen choice, part of the compat level).

use super::{AssembledImage, ImageError, ImageName};
use serde_json::{json, Map, Value};

fn blob_path(d: &crate::digest::Sha256Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// `manifest.json`: one entry with `Config`, `RepoTags` (every name, in order) and
/// `Layers`.
pub fn manifest_json(img: &AssembledImage, names: &[ImageName]) -> Result<Vec<u8>, ImageError> {
    let doc = json!([{
        "Config": blob_path(&img.config.digest),
        "RepoTags": names.iter().map(ImageName::repo_tag).collect::<Vec<_>>(),
        "Layers": img.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
    }]);
    super::json::to_canonical(&doc).map_err(|source| ImageError::Json {
        what: "manifest.json",
        source,
    })
}

/// `repositories`: `{"name":{"tag":"<hex of the top layer>"}}` for every name, as `docker
/// save` writes it (the top layer's blob name); `{}` for an image without layers. Docker
/// reads it only when `manifest.json` is missing.
pub fn repositories_json(img: &AssembledImage, names: &[ImageName]) -> Result<Vec<u8>, ImageError> {
    let mut doc = Map::new();
    if let Some(top) = img.layers.last() {
        for name in names {
            let tags = doc
                .entry(name.name().to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            tags[name.tag()] = json!(top.digest.hex());
        }
    }
    let doc = Value::Object(doc);
    super::json::to_canonical(&doc).map_err(|source| ImageError::Json {
        what: "repositories",
        source,
    })
}
