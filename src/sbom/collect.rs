//! Gathering an SBOM's contents for one platform from the manifest and the build: which
//! inputs the platform's layers use, their digests, the packages inside tar inputs, and
//! which of those packages' files the finished image still has.

use super::license::{self, Dialect};
use super::model::{ImageSubject, InputItem, ItemKind, Sbom};
use super::pkgdb::{self, Limits, Package, Presence, Rootfs};
use crate::digest::Sha256Digest;
use crate::entry::{Entry, ImagePath};
use crate::epoch::Epoch;
use crate::manifest::{InputKind, Manifest};
use crate::platform::Platform;
use std::collections::BTreeMap;

/// What the build knows of one input: its content digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFacts {
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// The build's side of an SBOM: digests and sizes, the entries of tar inputs, and the
/// finished image's paths.
pub trait BuildView {
    /// The digest and size of the input (kind, lock key).
    fn facts(&self, kind: InputKind, key: &str) -> crate::Result<InputFacts>;
    /// The entries of a tar input, as the layer reader gives them.
    fn tar_entries(&self, key: &str, label: &str) -> crate::Result<Vec<Entry>>;
    /// True when the finished image (this platform's merged tree) has `path`.
    fn present(&self, path: &ImagePath) -> bool;
    /// The base image (`[image] base`) of this platform, when there is one.
    fn base(&self) -> crate::Result<Option<BaseFacts>>;
}

/// What the build knows of the base image of one platform.
#[derive(Debug, Clone)]
pub struct BaseFacts {
    /// The reference as written in `[image] base`.
    pub reference: String,
    /// Its image manifest's digest for this platform.
    pub manifest: Sha256Digest,
    /// Its layers' compressed sizes added up.
    pub size: u64,
    /// Its merged tree, whose package databases say what it holds.
    pub entries: Vec<Entry>,
}

/// The SBOM of `platform`'s image, whose manifest digest is `manifest_digest`.
pub fn collect(
    manifest: &Manifest,
    platform: &Platform,
    manifest_digest: Sha256Digest,
    epoch: Epoch,
    view: &dyn BuildView,
) -> crate::Result<Sbom> {
    let mut items: BTreeMap<(InputKind, String), InputItem> = BTreeMap::new();
    for input in manifest.inputs() {
        let used = input
            .platforms
            .as_ref()
            .is_none_or(|ps| ps.contains(platform));
        if !used {
            continue;
        }
        let key = (input.kind, input.key.clone());
        if let Some(item) = items.get_mut(&key) {
            item.layers.push(input.layer + 1);
            item.license = item.license.take().or_else(|| {
                input
                    .attribution
                    .license
                    .as_deref()
                    .and_then(|l| license::parse(l, Dialect::Spdx))
            });
            item.supplier = item.supplier.take().or(input.attribution.supplier.clone());
            continue;
        }
        let facts = view.facts(input.kind, &input.key)?;
        let packages = match input.kind {
            InputKind::Tar => {
                let label = format!("layer {} tar `{}`", input.layer + 1, input.key);
                packages(&view.tar_entries(&input.key, &label)?, &label, view)?
            }
            _ => Vec::new(),
        };
        items.insert(
            key,
            InputItem {
                kind: input.kind.into(),
                source: input.key.clone(),
                is_url: matches!(input.location, crate::manifest::Location::Url(_)),
                sha256: facts.sha256,
                size: facts.size,
                layers: vec![input.layer + 1],
                license: input
                    .attribution
                    .license
                    .as_deref()
                    .and_then(|l| license::parse(l, Dialect::Spdx)),
                supplier: input.attribution.supplier.clone(),
                packages,
            },
        );
    }
    for item in items.values_mut() {
        item.layers.sort();
        item.layers.dedup();
    }
    // The base first: its layers come before every input's.
    let mut inputs = Vec::with_capacity(items.len() + 1);
    if let Some(base) = view.base()? {
        let label = format!("base `{}`", base.reference);
        let packages = packages(&base.entries, &label, view)?;
        let item = InputItem {
            kind: ItemKind::Base,
            is_url: false,
            sha256: base.manifest,
            size: base.size,
            layers: Vec::new(),
            license: None,
            supplier: None,
            packages,
            source: base.reference,
        };
        inputs.push(item);
    }
    inputs.extend(items.into_values());
    Ok(Sbom {
        image: ImageSubject {
            name: manifest.image.name.clone(),
            tag: manifest.image.tag.clone(),
            platform: platform.clone(),
            manifest_digest,
        },
        epoch,
        inputs,
    })
}

/// The packages the databases in `entries` list (a tar input's, the base's tree), each
/// with what the finished image left of it.
fn packages(
    entries: &[Entry],
    label: &str,
    view: &dyn BuildView,
) -> crate::Result<Vec<(Package, Presence)>> {
    let pkgs = pkgdb::scan(&Rootfs::new(entries, label, Limits::default()))?;
    Ok(pkgs
        .into_iter()
        .map(|p| {
            let pr = pkgdb::presence(&p, |f| view.present(f));
            (p, pr)
        })
        .collect())
}
