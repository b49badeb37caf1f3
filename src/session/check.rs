//! Preflight of each platform's final tree, and the merged tree itself for `compose tree`:
//! merging without writing, quietly (a build has shown the merge warnings already).

use std::collections::BTreeMap;

use super::inputs::Inputs;
use super::recipe::layer_label;
use super::{OutputSettings, Session};
use crate::digest::Sha256Digest;
use crate::entry::Entry;
use crate::listing::Origins;
use crate::manifest::LayerSpec;
use crate::merge::{MergeOptions, Tree};
use crate::platform::Platform;
use crate::preflight::{self, report, Finding};
use crate::store::LayerKey;
use crate::Result;

impl Session {
    /// Preflight findings for each platform's final tree: those remembered in the store
    /// for this tree (its top layer key) and config, else the tree is merged and checked,
    /// and the findings remembered, so a rebuild from the layer cache reads no input.
    pub fn preflight(
        &self,
        platforms: &[Platform],
        settings: OutputSettings,
        inputs: &mut Inputs,
    ) -> Result<BTreeMap<String, Vec<Finding>>> {
        let root = self.store().root().to_path_buf();
        let mut out = BTreeMap::new();
        for p in platforms {
            let specs: Vec<&LayerSpec> = self.manifest().layers_for(p).collect();
            let top = self.top_key(p, settings, &specs, inputs)?;
            let config = self.image_config(p)?;
            let key = report::record_key(&top, &config, p);
            let remote = self.remote_cache();
            let remembered = report::load(&root, &key).or_else(|| {
                // From the registry-backed cache, kept here too for the next build.
                let f = remote.and_then(|r| r.preflight(&key))?;
                let _ = report::store(&root, &key, &f);
                Some(f)
            });
            let findings = match remembered {
                Some(f) => f,
                None => {
                    self.ui()
                        .debug(format!("{p}: merging the tree for preflight"));
                    self.ensure_blobs(inputs)?;
                    let mut tree = self.merge_quietly(&specs, inputs, p, None)?;
                    let f = preflight::check_tree(&mut tree, &config, p);
                    if let Err(e) = report::store(&root, &key, &f) {
                        self.ui()
                            .debug(format!("preflight findings not remembered: {e}"));
                    }
                    f
                }
            };
            if let Some(r) = remote {
                r.note_preflight(&key, &LayerKey(top), &findings);
            }
            out.insert(p.to_string(), findings);
        }
        Ok(out)
    }

    /// Check a platform's final tree and remember the findings under its top layer's key
    /// (unless they are remembered already). A failure to store only costs a merge later.
    pub fn remember_preflight(&self, tree: &mut Tree, top: &LayerKey, p: &Platform) {
        let root = self.store().root();
        let Ok(config) = self.image_config(p) else {
            return;
        };
        let key = report::record_key(&top.0, &config, p);
        if report::load(root, &key).is_some() {
            return;
        }
        let findings = preflight::check_tree(tree, &config, p);
        if tree.check_lower().is_err() {
            // A record the checks looked up could not be read: the findings may be wrong,
            // so they are not kept (the layers themselves were merged without it).
            return;
        }
        if let Err(e) = report::store(root, &key, &findings) {
            self.ui()
                .debug(format!("preflight findings not remembered: {e}"));
        }
    }

    /// The layer-cache key of the top layer of `specs` (which covers the whole tree).
    fn top_key(
        &self,
        p: &Platform,
        s: OutputSettings,
        specs: &[&LayerSpec],
        inputs: &Inputs,
    ) -> Result<Sha256Digest> {
        // As the producer keys them (session/produce.rs).
        let keys = self.layer_keys(p, s, specs, inputs)?;
        Ok(keys
            .layers
            .last()
            .or(keys.base.as_ref())
            .map_or_else(|| Sha256Digest::of(b""), |k| k.0))
    }

    /// Merge `specs` without showing their warnings again, recording in `origins` which
    /// layer last wrote each entry.
    pub fn merge_quietly(
        &self,
        specs: &[&LayerSpec],
        inputs: &Inputs,
        p: &Platform,
        mut origins: Option<&mut Origins>,
    ) -> Result<Tree> {
        let mut tree = self.bottom_tree(p)?;
        if let (Some(o), Some(b)) = (origins.as_deref_mut(), self.base()?) {
            o.record(&format!("base {}", b.written()), &tree.entries());
        }
        for layer in specs {
            let label = layer_label(layer);
            let (entries, _) = self.entries_over(&mut tree, layer, inputs, &label, p)?;
            let opts = MergeOptions {
                usrmerge: self.manifest().image.usrmerge,
                ..MergeOptions::default()
            };
            let applied = tree.apply(&label, entries, &opts)?;
            if let Some(o) = origins.as_deref_mut() {
                o.record(&layer.describe(), &applied.layer);
            }
        }
        Ok(tree)
    }
}

/// One platform's merged tree, for `compose tree`.
pub struct MergedTree {
    pub platform: Platform,
    pub entries: Vec<Entry>,
    pub origins: Origins,
}
