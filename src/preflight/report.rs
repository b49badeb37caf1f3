//! What a build does with preflight findings: warn, or (strict) refuse; and remember
//! them (in the store's `preflight/`, a few hundred bytes per tree; not in `derived/`,
//! which may be emptied while the layer cache stays whole), so that a rebuild whose
//! layers all come from the layer cache reports the same findings without reading any
//! input.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Finding;
use crate::digest::Sha256Digest;
use crate::manifest::ConfigSettings;
use crate::platform::Platform;

/// The version of the checks: bump it when they change, so remembered findings are
/// recomputed.
const CHECKS_VERSION: &str = "preflight 1";

/// The key findings are remembered under: the top layer's key (which covers the whole
/// tree), the config keys the checks read, and the platform.
pub fn record_key(
    top_layer: &Sha256Digest,
    config: &ConfigSettings,
    platform: &Platform,
) -> Sha256Digest {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        for part in [name.as_bytes(), value] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    };
    field("version", CHECKS_VERSION.as_bytes());
    field("tree", &top_layer.0);
    field("platform", platform.to_string().as_bytes());
    for (name, list) in [("entrypoint", &config.entrypoint), ("cmd", &config.cmd)] {
        match list {
            Some(l) => {
                field(name, b"some");
                for a in l {
                    field("arg", a.as_bytes());
                }
            }
            None => field(name, b"none"),
        }
    }
    for e in &config.env {
        field("env", e.as_bytes());
    }
    field(
        "workdir",
        config.workdir.as_deref().unwrap_or("").as_bytes(),
    );
    field("user", config.user.as_deref().unwrap_or("").as_bytes());
    Sha256Digest(h.finalize().into())
}

fn record_path(cache_root: &Path, key: &Sha256Digest) -> PathBuf {
    cache_root.join("preflight").join(key.hex())
}

/// The findings remembered under `key`, if any (an unreadable record is none).
pub fn load(cache_root: &Path, key: &Sha256Digest) -> Option<Vec<Finding>> {
    let bytes = std::fs::read(record_path(cache_root, key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Remember `findings` under `key` (atomically; a failure only costs a re-merge later).
pub fn store(cache_root: &Path, key: &Sha256Digest, findings: &[Finding]) -> std::io::Result<()> {
    let path = record_path(cache_root, key);
    let dir = path.parent().unwrap_or(cache_root);
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(dir, ".part-"))
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec(findings).map_err(std::io::Error::other)?)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// Report findings per platform: each as a warning through `warn`; with `strict`, any
/// finding is an error listing them all.
pub fn enforce(
    findings: &BTreeMap<String, Vec<Finding>>,
    strict: bool,
    mut warn: impl FnMut(String),
) -> crate::Result<()> {
    let lines: Vec<String> = findings
        .iter()
        .flat_map(|(p, fs)| fs.iter().map(move |f| format!("preflight ({p}): {f}")))
        .collect();
    if !strict {
        lines.into_iter().for_each(&mut warn);
        return Ok(());
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(crate::Error::usage(
        format!(
            "the image would not start; preflight found {} problem{}:\n  {}",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            lines.join("\n  ")
        ),
        Some("fix them (each names the usual fix), or build without --strict and [image] strict = true to get warnings only"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            check: "interpreter".into(),
            path: "/app".into(),
            message: "missing /lib/ld-musl-x86_64.so.1".into(),
            hint: "link statically".into(),
        }
    }

    #[test]
    fn findings_round_trip_through_the_record_and_keys_follow_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let top = Sha256Digest::of(b"layer");
        let mut c = ConfigSettings::default();
        let amd = Platform::linux_amd64();
        let k1 = record_key(&top, &c, &amd);
        assert_eq!(load(dir.path(), &k1), None);
        store(dir.path(), &k1, &[finding()]).unwrap();
        assert_eq!(load(dir.path(), &k1), Some(vec![finding()]));
        c.user = Some("app".into());
        assert_ne!(record_key(&top, &c, &amd), k1);
        assert_ne!(
            record_key(
                &top,
                &ConfigSettings::default(),
                &"linux/arm64".parse().unwrap()
            ),
            k1
        );
    }

    #[test]
    fn strict_turns_findings_into_one_error() {
        let by: BTreeMap<String, Vec<Finding>> =
            [("linux/amd64".to_string(), vec![finding()])].into();
        let mut warned = Vec::new();
        enforce(&by, false, |w| warned.push(w)).unwrap();
        assert_eq!(warned, ["preflight (linux/amd64): /app: missing /lib/ld-musl-x86_64.so.1 (hint: link statically)"]);
        let err = enforce(&by, true, |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("preflight found 1 problem:"),
            "{err}"
        );
        assert!(enforce(&BTreeMap::new(), true, |_| {}).is_ok());
    }
}
