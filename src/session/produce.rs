//! Producing images: each platform's layers taken from the layer cache or merged and
//! written, then assembled with the config into images and an index, in a blob store.
//! `build`, `lock` and `verify` all produce; they differ in what they do with the result.

use super::inputs::Inputs;
use super::recipe::{created_by, layer_label};
use super::removals;
use super::{OutputSettings, Session};
use crate::cache::{Origin, RemoteCache};
use crate::entry::{Content, Entry, Kind};
use crate::image::{self, BlobStore, HistoryEntry, LayerBlob, PlatformImage};
use crate::layer::{encode_snapshot, write_entries, Snapshot};
use crate::lock::{LayerRecord, OutputRecord};
use crate::manifest::LayerSpec;
use crate::merge::{MergeOptions, Tree};
use crate::platform::Platform;
use crate::store::{CachedLayer, LayerCache, LayerKey, StoreError};
use crate::Result;
use std::collections::BTreeMap;

/// The images of one build, in a blob store, and the index that ties them together.
pub struct Built {
    pub images: Vec<PlatformImage>,
    pub assembled: image::Assembled,
}

impl Built {
    /// The digests a lock records for each platform.
    pub fn records(&self) -> BTreeMap<String, OutputRecord> {
        self.assembled
            .images
            .iter()
            .zip(&self.images)
            .map(|(img, platform_image)| {
                let layers = platform_image
                    .layers
                    .iter()
                    .map(|l| LayerRecord {
                        diff_id: l.diff_id,
                        digest: l.digest,
                        size: l.size,
                    })
                    .collect();
                (
                    img.platform.to_string(),
                    OutputRecord {
                        manifest: img.manifest.digest,
                        config: img.config.digest,
                        layers,
                        spdx: None,
                        cyclonedx: None,
                    },
                )
            })
            .collect()
    }
}

/// One platform's layers, their layer-cache keys and what the layer cache has of them
/// (with `squash`, one entry: the squashed layer).
struct Plan<'m> {
    specs: Vec<&'m LayerSpec>,
    keys: Vec<LayerKey>,
    /// The key of the base's tree (`[image] base`), when there is a base and a layer cache.
    base_key: Option<LayerKey>,
    found: Vec<Option<CachedLayer>>,
    /// The first layer to merge, and the tree of the layers below it rebuilt from the
    /// layer cache's snapshot (0 and `None`, the bottom tree, when there is none).
    from: usize,
    base: Option<Tree>,
}

impl Plan<'_> {
    /// How many of `found` must be built: every one up to the last one missing, as a
    /// layer's canonical form depends on the tree below it.
    fn missing(&self) -> usize {
        self.found
            .iter()
            .rposition(Option::is_none)
            .map_or(0, |i| i + 1)
    }

    /// The layers this platform must merge: with `squash`, all of them unless the
    /// squashed layer is cached; otherwise those up to the last one missing.
    fn to_merge(&self, squash: bool) -> &[&LayerSpec] {
        match self.missing() {
            0 => &[],
            _ if squash => &self.specs,
            n => &self.specs[self.from..n],
        }
    }
}

/// Layers whose tar is at least this large get a log line when no progress bar is drawn:
/// small builds stay quiet, long ones say what they are doing.
const LOGGED_LAYER_SIZE: u64 = 64 << 20;

impl Session {
    /// Build every platform's image into `store` and assemble the index; layers come from
    /// `layer_cache` when it has them, and go into it when built.
    pub fn produce(
        &self,
        platforms: &[Platform],
        settings: OutputSettings,
        inputs: &mut Inputs,
        store: &BlobStore,
        layer_cache: Option<&LayerCache>,
    ) -> Result<Built> {
        let producer = Producer {
            session: self,
            s: settings,
            store,
            layer_cache,
        };
        producer.produce(platforms, inputs)
    }

    /// Merge `specs` in order over `base` (the tree of the layers below them), calling
    /// `on_layer` with each layer's position in `specs`, the warnings its merge gave
    /// (already shown), its canonical entries and the tree so far. Returns the merged tree
    /// with `keep_tree`; without, the tree is dropped before the last layer is handed over
    /// (with no tree), so writing it does not hold the whole tree in memory too. With
    /// `check_as` (the top layer's key, when `specs` end a platform's layers) the final
    /// tree's preflight findings are remembered under it before the tree goes.
    #[allow(clippy::too_many_arguments)]
    pub fn merge_layers(
        &self,
        specs: &[&LayerSpec],
        inputs: &Inputs,
        base: Tree,
        keep_tree: bool,
        p: &Platform,
        check_as: Option<&LayerKey>,
        mut on_layer: impl FnMut(usize, &[String], &[Entry], Option<&Tree>) -> Result<()>,
    ) -> Result<Option<Tree>> {
        let mut tree = base;
        let opts = MergeOptions {
            usrmerge: self.manifest().image.usrmerge,
            ..MergeOptions::default()
        };
        for (i, layer) in specs.iter().enumerate() {
            let label = layer_label(layer);
            let (entries, own) = self.entries_over(&mut tree, layer, inputs, &label, p)?;
            self.ui()
                .debug(format!("{label}: {} entries read", entries.len()));
            removals::check(&mut tree, layer, &label)?;
            let applied = tree.apply(&label, entries, &opts)?;
            self.ui().debug(format!("{label}: merged"));
            let warnings: Vec<String> = own
                .iter()
                .chain(&applied.warnings)
                // Said once: the merger may have named the layer already.
                .map(|w| match w.starts_with(&format!("{label}: ")) {
                    true => w.clone(),
                    false => format!("{label}: {w}"),
                })
                .collect();
            for w in &warnings {
                self.ui().warn(w);
            }
            let last = i + 1 == specs.len();
            if let (true, Some(top)) = (last, check_as) {
                // The final tree: check it now, so the build need not merge it again.
                self.remember_preflight(&mut tree, top, p);
            }
            if let (true, Some((read, of))) = (last, tree.snapshot_reads()) {
                self.ui()
                    .debug(format!("{read} of {of} names read from the tree snapshot"));
            }
            if !keep_tree && last {
                drop(std::mem::take(&mut tree));
            } else {
                // Its entries are wanted (a snapshot, the squashed layer): every name.
                tree.load_all()?;
            }
            let so_far = (keep_tree || !last).then_some(&tree);
            on_layer(i, &warnings, &applied.layer, so_far)?;
        }
        Ok(keep_tree.then_some(tree))
    }
}

/// One production run: the session, the settings, the blob store the images go into and
/// the layer cache (none for `verify`).
struct Producer<'a> {
    session: &'a Session,
    s: OutputSettings,
    store: &'a BlobStore,
    layer_cache: Option<&'a LayerCache>,
}

impl Producer<'_> {
    fn produce(&self, platforms: &[Platform], inputs: &mut Inputs) -> Result<Built> {
        let session = self.session;
        let plans = platforms
            .iter()
            .map(|p| self.plan(p, inputs))
            .collect::<Result<Vec<_>>>()?;
        let squash = session.manifest().image.squash;
        let to_merge: Vec<&LayerSpec> = plans
            .iter()
            .flat_map(|pl| pl.to_merge(squash).iter().copied())
            .collect();
        if !to_merge.is_empty() {
            session.ensure_layer_inputs(inputs, &to_merge)?;
            inputs.plain = session.inflate_ahead(&to_merge, inputs)?;
        }
        let mut images = Vec::with_capacity(platforms.len());
        for (p, plan) in platforms.iter().zip(plans) {
            images.push(self.build_platform(p, plan, inputs)?);
        }
        let assembled = image::assemble(
            self.store,
            &images,
            &session.image_names()?,
            self.s.epoch,
            &session.manifest().image.annotations,
        )?;
        Ok(Built { images, assembled })
    }

    /// The tree the first layer of `p` merges over: the base's, read from its layers
    /// (with a layer cache, its snapshot is kept under `base_key` for later builds), or
    /// an empty tree.
    fn bottom(&self, p: &Platform, base_key: Option<&LayerKey>) -> Result<Tree> {
        let tree = self.session.bottom_tree(p)?;
        let (Some(c), Some(k), Some(b)) = (self.layer_cache, base_key, self.session.base()?) else {
            return Ok(tree);
        };
        if !has_snapshot(c, k)? {
            let image = b.image(p)?;
            let paths = b.layer_paths(self.session, p)?;
            if let (Some(top), Some(path)) = (image.layers.last(), paths.last()) {
                let blob = LayerBlob {
                    media_type: top.blob.media_type.clone(),
                    digest: top.blob.digest,
                    size: top.blob.size,
                    diff_id: top.diff_id,
                };
                let snapshot = encode_snapshot(&tree.entries());
                c.put(k, &blob, path, &[], Some(&snapshot))?;
            }
        }
        Ok(tree)
    }

    /// The layer cached under `key` (platform `p`'s layer `from_top` places below its top
    /// one, `label` in messages), linked into the blob store: from the layer cache, else
    /// from the registry-backed cache when one is attached.
    fn cached(
        &self,
        key: Option<&LayerKey>,
        p: &Platform,
        from_top: usize,
        label: &str,
    ) -> Result<Option<CachedLayer>> {
        let (Some(c), Some(k)) = (self.layer_cache, key) else {
            return Ok(None);
        };
        let hit = match (c.get(k)?, self.remote()) {
            (Some(hit), remote) => {
                remote.inspect(|r| r.note(k, Origin::Local));
                hit
            }
            (None, Some(r)) => match r.layer(k, p, from_top, label, c)? {
                Some(hit) => hit,
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        self.store.link(&hit.path, &hit.blob.digest);
        Ok(Some(hit))
    }

    /// The registry-backed layer cache, when the session has one and this run uses the
    /// layer cache at all (`verify` does not).
    fn remote(&self) -> Option<&RemoteCache> {
        self.layer_cache.and(self.session.remote_cache())
    }

    /// Compress one layer's entries into the blob store, and keep it in the layer cache
    /// under `key` with the merge warnings it gave (once the local inputs it was read from
    /// are known not to have changed meanwhile). `label` names it in progress output.
    fn write_layer(
        &self,
        entries: &[Entry],
        inputs: &Inputs,
        key: Option<&LayerKey>,
        warnings: &[String],
        tree: Option<&Tree>,
        label: &str,
    ) -> Result<LayerBlob> {
        let (ui, s) = (self.session.ui(), self.s);
        let total = tar_size_estimate(entries);
        let bar = ui.bytes_bar(Some(total), label);
        let logged = !ui.has_bars() && total >= LOGGED_LAYER_SIZE;
        if logged {
            ui.info(format!(
                "{label}: writing {} MiB ({})",
                total >> 20,
                s.compression
            ));
        }
        let jobs = image::jobs_for(s.compression, self.session.jobs(), total);
        let blob = image::write_layer(self.store, s.compression, jobs, |w| {
            write_entries(entries, s.epoch, &mut bar.wrap_write(w))
        })
        .map_err(|e| e.needing(total))?;
        bar.finish_and_clear();
        if logged {
            ui.info(format!("{label}: {} MiB written", blob.size >> 20));
        }
        if let (Some(c), Some(k)) = (self.layer_cache, key) {
            inputs.check_unchanged()?;
            let snapshot = tree.map(|t| encode_snapshot(&t.entries()));
            c.put(
                k,
                &blob,
                &self.store.path(&blob.digest),
                warnings,
                snapshot.as_deref(),
            )?;
            self.remote().inspect(|r| r.note(k, Origin::Built));
        }
        Ok(blob)
    }

    /// What one platform's build will take from the layer cache, and so what it must
    /// merge: known for every platform before any is built, so that the inputs they will
    /// read can be prepared together.
    fn plan<'m>(&'m self, p: &'m Platform, inputs: &Inputs) -> Result<Plan<'m>> {
        let manifest = self.session.manifest();
        let specs: Vec<&LayerSpec> = manifest.layers_for(p).collect();
        let (keys, base_key) = match self.layer_cache {
            Some(_) => {
                let k = self.session.layer_keys(p, self.s, &specs, inputs)?;
                (k.layers, k.base)
            }
            None => (Vec::new(), None),
        };
        let found = if manifest.image.squash {
            let key = keys.last().map(LayerKey::squashed);
            vec![self.cached(key.as_ref(), p, 0, "squashed layer")?]
        } else {
            let mut found = Vec::with_capacity(specs.len());
            for (i, spec) in specs.iter().enumerate() {
                let from_top = specs.len() - 1 - i;
                found.push(self.cached(keys.get(i), p, from_top, &layer_label(spec))?);
            }
            found
        };
        let mut plan = Plan {
            specs,
            keys,
            base_key,
            found,
            from: 0,
            base: None,
        };
        if !manifest.image.squash {
            if let Some((from, base)) = self.cached_base(&plan)? {
                plan.from = from;
                plan.base = Some(base);
            }
        }
        Ok(plan)
    }

    /// Where merging can start: the first layer the layer cache lacks, over the tree of
    /// the layers below it rebuilt from the snapshot kept with the layer under it, so a
    /// rebuild after a change to an upper layer reads nothing of the layers below.
    fn cached_base(&self, plan: &Plan) -> Result<Option<(usize, Tree)>> {
        let (Some(c), Some(first_miss)) = (
            self.layer_cache,
            plan.found.iter().position(Option::is_none),
        ) else {
            return Ok(None);
        };
        let below = match first_miss {
            0 => plan.base_key.as_ref(),
            n => plan.keys.get(n - 1),
        };
        let Some(below) = below else {
            return Ok(None);
        };
        let path = match (c.tree(below)?, self.remote()) {
            (Some(path), _) => path,
            (None, Some(r)) => match r.tree(below, c)? {
                Some(path) => path,
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        // A snapshot of another format version is not used: the layers are merged.
        let Some(snapshot) = Snapshot::open(&path).map_err(|e| StoreError::cache(&path, e))? else {
            return Ok(None);
        };
        let label = match first_miss {
            0 => "the base's layers (from the layer cache)".to_string(),
            n => format!("layers 1-{n} (from the layer cache)"),
        };
        let Ok(tree) = Tree::over_snapshot(&label, snapshot) else {
            return Ok(None);
        };
        self.session
            .ui()
            .debug(format!("{label}: tree snapshot opened"));
        Ok(Some((first_miss, tree)))
    }

    /// Build one platform's image as `plan` says: each layer taken from the layer cache or
    /// written as it is merged (or one squashed layer).
    fn build_platform(
        &self,
        p: &Platform,
        plan: Plan,
        inputs: &mut Inputs,
    ) -> Result<PlatformImage> {
        let (ours, history) = if self.session.manifest().image.squash {
            self.squashed_layer(p, plan, inputs)?
        } else {
            self.layers_in_order(p, plan, inputs)?
        };
        let (mut layers, base_history) = match self.session.base()? {
            Some(b) => {
                let image = b.image(p)?;
                let paths = b.layer_paths(self.session, p)?;
                let (history, note) = crate::base::apply::history(image);
                if let Some(n) = note {
                    self.session
                        .ui()
                        .warn(format!("base `{}`: {n}", b.written()));
                }
                (
                    crate::base::apply::layer_blobs(image, &paths, self.store),
                    history,
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        layers.extend(ours);
        Ok(PlatformImage {
            platform: p.clone(),
            config: self.session.image_config(p)?,
            layers,
            base_history,
            history,
        })
    }

    /// The one layer of a squashed image, from the layer cache or merged and written.
    fn squashed_layer(
        &self,
        p: &Platform,
        plan: Plan,
        inputs: &mut Inputs,
    ) -> Result<(Vec<LayerBlob>, Vec<HistoryEntry>)> {
        let ui = self.session.ui();
        let Plan {
            specs, keys, found, ..
        } = plan;
        let key = keys.last().map(LayerKey::squashed);
        let hit = found.into_iter().next().flatten();
        let blob = match hit {
            Some(hit) => {
                ui.debug(format!(
                    "squashed layer: from the layer cache ({})",
                    hit.blob.digest
                ));
                for w in &hit.warnings {
                    ui.warn(w);
                }
                hit.blob
            }
            None => {
                self.session.ensure_blobs(inputs)?;
                let mut warnings = Vec::new();
                let entries = self
                    .session
                    .merge_layers(
                        &specs,
                        inputs,
                        Tree::new(),
                        true,
                        p,
                        keys.last(),
                        |_, w, _, _| {
                            warnings.extend_from_slice(w);
                            Ok(())
                        },
                    )?
                    .map(|tree| tree.entries())
                    .unwrap_or_default();
                let blob = self.write_layer(
                    &entries,
                    inputs,
                    key.as_ref(),
                    &warnings,
                    None,
                    "squashed layer",
                )?;
                ui.debug(format!("squashed layer: built ({})", blob.digest));
                blob
            }
        };
        let history = HistoryEntry {
            created_by: format!("compose: {} layers squashed", specs.len()),
            comment: None,
            empty_layer: false,
        };
        Ok((vec![blob], vec![history]))
    }

    /// Every layer up to the last one missing from the layer cache merged (and the
    /// missing ones written); cached layers above it used as they are.
    fn layers_in_order(
        &self,
        p: &Platform,
        plan: Plan,
        inputs: &mut Inputs,
    ) -> Result<(Vec<LayerBlob>, Vec<HistoryEntry>)> {
        let ui = self.session.ui();
        let merged = plan.missing();
        let Plan {
            specs,
            keys,
            base_key,
            found,
            from,
            base,
        } = plan;
        let mut written: Vec<Option<LayerBlob>> = vec![None; specs.len()];
        if merged > 0 {
            let base = match base {
                Some(t) => t,
                None => self.bottom(p, base_key.as_ref())?,
            };
            let mut done = self.merge_and_write(
                p,
                &specs,
                &keys,
                &found,
                from,
                merged,
                base,
                inputs,
                &mut written,
            )?;
            if !done {
                // A layer needs the bytes of a lower file (a hard link to it changed):
                // merge from the bottom after all.
                ui.debug("the tree snapshot cannot serve this layer; merging from the bottom");
                done = self.merge_and_write(
                    p,
                    &specs,
                    &keys,
                    &found,
                    0,
                    merged,
                    self.bottom(p, None)?,
                    inputs,
                    &mut written,
                )?;
            }
            debug_assert!(done);
        }
        let mut layers = Vec::new();
        let mut history = Vec::new();
        for (i, (hit, built)) in found.into_iter().zip(written).enumerate() {
            let blob = match (hit, built) {
                (_, Some(b)) => b,
                (Some(hit), None) => {
                    ui.debug(format!(
                        "{}: from the layer cache ({})",
                        layer_label(specs[i]),
                        hit.blob.digest
                    ));
                    if i >= merged {
                        for w in &hit.warnings {
                            ui.warn(w);
                        }
                    }
                    hit.blob
                }
                (None, None) => unreachable!("every layer up to the last miss is written"),
            };
            layers.push(blob);
            history.push(HistoryEntry {
                created_by: created_by(specs[i]),
                comment: None,
                empty_layer: false,
            });
        }
        Ok((layers, history))
    }

    /// Merge `specs[from..merged]` over `base` and write each layer the cache lacks into
    /// `written`, keeping a tree snapshot with every layer but the top one. False, with
    /// nothing more written, when a layer over a snapshot would need a lower file's bytes.
    #[allow(clippy::too_many_arguments)]
    fn merge_and_write(
        &self,
        p: &Platform,
        specs: &[&LayerSpec],
        keys: &[LayerKey],
        found: &[Option<CachedLayer>],
        from: usize,
        merged: usize,
        base: Tree,
        inputs: &mut Inputs,
        written: &mut [Option<LayerBlob>],
    ) -> Result<bool> {
        let ui = self.session.ui();
        self.session
            .ensure_layer_inputs(inputs, &specs[from..merged])?;
        let mut complete = true;
        self.session.merge_layers(
            &specs[from..merged],
            inputs,
            base,
            false,
            p,
            keys.last().filter(|_| merged == specs.len()),
            |j, warnings, entries, tree| {
                let i = from + j;
                if let (Some(hit), Some(t), Some(c), Some(k)) =
                    (&found[i], tree, self.layer_cache, keys.get(i))
                {
                    // Cached, but with no snapshot this version reads (an older cache):
                    // keep one now, so the next rebuild need not come this way.
                    if !has_snapshot(c, k)? {
                        let snapshot = encode_snapshot(&t.entries());
                        c.put(k, &hit.blob, &hit.path, &hit.warnings, Some(&snapshot))?;
                    }
                }
                if !complete || found[i].is_some() || written[i].is_some() {
                    return Ok(());
                }
                let not_kept = entries
                    .iter()
                    .any(|e| matches!(e.kind, Kind::File(Content::NotKept { .. })));
                if not_kept {
                    complete = false;
                    return Ok(());
                }
                let label = layer_label(specs[i]);
                let blob =
                    self.write_layer(entries, inputs, keys.get(i), warnings, tree, &label)?;
                ui.debug(format!("{label}: built ({})", blob.digest));
                written[i] = Some(blob);
                Ok(())
            },
        )?;
        Ok(complete)
    }
}

/// Whether the layer cache keeps a tree snapshot this version reads under `key`.
fn has_snapshot(c: &LayerCache, key: &LayerKey) -> Result<bool> {
    Ok(match c.tree(key)? {
        Some(path) => matches!(Snapshot::open(&path), Ok(Some(_))),
        None => false,
    })
}

/// About how many bytes the canonical tar of `entries` has (headers, padded contents,
/// the end marker); only for progress.
fn tar_size_estimate(entries: &[Entry]) -> u64 {
    let body: u64 = entries
        .iter()
        .map(|e| 512 + e.size().div_ceil(512) * 512)
        .sum();
    body + 1024
}
