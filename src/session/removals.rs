//! A manifest `remove` must remove something: a path that matches nothing in the layers
//! below is usually a typo or a stale line, and a silent no-op would ship the files it
//! meant to drop. This checks a layer's removes against the tree below it (the merger's
//! [`Tree::whiteout_target`] query, which resolves parents through symlinks as whiteouts
//! do) and builds the error; `remove = ["/path?"]` marks a remove that may match nothing.

use crate::manifest::{LayerSpec, Removal};
use crate::merge::{Tree, WhiteoutTarget};

/// How many near paths an error suggests.
const SUGGESTIONS: usize = 3;

/// A required `remove` that matches nothing below its layer.
#[derive(Debug, thiserror::Error)]
#[error("{at}: `remove` of {path} in {layer} removes nothing: no layer below has it{}", suggest(.nearest))]
pub struct NothingRemoved {
    /// `file:line:column` of the entry, or the layer when the manifest was built in code.
    pub at: String,
    pub path: String,
    pub layer: String,
    /// The existing paths nearest to it.
    pub nearest: Vec<String>,
}

impl NothingRemoved {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        format!(
            "fix the path, or write it as \"{}?\" if it may be absent",
            self.path
        )
    }
}

fn suggest(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!(" (nearest existing: {})", nearest.join(", "))
    }
}

/// Refuse the first required remove of `layer` that `tree` (the layers below it) does not
/// hold. `label` names the layer.
pub(super) fn check(tree: &mut Tree, layer: &LayerSpec, label: &str) -> Result<(), NothingRemoved> {
    for Removal {
        path,
        optional,
        pos,
    } in &layer.remove
    {
        if *optional {
            continue;
        }
        if let WhiteoutTarget::Missing(nearest) = tree.whiteout_target(path, SUGGESTIONS) {
            return Err(NothingRemoved {
                at: pos
                    .as_ref()
                    .map_or_else(|| label.to_string(), ToString::to_string),
                path: path.display(),
                layer: layer.describe(),
                nearest: nearest.iter().map(|p| p.display()).collect(),
            });
        }
    }
    Ok(())
}
