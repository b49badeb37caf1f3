//! For `compose verify`: where two recorded builds first part ways, from digests alone.

/// The digests a build records for one platform's image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDigests {
    /// The image manifest's digest.
    pub manifest: String,
    /// The config blob's digest.
    pub config: String,
    /// Each layer's `(diff_id, blob digest)`, bottom first.
    pub layers: Vec<(String, String)>,
}

/// The first difference between what a lock recorded (`expected`) and what a rebuild
/// produced (`actual`), per platform in `expected`'s order: which platform, then the
/// config or which layer (its content, or only its compressed bytes), then the manifest.
/// `None` when every platform's digests agree.
pub fn first_mismatch(
    expected: &[(String, ImageDigests)],
    actual: &[(String, ImageDigests)],
) -> Option<String> {
    for (platform, want) in expected {
        let Some((_, got)) = actual.iter().find(|(p, _)| p == platform) else {
            return Some(format!(
                "platform {platform}: recorded, but the rebuild did not produce it"
            ));
        };
        if want == got {
            continue;
        }
        if want.layers.len() != got.layers.len() {
            return Some(format!(
                "platform {platform}: {} layers recorded, {} rebuilt",
                want.layers.len(),
                got.layers.len()
            ));
        }
        for (i, ((wd, wb), (gd, gb))) in want.layers.iter().zip(&got.layers).enumerate() {
            if wd != gd {
                return Some(format!(
                    "platform {platform}, layer {}: the content differs (diff_id {wd} recorded, {gd} rebuilt)",
                    i + 1
                ));
            }
            if wb != gb {
                return Some(format!(
                    "platform {platform}, layer {}: same content, but the compressed blob differs ({wb} recorded, {gb} rebuilt): the compression changed",
                    i + 1
                ));
            }
        }
        if want.config != got.config {
            return Some(format!(
                "platform {platform}: the layers agree but the config differs ({} recorded, {} rebuilt): a config setting, the epoch, or history changed",
                want.config, got.config
            ));
        }
        if want.manifest != got.manifest {
            return Some(format!(
                "platform {platform}: layers and config agree but the image manifest differs ({} recorded, {} rebuilt): annotations or media types changed",
                want.manifest, got.manifest
            ));
        }
    }
    actual
        .iter()
        .find(|(p, _)| !expected.iter().any(|(q, _)| q == p))
        .map(|(p, _)| format!("platform {p}: rebuilt, but the lock records no such platform"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(m: &str, c: &str, layers: &[(&str, &str)]) -> ImageDigests {
        ImageDigests {
            manifest: m.into(),
            config: c.into(),
            layers: layers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn names_platform_and_layer() {
        let amd = img("m1", "c1", &[("d1", "b1"), ("d2", "b2")]);
        let arm = img("m2", "c2", &[("d3", "b3")]);
        let exp = vec![
            ("linux/amd64".to_string(), amd.clone()),
            ("linux/arm64/v8".to_string(), arm.clone()),
        ];
        assert_eq!(first_mismatch(&exp, &exp), None);

        let mut arm2 = arm.clone();
        arm2.layers[0].0 = "dX".into();
        arm2.manifest = "mX".into();
        let got = vec![
            ("linux/amd64".to_string(), amd.clone()),
            ("linux/arm64/v8".to_string(), arm2),
        ];
        let msg = first_mismatch(&exp, &got).unwrap();
        assert!(
            msg.starts_with("platform linux/arm64/v8, layer 1: the content differs"),
            "{msg}"
        );

        let mut amd2 = amd.clone();
        amd2.layers[1].1 = "bX".into();
        amd2.manifest = "mX".into();
        let got = vec![
            ("linux/amd64".to_string(), amd2),
            ("linux/arm64/v8".to_string(), arm.clone()),
        ];
        let msg = first_mismatch(&exp, &got).unwrap();
        assert!(msg.contains("layer 2: same content"), "{msg}");
    }

    #[test]
    fn names_config_manifest_and_missing_platforms() {
        let a = img("m1", "c1", &[("d1", "b1")]);
        let exp = vec![("linux/amd64".to_string(), a.clone())];
        let mut c = a.clone();
        c.config = "cX".into();
        c.manifest = "mX".into();
        let msg = first_mismatch(&exp, &[("linux/amd64".to_string(), c)]).unwrap();
        assert!(msg.contains("config differs"), "{msg}");
        let mut m = a.clone();
        m.manifest = "mX".into();
        let msg = first_mismatch(&exp, &[("linux/amd64".to_string(), m)]).unwrap();
        assert!(msg.contains("image manifest differs"), "{msg}");
        assert!(first_mismatch(&exp, &[])
            .unwrap()
            .contains("did not produce"));
        let extra = vec![
            ("linux/amd64".to_string(), a.clone()),
            ("linux/arm64/v8".to_string(), a),
        ];
        assert!(first_mismatch(&exp, &extra)
            .unwrap()
            .contains("no such platform"));
    }
}
