//! OCI 1.1 artifact manifests that point at an image manifest through `subject`: how SBOMs
//! and attestations travel with an image (the referrers API, or the referrers tag scheme,
//! lists them by subject; an OCI layout lists them in the image index after the images).

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

/// The platform of an artifact listed in an image index: `unknown/unknown`, as BuildKit
/// marks its attestations, so that tools choosing an image by platform pass over it.
fn unknown_platform() -> Value {
    json!({"architecture": "unknown", "os": "unknown"})
}

/// Store each attachment (document blob, empty config, artifact manifest) and list the
/// artifact manifests, each with its `artifactType` and the `unknown/unknown` platform,
/// in the image index after the images, as BuildKit lists its attestations: with one
/// platform, a new index holding the image manifest then the artifacts; with several, the
/// nested index gains them. `index.json` keeps exactly one entry (tools such as skopeo
/// `oci:DIR` and `podman load` refuse a layout listing several), now that index, and
/// `a.top` becomes it. The image manifests, and their digests, are unchanged. Returns the
/// artifact manifests' descriptors, in the order given.
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
    a.blobs.push((config.digest, config.size));
    let mut listed = Vec::new();
    let mut out = Vec::new();
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
        d.insert("platform".into(), unknown_platform());
        listed.push(Value::Object(d));
        out.push(manifest);
    }
    let json_of = |bytes: &[u8], what: &'static str| {
        serde_json::from_slice::<Value>(bytes).map_err(|source| ImageError::Json { what, source })
    };
    let mut index = json_of(&a.index_json, "index.json")?;
    let entry = index["manifests"][0]
        .as_object_mut()
        .ok_or(ImageError::NoImages)?;
    let mut wrapper = if a.top.media_type == MEDIA_TYPE_INDEX {
        let path = store.path(&a.top.digest);
        let bytes = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
        a.blobs.retain(|(d, _)| *d != a.top.digest);
        json_of(&bytes, "the image index")?
    } else {
        let mut image = entry.clone();
        image.remove("annotations");
        let path = store.path(&a.top.digest);
        let bytes = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
        let manifest = json_of(&bytes, "the image manifest")?;
        let mut doc = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [Value::Object(image)],
        });
        // The annotations `[image] annotations` puts on every manifest and index.
        if let Some(mut ann) = manifest["annotations"].as_object().cloned() {
            ann.remove(ANNOTATION_CREATED);
            if !ann.is_empty() {
                doc["annotations"] = Value::Object(ann);
            }
        }
        doc
    };
    if let Some(list) = wrapper["manifests"].as_array_mut() {
        list.extend(listed);
    }
    let top = put(
        store,
        MEDIA_TYPE_INDEX,
        &canonical("the image index", &wrapper)?,
    )?;
    a.blobs.push((top.digest, top.size));
    entry.remove("platform");
    for (k, v) in top.to_json() {
        entry.insert(k, v);
    }
    a.index_json = canonical("index.json", &index)?;
    a.top = top;
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
