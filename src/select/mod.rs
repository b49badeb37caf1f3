//! Taking paths out of a named input: the entries of `[[layer.copy]]`.
//!
//! The input's tree (a rootfs archive read as one layer) is searched with the patterns of
//! [`glob`]. Each match brings itself and, for a directory, everything below it. Parents
//! of a pattern resolve through the input's symlinks, root-scoped: a link can only ever
//! lead to another path of the same input, never to the host.
//!
//! * **Where matches go.** Without `dest`, every match keeps its path. With `dest` (a
//!   directory), a match goes below it by its path relative to the pattern's literal
//!   part: the parent of a plain path (`/etc/passwd` → `DEST/passwd`), the part before the
//!   first wildcard of a pattern (`/usr/share/zoneinfo/**` → `DEST/UTC`, `DEST/Europe/…`).
//! * **Symlinks.** `keep` copies links as links (their targets verbatim). `follow`
//!   replaces each link met in the selection (the matched path itself, or anything below
//!   a matched directory) by what it points to in the input: a file's bytes, or a
//!   directory's contents. A link that points nowhere, loops, or leads into the
//!   directory being copied is an error.
//! * **Metadata.** Kind, mode, owner, xattrs and device numbers come from the input;
//!   mtimes from the epoch (the writer sets them); a hard link becomes a copy of the file
//!   it links to. Missing parents are created by the merger (0755 0:0).
//! * A pattern that matches nothing is an error naming the input and the pattern.

pub mod glob;

use std::collections::BTreeMap;

use crate::entry::{Entry, ImagePath, Kind};
use crate::manifest::{CopySpec, SymlinkMode};
use crate::merge::MAX_SYMLINK_HOPS;
use crate::treeview::{Resolved, TreeView};
use glob::{Part, Pattern};

/// The most entries one `[[layer.copy]]` may produce (a bound for `follow` over links to
/// large directories).
pub const MAX_SELECTED: usize = 4_000_000;

/// Why paths could not be taken from an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("input `{input}`: path pattern `{pattern}` {reason}")]
    BadPattern {
        input: String,
        pattern: String,
        reason: String,
    },
    #[error("input `{input}`: `{pattern}` matches nothing")]
    NoMatch { input: String, pattern: String },
    #[error("input `{input}`: symlink {path} -> {target} points to nothing in the input ({missing} does not exist)")]
    Dangling {
        input: String,
        path: String,
        target: String,
        missing: String,
    },
    #[error("input `{input}`: symlink {path} loops, has an empty target, or leads into a directory being copied")]
    Loop { input: String, path: String },
    #[error("input `{input}`: `{pattern}` selects more than {MAX_SELECTED} entries")]
    TooMany { input: String, pattern: String },
    /// Any of the above, in the layer that asked for the paths.
    #[error("{layer}: {source}")]
    InLayer {
        layer: String,
        source: Box<SelectError>,
    },
}

impl SelectError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            SelectError::BadPattern { .. } => {
                "write absolute paths; wildcards are *, ?, [abc] and ** as a whole component".to_string()
            }
            SelectError::NoMatch { .. } => {
                "check the path in the input (`compose tree` lists a built image; `tar tf` the input), or remove the pattern".to_string()
            }
            SelectError::Dangling { .. } | SelectError::Loop { .. } => {
                "copy the link's target as well, or use symlinks = \"keep\" to copy links as they are".to_string()
            }
            SelectError::TooMany { .. } => "select fewer paths, or use symlinks = \"keep\"".to_string(),
            SelectError::InLayer { source, .. } => source.hint(),
        }
    }
}

/// The entries `spec` takes from the plain tar archive at `plain` (the named input's
/// archive, decompressed), read as one layer over an empty tree. `label` names the layer
/// in messages.
pub fn copy_from_tar(
    plain: &std::path::Path,
    label: &str,
    spec: &CopySpec,
) -> crate::Result<Vec<Entry>> {
    let what = format!("{label}: input `{}`", spec.from);
    let entries = crate::layer::read_tar(plain, &what)?;
    let mut tree = crate::merge::Tree::new();
    tree.apply(&what, entries, &crate::merge::MergeOptions::default())?;
    select(&tree.entries(), &spec.from, spec).map_err(|e| {
        SelectError::InLayer {
            layer: label.to_string(),
            source: Box::new(e),
        }
        .into()
    })
}

/// The entries `spec` takes from `source` (the input's whole tree, unique paths), in
/// path order. `input` names the input in messages.
pub fn select(source: &[Entry], input: &str, spec: &CopySpec) -> Result<Vec<Entry>, SelectError> {
    let view = TreeView::new(source);
    let mut out: BTreeMap<ImagePath, Entry> = BTreeMap::new();
    for text in &spec.paths {
        let pattern = Pattern::parse(text).map_err(|e| SelectError::BadPattern {
            input: input.to_string(),
            pattern: text.clone(),
            reason: e.to_string(),
        })?;
        let mut s = Selector {
            view: &view,
            input,
            pattern: &pattern,
            follow: spec.symlinks == SymlinkMode::Follow,
            dest: spec.dest.as_ref(),
            out: &mut out,
            matched: 0,
            copying: Vec::new(),
        };
        s.run()?;
        if s.matched == 0 {
            return Err(SelectError::NoMatch {
                input: input.to_string(),
                pattern: text.clone(),
            });
        }
    }
    Ok(out.into_values().collect())
}

/// One pattern's search.
struct Selector<'s, 'v> {
    view: &'s TreeView<'v>,
    input: &'s str,
    pattern: &'s Pattern,
    follow: bool,
    dest: Option<&'s ImagePath>,
    out: &'s mut BTreeMap<ImagePath, Entry>,
    matched: usize,
    /// Real directories being copied (to refuse a followed link into one of them).
    copying: Vec<ImagePath>,
}

impl Selector<'_, '_> {
    fn run(&mut self) -> Result<(), SelectError> {
        let parts = &self.pattern.parts;
        let lit = self.pattern.literal_len();
        let literal: Vec<u8> = parts[..lit]
            .iter()
            .filter_map(|p| match p {
                Part::Literal(l) => Some(l.as_slice()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(&b'/');
        if lit == parts.len() {
            let written = image_path(&literal);
            return match self.view.resolve(&literal, false) {
                Resolved::Found { path, entry } => self.take(&written, &path, &entry, 0),
                Resolved::ImplicitDir { path } => {
                    self.matched += 1;
                    let dest = self.dest_of(&written);
                    self.push(Entry::dir(dest.clone()))?;
                    self.copy_dir(&dest, &path, 0)
                }
                Resolved::BadLink { at } => Err(self.looped(&at)),
                Resolved::Missing { .. } | Resolved::NotDir { .. } => Ok(()),
            };
        }
        let base = match self.view.resolve(&literal, true) {
            Resolved::Found { path, entry } if matches!(entry.kind, Kind::Dir) => path,
            Resolved::ImplicitDir { path } => path,
            _ => return Ok(()),
        };
        let rest = parts[lit..].to_vec();
        self.walk(&base, &image_path(&literal), &rest, 0)
    }

    /// Match `rest` below the real directory `dir`, written as `written`.
    fn walk(
        &mut self,
        dir: &ImagePath,
        written: &ImagePath,
        rest: &[Part],
        depth: u32,
    ) -> Result<(), SelectError> {
        let Some((first, tail)) = rest.split_first() else {
            return Ok(());
        };
        if *first == Part::AnyDirs {
            if tail.is_empty() {
                for child in self.view.children(dir.as_bytes()) {
                    let w = written.join(child.path.file_name());
                    self.take(&w, &child.path, &child, depth)?;
                }
                return Ok(());
            }
            self.walk(dir, written, tail, depth)?;
            for child in self.view.children(dir.as_bytes()) {
                if let Some(sub) = self.enter(&child, depth)? {
                    self.walk(&sub, &written.join(child.path.file_name()), rest, depth + 1)?;
                }
            }
            return Ok(());
        }
        for child in self.view.children(dir.as_bytes()) {
            let name = child.path.file_name();
            if !first.matches(name) {
                continue;
            }
            let w = written.join(name);
            if tail.is_empty() {
                self.take(&w, &child.path, &child, depth)?;
            } else if let Some(sub) = self.enter(&child, depth)? {
                self.walk(&sub, &w, tail, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The real directory a child leads to when a pattern descends through it: itself,
    /// or (when following) the directory its symlink points to.
    fn enter(&self, child: &Entry, depth: u32) -> Result<Option<ImagePath>, SelectError> {
        match &child.kind {
            Kind::Dir => Ok(Some(child.path.clone())),
            Kind::Symlink(_) if self.follow => {
                if depth >= MAX_SYMLINK_HOPS {
                    return Err(self.looped(&child.path));
                }
                Ok(match self.view.resolve(child.path.as_bytes(), true) {
                    Resolved::Found { path, entry } if matches!(entry.kind, Kind::Dir) => {
                        Some(path)
                    }
                    Resolved::ImplicitDir { path } => Some(path),
                    _ => None,
                })
            }
            _ => Ok(None),
        }
    }

    /// Copy one matched entry (and a directory's contents) to where `written` maps.
    fn take(
        &mut self,
        written: &ImagePath,
        real: &ImagePath,
        entry: &Entry,
        depth: u32,
    ) -> Result<(), SelectError> {
        self.matched += 1;
        let dest = self.dest_of(written);
        self.node(&dest, real, entry, depth)
    }

    fn node(
        &mut self,
        dest: &ImagePath,
        real: &ImagePath,
        entry: &Entry,
        depth: u32,
    ) -> Result<(), SelectError> {
        let entry = self
            .view
            .get(real.as_bytes())
            .unwrap_or(std::borrow::Cow::Borrowed(entry));
        match &entry.kind {
            Kind::Symlink(target) if self.follow => {
                if depth >= MAX_SYMLINK_HOPS {
                    return Err(self.looped(real));
                }
                match self.view.resolve(real.as_bytes(), true) {
                    Resolved::Found { path, entry } => {
                        if matches!(entry.kind, Kind::Dir)
                            && self
                                .copying
                                .iter()
                                .any(|c| c.starts_with(&path) || path.starts_with(c))
                        {
                            return Err(self.looped(real));
                        }
                        self.node(dest, &path, &entry, depth + 1)
                    }
                    Resolved::ImplicitDir { path } => {
                        self.push(Entry::dir(dest.clone()))?;
                        self.copy_dir(dest, &path, depth + 1)
                    }
                    Resolved::Missing { at, .. } | Resolved::NotDir { at } => {
                        Err(SelectError::Dangling {
                            input: self.input.to_string(),
                            path: real.display(),
                            target: String::from_utf8_lossy(target).into_owned(),
                            missing: at.display(),
                        })
                    }
                    Resolved::BadLink { .. } => Err(self.looped(real)),
                }
            }
            Kind::Dir => {
                let mut e = entry.clone().into_owned();
                e.path = dest.clone();
                self.push(e)?;
                self.copy_dir(dest, real, depth)
            }
            _ => {
                let mut e = entry.clone().into_owned();
                e.path = dest.clone();
                self.push(e)?;
                Ok(())
            }
        }
    }

    fn copy_dir(
        &mut self,
        dest: &ImagePath,
        real: &ImagePath,
        depth: u32,
    ) -> Result<(), SelectError> {
        self.copying.push(real.clone());
        for child in self.view.children(real.as_bytes()) {
            let name = child.path.file_name();
            self.node(&dest.join(name), &child.path, &child, depth)?;
        }
        self.copying.pop();
        Ok(())
    }

    fn push(&mut self, mut e: Entry) -> Result<(), SelectError> {
        if self.out.len() >= MAX_SELECTED {
            return Err(SelectError::TooMany {
                input: self.input.to_string(),
                pattern: self.pattern.text.clone(),
            });
        }
        e.mtime = 0;
        self.out.insert(e.path.clone(), e);
        Ok(())
    }

    /// Where a path as written lands.
    fn dest_of(&self, written: &ImagePath) -> ImagePath {
        let Some(dest) = self.dest else {
            return written.clone();
        };
        let lit = self.pattern.literal_len();
        let anchor = if lit == self.pattern.parts.len() {
            lit - 1
        } else {
            lit
        };
        written
            .components()
            .skip(anchor)
            .fold(dest.clone(), |p, c| p.join(c))
    }

    fn looped(&self, at: &ImagePath) -> SelectError {
        SelectError::Loop {
            input: self.input.to_string(),
            path: at.display(),
        }
    }
}

fn image_path(raw: &[u8]) -> ImagePath {
    ImagePath::parse(raw).unwrap_or_default()
}

#[cfg(test)]
mod tests;
