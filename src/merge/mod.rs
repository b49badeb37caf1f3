//! The overlay merger: applies layers of [`Entry`] values, in order,
//! over the empty `scratch` base, following the OCI image-spec layer rules.
//!
//! # Policy
//!
//! Each layer is applied in three phases, whatever the order of its entries:
//!
//! 1. **Opaque markers** (`DIR/.wh..wh..opq`) clear the children DIR has from lower
//!    layers. DIR resolves through in-tree symlinks; a marker for a missing path or a
//!    non-directory is a no-op and creates nothing.
//! 2. **Whiteouts** (`DIR/.wh.NAME`) delete NAME and its subtree from the lower layers.
//!    The parent resolves through in-tree symlinks as it stood *before* this layer's
//!    entries (whiteouts only ever see lower layers). A whiteout of a missing path is a
//!    no-op and creates no parents. `.wh.`, `.wh..` and `.wh...` are errors; other
//!    `.wh..wh.*` names (AUFS bookkeeping such as `.wh..wh.plnk`), and anything below
//!    them, are ignored.
//! 3. **Entries**, in archive order. Parents resolve through in-tree symlinks with
//!    root-scoped semantics (absolute targets start at the image root, `..` stops at the
//!    root, at most [`MAX_SYMLINK_HOPS`] hops); the final component is never followed.
//!    Missing parents are created as directories 0755 0:0. A parent that exists as a
//!    non-directory is an error, as in containerd (`mkparent` fails with `ENOTDIR`)
//!    rather than silently replacing a file the image author may have meant to keep.
//!    Directory over directory replaces the attributes and keeps the children; any other
//!    collision replaces the whole subtree. A later duplicate path in the same layer is
//!    an ordinary collision (so the last entry wins) and produces a warning, or an error
//!    with [`MergeOptions::strict_duplicates`].
//!
//! Hard links share one inode with their target, which must already exist (lower
//! layers, or earlier in the same layer) and must not be a directory; its parents
//! resolve through symlinks, its final component does not (a hard link to a symlink is
//! a second name of that symlink). The hard-link entry's own owner, mode (except on a
//! symlink) and xattrs then apply to the shared inode, as containerd, Docker and umoci
//! chown, chmod and setxattr the new name after linking it. Deleting or replacing one
//! name leaves the other names, and the content, in place.
//!
//! A symlink met while resolving a parent may point to a missing path: the missing
//! directories are created where it points, as containerd does. A symlink with an empty
//! target, or a loop, is an error. Names starting with `.wh.` are never created.
//!
//! # usrmerge (opt in)
//!
//! Distributions with a merged `/usr` ship `bin -> usr/bin`, `lib -> usr/lib`, …; older
//! archives write `bin/` as a real directory, and by the rule above (a directory over a
//! non-directory replaces it, as in containerd) that entry hides `/usr/bin`. With
//! [`MergeOptions::usrmerge`] (`[image] usrmerge = true`), in phase 3 a directory entry
//! whose path is at that moment a symlink that resolves, by the parent rules above, to an
//! existing directory is absorbed: the symlink stays, the target directory keeps its own
//! attributes (the entry's mode, owner and xattrs are dropped), and the entries below it
//! resolve through the symlink into the target, as any entry under a symlinked parent
//! does. This holds for every such symlink in every layer, one made earlier in the same
//! layer included. A symlink to a non-directory, a dangling one or a loop is replaced as
//! without the option. Whiteouts and opaque markers below the path resolve through the
//! symlink (phases 1 and 2 always do), so they apply to the target. The canonical layer
//! holds real paths (`usr/bin/sh`, never `bin/`), so a runtime applying it entry by entry
//! over the lower layers, without any usrmerge logic, gets the same tree; only the
//! merge, not the written format, depends on the option. The reverse case (a symlink
//! entry over a lower real directory) is not merged: the symlink replaces the directory.
//!
//! # Queries
//!
//! [`Tree::whiteout_target`] says whether a whiteout of a path would delete something and,
//! when not, which existing paths are nearest; `compose build` uses it to refuse a
//! manifest `remove` that removes nothing (the merger itself never fails on one).
//!
//! # Output
//!
//! [`Tree::entries`] is the merged filesystem (for a rootfs tar or a squashed layer) and
//! [`Applied::layer`] one layer's canonical contribution; both are in [`canonical_cmp`]
//! order, hold no duplicates, and write each hard-link group's first name in that order
//! as the real entry. The root appears (with the empty path, first) only when it
//! matters: in `entries` when its attributes differ from 0755 0:0 without xattrs, in a
//! canonical layer when that layer had a root entry.
//!
//! The tree holds metadata and [`Content`](crate::entry::Content) references only, never
//! file bytes.

mod emit;
mod lookup;
mod lower;
mod nearest;
mod order;
mod resolve;
mod tree;

pub use nearest::WhiteoutTarget;
pub use order::canonical_cmp;
pub use resolve::MAX_SYMLINK_HOPS;
pub use tree::Tree;

use crate::entry::Entry;

/// Options that change how strictly a layer is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Duplicate paths in one layer are an error instead of a last-wins warning.
    pub strict_duplicates: bool,
    /// A directory entry landing on a symlink that resolves to a directory merges into
    /// that directory instead of replacing the symlink (`[image] usrmerge = true`).
    pub usrmerge: bool,
}

/// What one applied layer contributes, ready to be written as an image layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The layer's canonical form; see [`Tree::apply`] for what it holds and in what order.
    pub layer: Vec<Entry>,
    /// Things the user should know that did not stop the merge (duplicate paths).
    pub warnings: Vec<String>,
}

/// Why a layer could not be applied. Every variant names the layer and the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A whiteout of the empty name, `.` or `..`.
    #[error("{layer}: entry {path}: whiteout of an invalid name ({name:?})")]
    BadWhiteout {
        layer: String,
        path: String,
        name: String,
    },
    /// A hard link whose target is not in the tree at that point.
    #[error("{layer}: hard link {path} -> {target}: the target does not exist")]
    LinkTargetMissing {
        layer: String,
        path: String,
        target: String,
    },
    /// A hard link to a directory.
    #[error("{layer}: hard link {path} -> {target}: the target is a directory")]
    LinkTargetDir {
        layer: String,
        path: String,
        target: String,
    },
    /// A parent of the entry exists but is neither a directory nor a symlink.
    #[error("{layer}: entry {path}: its parent {parent} is a {kind}, not a directory")]
    ParentNotDir {
        layer: String,
        path: String,
        parent: String,
        kind: String,
    },
    /// Resolving a parent took too many symlink hops (a loop).
    #[error("{layer}: entry {path}: too many levels of symbolic links at {at}")]
    SymlinkLoop {
        layer: String,
        path: String,
        at: String,
    },
    /// A symlink in a parent position has an empty target or one with a NUL byte.
    #[error(
        "{layer}: entry {path}: symlink {at} in its parent path has an empty or invalid target"
    )]
    BadSymlink {
        layer: String,
        path: String,
        at: String,
    },
    /// Resolving a parent through a symlink would create a directory named `.wh.*`.
    #[error("{layer}: entry {path}: would create a directory {at} whose name is a whiteout")]
    WhiteoutNamedParent {
        layer: String,
        path: String,
        at: String,
    },
    /// The same path twice in one layer, with `strict_duplicates`.
    #[error("{layer}: duplicate entry {path}")]
    Duplicate { layer: String, path: String },
    /// An entry for the root that is not a directory.
    #[error("{layer}: the root entry is a {kind}, not a directory")]
    RootNotDir { layer: String, kind: String },
    /// A record of the layer cache's tree snapshot could not be read
    /// ([`Tree::over_snapshot`]).
    #[error("{layer}: the tree snapshot is damaged")]
    Damaged { layer: String },
}

impl MergeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(
            match self {
                MergeError::BadWhiteout { .. } => {
                    "the layer archive is malformed; rebuild it, or remove the entry from it"
                }
                MergeError::LinkTargetMissing { .. } => {
                    "a hard link must point to a file that exists in a lower layer or earlier in the same layer"
                }
                MergeError::LinkTargetDir { .. } => {
                    "hard links to directories are not allowed; use a symlink instead"
                }
                MergeError::ParentNotDir { .. } => {
                    "remove the file first (a `remove` entry or a whiteout in this layer) or choose another path"
                }
                MergeError::SymlinkLoop { .. } => {
                    "fix the symlinks in the parent path so that they do not point back to themselves"
                }
                MergeError::BadSymlink { .. } => "give the symlink a valid target, or remove it",
                MergeError::WhiteoutNamedParent { .. } => {
                    "fix the symlink target; names starting with `.wh.` are reserved for whiteouts"
                }
                MergeError::Duplicate { .. } => {
                    "remove the duplicate from the layer, or allow duplicates (the last one wins)"
                }
                MergeError::RootNotDir { .. } => "the entry `/` or `./` in the layer must be a directory",
                MergeError::Damaged { .. } => {
                    "the tree snapshot is damaged; `compose cache prune` removes it"
                }
            }
            .to_string(),
        )
    }
}
