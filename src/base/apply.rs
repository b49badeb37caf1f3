//! What a build takes from a resolved base, per platform: the base's layer blobs as the
//! output's first layers (linked, never rewritten), its history, its configuration under
//! `[config]`, and the merged tree of its layers that our layers are merged over (so a
//! `remove` of a base path becomes a whiteout, and a directory we replace gets an opaque
//! marker, exactly as over our own lower layers).

use super::resolve::BaseImage;
use super::{inherit, BaseError};
use crate::image::{BlobStore, ImageConfig, LayerBlob};
use crate::merge::{MergeOptions, Tree};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The base's layers for the output's manifest and config: each blob served from the
/// cache file it was verified in (`paths`, one per layer), media type and digests as the
/// base has them.
pub fn layer_blobs(image: &BaseImage, paths: &[PathBuf], store: &BlobStore) -> Vec<LayerBlob> {
    image
        .layers
        .iter()
        .zip(paths)
        .map(|(l, path)| {
            store.link(path, &l.blob.digest);
            LayerBlob {
                media_type: l.blob.media_type.clone(),
                digest: l.blob.digest,
                size: l.blob.size,
                diff_id: l.diff_id,
            }
        })
        .collect()
}

/// The base's `history` for our config: as written when it describes the layers one to
/// one (entries without `empty_layer: true` match the layers); otherwise (some tools
/// write none) one entry per base layer naming it, with a note saying why.
pub fn history(image: &BaseImage) -> (Vec<Value>, Option<String>) {
    let non_empty = image
        .history
        .iter()
        .filter(|h| h.get("empty_layer") != Some(&Value::Bool(true)))
        .count();
    if non_empty == image.layers.len() {
        return (image.history.clone(), None);
    }
    let made = image
        .layers
        .iter()
        .map(|l| json!({"created_by": format!("base layer {}", l.blob.digest)}))
        .collect();
    let note = format!(
        "the base's config has {non_empty} history entries for {} layers; one entry per base layer is written instead",
        image.layers.len()
    );
    (made, Some(note))
}

/// `ours` (`[config]`) over the base's configuration, key by key.
pub fn config(image: &BaseImage, ours: &ImageConfig) -> ImageConfig {
    inherit::inherit(&image.config, ours)
}

/// The base's merged tree: its layers (`paths`, as fetched) read in order and applied.
/// Compressed layers are decompressed into files under `scratch`, which must outlive
/// the tree (file contents are read from them when our layers are written). Warnings
/// from the base's own layers are returned, not shown: they are the base's business.
pub fn tree(
    image: &BaseImage,
    paths: &[PathBuf],
    scratch: &Path,
    base: &str,
) -> Result<(Tree, Vec<String>), BaseError> {
    let mut tree = Tree::new();
    let mut warnings = Vec::new();
    let opts = MergeOptions::default();
    for (i, (layer, path)) in image.layers.iter().zip(paths).enumerate() {
        let label = format!("base `{base}` layer {} ({})", i + 1, layer.blob.digest);
        let plain = scratch.join(format!("{}.tar", layer.blob.digest.hex()));
        let (_, entries) =
            crate::layer::read_input(path, &plain, &label).map_err(|e| BaseError::Read {
                base: base.to_string(),
                why: format!("layer {}: {e}", layer.blob.digest),
            })?;
        let applied = tree
            .apply(&label, entries, &opts)
            .map_err(|e| BaseError::Read {
                base: base.to_string(),
                why: e.to_string(),
            })?;
        warnings.extend(applied.warnings);
    }
    Ok((tree, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::oci::LayerCompression;
    use crate::base::resolve::{BaseLayer, BlobRef};
    use crate::digest::Sha256Digest;
    use crate::entry::ImagePath;
    use crate::platform::Platform;
    use std::io::Write;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn image_of(dir: &Path, layers: &[Vec<u8>], history: Vec<Value>) -> (BaseImage, Vec<PathBuf>) {
        let mut base_layers = Vec::new();
        let mut paths = Vec::new();
        for (i, tar) in layers.iter().enumerate() {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            let gz = gz.finish().unwrap();
            let path = dir.join(format!("l{i}"));
            std::fs::write(&path, &gz).unwrap();
            paths.push(path);
            base_layers.push(BaseLayer {
                blob: BlobRef {
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                    digest: Sha256Digest::of(&gz),
                    size: gz.len() as u64,
                },
                compression: LayerCompression::Gzip,
                diff_id: Sha256Digest::of(tar),
            });
        }
        let blob = |b: &[u8]| BlobRef {
            media_type: String::new(),
            digest: Sha256Digest::of(b),
            size: b.len() as u64,
        };
        let image = BaseImage {
            platform: Platform::linux_amd64(),
            manifest: blob(b"m"),
            config_blob: blob(b"c"),
            config: ImageConfig::default(),
            history,
            layers: base_layers,
        };
        (image, paths)
    }

    #[test]
    fn the_base_tree_is_its_layers_merged_and_a_remove_whites_out_a_base_path() {
        let dir = tempfile::tempdir().unwrap();
        let l1 = tar_of(&[
            ("etc/os-release", b"base"),
            ("bin/sh", b"sh"),
            ("sbin/apk", b"apk"),
        ]);
        let l2 = tar_of(&[("etc/.wh.os-release", b""), ("etc/motd", b"hi")]);
        let (image, paths) = image_of(dir.path(), &[l1, l2], vec![]);
        let (mut tree, warnings) = tree(&image, &paths, dir.path(), "b").unwrap();
        assert!(warnings.is_empty());
        let p = |s: &str| ImagePath::parse_str(s).unwrap();
        assert!(tree.get(&p("/etc/os-release")).is_none());
        assert!(tree.get(&p("/etc/motd")).is_some());
        // Our layer removing a base path yields a whiteout of it.
        let ours = vec![crate::entry::Entry::new(
            p("/sbin/.wh.apk"),
            crate::entry::Kind::File(crate::entry::Content::Empty),
            0o644,
        )];
        let applied = tree.apply("ours", ours, &MergeOptions::default()).unwrap();
        let names: Vec<String> = applied.layer.iter().map(|e| e.path.to_string()).collect();
        assert!(
            names.iter().any(|n| n.ends_with("sbin/.wh.apk")),
            "{names:?}"
        );
        assert!(tree.get(&p("/sbin/apk")).is_none());
    }

    #[test]
    fn layers_are_linked_as_they_are_and_history_is_kept_or_made() {
        let dir = tempfile::tempdir().unwrap();
        let (image, paths) = image_of(
            dir.path(),
            &[tar_of(&[("a", b"1")])],
            vec![
                json!({"created_by": "ADD a"}),
                json!({"created_by": "ENV x", "empty_layer": true}),
            ],
        );
        let store = BlobStore::new(&dir.path().join("store")).unwrap();
        let blobs = layer_blobs(&image, &paths, &store);
        assert_eq!(blobs[0].digest, image.layers[0].blob.digest);
        assert_eq!(blobs[0].diff_id, image.layers[0].diff_id);
        assert_eq!(
            std::fs::read(store.path(&blobs[0].digest)).unwrap(),
            std::fs::read(&paths[0]).unwrap()
        );
        let (h, note) = history(&image);
        assert_eq!(h, image.history);
        assert!(note.is_none());
        let (image, _) = image_of(dir.path(), &[tar_of(&[("a", b"1")])], vec![]);
        let (h, note) = history(&image);
        assert_eq!(h.len(), 1);
        assert!(note.unwrap().contains("0 history entries for 1 layers"));
    }
}
