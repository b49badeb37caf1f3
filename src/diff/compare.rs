//! The layer and merged-filesystem views, and the order the views run in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::report::{Difference, Field, Report};
use super::source::{Opened, OpenedImage, Source};
use super::span::Span;
use super::{config, unpack, DiffError, DiffOptions};
use crate::digest::Sha256Digest;
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::epoch::{Epoch, MAX_EPOCH};
use crate::layer::InputFormat;
use crate::merge::{MergeOptions, Tree};
use std::io::Read;

const WH_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Streamed, cached sha256 of file contents, so no file's bytes are ever held.
#[derive(Default)]
struct Hasher {
    cache: HashMap<(Arc<PathBuf>, u64, u64), Sha256Digest>,
}

impl Hasher {
    fn digest(&mut self, c: &Content) -> Result<Sha256Digest, DiffError> {
        match c {
            Content::Empty => Ok(Sha256Digest::of(b"")),
            Content::Inline(b) => Ok(Sha256Digest::of(b)),
            Content::NotKept { .. } => Err(DiffError::io(
                "<layer cache>",
                std::io::Error::other("a lower-layer file's bytes are not kept"),
            )),
            Content::Range { file, offset, len } => {
                let key = (file.clone(), *offset, *len);
                if let Some(d) = self.cache.get(&key) {
                    return Ok(*d);
                }
                let r = c.open().map_err(|e| DiffError::io(file.as_path(), e))?;
                let (d, _) =
                    Sha256Digest::of_reader(r).map_err(|e| DiffError::io(file.as_path(), e))?;
                self.cache.insert(key, d);
                Ok(d)
            }
            Content::Sparse(s) => {
                let r = c.open().map_err(|e| DiffError::io(s.file.as_path(), e))?;
                let (d, _) =
                    Sha256Digest::of_reader(r).map_err(|e| DiffError::io(s.file.as_path(), e))?;
                Ok(d)
            }
        }
    }
}

/// Collects differences for one platform pair.
struct Sink<'a> {
    platform: Option<String>,
    out: &'a mut Vec<Difference>,
}

impl Sink<'_> {
    fn push(&mut self, location: String, field: Field, left: String, right: String) {
        self.out.push(Difference {
            platform: self.platform.clone(),
            location,
            field,
            left,
            right,
        });
    }
}

pub(crate) fn diff(a: &Opened, b: &Opened, o: &DiffOptions) -> Result<Report, DiffError> {
    let mut report = Report::default();
    let mut hasher = Hasher::default();
    let name = |s: &Source| match s {
        Source::Image(i) => i.platform.clone(),
        Source::Rootfs(_) => "rootfs".to_string(),
    };
    let mut pairs: Vec<(Option<String>, &Source, &Source)> = Vec::new();
    for (one, many) in [(a, b), (b, a)] {
        if matches!(one.sources.as_slice(), [Source::Rootfs(_)]) && many.sources.len() > 1 {
            let names: Vec<String> = many.sources.iter().map(name).collect();
            return Err(DiffError::Platform {
                path: many.path.clone(),
                message: format!(
                    "it holds several platforms ({}) and {} is one rootfs",
                    names.join(", "),
                    one.path.display()
                ),
            });
        }
    }
    if a.sources.len() == 1 && b.sources.len() == 1 {
        pairs.push((None, &a.sources[0], &b.sources[0]));
    } else {
        for sa in &a.sources {
            match b.sources.iter().find(|sb| name(sb) == name(sa)) {
                Some(sb) => pairs.push((Some(name(sa)), sa, sb)),
                None => report.differences.push(Difference {
                    platform: None,
                    location: "platforms".into(),
                    field: Field::Platform,
                    left: name(sa),
                    right: "-".into(),
                }),
            }
        }
        for sb in &b.sources {
            if !a.sources.iter().any(|sa| name(sa) == name(sb)) {
                report.differences.push(Difference {
                    platform: None,
                    location: "platforms".into(),
                    field: Field::Platform,
                    left: "-".into(),
                    right: name(sb),
                });
            }
        }
    }
    for (platform, sa, sb) in pairs {
        let label = platform.clone().unwrap_or_else(|| name(sa));
        let mut sink = Sink {
            platform,
            out: &mut report.differences,
        };
        let pair = Pair { a, b, sa, sb };
        let same = compare_pair(&pair, o, &mut hasher, &mut sink)?;
        report.same_filesystem.push((label, same));
    }
    Ok(report)
}

/// The layers of one side as entry lists (decompressed into scratch as needed).
fn layers_of(side: &Opened, s: &Source) -> Result<Vec<Vec<Entry>>, DiffError> {
    match s {
        Source::Rootfs(entries) => Ok(vec![entries.clone()]),
        Source::Image(img) => img
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let label = format!("{}: layer {}", side.path.display(), i + 1);
                unpack::entries(&l.blob, &side.scratch, &side.path, &label)
            })
            .collect(),
    }
}

fn merged(side: &Opened, layers: &[Vec<Entry>]) -> Result<Vec<Entry>, DiffError> {
    let mut tree = Tree::new();
    for (i, l) in layers.iter().enumerate() {
        tree.apply(
            &format!("layer {}", i + 1),
            l.clone(),
            &MergeOptions::default(),
        )
        .map_err(|e| DiffError::Merge {
            path: side.path.clone(),
            source: e,
        })?;
    }
    Ok(tree.entries())
}

/// One platform's pair: both inputs and what each holds for the platform.
struct Pair<'p> {
    a: &'p Opened,
    b: &'p Opened,
    sa: &'p Source,
    sb: &'p Source,
}

/// Every view of one platform's pair, then, when a strict comparison found nothing else,
/// the manifests.
fn compare_pair(
    p: &Pair<'_>,
    o: &DiffOptions,
    hasher: &mut Hasher,
    sink: &mut Sink<'_>,
) -> Result<Option<bool>, DiffError> {
    let before = sink.out.len();
    let same = compare_views(p, o, hasher, sink)?;
    if let (Source::Image(x), Source::Image(y)) = (p.sa, p.sb) {
        if sink.out.len() == before && o.is_strict() {
            manifests(x, y, &o.ignore_annotations, sink);
        }
        // index.json's descriptor annotations (io.containerd.image.name,
        // org.opencontainers.image.ref.name) only name the image: the same image in an
        // OCI layout and in an archive is the same image, so they are not compared.
    }
    Ok(same)
}

fn show_json(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn union_keys(vs: [Option<&serde_json::Value>; 2]) -> Vec<String> {
    let mut keys: Vec<String> = vs
        .iter()
        .filter_map(|v| v.and_then(|v| v.as_object()))
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The manifests of two images whose config and layers' contents agree: annotations
/// (but those in `ignored`), media types and layer blobs (compression). A manifest that
/// differs in none of these (only in its JSON encoding) is named as such.
fn manifests(x: &OpenedImage, y: &OpenedImage, ignored: &[String], sink: &mut Sink<'_>) {
    let (Some(dx), Some(dy)) = (&x.manifest_digest, &y.manifest_digest) else {
        return;
    };
    if dx == dy {
        return;
    }
    let before = sink.out.len();
    let without_ignored = |m: &serde_json::Value| {
        let mut m = m.clone();
        if let Some(a) = m.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            a.retain(|k, _| !ignored.contains(k));
            if a.is_empty() {
                m.as_object_mut().map(|o| o.remove("annotations"));
            }
        }
        m
    };
    let (mx, my) = (&without_ignored(&x.manifest), &without_ignored(&y.manifest));
    if !ignored.is_empty() && mx == my {
        return; // they differ only in ignored annotations
    }
    for k in union_keys([Some(mx), Some(my)]) {
        let (vx, vy) = (mx.get(&k), my.get(&k));
        if vx == vy {
            continue;
        }
        match k.as_str() {
            "layers" => {
                let empty = Vec::new();
                let lx = vx.and_then(|v| v.as_array()).unwrap_or(&empty);
                let ly = vy.and_then(|v| v.as_array()).unwrap_or(&empty);
                let desc = |l: Option<&serde_json::Value>| match l {
                    None => "-".to_string(),
                    Some(l) => format!(
                        "{} {}",
                        show_json(l.get("mediaType")),
                        show_json(l.get("digest"))
                    ),
                };
                for i in 0..lx.len().max(ly.len()) {
                    let (ex, ey) = (lx.get(i), ly.get(i));
                    if ex != ey {
                        sink.push(format!("layer {}", i + 1), Field::Blob, desc(ex), desc(ey));
                    }
                }
            }
            "annotations" => {
                for n in union_keys([vx, vy]) {
                    let (ax, ay) = (vx.and_then(|v| v.get(&n)), vy.and_then(|v| v.get(&n)));
                    if ax != ay {
                        sink.push(
                            format!("manifest.annotations.{n}"),
                            Field::Manifest,
                            show_json(ax),
                            show_json(ay),
                        );
                    }
                }
            }
            _ => sink.push(
                format!("manifest.{k}"),
                Field::Manifest,
                show_json(vx),
                show_json(vy),
            ),
        }
    }
    if sink.out.len() == before {
        sink.push("manifest".into(), Field::Encoding, dx.clone(), dy.clone());
    }
}

/// Compare one platform's images; returns whether the merged filesystems are the same
/// (`None` when the layers were identical and the merged view was not needed).
fn compare_views(
    p: &Pair<'_>,
    o: &DiffOptions,
    hasher: &mut Hasher,
    sink: &mut Sink<'_>,
) -> Result<Option<bool>, DiffError> {
    let Pair { a, b, sa, sb } = *p;
    let images = match (sa, sb) {
        (Source::Image(x), Source::Image(y)) => Some((x, y)),
        _ => None,
    };
    if let Some((x, y)) = images {
        check_blobs(a, x, hasher)?;
        check_blobs(b, y, hasher)?;
        if x.manifest_digest.is_some() && x.manifest_digest == y.manifest_digest {
            return Ok(None);
        }
        config::compare(&x.config, &y.config, o, &mut |l, f, left, right| {
            sink.push(l, f, left, right)
        });
    }
    let la = layers_needed(sa, sb, a)?;
    let lb = layers_needed(sb, sa, b)?;
    let (Some(la), Some(lb)) = (la, lb) else {
        return Ok(None); // identical layers
    };
    let mut covered: HashSet<ImagePath> = HashSet::new();
    match images {
        Some((x, y)) if x.layers.len() == y.layers.len() => {
            for (i, (ea, eb)) in la.iter().zip(&lb).enumerate() {
                if same_layer(x, y, i) {
                    continue;
                }
                let loc = format!("layer {}", i + 1);
                let found = compare_trees(&loc, layer_map(ea), layer_map(eb), true, o, hasher)?;
                // Equal diff_ids with other blobs is a compression difference, which the
                // manifest view names.
                if found.is_empty() && o.is_strict() && !same_diff_id(x, y, i) {
                    sink.push(
                        loc,
                        Field::Encoding,
                        x.layers[i].diff_id.clone().unwrap_or_else(|| "-".into()),
                        y.layers[i].diff_id.clone().unwrap_or_else(|| "-".into()),
                    );
                }
                for (target, loc, f, l, r) in found {
                    covered.insert(target);
                    sink.push(loc, f, l, r);
                }
            }
        }
        Some((x, y)) => sink.push(
            "layers".into(),
            Field::LayerCount,
            x.layers.len().to_string(),
            y.layers.len().to_string(),
        ),
        None => {}
    }
    let ma = merged(a, &la)?;
    let mb = merged(b, &lb)?;
    let map = |v: &[Entry]| -> BTreeMap<ImagePath, Entry> {
        v.iter().map(|e| (e.path.clone(), e.clone())).collect()
    };
    let found = compare_trees("merged", map(&ma), map(&mb), false, o, hasher)?;
    let same = found.is_empty();
    for (target, loc, f, l, r) in found {
        if !covered_by(&target, &covered) {
            sink.push(loc, f, l, r);
        }
    }
    Ok(Some(same))
}

/// Check that every blob `img` names by a sha256 digest (its manifest, config and layers)
/// holds those bytes, so that equal digests may be trusted to mean equal contents.
fn check_blobs(side: &Opened, img: &OpenedImage, hasher: &mut Hasher) -> Result<(), DiffError> {
    let mut named: Vec<(String, Option<&String>, Option<&Span>)> = vec![
        (
            "image manifest".into(),
            img.manifest_digest.as_ref(),
            img.manifest_blob.as_ref(),
        ),
        (
            "config".into(),
            img.config_digest.as_ref(),
            img.config_blob.as_ref(),
        ),
    ];
    for (i, l) in img.layers.iter().enumerate() {
        // A layer without a blob digest (a docker-archive's) is checked against its
        // diff_id when it is stored uncompressed, as the diff_id is then its digest.
        let digest = match (&l.digest, &l.diff_id) {
            (Some(d), _) => Some(d),
            (None, Some(d)) if is_plain_tar(&l.blob)? => Some(d),
            _ => None,
        };
        named.push((format!("layer {}", i + 1), digest, Some(&l.blob)));
    }
    for (what, digest, blob) in named {
        let (Some(digest), Some(blob)) = (digest, blob) else {
            continue;
        };
        // Only sha256 is checked; other algorithms are compared as names.
        let Some(want) = digest
            .strip_prefix("sha256:")
            .and_then(|h| h.parse::<Sha256Digest>().ok())
        else {
            continue;
        };
        let got = hasher.digest(&Content::Range {
            file: blob.file.clone(),
            offset: blob.offset,
            len: blob.len,
        })?;
        if got != want {
            return Err(DiffError::Damaged {
                path: side.path.clone(),
                what: format!("{} {what}", img.platform),
                expected: want.to_string(),
                actual: got.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether a blob is an uncompressed tar, from its first bytes.
fn is_plain_tar(blob: &Span) -> Result<bool, DiffError> {
    let mut head = Vec::with_capacity(512);
    blob.open()?
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| DiffError::io(blob.file.as_path(), e))?;
    Ok(InputFormat::from_magic(&head) == Some(InputFormat::Tar))
}

/// Both sides' layers, or `None` when every layer is known identical by its diff_id.
fn layers_needed(
    s: &Source,
    other: &Source,
    side: &Opened,
) -> Result<Option<Vec<Vec<Entry>>>, DiffError> {
    if let (Source::Image(x), Source::Image(y)) = (s, other) {
        if x.layers.len() == y.layers.len() && (0..x.layers.len()).all(|i| same_layer(x, y, i)) {
            return Ok(None);
        }
    }
    layers_of(side, s).map(Some)
}

/// Whether layer `i` is known identical on both sides without reading it: equal diff_ids,
/// and equal blob digests where both are known (blobs have been checked against their
/// digests, but a diff_id is only the config's word, so other blobs are read).
fn same_layer(x: &OpenedImage, y: &OpenedImage, i: usize) -> bool {
    let (lx, ly) = (&x.layers[i], &y.layers[i]);
    same_diff_id(x, y, i)
        && match (&lx.digest, &ly.digest) {
            (Some(p), Some(q)) => p == q,
            _ => true,
        }
}

fn same_diff_id(x: &OpenedImage, y: &OpenedImage, i: usize) -> bool {
    matches!((&x.layers[i].diff_id, &y.layers[i].diff_id), (Some(p), Some(q)) if p == q)
}

/// A layer's entries by path, the last of duplicates winning. A root entry that says
/// only what every runtime assumes (a 0755 0:0 directory) is dropped: layers differ in
/// whether they write it.
fn layer_map(entries: &[Entry]) -> BTreeMap<ImagePath, Entry> {
    let mut m: BTreeMap<ImagePath, Entry> = entries
        .iter()
        .map(|e| (e.path.clone(), e.clone()))
        .collect();
    if let Some(r) = m.get(&ImagePath::root()) {
        if r.kind == Kind::Dir && r.mode == 0o755 && r.uid == 0 && r.gid == 0 && r.xattrs.is_empty()
        {
            m.remove(&ImagePath::root());
        }
    }
    m
}

/// What a layer entry means: an ordinary entry, a whiteout of a path, or an opaque marker.
enum Meaning {
    Entry,
    Whiteout(ImagePath),
    Opaque(ImagePath),
}

fn meaning(e: &Entry, layer: bool) -> Meaning {
    if !layer {
        return Meaning::Entry;
    }
    let name = e.path.file_name();
    let parent = e.path.parent().unwrap_or_default();
    if name == OPAQUE {
        Meaning::Opaque(parent)
    } else if let Some(target) = name.strip_prefix(WH_PREFIX) {
        if target.is_empty() || target.contains(&b'/') {
            Meaning::Entry
        } else {
            Meaning::Whiteout(parent.join(target))
        }
    } else {
        Meaning::Entry
    }
}

fn summary(e: &Entry) -> String {
    match &e.kind {
        Kind::File(c) => format!("file {:04o} {} bytes", e.mode, c.len()),
        Kind::Symlink(t) => format!("symlink -> {}", String::from_utf8_lossy(t)),
        Kind::HardLink(t) => format!("hardlink -> {}", t.display()),
        k => format!("{} {:04o}", k.name(), e.mode),
    }
}

fn time(t: i64) -> String {
    if (0..=MAX_EPOCH as i64).contains(&t) {
        Epoch(t as u64).rfc3339()
    } else {
        t.to_string()
    }
}

fn covered_by(p: &ImagePath, covered: &HashSet<ImagePath>) -> bool {
    let mut cur = Some(p.clone());
    while let Some(c) = cur {
        if covered.contains(&c) {
            return true;
        }
        cur = c.parent();
    }
    false
}

/// One difference found by [`compare_trees`]: the path it is about, then as reported.
type Found = (ImagePath, String, Field, String, String);

/// Compare two path-keyed trees, in canonical path order.
fn compare_trees(
    view: &str,
    a: BTreeMap<ImagePath, Entry>,
    b: BTreeMap<ImagePath, Entry>,
    layer: bool,
    o: &DiffOptions,
    hasher: &mut Hasher,
) -> Result<Vec<Found>, DiffError> {
    let mut out = Vec::new();
    let mut paths: Vec<&ImagePath> = a.keys().chain(b.keys()).collect();
    paths.sort_by(|x, y| crate::merge::canonical_cmp(x, y));
    paths.dedup();
    for p in paths {
        let (ea, eb) = (a.get(p), b.get(p));
        let m = meaning(ea.or(eb).expect("path from one of the maps"), layer);
        let (target, field) = match &m {
            Meaning::Entry => (p.clone(), None),
            Meaning::Whiteout(t) => (t.clone(), Some(Field::Whiteout)),
            Meaning::Opaque(t) => (t.clone(), Some(Field::Opaque)),
        };
        let loc = format!("{view} {}", target.display());
        let mut found = Vec::new();
        match (ea, eb, field) {
            (Some(_), Some(_), Some(_)) => {}
            (None, Some(_), Some(f)) => found.push((f, "-".to_string(), f.name().to_string())),
            (Some(_), None, Some(f)) => found.push((f, f.name().to_string(), "-".to_string())),
            (None, Some(e), None) => found.push((Field::Added, "-".into(), summary(e))),
            (Some(e), None, None) => found.push((Field::Removed, summary(e), "-".into())),
            (Some(x), Some(y), None) => entry_fields(x, y, o, hasher, &mut found)?,
            (None, None, _) => {}
        }
        for (f, l, r) in found {
            out.push((target.clone(), loc.clone(), f, l, r));
        }
    }
    Ok(out)
}

fn entry_fields(
    x: &Entry,
    y: &Entry,
    o: &DiffOptions,
    hasher: &mut Hasher,
    found: &mut Vec<(Field, String, String)>,
) -> Result<(), DiffError> {
    if x.kind.name() != y.kind.name() {
        found.push((Field::Type, summary(x), summary(y)));
        return Ok(());
    }
    if x.mode != y.mode {
        found.push((
            Field::Mode,
            format!("{:04o}", x.mode),
            format!("{:04o}", y.mode),
        ));
    }
    if !o.ignore_owner && (x.uid, x.gid) != (y.uid, y.gid) {
        found.push((
            Field::Owner,
            format!("{}:{}", x.uid, x.gid),
            format!("{}:{}", y.uid, y.gid),
        ));
    }
    if !o.ignore_mtime && x.mtime != y.mtime {
        found.push((Field::Mtime, time(x.mtime), time(y.mtime)));
    }
    match (&x.kind, &y.kind) {
        (Kind::File(cx), Kind::File(cy)) => {
            if cx.len() != cy.len() {
                found.push((
                    Field::Content,
                    format!("{} bytes", cx.len()),
                    format!("{} bytes", cy.len()),
                ));
            } else if !cx.is_empty() {
                let (dx, dy) = (hasher.digest(cx)?, hasher.digest(cy)?);
                if dx != dy {
                    found.push((Field::Content, dx.to_string(), dy.to_string()));
                }
            }
        }
        (Kind::Symlink(tx), Kind::Symlink(ty)) if tx != ty => found.push((
            Field::LinkTarget,
            String::from_utf8_lossy(tx).into_owned(),
            String::from_utf8_lossy(ty).into_owned(),
        )),
        (Kind::HardLink(tx), Kind::HardLink(ty)) if tx != ty => {
            found.push((Field::LinkTarget, tx.display(), ty.display()))
        }
        (Kind::CharDevice { major: a, minor: b }, Kind::CharDevice { major: c, minor: d })
        | (Kind::BlockDevice { major: a, minor: b }, Kind::BlockDevice { major: c, minor: d })
            if (a, b) != (c, d) =>
        {
            found.push((Field::Device, format!("{a},{b}"), format!("{c},{d}")))
        }
        _ => {}
    }
    let mut names: Vec<&String> = x.xattrs.keys().chain(y.xattrs.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let (vx, vy) = (x.xattrs.get(n), y.xattrs.get(n));
        if vx != vy {
            let show = |v: Option<&Vec<u8>>| match v {
                None => "-".to_string(),
                Some(v) => format!("{n}=0x{}", hex::encode(v)),
            };
            found.push((Field::Xattr, show(vx), show(vy)));
        }
    }
    Ok(())
}
