//! The one judgement of a recorded lock: what differs between it and what the manifest,
//! the inputs and the settings give now. `compose lock --check`, `compose build` (a
//! warning, or with `--locked` an error), `compose verify` and a future `compose push`
//! all ask [`judge`], so they never disagree about whether a lock is stale.
//!
//! The rules for inputs and settings are the lock's ([`crate::lock::staleness`]); here
//! they are applied to what a command knows, the platforms the manifest builds are
//! checked against those the lock records, and a changed image is explained field by
//! field (config keys, history, annotations, layers) from the recorded image the store
//! keeps and the image just built.

use super::inputs::Inputs;
use super::{OutputSettings, Session};
use crate::digest::Sha256Digest;
use crate::image::BlobStore;
use crate::lock::{self, Lock, LockedInput, OutputRecord, Staleness};
use crate::manifest::Manifest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every input use of the manifest as the lock records it, with the digest and size
/// `known` gives for its kind and source (`None`: not known, such as an input of a platform
/// this command did not identify; then the recorded entry stands, as it was not read).
pub fn locked_inputs(
    manifest: &Manifest,
    recorded: Option<&Lock>,
    known: impl Fn(&crate::manifest::InputRef) -> Option<(Sha256Digest, u64)>,
) -> Vec<LockedInput> {
    manifest
        .inputs()
        .iter()
        .map(|input| {
            let (sha256, size) = known(input)
                .or_else(|| {
                    recorded
                        .and_then(|l| l.find(input.kind, &input.key))
                        .map(|e| (e.sha256, e.size))
                })
                // Neither read nor recorded: the lock lacks it, which is what matters.
                .unwrap_or((input.pin.unwrap_or(Sha256Digest([0; 32])), 0));
            lock::locked_input(input, sha256, size)
        })
        .collect()
}

/// The lock this command would write, as far as it knows: the settings, every input (read
/// or recorded), the base as resolved (see [`Session::base`]) and the outputs of the
/// platforms it built.
pub fn current_lock(
    s: &Session,
    recorded: Option<&Lock>,
    settings: OutputSettings,
    inputs: &Inputs,
    outputs: BTreeMap<String, OutputRecord>,
) -> crate::Result<Lock> {
    let known = |i: &crate::manifest::InputRef| inputs.known(i.kind, &i.key);
    let mut current = Lock::new(
        settings.epoch.0,
        settings.compression,
        locked_inputs(s.manifest(), recorded, known),
    );
    current.outputs = outputs;
    current.base = s.base()?.map(|b| b.locked());
    current.images = s.locked_images()?;
    Ok(current)
}

/// Everything stale about `recorded` given `current` (see [`current_lock`]): no lock,
/// settings, inputs added, removed, changed or moved between platforms, platforms the lock
/// lacks or no longer needs, and images whose digests differ (explained from `built`, the
/// blob store of the images in `current`, when given).
pub fn judge(
    s: &Session,
    recorded: Option<&Lock>,
    current: &Lock,
    built: Option<&BlobStore>,
) -> Vec<Staleness> {
    let Some(recorded) = recorded else {
        return vec![Staleness::NoLock];
    };
    let mut out = lock::staleness(recorded, current);
    let platforms: Vec<String> = s
        .manifest()
        .image
        .platforms
        .iter()
        .map(|p| p.to_string())
        .collect();
    for p in &platforms {
        if !recorded.outputs.contains_key(p) && !current.outputs.contains_key(p) {
            out.push(Staleness::NoOutput {
                platform: p.clone(),
            });
        }
    }
    for p in recorded.outputs.keys() {
        if !platforms.contains(p) {
            out.push(Staleness::PlatformRemoved {
                platform: p.clone(),
            });
        }
    }
    let inputs = s.manifest().inputs();
    for st in &mut out {
        if let Staleness::InputChanged {
            kind, source, at, ..
        } = st
        {
            // Where the manifest names it, so the finding points at the line.
            *at = inputs
                .iter()
                .find(|i| i.kind == *kind && i.key == *source)
                .and_then(|i| i.pos.clone());
        }
        if let Staleness::OutputChanged { platform, details } = st {
            if let (Some(rec), Some(cur)) = (
                recorded.outputs.get(platform),
                current.outputs.get(platform),
            ) {
                *details = explain(s, rec, cur, built);
            }
        }
    }
    out
}

/// What differs between a recorded image and the one just built: config fields, history
/// and labels; manifest annotations; layers by position.
fn explain(
    s: &Session,
    rec: &OutputRecord,
    cur: &OutputRecord,
    built: Option<&BlobStore>,
) -> Vec<String> {
    let recorded_json = |d: &Sha256Digest| -> Option<Value> {
        let path = s.store().get_verified(d).ok()??;
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let built_json = |d: &Sha256Digest| -> Option<Value> {
        let path: PathBuf = built?.path(d);
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let mut lines = Vec::new();
    if rec.config != cur.config {
        match (recorded_json(&rec.config), built_json(&cur.config)) {
            (Some(a), Some(b)) => {
                crate::diff::compare_configs(&a, &b, &mut |loc, _, x, y| {
                    lines.push(format!("{loc}: {x} → {y}"))
                });
            }
            _ => lines.push(format!("config: {} → {}", rec.config, cur.config)),
        }
    }
    let n = rec.layers.len().max(cur.layers.len());
    for i in 0..n {
        match (rec.layers.get(i), cur.layers.get(i)) {
            (Some(a), Some(b)) if a.diff_id == b.diff_id && a.digest == b.digest => {}
            (Some(a), Some(b)) => lines.push(format!(
                "layer {}: diff_id {} → {}",
                i + 1,
                a.diff_id,
                b.diff_id
            )),
            (Some(a), None) => {
                lines.push(format!("layer {}: {} is no longer built", i + 1, a.diff_id))
            }
            (None, Some(b)) => lines.push(format!("layer {}: new, {}", i + 1, b.diff_id)),
            (None, None) => {}
        }
    }
    if rec.manifest != cur.manifest && lines.is_empty() {
        if let (Some(a), Some(b)) = (recorded_json(&rec.manifest), built_json(&cur.manifest)) {
            lines.extend(annotation_changes(&a, &b));
        }
        if lines.is_empty() {
            lines.push(format!("manifest: {} → {}", rec.manifest, cur.manifest));
        }
    }
    lines
}

/// The manifest annotations that differ between two image manifests.
fn annotation_changes(a: &Value, b: &Value) -> Vec<String> {
    let ann = |v: &Value| v["annotations"].as_object().cloned().unwrap_or_default();
    let (x, y) = (ann(a), ann(b));
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_string();
    keys.into_iter()
        .filter(|k| x.get(*k) != y.get(*k))
        .map(|k| {
            format!(
                "manifest annotation {k}: {} → {}",
                show(x.get(k)),
                show(y.get(k))
            )
        })
        .collect()
}
