//! The `[[layer]]` tables: sources, files, directories, symlinks, removals and copies,
//! each checked where it is written (the rest of the manifest is in `validate.rs`).

use super::base::{BaseSpec, ImageLayerSpec};
use super::error::{ManifestError, Problem};
use super::raw::{RawDir, RawFile, RawLayer, RawSymlink};
use super::validate::{parse_mode, Ctx, Pins};
use super::{DirSpec, FileSource, FileSpec, LayerSpec, Location, Removal, SourceSpec, SymlinkSpec};
use crate::entry::ImagePath;
use crate::platform::Platform;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

type Result<T> = std::result::Result<T, ManifestError>;

impl Ctx<'_> {
    pub(super) fn layer(
        &self,
        index: usize,
        spanned: &Spanned<RawLayer>,
        dir: &Path,
        built: &[Platform],
        pins: &mut Pins,
    ) -> Result<LayerSpec> {
        let raw = spanned.get_ref();
        let number = index + 1;
        let platforms = match (&raw.platform, &raw.platforms) {
            (Some(_), Some(list)) => {
                return Err(self.err(
                    list.span(),
                    Problem::Conflict {
                        a: "platform".to_string(),
                        b: "platforms".to_string(),
                        table: "[[layer]]".to_string(),
                    },
                ))
            }
            (Some(p), None) => Some((vec![self.platform(p)?], vec![p.span()])),
            (None, Some(list)) => Some((
                self.platform_list(list, "[[layer]] platforms")?,
                list.get_ref().iter().map(|p| p.span()).collect(),
            )),
            (None, None) => None,
        };
        if let Some((ps, spans)) = &platforms {
            for (p, span) in ps.iter().zip(spans) {
                if !built.contains(p) {
                    let names: Vec<String> = built.iter().map(|b| b.to_string()).collect();
                    return Err(self.err(
                        span.clone(),
                        Problem::PlatformNotBuilt {
                            layer: number,
                            platform: p.to_string(),
                            built: names.join(", "),
                        },
                    ));
                }
            }
        }
        let tar = match (&raw.tar, &raw.sha256) {
            (Some(t), pin) => {
                let location = self.location(t, "tar", dir)?;
                let sha256 = self.pin(pin.as_ref(), &location, pins)?;
                Some(SourceSpec { location, sha256 })
            }
            (None, Some(pin)) => {
                return Err(self.err(
                    pin.span(),
                    Problem::PinWithoutSource {
                        source_key: "tar".to_string(),
                    },
                ))
            }
            (None, None) => None,
        };
        let image = match &raw.image {
            Some(i) => {
                if let Some(t) = &raw.tar {
                    return Err(self.err(
                        t.span(),
                        Problem::Conflict {
                            a: "tar".to_string(),
                            b: "image".to_string(),
                            table: "[[layer]]".to_string(),
                        },
                    ));
                }
                let source = BaseSpec::parse(i.get_ref(), dir).map_err(|why| {
                    self.err(
                        i.span(),
                        Problem::BadImageLayer {
                            value: i.get_ref().clone(),
                            why,
                        },
                    )
                })?;
                let mut paths = Vec::with_capacity(raw.paths.len());
                for p in &raw.paths {
                    paths.push(self.dest(p, "paths entry")?);
                }
                Some(ImageLayerSpec { source, paths })
            }
            None => {
                if let Some(p) = raw.paths.first() {
                    return Err(self.err(p.span(), Problem::PathsWithoutImage { layer: number }));
                }
                None
            }
        };
        let mut remove = Vec::new();
        for r in &raw.remove {
            // A trailing `?`: nothing to remove is fine.
            let (written, optional) = match r.get_ref().strip_suffix('?') {
                Some(rest) => (Spanned::new(r.span(), rest.to_string()), true),
                None => (r.clone(), false),
            };
            remove.push(Removal {
                path: self.dest(&written, "remove path")?,
                optional,
                pos: Some(self.pos(r.span())),
            });
        }
        let mut written = Written::default();
        let mut files = Vec::new();
        for f in &raw.file {
            let spec = self.file(f.get_ref(), dir, pins)?;
            written.add(
                self,
                &spec.dest,
                "[[layer.file]]",
                f.get_ref().dest.span(),
                number,
            )?;
            files.push(spec);
        }
        let mut dirs = Vec::new();
        for d in &raw.dir {
            let spec = self.dir(d.get_ref(), dir)?;
            written.add(
                self,
                &spec.dest,
                "[[layer.dir]]",
                d.get_ref().dest.span(),
                number,
            )?;
            dirs.push(spec);
        }
        let mut symlinks = Vec::new();
        for s in &raw.symlink {
            let spec = self.symlink(s.get_ref())?;
            written.add(
                self,
                &spec.dest,
                "[[layer.symlink]]",
                s.get_ref().dest.span(),
                number,
            )?;
            symlinks.push(spec);
        }
        if tar.is_none()
            && image.is_none()
            && remove.is_empty()
            && written.is_empty()
            && raw.copy.is_empty()
        {
            return Err(self.err(spanned.span(), Problem::EmptyLayer { layer: number }));
        }
        Ok(LayerSpec {
            index,
            comment: raw.comment.clone(),
            platforms: platforms.map(|(ps, _)| ps),
            tar,
            image,
            remove,
            files,
            dirs,
            symlinks,
            copies: Vec::new(),
            accounts: None,
        })
    }

    pub(super) fn file(&self, raw: &RawFile, dir: &Path, pins: &mut Pins) -> Result<FileSpec> {
        let dest = self.dest(&raw.dest, "dest")?;
        let source = match (&raw.src, &raw.content, &raw.sha256) {
            (Some(_), Some(c), _) => {
                return Err(self.err(
                    c.span(),
                    Problem::Conflict {
                        a: "src".to_string(),
                        b: "content".to_string(),
                        table: "[[layer.file]]".to_string(),
                    },
                ))
            }
            (Some(src), None, pin) => {
                let location = self.location(src, "src", dir)?;
                let sha256 = self.pin(pin.as_ref(), &location, pins)?;
                FileSource::Source(SourceSpec { location, sha256 })
            }
            (None, _, Some(pin)) => {
                return Err(self.err(
                    pin.span(),
                    Problem::PinWithoutSource {
                        source_key: "src".to_string(),
                    },
                ))
            }
            (None, Some(c), None) => FileSource::Inline(c.get_ref().clone()),
            (None, None, None) => {
                return Err(self.err(
                    raw.dest.span(),
                    Problem::NoFileSource {
                        dest: raw.dest.get_ref().clone(),
                    },
                ))
            }
        };
        Ok(FileSpec {
            dest,
            source,
            mode: self.mode(raw.mode.as_ref())?,
            uid: self.id(raw.uid.as_ref(), "uid")?,
            gid: self.id(raw.gid.as_ref(), "gid")?,
        })
    }

    pub(super) fn dir(&self, raw: &RawDir, dir: &Path) -> Result<DirSpec> {
        let dest = self.dest(&raw.dest, "dest")?;
        let src = match &raw.src {
            Some(s) => {
                let loc = self.location(s, "src", dir)?;
                if let Location::Url(u) = &loc {
                    return Err(self.err(s.span(), Problem::RemoteDir(u.clone())));
                }
                Some(loc)
            }
            None => None,
        };
        Ok(DirSpec {
            dest,
            src,
            mode: self.mode(raw.mode.as_ref())?,
            uid: self.id(raw.uid.as_ref(), "uid")?,
            gid: self.id(raw.gid.as_ref(), "gid")?,
        })
    }

    pub(super) fn symlink(&self, raw: &RawSymlink) -> Result<SymlinkSpec> {
        let dest = self.dest(&raw.dest, "dest")?;
        let target = raw.target.get_ref();
        if target.is_empty() {
            return Err(self.err(raw.target.span(), Problem::EmptyValue("target".to_string())));
        }
        if target.contains('\0') {
            return Err(self.err(
                raw.target.span(),
                Problem::BadPath {
                    what: "target".to_string(),
                    value: target.clone(),
                    reason: "contains a NUL character".to_string(),
                },
            ));
        }
        Ok(SymlinkSpec {
            dest,
            target: target.clone(),
            uid: self.id(raw.uid.as_ref(), "uid")?,
            gid: self.id(raw.gid.as_ref(), "gid")?,
        })
    }

    /// An absolute path inside the image, below the root.
    pub(super) fn dest(&self, raw: &Spanned<String>, what: &str) -> Result<ImagePath> {
        let value = raw.get_ref();
        if !value.starts_with('/') {
            return Err(self.err(
                raw.span(),
                Problem::NotAbsolute {
                    what: what.to_string(),
                    value: value.clone(),
                },
            ));
        }
        let path = ImagePath::parse_str(value).map_err(|e| {
            self.err(
                raw.span(),
                Problem::BadPath {
                    what: what.to_string(),
                    value: value.clone(),
                    reason: e.to_string(),
                },
            )
        })?;
        if path.is_root() {
            return Err(self.err(
                raw.span(),
                Problem::RootDest {
                    what: what.to_string(),
                    value: value.clone(),
                },
            ));
        }
        // In a layer, a name starting with `.wh.` deletes files below it: it can only be
        // written by `remove`, never by accident.
        if path.file_name().starts_with(b".wh.") {
            return Err(self.err(
                raw.span(),
                Problem::WhiteoutName {
                    what: what.to_string(),
                    value: value.clone(),
                },
            ));
        }
        Ok(path)
    }

    /// A uid or gid: tar, the kernel and every runtime hold 32 bits.
    pub(super) fn id(&self, raw: Option<&Spanned<u64>>, key: &str) -> Result<Option<u64>> {
        match raw {
            Some(v) if *v.get_ref() > u64::from(u32::MAX) => Err(self.err(
                v.span(),
                Problem::IdOutOfRange {
                    key: key.to_string(),
                    value: *v.get_ref(),
                },
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    pub(super) fn mode(&self, raw: Option<&Spanned<String>>) -> Result<Option<u32>> {
        match raw {
            Some(m) => parse_mode(m.get_ref())
                .map(Some)
                .ok_or_else(|| self.err(m.span(), Problem::BadMode(m.get_ref().clone()))),
            None => Ok(None),
        }
    }
}

/// The paths a layer's file, dir and symlink tables write, to find two writing one path.
#[derive(Default)]
struct Written(HashMap<ImagePath, (&'static str, Range<usize>)>);

impl Written {
    fn add(
        &mut self,
        ctx: &Ctx<'_>,
        dest: &ImagePath,
        what: &'static str,
        span: Range<usize>,
        layer: usize,
    ) -> Result<()> {
        if let Some((first, first_span)) = self.0.get(dest) {
            let at = ctx.pos(first_span.clone());
            return Err(ctx.err(
                span,
                Problem::DuplicateDest {
                    dest: dest.display(),
                    layer,
                    first: first.to_string(),
                    first_line: at.line,
                    first_column: at.column,
                    second: what.to_string(),
                },
            ));
        }
        self.0.insert(dest.clone(), (what, span));
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
