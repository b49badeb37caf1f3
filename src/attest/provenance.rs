//! The in-toto Statement v1 with a SLSA Provenance v1 predicate for one image manifest.
//! Field by field, with what each means here, in `docs/provenance.md`.

use crate::digest::Sha256Digest;
use crate::epoch::Epoch;
use crate::image::canonical_value;
use crate::platform::Platform;
use crate::sbom::model::InputItem;
use serde_json::{json, Value};

/// The build type: what `externalParameters` and `internalParameters` mean
/// (`docs/provenance.md`).
pub const BUILD_TYPE: &str = "https://scratch-compose.invalid/provenance/compose-build/v1";

/// The statement type and predicate type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA Provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// A file the build read its instructions from (the manifest, the lock).
#[derive(Debug, Clone)]
pub struct ParameterFile {
    /// The file name only, so the statement does not depend on where the checkout lives.
    pub name: String,
    pub sha256: Sha256Digest,
}

/// Everything the statement says about one build of one platform.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// `name:tag`.
    pub image_ref: String,
    pub platform: Platform,
    /// The image manifest: the statement's subject.
    pub manifest_digest: Sha256Digest,
    pub manifest: ParameterFile,
    pub lock: Option<ParameterFile>,
    pub epoch: Epoch,
    /// The compression setting as the lock writes it (`gzip`, `zstd:19`).
    pub compression: String,
    pub inputs: &'a [InputItem],
    /// The SBOM documents written for this image: (file name, digest).
    pub byproducts: Vec<(String, Sha256Digest)>,
}

/// The builder id: the tool and its release, since a release is what runs the build.
pub fn builder_id() -> String {
    format!(
        "https://scratch-compose.invalid/builder/compose@{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The statement's bytes (canonical JSON).
pub fn statement(f: &Facts) -> Vec<u8> {
    canonical_value(&statement_value(f))
}

/// The statement as a JSON value.
pub fn statement_value(f: &Facts) -> Value {
    let file = |p: &ParameterFile| json!({"name": p.name, "digest": {"sha256": p.sha256.hex()}});
    let mut external = json!({
        "manifest": file(&f.manifest),
        "platform": f.platform.to_string(),
    });
    if let Some(l) = &f.lock {
        external["lock"] = file(l);
    }
    let mut inputs: Vec<&InputItem> = f.inputs.iter().collect();
    inputs.sort_by(|a, b| (a.kind, &a.source).cmp(&(b.kind, &b.source)));
    let deps: Vec<Value> = inputs
        .into_iter()
        .map(|i| {
            let mut d = json!({
                "name": i.source,
                "digest": {"sha256": i.sha256.hex()},
                "annotations": {
                    "kind": i.kind.as_str(),
                    "layers": i.layers,
                    "size": i.size,
                },
            });
            if i.is_url {
                d["uri"] = i.source.clone().into();
            }
            d
        })
        .collect();
    let byproducts: Vec<Value> = f
        .byproducts
        .iter()
        .map(|(name, d)| json!({"name": name, "digest": {"sha256": d.hex()}}))
        .collect();
    let mut run = json!({
        "builder": {
            "id": builder_id(),
            "version": {"scratch-compose": env!("CARGO_PKG_VERSION")},
        },
        "metadata": {"invocationId": format!("{}@{}", f.image_ref, f.manifest_digest)},
    });
    if !byproducts.is_empty() {
        run["byproducts"] = Value::Array(byproducts);
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": f.image_ref,
            "digest": {"sha256": f.manifest_digest.hex()},
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {
                    "compatLevel": crate::COMPAT_LEVEL,
                    "compression": f.compression,
                    "sourceDateEpoch": f.epoch.0,
                },
                "resolvedDependencies": deps,
            },
            "runDetails": run,
        },
    })
}
