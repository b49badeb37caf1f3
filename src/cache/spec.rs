//! Where the remote layer cache lives, as the user writes it: `--cache-from REF…`,
//! `--cache-to REF[,max=SIZE]`, `$SCRATCH_CACHE_FROM`/`$SCRATCH_CACHE_TO` and the
//! manifest's `[cache]` table, the first found winning for each of `from` and `to`.

use crate::registry::Reference;

/// The tag of a cache reference that names none: not `latest`, so a cache kept in the
/// image's own repository never replaces the image.
pub const DEFAULT_TAG: &str = "compose-cache";

/// One cache reference: where the artifact lives and, for writing, the size budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRef {
    /// As written (for messages).
    pub written: String,
    /// The reference, its tag filled in.
    pub reference: Reference,
    /// `max=SIZE`: the most recently used entries are kept under this many bytes.
    pub max: Option<u64>,
}

impl std::fmt::Display for CacheRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reference)
    }
}

/// Parse `REF[,max=SIZE]` (SIZE as `500M`, `2G`, `1073741824`). The error says why.
pub fn parse_ref(text: &str) -> Result<CacheRef, String> {
    let mut parts = text.split(',');
    let reference = parts.next().unwrap_or_default().trim();
    if reference.is_empty() {
        return Err(format!(
            "`{text}`: no reference; write HOST[:PORT]/REPOSITORY[:TAG][,max=SIZE]"
        ));
    }
    let reference = Reference::parse(reference)
        .map_err(|e| e.to_string())?
        .or_tag(DEFAULT_TAG);
    let mut max = None;
    for opt in parts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k.trim() {
            "max" => {
                let size = crate::fetch::parse_size(v)
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        format!("`{text}`: max=`{v}` is not a size (write max=500M or max=2G)")
                    })?;
                max = Some(size);
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown option `{other}` (the only one is max=SIZE)"
                ))
            }
        }
    }
    Ok(CacheRef {
        written: text.to_string(),
        reference,
        max,
    })
}

/// Where this build reads and writes the cache. Empty: no remote cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSettings {
    /// Read, in this order, after the local layer cache misses.
    pub from: Vec<CacheRef>,
    /// Written after the build with every layer it used.
    pub to: Option<CacheRef>,
}

impl CacheSettings {
    /// True when there is nothing to read or write.
    pub fn is_empty(&self) -> bool {
        self.from.is_empty() && self.to.is_none()
    }

    /// The settings from the command line (`from`, `to` as written), else the environment
    /// (`SCRATCH_CACHE_FROM`, whitespace- or comma-separated, `SCRATCH_CACHE_TO`), else
    /// the manifest's `[cache]`, for each of the two separately.
    pub fn resolve(
        cli_from: &[String],
        cli_to: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
        manifest: &CacheSettings,
    ) -> Result<CacheSettings, String> {
        let env_from = env("SCRATCH_CACHE_FROM").filter(|v| !v.trim().is_empty());
        let env_to = env("SCRATCH_CACHE_TO").filter(|v| !v.trim().is_empty());
        let from = if !cli_from.is_empty() {
            cli_from
                .iter()
                .map(|r| parse_ref(r))
                .collect::<Result<_, _>>()?
        } else if let Some(v) = env_from {
            v.split(|c: char| c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|r| parse_ref(r).map_err(|e| format!("SCRATCH_CACHE_FROM: {e}")))
                .collect::<Result<_, _>>()?
        } else {
            manifest.from.clone()
        };
        let to = match (cli_to, env_to) {
            (Some(t), _) => Some(parse_ref(t)?),
            (None, Some(t)) => {
                Some(parse_ref(t.trim()).map_err(|e| format!("SCRATCH_CACHE_TO: {e}"))?)
            }
            (None, None) => manifest.to.clone(),
        };
        let settings = CacheSettings { from, to };
        for r in &settings.from {
            if r.max.is_some() {
                return Err(format!(
                    "cache source `{}`: max=SIZE applies to --cache-to only",
                    r.written
                ));
            }
        }
        if let Some(t) = &settings.to {
            if t.reference.digest.is_some() {
                return Err(format!(
                    "cache target `{}` pins a digest; a cache is written under a tag",
                    t.written
                ));
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_take_a_default_tag_and_a_budget() {
        let r = parse_ref("localhost:5000/team/cache,max=2G").unwrap();
        assert_eq!(
            r.reference.to_string(),
            "localhost:5000/team/cache:compose-cache"
        );
        assert_eq!(r.max, Some(2 << 30));
        let r = parse_ref("localhost:5000/c:ci").unwrap();
        assert_eq!(r.reference.tag.as_deref(), Some("ci"));
        for bad in [
            "",
            ",max=1G",
            "h:5000/c,max=lots",
            "h:5000/c,min=1",
            "h:5000/c,max=0",
        ] {
            assert!(parse_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_wins_then_the_environment_then_the_manifest() {
        let manifest = CacheSettings {
            from: vec![parse_ref("h:1/m").unwrap()],
            to: Some(parse_ref("h:1/m").unwrap()),
        };
        let none = |_: &str| None;
        let s = CacheSettings::resolve(&[], None, &none, &manifest).unwrap();
        assert_eq!(s, manifest);
        let env = |k: &str| match k {
            "SCRATCH_CACHE_FROM" => Some("h:1/e1 h:1/e2".to_string()),
            _ => None,
        };
        let s = CacheSettings::resolve(&[], None, &env, &manifest).unwrap();
        assert_eq!(s.from.len(), 2);
        assert_eq!(s.to, manifest.to, "each setting on its own");
        let s = CacheSettings::resolve(&["h:1/c".into()], Some("h:1/t,max=1M"), &env, &manifest)
            .unwrap();
        assert_eq!(s.from[0].reference.repository, "c");
        assert_eq!(s.to.unwrap().max, Some(1 << 20));
        assert!(CacheSettings::resolve(&["h:1/c,max=1G".into()], None, &none, &manifest).is_err());
        let pinned = format!("h:1/t@sha256:{}", "0".repeat(64));
        assert!(CacheSettings::resolve(&[], Some(&pinned), &none, &manifest).is_err());
    }
}
