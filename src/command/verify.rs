//! `compose verify`: rebuild from the lock (its pins and recorded settings, never the
//! layer cache) and compare with the recorded output digests; on a difference, name the
//! entries and config fields behind it.

use crate::diff::{self, DiffOptions};
use crate::fetch::FetchError;
use crate::image::{self, BlobStore, OutputFormat};
use crate::lock::OutputRecord;
use crate::platform::Platform;
use crate::session::produce::Built;
use crate::session::{staleness, BuildError, OutputSettings, Session};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// What `compose verify` found.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    /// True when every recorded digest was reproduced.
    pub reproduced: bool,
    /// The one-line summary, or the explanation starting at the first difference.
    pub report: String,
}

/// `compose verify`: rebuild from the lock (its pins and recorded settings) and compare
/// with the recorded output digests.
pub fn verify(s: &Session) -> Result<VerifyOutcome> {
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
        Err(Error::Fetch(e @ FetchError::Checksum { .. })) => {
            differences.push(format!("input changed: {e}"));
            return Ok(VerifyOutcome {
                reproduced: false,
                report: differences.join("\n"),
            });
        }
        Err(e) => return Err(e),
    };
    // The lock's judgement of the settings and inputs; the images are compared below,
    // rebuilt with the recorded settings, down to their entries.
    let now = staleness::current_lock(s, Some(&lock), current, &inputs, BTreeMap::new());
    for st in staleness::judge(s, Some(&lock), &now, None) {
        differences.push(st.to_string());
    }
    let staging = s.store().temp_dir()?;
    let store = BlobStore::new(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    // Never the layer cache: verify proves the digests from the inputs alone.
    let built = s.produce(platforms, recorded, &mut inputs, &store, None)?;
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
    Ok(VerifyOutcome {
        reproduced: true,
        report: format!("reproduced: {}", summary.join(", ")),
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
            &s.image_name()?,
            settings.epoch,
            &rebuilt_dir,
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
