//! `compose verify`: rebuild from the lock (its pins and recorded settings, never the
//! layer cache) and compare with the recorded output digests; on a difference, name the
//! entries and config fields behind it.

use super::documents;
use crate::attest::{dsse, keys, IN_TOTO_MEDIA_TYPE};
use crate::base::BaseError;
use crate::diff::{self, DiffOptions};
use crate::fetch::FetchError;
use crate::image::{self, BlobStore, OutputFormat};
use crate::lock::Lock;
use crate::lock::OutputRecord;
use crate::platform::Platform;
use crate::sbom::SbomFormat;
use crate::session::produce::Built;
use crate::session::supply::{PlatformDocuments, Request};
use crate::session::{staleness, BuildError, OutputSettings, Session};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `compose verify` found.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    /// True when every recorded digest was reproduced.
    pub reproduced: bool,
    /// The one-line summary, or the explanation starting at the first difference.
    pub report: String,
}

/// The options of `compose verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// `--key`: check the signed provenance with this Ed25519 public key (SPKI PEM).
    pub key: Option<PathBuf>,
    /// `--attestation`: the DSSE envelopes to check [default: beside the default output,
    /// as `build --sign-key` writes them].
    pub attestations: Vec<PathBuf>,
}

/// `compose verify`: rebuild from the lock (its pins and recorded settings) and compare
/// with the recorded output digests.
pub fn verify(s: &Session) -> Result<VerifyOutcome> {
    verify_with(s, &VerifyOptions::default())
}

/// `compose verify` with its options: also the SBOM digests the lock records and, with a
/// key, the signed provenance.
pub fn verify_with(s: &Session, o: &VerifyOptions) -> Result<VerifyOutcome> {
    let lock_path = s.lock_path();
    let Some(lock) = s.read_lock()? else {
        return Err(BuildError::NoLock(lock_path.to_path_buf()).into());
    };
    if lock.outputs.is_empty() {
        return Err(BuildError::NoOutputs(lock_path.to_path_buf()).into());
    }
    let recorded = OutputSettings::recorded(&lock)?;
    let current = OutputSettings::current(s, None)?;
    let mut differences = Vec::new();
    let platforms = &s.manifest().image.platforms;
    let mut inputs = match s.resolve(Some(&lock), platforms) {
        Ok(v) => v,
        Err(Error::Fetch(e @ (FetchError::Checksum { .. } | FetchError::WrongPin(_)))) => {
            differences.push(format!("input changed: {e}"));
            return Ok(VerifyOutcome {
                reproduced: false,
                report: differences.join("\n"),
            });
        }
        Err(e) => return Err(e),
    };
    // The lock's judgement of the settings and inputs; the images are compared below,
    // rebuilt with the recorded settings, down to their entries. A base whose bytes no
    // longer match the digests the lock records is a difference, named as the cause.
    let now = match staleness::current_lock(s, Some(&lock), current, &inputs, BTreeMap::new()) {
        Ok(now) => now,
        Err(Error::Base(e @ BaseError::DigestMismatch { .. })) => {
            return Ok(VerifyOutcome {
                reproduced: false,
                report: format!("base changed: {e}"),
            })
        }
        Err(e) => return Err(e),
    };
    let names = s.file_names();
    for st in staleness::judge(s, Some(&lock), &now, None) {
        differences.push(st.describe(&names));
    }
    let staging = s.store().temp_dir()?;
    let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    // Never the layer cache: verify proves the digests from the inputs alone.
    let built = match s.produce(platforms, recorded, &mut inputs, &store, None) {
        Ok(b) => b,
        Err(Error::Base(e @ BaseError::DigestMismatch { .. })) => {
            differences.push(format!("base changed: {e}"));
            return Ok(VerifyOutcome {
                reproduced: false,
                report: differences.join("\n"),
            });
        }
        Err(e) => return Err(e),
    };
    let rebuilt = built.records();
    if let Some(first) = diff::first_mismatch(&digests_of(&lock.outputs), &digests_of(&rebuilt)) {
        differences.push(first);
        differences.extend(explain_entries(
            s,
            &lock.outputs,
            &rebuilt,
            &store,
            &built,
            recorded,
        ));
    }
    let mut extra = Vec::new();
    if differences.is_empty() {
        if let Some(formats) = sbom_formats(s, &lock) {
            s.ensure_blobs(&mut inputs)?;
            let req = Request {
                sbom: Some(formats),
                ..Request::default()
            };
            let docs = s.supply_chain(&built, &inputs, recorded, &req)?;
            let found = sbom_differences(&lock, &docs);
            if found.is_empty() {
                let names: Vec<&str> = formats.formats().iter().map(|f| f.file_suffix()).collect();
                extra.push(format!("SBOM reproduced ({})", names.join(", ")));
            }
            differences.extend(found);
        }
    }
    if let Some(key) = &o.key {
        match attestation_differences(s, key, &o.attestations, &rebuilt)? {
            Ok(line) => extra.push(line),
            Err(found) => differences.extend(found),
        }
    }
    if !differences.is_empty() {
        return Ok(VerifyOutcome {
            reproduced: false,
            report: differences.join("\n"),
        });
    }
    let summary: Vec<String> = rebuilt
        .iter()
        .map(|(p, r)| {
            let n = r.layers.len();
            format!(
                "{p} {} ({n} layer{})",
                r.manifest,
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    let mut report = format!("reproduced: {}", summary.join(", "));
    for e in extra {
        report.push_str("; ");
        report.push_str(&e);
    }
    Ok(VerifyOutcome {
        reproduced: true,
        report,
    })
}

/// The SBOM formats to check: those the lock records for any platform and those the
/// manifest asks for.
fn sbom_formats(s: &Session, lock: &Lock) -> Option<SbomFormat> {
    let spdx = lock.outputs.values().any(|r| r.spdx.is_some());
    let cdx = lock.outputs.values().any(|r| r.cyclonedx.is_some());
    let recorded = match (spdx, cdx) {
        (true, true) => Some(SbomFormat::Both),
        (true, false) => Some(SbomFormat::Spdx),
        (false, true) => Some(SbomFormat::CycloneDx),
        (false, false) => None,
    };
    match (recorded, s.manifest().image.sbom) {
        (Some(a), Some(b)) if a != b => Some(SbomFormat::Both),
        (a, b) => a.or(b),
    }
}

/// Each SBOM digest the lock records (or lacks) that the rebuild does not give.
fn sbom_differences(lock: &Lock, docs: &[PlatformDocuments]) -> Vec<String> {
    let mut out = Vec::new();
    for d in docs {
        let platform = d.platform.to_string();
        let rec = lock.outputs.get(&platform);
        for (format, recorded) in [
            (SbomFormat::Spdx, rec.and_then(|r| r.spdx)),
            (SbomFormat::CycloneDx, rec.and_then(|r| r.cyclonedx)),
        ] {
            let rebuilt = d.sbom_digest(format);
            let name = format.media_type();
            match (recorded, rebuilt) {
                (Some(r), Some(b)) if r != b => out.push(format!(
                    "platform {platform}: {name} SBOM: scratch.lock records {r}, the rebuild gives {b}"
                )),
                (None, Some(_)) => out.push(format!(
                    "platform {platform}: {name} SBOM: scratch.lock records none (run `compose lock` after setting [image] sbom)"
                )),
                _ => {}
            }
        }
    }
    out
}

/// Check each signed provenance: the signature verifies with `key` and its subject is an
/// image manifest the rebuild reproduced. `Ok` with a summary line, else the problems.
fn attestation_differences(
    s: &Session,
    key: &Path,
    given: &[PathBuf],
    rebuilt: &BTreeMap<String, OutputRecord>,
) -> Result<std::result::Result<String, Vec<String>>> {
    let verifying = keys::read_verifying_key(key)?;
    let files: Vec<PathBuf> = match given.is_empty() {
        false => given.to_vec(),
        true => {
            let out = OutputFormat::Oci.default_output();
            let ps = &s.manifest().image.platforms;
            match ps.as_slice() {
                [_] => vec![documents::beside(&out, None, documents::PROVENANCE_SUFFIX)],
                _ => ps
                    .iter()
                    .map(|p| documents::beside(&out, Some(p), documents::PROVENANCE_SUFFIX))
                    .collect(),
            }
        }
    };
    let mut problems = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        let env = dsse::parse(&bytes, &f.display().to_string())?;
        if !env.verified_by(&verifying) {
            problems.push(format!(
                "{}: the signature does not verify with {}",
                f.display(),
                key.display()
            ));
            continue;
        }
        if env.payload_type != IN_TOTO_MEDIA_TYPE {
            problems.push(format!(
                "{}: payloadType is `{}`, not an in-toto statement",
                f.display(),
                env.payload_type
            ));
            continue;
        }
        let statement: serde_json::Value = serde_json::from_slice(&env.payload).unwrap_or_default();
        let subject = statement["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap_or("");
        if !rebuilt.values().any(|r| r.manifest.hex() == subject) {
            problems.push(format!(
                "{}: signed for image manifest sha256:{subject}, which the rebuild did not produce",
                f.display()
            ));
        }
    }
    Ok(match problems.is_empty() {
        true => Ok(format!(
            "provenance signed by key {} ({} file{})",
            keys::key_id(&verifying),
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        )),
        false => Err(problems),
    })
}

/// The entries and config fields behind the digests a rebuild changed: the recorded
/// image (kept in the store by `compose lock`) compared with the rebuild by `diff`.
/// Best effort: what cannot be compared is said, never an error.
fn explain_entries(
    s: &Session,
    recorded: &BTreeMap<String, OutputRecord>,
    rebuilt: &BTreeMap<String, OutputRecord>,
    store: &BlobStore,
    built: &Built,
    settings: OutputSettings,
) -> Vec<String> {
    let attempt = || -> Result<Vec<String>> {
        let scratch = s.store().temp_dir()?;
        let rebuilt_dir = scratch.path().join("rebuilt");
        image::write_output(
            store,
            &built.assembled,
            OutputFormat::Oci,
            &s.image_names()?,
            settings.epoch,
            &rebuilt_dir,
            &|_, _| false,
        )?;
        let mut lines = Vec::new();
        for (i, (platform, rec)) in recorded.iter().enumerate() {
            if rebuilt
                .get(platform)
                .is_none_or(|r| r.manifest == rec.manifest)
            {
                continue;
            }
            let recorded_dir = scratch.path().join(format!("recorded-{i}"));
            let found = image::layout_from_blobs(&rec.manifest, &recorded_dir, |d| {
                Ok::<_, Error>(s.store().get_verified(d)?)
            })?;
            if !found {
                lines.push(format!(
                    "platform {platform}: the recorded image is not in this cache, so its entries cannot be compared (`compose lock` keeps it there)"
                ));
                continue;
            }
            let p: Platform =
                platform
                    .parse()
                    .map_err(|e: crate::platform::PlatformParseError| {
                        BuildError::RecordedSetting(e.to_string())
                    })?;
            let a = diff::open(
                &recorded_dir,
                Some(&p),
                &scratch.path().join(format!("a-{i}")),
            )?;
            let b = diff::open(
                &rebuilt_dir,
                Some(&p),
                &scratch.path().join(format!("b-{i}")),
            )?;
            for d in diff::diff(&a, &b, &DiffOptions::default())?.differences {
                match &d.platform {
                    Some(_) => lines.push(format!("recorded → rebuilt: {d}")),
                    None => lines.push(format!("platform {platform}: recorded → rebuilt: {d}")),
                }
            }
        }
        Ok(lines)
    };
    attempt().unwrap_or_else(|e| vec![format!("(the entries could not be compared: {e})")])
}

/// The recorded digests in the form `diff::first_mismatch` compares.
fn digests_of(outputs: &BTreeMap<String, OutputRecord>) -> Vec<(String, diff::ImageDigests)> {
    outputs
        .iter()
        .map(|(p, r)| {
            let layers = r
                .layers
                .iter()
                .map(|l| (l.diff_id.to_string(), l.digest.to_string()))
                .collect();
            let d = diff::ImageDigests {
                manifest: r.manifest.to_string(),
                config: r.config.to_string(),
                layers,
            };
            (p.clone(), d)
        })
        .collect()
}
