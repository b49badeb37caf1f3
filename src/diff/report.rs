//! The result of a comparison: a list of differences, first first, as text or JSON.

use crate::escape;
use std::fmt;

use serde_json::{json, Value};

/// Which property of an entry, config or image differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The two inputs hold different sets of platforms.
    Platform,
    /// A config field other than labels, history and `created`.
    Config,
    /// One config label.
    Label,
    /// The config's or a history entry's `created`.
    Created,
    /// The config's history (other than its `created` times).
    History,
    /// A different number of layers (the merged view follows).
    LayerCount,
    /// Two layer tars that differ only in how they are encoded (order, user/group names,
    /// headers): their entries are the same.
    Encoding,
    /// An image-manifest field (annotations, media types) other than the layers.
    Manifest,
    /// A layer blob (compressed bytes, media type) whose uncompressed content is the same.
    Blob,
    /// An entry present only on the right.
    Added,
    /// An entry present only on the left.
    Removed,
    /// A whiteout present on one side only (it deletes a lower path).
    Whiteout,
    /// An opaque-directory marker present on one side only.
    Opaque,
    Type,
    Mode,
    Owner,
    Mtime,
    Content,
    LinkTarget,
    Device,
    Xattr,
}

impl Field {
    /// The name used in text and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Field::Platform => "platform",
            Field::Config => "config",
            Field::Label => "label",
            Field::Created => "created",
            Field::History => "history",
            Field::LayerCount => "layer-count",
            Field::Encoding => "encoding",
            Field::Manifest => "manifest",
            Field::Blob => "blob",
            Field::Added => "added",
            Field::Removed => "removed",
            Field::Whiteout => "whiteout",
            Field::Opaque => "opaque",
            Field::Type => "type",
            Field::Mode => "mode",
            Field::Owner => "uid/gid",
            Field::Mtime => "mtime",
            Field::Content => "content",
            Field::LinkTarget => "link target",
            Field::Device => "device",
            Field::Xattr => "xattr",
        }
    }
}

/// One difference: where, what, and the two sides' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The platform, when the inputs hold several.
    pub platform: Option<String>,
    /// Where: `config.Labels.io.buildah.version`, `layer 2 /etc/motd`, `merged /etc/passwd`.
    pub location: String,
    pub field: Field,
    /// The left (first) input's value, `-` when it has none.
    pub left: String,
    /// The right (second) input's value, `-` when it has none.
    pub right: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.platform {
            write!(f, "{p}: ")?;
        }
        write!(
            f,
            "{}: {}: {} -> {}",
            escape::text(&self.location),
            self.field.name(),
            escape::text(&self.left),
            escape::text(&self.right)
        )
    }
}

/// Everything [`diff`](super::diff) found, in order: config, layers, merged filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub differences: Vec<Difference>,
    /// Per compared platform, whether the merged filesystems are the same (under the
    /// options); `None` when that view was not needed (identical layers).
    pub same_filesystem: Vec<(String, Option<bool>)>,
}

impl Report {
    /// True when nothing differs.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }

    /// The fields that differ, in report order (duplicates kept), for tests and summaries.
    pub fn fields(&self) -> Vec<Field> {
        self.differences.iter().map(|d| d.field).collect()
    }

    /// Canonical JSON (sorted keys, no whitespace):
    /// `{"differences":[{"field","left","location","platform","right"}…],"equal":bool,
    /// "same_filesystem":{"platform":bool|null}}`.
    pub fn to_json(&self) -> String {
        let diffs: Vec<Value> = self
            .differences
            .iter()
            .map(|d| {
                json!({
                    "platform": d.platform,
                    "location": d.location,
                    "field": d.field.name(),
                    "left": d.left,
                    "right": d.right,
                })
            })
            .collect();
        let same: serde_json::Map<String, Value> = self
            .same_filesystem
            .iter()
            .map(|(p, s)| (p.clone(), json!(s)))
            .collect();
        let v = json!({
            "equal": self.is_equal(),
            "differences": diffs,
            "same_filesystem": same,
        });
        serde_json::to_string(&v).unwrap_or_default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.differences {
            writeln!(f, "{d}")?;
        }
        let n = self.differences.len();
        if n == 0 {
            writeln!(f, "no differences")?;
        } else {
            writeln!(f, "{n} difference{}", if n == 1 { "" } else { "s" })?;
        }
        for (p, same) in &self.same_filesystem {
            if n > 0 && *same == Some(true) {
                writeln!(f, "{p}: the merged filesystems are the same")?;
            }
        }
        Ok(())
    }
}
