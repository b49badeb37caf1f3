//! From the raw TOML types to the validated manifest: every check that needs a position.

use super::base::BaseSpec;
use super::error::{ManifestError, Problem, TextPos};
use super::raw::{RawCache, RawConfig, RawImage, RawLayer, RawManifest};
use super::{
    Attribution, ConfigSettings, ImageSettings, InputKind, InputSite, LayerSpec, Location, Manifest,
};
use crate::cache::CacheSettings;
use crate::compression::Compression;
use crate::digest::Sha256Digest;
use crate::epoch::MAX_EPOCH;
use crate::platform::Platform;
use crate::sbom::SbomFormat;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

type Result<T> = std::result::Result<T, ManifestError>;

/// Each source's `sha256` as first written, with every span it is written at.
pub(super) type Pins = HashMap<String, (Sha256Digest, Vec<Range<usize>>)>;

/// Parse and validate manifest `text` read from `file`.
pub(super) fn parse(text: &str, file: &Path) -> Result<Manifest> {
    let ctx = Ctx { file, text };
    let raw: RawManifest = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let image = ctx.image(&raw.image, &dir)?;
    let config = ctx.config(&raw.config)?;
    let mut layers = Vec::with_capacity(raw.layers.len());
    let mut pins = HashMap::new();
    let named_inputs = ctx.named_inputs(&raw.input, &dir, &image.platforms, &mut pins)?;
    for (index, layer) in raw.layers.iter().enumerate() {
        let mut spec = ctx.layer(index, layer, &dir, &image.platforms, &mut pins)?;
        spec.copies = ctx.copies(&spec, layer.get_ref(), &named_inputs, &image.platforms)?;
        layers.push(spec);
    }
    let accounts = ctx.accounts(&raw.accounts)?;
    if !accounts.is_empty() {
        layers.push(LayerSpec {
            index: layers.len(),
            comment: Some(accounts.describe()),
            platforms: None,
            tar: None,
            image: None,
            remove: Vec::new(),
            files: Vec::new(),
            dirs: Vec::new(),
            symlinks: Vec::new(),
            copies: Vec::new(),
            accounts: Some(accounts.clone()),
        });
    }
    let cache = ctx.cache(&raw.cache)?;
    Ok(Manifest {
        cache,
        file: file.to_path_buf(),
        dir,
        image,
        config,
        layers,
        positions: ctx.input_positions(&raw.layers),
        pin_positions: pins
            .into_iter()
            .map(|(key, (_, spans))| (key, spans.into_iter().map(|s| ctx.pos(s)).collect()))
            .collect(),
        attributions: ctx.input_attributions(&raw.layers)?,
        named_inputs,
        accounts,
    })
}

/// The text being validated, for positions.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, span: Range<usize>, problem: Problem) -> ManifestError {
        ManifestError::At {
            pos: TextPos::of_span(self.file, self.text, &span),
            problem: Box::new(problem),
        }
    }

    pub(super) fn pos(&self, span: Range<usize>) -> TextPos {
        TextPos::of_span(self.file, self.text, &span)
    }

    /// A TOML or serde error, with an unknown key turned into a suggestion.
    fn toml_error(&self, e: &toml::de::Error) -> ManifestError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let problem = if let Some((key, valid)) = unknown_field(&message) {
            Problem::UnknownKey {
                suggestion: closest(&key, &valid),
                table: table_of(&valid).to_string(),
                key,
                valid,
            }
        } else if let Some(key) = missing_field(&message) {
            let (what, example) = match key.as_str() {
                "image" => ("the [image] table", "[image] name = \"my-image\""),
                "name" => ("`name` in [image]", "name = \"my-image\""),
                "dest" => ("`dest`", "dest = \"/usr/local/bin/app\""),
                "target" => ("`target` in [[layer.symlink]]", "target = \"/usr/bin/app\""),
                _ => ("a required key", ""),
            };
            let what = if what == "a required key" {
                format!("required key `{key}`")
            } else {
                what.to_string()
            };
            Problem::Missing {
                what,
                example: example.to_string(),
            }
        } else {
            Problem::Syntax(message)
        };
        self.err(span, problem)
    }

    /// Where each input's source is written: (layer, kind, key) → position.
    fn input_positions(&self, layers: &[Spanned<RawLayer>]) -> BTreeMap<InputSite, TextPos> {
        let mut out = BTreeMap::new();
        let mut add = |layer: usize, kind: InputKind, raw: &Spanned<String>| {
            out.entry((layer, kind, raw.get_ref().clone()))
                .or_insert_with(|| self.pos(raw.span()));
        };
        for (index, layer) in layers.iter().enumerate() {
            let layer = layer.get_ref();
            if let Some(t) = &layer.tar {
                add(index, InputKind::Tar, t);
            }
            for f in &layer.file {
                if let Some(s) = &f.get_ref().src {
                    add(index, InputKind::File, s);
                }
            }
            for d in &layer.dir {
                if let Some(s) = &d.get_ref().src {
                    add(index, InputKind::Dir, s);
                }
            }
        }
        out
    }

    /// The `license` and `supplier` of each input: (layer, kind, key) → attribution. Either
    /// key without the source it describes, or empty, is an error.
    fn input_attributions(
        &self,
        layers: &[Spanned<RawLayer>],
    ) -> Result<BTreeMap<InputSite, Attribution>> {
        let mut out = BTreeMap::new();
        for (index, layer) in layers.iter().enumerate() {
            let layer = layer.get_ref();
            let tables = std::iter::once((
                InputKind::Tar,
                "tar",
                &layer.tar,
                &layer.license,
                &layer.supplier,
            ))
            .chain(layer.file.iter().map(|f| {
                let f = f.get_ref();
                (InputKind::File, "src", &f.src, &f.license, &f.supplier)
            }))
            .chain(layer.dir.iter().map(|d| {
                let d = d.get_ref();
                (InputKind::Dir, "src", &d.src, &d.license, &d.supplier)
            }));
            for (kind, source_key, src, license, supplier) in tables {
                let value = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>> {
                    let Some(v) = v else { return Ok(None) };
                    if src.is_none() {
                        return Err(self.err(
                            v.span(),
                            Problem::AttributionWithoutSource {
                                key: key.to_string(),
                                source_key: source_key.to_string(),
                            },
                        ));
                    }
                    let text = v.get_ref().trim();
                    if text.is_empty() || text.contains(['\n', '\r']) {
                        return Err(self.err(
                            v.span(),
                            Problem::BadAttribution {
                                key: key.to_string(),
                            },
                        ));
                    }
                    Ok(Some(text.to_string()))
                };
                let a = Attribution {
                    license: value(license, "license")?,
                    supplier: value(supplier, "supplier")?,
                };
                if let (Some(src), true) = (src, a != Attribution::default()) {
                    out.insert((index, kind, src.get_ref().clone()), a);
                }
            }
        }
        Ok(out)
    }

    fn image(&self, img: &Spanned<RawImage>, dir: &Path) -> Result<ImageSettings> {
        let raw = img.get_ref();
        let name = raw.name.get_ref();
        if !valid_name(name) {
            return Err(self.err(raw.name.span(), Problem::BadName(name.clone())));
        }
        let tag = match &raw.tag {
            Some(t) => {
                if !valid_tag(t.get_ref()) {
                    return Err(self.err(t.span(), Problem::BadTag(t.get_ref().clone())));
                }
                t.get_ref().clone()
            }
            None => "latest".to_string(),
        };
        let source_date_epoch = match &raw.source_date_epoch {
            Some(e) if *e.get_ref() > MAX_EPOCH => {
                return Err(self.err(e.span(), Problem::BadEpoch(*e.get_ref())))
            }
            Some(e) => Some(*e.get_ref()),
            None => None,
        };
        let platforms = match &raw.platforms {
            Some(list) => self.platform_list(list, "[image] platforms")?,
            None => vec![Platform::linux_amd64()],
        };
        let compression =
            match &raw.compression {
                Some(c) => Some(c.get_ref().parse::<Compression>().map_err(|_| {
                    self.err(c.span(), Problem::BadCompression(c.get_ref().clone()))
                })?),
                None => None,
            };
        let sbom = match &raw.sbom {
            Some(s) => Some(
                s.get_ref()
                    .parse::<SbomFormat>()
                    .map_err(|_| self.err(s.span(), Problem::BadSbom(s.get_ref().clone())))?,
            ),
            None => None,
        };
        let annotations = self.string_map(&raw.annotations, "[image] annotations")?;
        let base = match &raw.base {
            Some(b) => Some(BaseSpec::parse(b.get_ref(), dir).map_err(|why| {
                self.err(
                    b.span(),
                    Problem::BadBase {
                        value: b.get_ref().clone(),
                        why,
                    },
                )
            })?),
            None => None,
        };
        Ok(ImageSettings {
            base,
            name: name.clone(),
            tag,
            source_date_epoch,
            platforms,
            squash: raw.squash,
            usrmerge: raw.usrmerge,
            strict: raw.strict,
            compression,
            sbom,
            annotations,
        })
    }

    /// `[cache]`: each reference parsed where it is written.
    fn cache(&self, raw: &RawCache) -> Result<CacheSettings> {
        let parse = |r: &Spanned<String>, key: &str| {
            crate::cache::spec::parse_ref(r.get_ref()).map_err(|why| {
                self.err(
                    r.span(),
                    Problem::BadCache {
                        key: key.to_string(),
                        why,
                    },
                )
            })
        };
        let mut from = Vec::with_capacity(raw.from.len());
        for r in &raw.from {
            let c = parse(r, "from")?;
            if c.max.is_some() {
                return Err(self.err(
                    r.span(),
                    Problem::BadCache {
                        key: "from".into(),
                        why: "max=SIZE applies to `to` only".into(),
                    },
                ));
            }
            from.push(c);
        }
        let to = match &raw.to {
            Some(t) => {
                let c = parse(t, "to")?;
                if c.reference.digest.is_some() {
                    return Err(self.err(
                        t.span(),
                        Problem::BadCache {
                            key: "to".into(),
                            why: "a cache is written under a tag, not a digest".into(),
                        },
                    ));
                }
                Some(c)
            }
            None => None,
        };
        Ok(CacheSettings { from, to })
    }

    fn string_map(
        &self,
        map: &Option<Spanned<BTreeMap<String, String>>>,
        what: &str,
    ) -> Result<BTreeMap<String, String>> {
        match map {
            Some(m) => {
                if m.get_ref().contains_key("") {
                    return Err(self.err(m.span(), Problem::EmptyKey(what.to_string())));
                }
                Ok(m.get_ref().clone())
            }
            None => Ok(BTreeMap::new()),
        }
    }

    pub(super) fn platform(&self, p: &Spanned<String>) -> Result<Platform> {
        p.get_ref()
            .parse()
            .map_err(|_| self.err(p.span(), Problem::BadPlatform(p.get_ref().clone())))
    }

    pub(super) fn platform_list(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        what: &str,
    ) -> Result<Vec<Platform>> {
        if list.get_ref().is_empty() {
            return Err(self.err(list.span(), Problem::NoPlatforms(what.to_string())));
        }
        let mut out: Vec<Platform> = Vec::new();
        for p in list.get_ref() {
            let parsed = self.platform(p)?;
            if out.contains(&parsed) {
                return Err(self.err(p.span(), Problem::DuplicatePlatform(parsed.to_string())));
            }
            out.push(parsed);
        }
        Ok(out)
    }

    fn config(&self, raw: &RawConfig) -> Result<ConfigSettings> {
        let mut env = Vec::new();
        let mut env_keys: Vec<String> = Vec::new();
        for e in &raw.env {
            let entry = e.get_ref();
            let bad = |reason: &str| {
                self.err(
                    e.span(),
                    Problem::BadEnv {
                        entry: entry.clone(),
                        reason: reason.to_string(),
                    },
                )
            };
            let Some((key, _)) = entry.split_once('=') else {
                return Err(bad("is not KEY=VALUE (no `=`)"));
            };
            if key.is_empty() {
                return Err(bad("has an empty KEY"));
            }
            if key.contains('\0') || entry.contains('\0') {
                return Err(bad("contains a NUL character"));
            }
            if env_keys.iter().any(|k| k == key) {
                return Err(bad(&format!("sets `{key}` a second time")));
            }
            env_keys.push(key.to_string());
            env.push(entry.clone());
        }
        let workdir = match &raw.workdir {
            Some(w) => {
                if !w.get_ref().starts_with('/') {
                    return Err(self.err(
                        w.span(),
                        Problem::NotAbsolute {
                            what: "workdir".to_string(),
                            value: w.get_ref().clone(),
                        },
                    ));
                }
                Some(w.get_ref().clone())
            }
            None => None,
        };
        let mut exposed_ports: Vec<String> = Vec::new();
        for p in &raw.exposed_ports {
            let norm = normalise_port(p.get_ref())
                .ok_or_else(|| self.err(p.span(), Problem::BadPort(p.get_ref().clone())))?;
            if exposed_ports.contains(&norm) {
                return Err(self.err(p.span(), Problem::DuplicatePort(p.get_ref().clone())));
            }
            exposed_ports.push(norm);
        }
        let mut volumes = Vec::new();
        for v in &raw.volumes {
            if !v.get_ref().starts_with('/') {
                return Err(self.err(
                    v.span(),
                    Problem::NotAbsolute {
                        what: "volume".to_string(),
                        value: v.get_ref().clone(),
                    },
                ));
            }
            volumes.push(v.get_ref().clone());
        }
        let stop_signal = match &raw.stop_signal {
            Some(s) => {
                if !valid_signal(s.get_ref()) {
                    return Err(self.err(s.span(), Problem::BadSignal(s.get_ref().clone())));
                }
                Some(s.get_ref().clone())
            }
            None => None,
        };
        Ok(ConfigSettings {
            entrypoint: raw.entrypoint.clone(),
            cmd: raw.cmd.clone(),
            env,
            workdir,
            user: raw.user.clone(),
            labels: self.string_map(&raw.labels, "[config] labels")?,
            exposed_ports,
            volumes,
            stop_signal,
        })
    }

    /// A URL or a local path.
    pub(super) fn location(
        &self,
        raw: &Spanned<String>,
        what: &str,
        dir: &Path,
    ) -> Result<Location> {
        let value = raw.get_ref();
        if value.is_empty() {
            return Err(self.err(raw.span(), Problem::EmptyValue(what.to_string())));
        }
        let bad = |reason: &str| {
            self.err(
                raw.span(),
                Problem::BadUrl {
                    url: value.clone(),
                    reason: reason.to_string(),
                },
            )
        };
        if let Some((scheme, rest)) = value.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
            {
                return match scheme.to_ascii_lowercase().as_str() {
                    "http" | "https" => {
                        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                        if host.is_empty() {
                            Err(bad("the URL has no host"))
                        } else if value.contains(char::is_whitespace) {
                            Err(bad("the URL contains whitespace"))
                        } else {
                            Ok(Location::Url(value.clone()))
                        }
                    }
                    "file" => {
                        if rest.starts_with('/') {
                            Ok(Location::Url(value.clone()))
                        } else {
                            Err(bad("a file:// URL needs an absolute path (file:///path)"))
                        }
                    }
                    other => Err(bad(&format!(
                        "the `{other}` scheme is not supported (use https, http or file)"
                    ))),
                };
            }
        }
        if value.contains('\0') {
            return Err(bad("the path contains a NUL character"));
        }
        Ok(Location::Local {
            written: value.clone(),
            path: dir.join(value),
        })
    }

    /// A `sha256` pin, checked against other pins of the same source.
    pub(super) fn pin(
        &self,
        raw: Option<&Spanned<String>>,
        location: &Location,
        pins: &mut Pins,
    ) -> Result<Option<Sha256Digest>> {
        let Some(raw) = raw else { return Ok(None) };
        let digest: Sha256Digest = raw
            .get_ref()
            .parse()
            .map_err(|_| self.err(raw.span(), Problem::BadDigest(raw.get_ref().clone())))?;
        let key = location.key().to_string();
        if let Some((first, spans)) = pins.get_mut(&key) {
            if *first != digest {
                let at = self.pos(spans[0].clone());
                return Err(self.err(
                    raw.span(),
                    Problem::ConflictingPins {
                        source_name: key,
                        first: format!("{} (line {})", first.hex(), at.line),
                        second: digest.hex(),
                    },
                ));
            }
            spans.push(raw.span());
        } else {
            pins.insert(key, (digest, vec![raw.span()]));
        }
        Ok(Some(digest))
    }
}

/// Octal permission bits: 3 or 4 octal digits, at most 07777.
pub(crate) fn parse_mode(s: &str) -> Option<u32> {
    if !(3..=4).contains(&s.len()) || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

/// `80`, `80/tcp`, `53/udp`, `5000/sctp` → `N/proto`.
fn normalise_port(s: &str) -> Option<String> {
    let (num, proto) = match s.split_once('/') {
        Some((n, p)) => (n, p),
        None => (s, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp")
        || num.is_empty()
        || num.len() > 5
        || !num.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: u32 = num.parse().ok()?;
    if !(1..=65535).contains(&n) {
        return None;
    }
    Some(format!("{n}/{proto}"))
}

/// `SIGTERM`-style names or a decimal number.
fn valid_signal(s: &str) -> bool {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.len() <= 3;
    }
    s.len() > 3
        && s.starts_with("SIG")
        && s[3..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'-')
}

/// A Docker-style image name: optional `host[:port]/`, then lowercase path components.
fn valid_name(name: &str) -> bool {
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            if !valid_host(first) {
                return false;
            }
            parts.remove(0);
        }
    }
    !parts.is_empty() && parts.iter().all(|p| valid_component(p))
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let ok = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    !b.is_empty()
        && ok(&b[0])
        && ok(&b[b.len() - 1])
        && b.iter().all(|x| ok(x) || b"._-".contains(x))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || b"_.-".contains(x))
}

/// Which table has exactly these keys (serde's message does not say).
fn table_of(valid: &[String]) -> &'static str {
    let has = |k: &str| valid.iter().any(|v| v == k);
    if has("layer") {
        "the top level"
    } else if has("tag") {
        "[image]"
    } else if has("entrypoint") {
        "[config]"
    } else if has("remove") {
        "[[layer]]"
    } else if has("to") {
        "[cache]"
    } else if has("from") {
        "[[layer.copy]]"
    } else if has("tar") && has("platforms") {
        "[input.NAME]"
    } else if has("shell") {
        "[[accounts.user]]"
    } else if has("gid") && has("name") {
        "[[accounts.group]]"
    } else if has("user") && has("group") {
        "[accounts]"
    } else if has("content") {
        "[[layer.file]]"
    } else if has("target") {
        "[[layer.symlink]]"
    } else if has("dest") {
        "[[layer.dir]]"
    } else {
        "this table"
    }
}

/// Read serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split_once('`')?.0.to_string())
}

/// Read serde's "unknown field `x`, expected one of `a`, `b`" message.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let valid = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), valid))
}

/// The valid key closest to `key` by edit distance, when it is close enough to be a typo.
pub(crate) fn closest(key: &str, valid: &[String]) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&lower, v), v))
        .filter(|(d, v)| {
            let longest = v.len().max(key.len());
            *d <= if longest >= 6 { 3 } else { 2 } && *d < longest
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.clone())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
