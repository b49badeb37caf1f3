//! The docker-archive metadata: `manifest.json` and `repositories`.
//!
//! Docker 25+ writes these beside an OCI layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`); older Docker and podman read only `manifest.json`. Paths point
//! into `blobs/sha256/`, so the very same blobs serve both readers. Both files are
//! canonical JSON *without* a trailing newline (a frozen choice, part of the compat level).

use super::{AssembledImage, ImageError, ImageName};
use serde_json::{json, Value};

fn blob_path(d: &crate::digest::Sha256Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// `manifest.json`: one entry with `Config`, `RepoTags` and `Layers`.
pub fn manifest_json(img: &AssembledImage, name: &ImageName) -> Result<Vec<u8>, ImageError> {
    let doc = json!([{
        "Config": blob_path(&img.config.digest),
        "RepoTags": [name.repo_tag()],
        "Layers": img.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
    }]);
    super::json::to_canonical(&doc).map_err(|source| ImageError::Json {
        what: "manifest.json",
        source,
    })
}

/// `repositories`: `{"name":{"tag":"<hex of the top layer>"}}`, as `docker save` writes
/// it (the top layer's blob name); `{}` for an image without layers. Docker reads it only
/// when `manifest.json` is missing.
pub fn repositories_json(img: &AssembledImage, name: &ImageName) -> Result<Vec<u8>, ImageError> {
    let doc = match img.layers.last() {
        Some(top) => json!({ name.name(): { name.tag(): top.digest.hex() } }),
        None => Value::Object(Default::default()),
    };
    super::json::to_canonical(&doc).map_err(|source| ImageError::Json {
        what: "repositories",
        source,
    })
}
