//! The recipe of a layer: its spec as entries, and the description of everything those
//! entries are made from that keys it in the layer cache. The two live side by side so
//! they cannot drift apart: a field that [`Session::layer_entries`] reads and
//! [`describe_layer`] leaves out would make the layer cache serve stale layers.

use super::inputs::Inputs;
use super::{OutputSettings, Session};
use crate::digest::Sha256Digest;
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::layer;
use crate::lock::InputKind;
use crate::manifest::{
    CopySpec, FileSource, FileSpec, LayerSpec, Location, Manifest, SourceSpec, SymlinkMode,
};
use crate::merge::Tree;
use crate::platform::Platform;
use crate::store::{KeyBuilder, LayerKey};
use crate::{Error, Result};

impl Session {
    /// The archive a `[[layer.copy]]` reads on platform `p`.
    fn copy_source(&self, c: &CopySpec, p: &Platform) -> Result<&SourceSpec> {
        self.manifest
            .named_inputs
            .get(&c.from)
            .and_then(|i| i.variant_for(p))
            .map(|v| &v.source)
            .ok_or_else(|| {
                Error::usage(
                    format!("input `{}` has no archive for {p}", c.from),
                    Some("add one with [[input.NAME]] platform = \"…\""),
                )
            })
    }

    /// The entries of `layer` over `tree` and the warnings they give: the accounts layer
    /// is computed from the tree, any other from its sources.
    pub fn entries_over(
        &self,
        tree: &mut Tree,
        layer: &LayerSpec,
        inputs: &Inputs,
        label: &str,
        p: &Platform,
    ) -> Result<(Vec<Entry>, Vec<String>)> {
        match &layer.accounts {
            Some(spec) => {
                let merged = crate::accounts::layer_over(tree, spec)?;
                Ok((merged.entries, merged.warnings))
            }
            None => Ok((self.layer_entries(layer, inputs, label, p)?, Vec::new())),
        }
    }

    /// The entries of one layer, in the order the merger applies them: the tar, then
    /// `remove` whiteouts, directories, files and symlinks.
    pub fn layer_entries(
        &self,
        layer: &LayerSpec,
        inputs: &Inputs,
        label: &str,
        p: &Platform,
    ) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        if let Some(t) = &layer.tar {
            let tar = inputs.blob(InputKind::Tar, &t.location);
            let plain = match inputs.plain.get(&tar.sha256) {
                Some(path) => path.clone(),
                None => self.plain_tar(tar, label, inputs.remembered)?,
            };
            entries.extend(layer::read_tar(&plain, label)?);
        }
        if let Some(i) = &layer.image {
            // The image's merged tree for this platform, cut to `paths`; its entries are
            // written canonically like a tar's.
            let tree = self.layer_image(&i.source)?.tree(self, p)?;
            entries.extend(crate::base::filter::filter_paths(tree.entries(), &i.paths));
        }
        for c in &layer.copies {
            let tar = inputs.blob(InputKind::Tar, &self.copy_source(c, p)?.location);
            let plain = match inputs.plain.get(&tar.sha256) {
                Some(path) => path.clone(),
                None => self.plain_tar(tar, label, inputs.remembered)?,
            };
            entries.extend(crate::select::copy_from_tar(&plain, label, c)?);
        }
        for r in &layer.remove {
            entries.push(whiteout(&r.path));
        }
        for d in &layer.dirs {
            let mut top = Entry::dir(d.dest.clone());
            top.mode = d.mode.unwrap_or(0o755);
            top.uid = d.uid.unwrap_or(0);
            top.gid = d.gid.unwrap_or(0);
            entries.push(top);
            if let Some(src) = &d.src {
                let packed = inputs.blob(InputKind::Dir, src);
                for mut e in layer::read_tar(&packed.path, label)? {
                    if e.path.is_root() {
                        continue;
                    }
                    e.path = rebase(&d.dest, &e.path);
                    if let Kind::HardLink(t) = &e.kind {
                        e.kind = Kind::HardLink(rebase(&d.dest, t));
                    }
                    e.uid = d.uid.unwrap_or(e.uid);
                    e.gid = d.gid.unwrap_or(e.gid);
                    entries.push(e);
                }
            }
        }
        for f in &layer.files {
            let content = match &f.source {
                FileSource::Inline(text) => inline(text.as_bytes()),
                FileSource::Source(spec) => {
                    let b = inputs.blob(InputKind::File, &spec.location);
                    Content::whole_file(b.path.clone(), b.size)
                }
            };
            let mut e = Entry::new(f.dest.clone(), Kind::File(content), file_mode(f, inputs));
            e.uid = f.uid.unwrap_or(0);
            e.gid = f.gid.unwrap_or(0);
            entries.push(e);
        }
        for s in &layer.symlinks {
            let mut e = Entry::new(
                s.dest.clone(),
                Kind::Symlink(s.target.as_bytes().to_vec()),
                0o777,
            );
            e.uid = s.uid.unwrap_or(0);
            e.gid = s.gid.unwrap_or(0);
            entries.push(e);
        }
        Ok(entries)
    }
}

/// The keys of the layers of one platform in the layer cache, and of the base below them.
pub struct LayerKeys {
    /// The key of the base's tree (`[image] base`): its image manifest digest for this
    /// platform and the output settings. Our first layer's key is made over it, so every
    /// key changes with the base; the base's tree snapshot is kept under it.
    pub base: Option<LayerKey>,
    /// One key per layer, bottom first.
    pub layers: Vec<LayerKey>,
}

impl Session {
    /// The layer-cache key of each of `specs` (the layers of platform `p`, in order), each
    /// made over the one below, the first over the base's.
    pub fn layer_keys(
        &self,
        p: &Platform,
        s: OutputSettings,
        specs: &[&LayerSpec],
        inputs: &Inputs,
    ) -> Result<LayerKeys> {
        let base = self.base_manifest(p)?.map(|d| {
            let mut k = KeyBuilder::layer(None, s.compression, s.epoch, p);
            k.digest("base-image", &d);
            k.finish()
        });
        let mut layers: Vec<LayerKey> = Vec::with_capacity(specs.len());
        for layer in specs {
            let below = layers.last().or(base.as_ref());
            let mut k = KeyBuilder::layer(below, s.compression, s.epoch, p);
            if self.manifest().image.usrmerge {
                k.field("usrmerge", b"true");
            }
            if let Some(i) = &layer.image {
                let image = self.layer_image(&i.source)?;
                k.digest("image", &image.image(p)?.manifest.digest);
            }
            describe_layer(&mut k, layer, inputs, self.manifest(), p);
            layers.push(k.finish());
        }
        Ok(LayerKeys { base, layers })
    }
}

/// Describe into `k` everything [`Session::layer_entries`] makes a layer's entries from;
/// the two must stay in step, or the layer cache would serve stale layers.
pub fn describe_layer(
    k: &mut KeyBuilder,
    layer: &LayerSpec,
    inputs: &Inputs,
    manifest: &Manifest,
    platform: &Platform,
) {
    let path = |p: &ImagePath| p.as_bytes().to_vec();
    if let Some(t) = &layer.tar {
        k.digest("tar", &inputs.digest(InputKind::Tar, &t.location));
    }
    if let Some(i) = &layer.image {
        // The image's manifest digest for the platform is keyed by the caller
        // (`Session::layer_keys`), which resolves it.
        for p in &i.paths {
            k.field("image-path", p.as_bytes());
        }
    }
    for c in &layer.copies {
        k.field("copy", c.from.as_bytes());
        if let Some(v) = manifest
            .named_inputs
            .get(&c.from)
            .and_then(|i| i.variant_for(platform))
        {
            k.digest(
                "copy-input",
                &inputs.digest(InputKind::Tar, &v.source.location),
            );
        }
        for p in &c.paths {
            k.field("copy-path", p.as_bytes());
        }
        k.field("copy-dest", &c.dest.as_ref().map(path).unwrap_or_default());
        k.number("copy-follow", u64::from(c.symlinks == SymlinkMode::Follow));
    }
    if let Some(a) = &layer.accounts {
        for u in &a.users {
            k.field("user", u.name.as_bytes());
            k.number("uid", u.uid);
            k.number("gid", u.gid);
            k.field("home", u.home.as_bytes());
            k.field("shell", u.shell.as_bytes());
            for g in &u.groups {
                k.field("group-of-user", g.as_bytes());
            }
        }
        for g in &a.groups {
            k.field("group", g.name.as_bytes());
            k.number("gid", g.gid);
        }
    }
    for r in &layer.remove {
        // An optional remove changes no bytes, but a required one is checked when built.
        k.field(
            if r.optional { "remove?" } else { "remove" },
            &path(&r.path),
        );
    }
    for d in &layer.dirs {
        k.field("dir", &path(&d.dest));
        k.optional("mode", d.mode.map(u64::from));
        k.optional("uid", d.uid);
        k.optional("gid", d.gid);
        match &d.src {
            Some(src) => k.digest("dir-src", &inputs.digest(InputKind::Dir, src)),
            None => k.field("dir-src", b""),
        }
    }
    for f in &layer.files {
        k.field("file", &path(&f.dest));
        match &f.source {
            FileSource::Inline(text) => {
                k.digest("file-content", &Sha256Digest::of(text.as_bytes()))
            }
            FileSource::Source(spec) => {
                k.digest("file-src", &inputs.digest(InputKind::File, &spec.location))
            }
        }
        k.number("mode", u64::from(file_mode(f, inputs)));
        k.optional("uid", f.uid);
        k.optional("gid", f.gid);
    }
    for s in &layer.symlinks {
        k.field("symlink", &path(&s.dest));
        k.field("target", s.target.as_bytes());
        k.optional("uid", s.uid);
        k.optional("gid", s.gid);
    }
}

/// The mode a `[[layer.file]]` gets: the manifest's, else 0755 for a local source its
/// owner may execute, else 0644.
fn file_mode(f: &FileSpec, inputs: &Inputs) -> u32 {
    f.mode.unwrap_or(match &f.source {
        FileSource::Source(SourceSpec {
            location: location @ Location::Local { .. },
            ..
        }) => inputs.default_mode(location).unwrap_or(0o644),
        _ => 0o644,
    })
}

/// A layer's name in messages: its number and main source.
pub fn layer_label(layer: &LayerSpec) -> String {
    match (&layer.tar, &layer.image) {
        (Some(t), _) => format!("layer {} ({})", layer.index + 1, t.location.key()),
        (None, Some(i)) => format!("layer {} (image {})", layer.index + 1, i.source),
        (None, None) => format!("layer {}", layer.index + 1),
    }
}

/// The history `created_by` of a layer: its comment, else what it is made of.
pub fn created_by(layer: &LayerSpec) -> String {
    if let Some(c) = &layer.comment {
        return c.clone();
    }
    let mut parts = Vec::new();
    if let Some(t) = &layer.tar {
        parts.push(format!("tar {}", t.location.key()));
    }
    if let Some(i) = &layer.image {
        let paths: Vec<String> = i.paths.iter().map(|p| p.display()).collect();
        match paths.is_empty() {
            true => parts.push(format!("image {}", i.source.lock_key())),
            false => parts.push(format!("image {} {}", i.source.lock_key(), paths.join(" "))),
        }
    }
    if !layer.remove.is_empty() {
        let r: Vec<String> = layer.remove.iter().map(|r| r.path.display()).collect();
        parts.push(format!("remove {}", r.join(" ")));
    }
    for d in &layer.dirs {
        parts.push(format!("dir {}", d.dest.display()));
    }
    for f in &layer.files {
        parts.push(format!("file {}", f.dest.display()));
    }
    for s in &layer.symlinks {
        parts.push(format!("symlink {} -> {}", s.dest.display(), s.target));
    }
    for c in &layer.copies {
        parts.push(format!("copy from {} {}", c.from, c.paths.join(" ")));
    }
    format!("compose: {}", parts.join(", "))
}

fn inline(bytes: &[u8]) -> Content {
    if bytes.is_empty() {
        Content::Empty
    } else {
        Content::Inline(bytes.into())
    }
}

/// The whiteout entry that removes `path` from lower layers.
fn whiteout(path: &ImagePath) -> Entry {
    let mut name = b".wh.".to_vec();
    name.extend_from_slice(path.file_name());
    let parent = path.parent().unwrap_or_default();
    Entry::new(parent.join(&name), Kind::File(Content::Empty), 0o644)
}

/// `inner` placed below `dest`.
fn rebase(dest: &ImagePath, inner: &ImagePath) -> ImagePath {
    inner.components().fold(dest.clone(), |p, c| p.join(c))
}
