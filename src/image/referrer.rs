//! OCI 1.1 artifact manifests that point at an image manifest through `subject`: how SBOMs
//! and attestations travel with an image (the referrers API lists them by subject, and an
//! OCI layout lists them in `index.json` after the image).

use super::{canonical, put, Assembled, BlobStore, Descriptor, ImageError};
use super::{ANNOTATION_CREATED, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::digest::Sha256Digest;
use crate::epoch::Epoch;
use serde_json::{json, Value};

/// The media type of the empty `{}` config an artifact manifest carries.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// One document to attach to one image manifest.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The image manifest it describes.
    pub subject: Descriptor,
    /// `application/spdx+json`, `application/vnd.cyclonedx+json`,
    /// `application/vnd.in-toto+json`: both the manifest's artifactType and the layer's
    /// media type.
    pub artifact_type: String,
    /// The document's bytes.
    pub document: Vec<u8>,
}

/// The empty config descriptor (`{}`).
fn empty_config(store: &BlobStore) -> Result<Descriptor, ImageError> {
    put(store, MEDIA_TYPE_EMPTY, b"{}")
}

/// The artifact manifest's JSON for a stored document.
pub fn artifact_manifest(
    subject: &Descriptor,
    artifact_type: &str,
    config: &Descriptor,
    layer: &Descriptor,
    epoch: Epoch,
) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "artifactType": artifact_type,
        "config": Value::Object(config.to_json()),
        "layers": [Value::Object(layer.to_json())],
        "subject": Value::Object(subject.to_json()),
        "annotations": {ANNOTATION_CREATED: epoch.rfc3339()},
    })
}

/// Store each attachment (document blob, empty config, artifact manifest), add the blobs
/// to `a.blobs` and list the artifact manifests in `a.index_json` after the image, each
/// with its `artifactType`. Returns the artifact manifests' descriptors, in the order
/// given.
pub fn attach(
    store: &BlobStore,
    a: &mut Assembled,
    attachments: &[Attachment],
    epoch: Epoch,
) -> Result<Vec<Descriptor>, ImageError> {
    if attachments.is_empty() {
        return Ok(Vec::new());
    }
    let config = empty_config(store)?;
    let mut index: Value =
        serde_json::from_slice(&a.index_json).map_err(|source| ImageError::Json {
            what: "index.json",
            source,
        })?;
    let mut out = Vec::new();
    a.blobs.push((config.digest, config.size));
    for at in attachments {
        let layer = put(store, &at.artifact_type, &at.document)?;
        let doc = artifact_manifest(&at.subject, &at.artifact_type, &config, &layer, epoch);
        let manifest = put(
            store,
            MEDIA_TYPE_MANIFEST,
            &canonical("an artifact manifest", &doc)?,
        )?;
        a.blobs.push((layer.digest, layer.size));
        a.blobs.push((manifest.digest, manifest.size));
        let mut d = manifest.to_json();
        d.insert("artifactType".into(), json!(at.artifact_type));
        if let Some(list) = index["manifests"].as_array_mut() {
            list.push(Value::Object(d));
        }
        out.push(manifest);
    }
    debug_assert_eq!(index["mediaType"], MEDIA_TYPE_INDEX);
    a.index_json = canonical("index.json", &index)?;
    a.blobs.sort();
    a.blobs.dedup();
    Ok(out)
}

/// The tag the referrers tag scheme uses for a subject: `sha256-<hex>` (for registries
/// without the referrers API, such as distribution 2.8).
pub fn referrers_tag(subject: &Sha256Digest) -> String {
    format!("sha256-{}", subject.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_well_known_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        let d = empty_config(&store).unwrap();
        assert_eq!(
            d.digest.to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(d.size, 2);
    }

    #[test]
    fn referrers_tag_scheme() {
        let d = Sha256Digest::of(b"x");
        assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
    }
}
