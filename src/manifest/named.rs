//! Validation of `[input.NAME]` and `[[layer.copy]]`.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{ManifestError, Problem};
use super::raw::{RawInput, RawInputs, RawLayer, RawSymlinks};
use super::validate::{closest, Ctx};
use super::{CopySpec, InputVariant, LayerSpec, NamedInput, SourceSpec, SymlinkMode};
use crate::platform::Platform;
use crate::select::glob::Pattern;

type Result<T> = std::result::Result<T, ManifestError>;

impl Ctx<'_> {
    /// Every `[input.NAME]`: its archives, pinned like other sources, and the platforms
    /// each serves (no platform twice).
    pub(super) fn named_inputs(
        &self,
        raw: &BTreeMap<String, RawInputs>,
        dir: &Path,
        built: &[Platform],
        pins: &mut super::validate::Pins,
    ) -> Result<BTreeMap<String, NamedInput>> {
        let mut out = BTreeMap::new();
        for (name, inputs) in raw {
            let list: Vec<&RawInput> = match inputs {
                RawInputs::One(one) => vec![one],
                RawInputs::Many(many) => many.iter().collect(),
            };
            let mut variants: Vec<InputVariant> = Vec::new();
            for r in list {
                let location = self.location(&r.tar, "tar", dir)?;
                let sha256 = self.pin(r.sha256.as_ref(), &location, pins)?;
                let platforms = match (&r.platform, &r.platforms) {
                    (Some(_), Some(list)) => {
                        return Err(self.err(
                            list.span(),
                            Problem::Conflict {
                                a: "platform".to_string(),
                                b: "platforms".to_string(),
                                table: format!("[input.{name}]"),
                            },
                        ))
                    }
                    (Some(p), None) => Some(vec![self.platform(p)?]),
                    (None, Some(list)) => {
                        Some(self.platform_list(list, &format!("[input.{name}] platforms"))?)
                    }
                    (None, None) => None,
                };
                for p in platforms.clone().unwrap_or_else(|| built.to_vec()) {
                    if variants
                        .iter()
                        .any(|v| v.platforms.as_ref().is_none_or(|ps| ps.contains(&p)))
                    {
                        return Err(self.err(
                            r.tar.span(),
                            Problem::InputPlatformTwice {
                                input: name.clone(),
                                platform: p.to_string(),
                            },
                        ));
                    }
                }
                variants.push(InputVariant {
                    source: SourceSpec { location, sha256 },
                    platforms,
                    pos: Some(self.pos(r.tar.span())),
                });
            }
            out.insert(
                name.clone(),
                NamedInput {
                    name: name.clone(),
                    variants,
                },
            );
        }
        Ok(out)
    }

    /// A layer's `[[layer.copy]]` tables: known inputs serving every platform the layer
    /// is built for, valid patterns.
    pub(super) fn copies(
        &self,
        layer: &LayerSpec,
        raw: &RawLayer,
        inputs: &BTreeMap<String, NamedInput>,
        built: &[Platform],
    ) -> Result<Vec<CopySpec>> {
        let mut out = Vec::new();
        for c in &raw.copy {
            let c = c.get_ref();
            let from = c.from.get_ref();
            let Some(input) = inputs.get(from) else {
                let known: Vec<String> = inputs.keys().cloned().collect();
                return Err(self.err(
                    c.from.span(),
                    Problem::UnknownInput {
                        name: from.clone(),
                        suggestion: closest(from, &known),
                        known: known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                ));
            };
            for p in built.iter().filter(|p| layer.applies_to(p)) {
                if input.variant_for(p).is_none() {
                    return Err(self.err(
                        c.from.span(),
                        Problem::InputNotForPlatform {
                            input: from.clone(),
                            platform: p.to_string(),
                            layer: layer.index + 1,
                        },
                    ));
                }
            }
            if c.paths.get_ref().is_empty() {
                return Err(self.err(c.paths.span(), Problem::EmptyValue("paths".to_string())));
            }
            let mut paths = Vec::new();
            for p in c.paths.get_ref() {
                Pattern::parse(p.get_ref()).map_err(|e| {
                    self.err(
                        p.span(),
                        Problem::BadCopyPath {
                            pattern: p.get_ref().clone(),
                            reason: e.to_string(),
                        },
                    )
                })?;
                paths.push(p.get_ref().clone());
            }
            let dest = match &c.dest {
                Some(d) => Some(self.dest(d, "dest")?),
                None => None,
            };
            out.push(CopySpec {
                from: from.clone(),
                paths,
                dest,
                symlinks: match c.symlinks {
                    Some(RawSymlinks::Follow) => SymlinkMode::Follow,
                    Some(RawSymlinks::Keep) | None => SymlinkMode::Keep,
                },
            });
        }
        Ok(out)
    }
}
