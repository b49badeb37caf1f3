//! The base's configuration, read from its config blob, and `[config]` laid over it key
//! by key: what is set wins, what is not is inherited. `env` merges by variable name;
//! `labels` by key; `exposed_ports` and `volumes` add to the base's. As Docker and buildah
//! do, setting `entrypoint` without `cmd` drops the base's `cmd` (it was the argument list
//! of the base's entrypoint).

use super::oci::PlatformJson;
use crate::digest::Sha256Digest;
use crate::image::ImageConfig;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a base's config blob holds that a build uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedConfig {
    pub platform: PlatformJson,
    pub config: ImageConfig,
    pub diff_ids: Vec<Sha256Digest>,
    pub history: Vec<Value>,
}

#[derive(Deserialize)]
struct ConfigDoc {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RuntimeDoc>,
    rootfs: RootFs,
    #[serde(default)]
    history: Vec<Value>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RuntimeDoc {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    stop_signal: Option<String>,
}

/// Read a config blob (OCI or Docker's; both have these fields).
pub fn parse_config(bytes: &[u8]) -> Result<ParsedConfig, String> {
    let doc: ConfigDoc = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let diff_ids = doc
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|_| format!("diff_id `{d}` is not sha256:<64 hex>"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let r = doc.config.unwrap_or_default();
    let config = ImageConfig {
        entrypoint: r.entrypoint,
        cmd: r.cmd,
        env: r.env.unwrap_or_default(),
        workdir: r.working_dir.filter(|w| !w.is_empty()),
        user: r.user.filter(|u| !u.is_empty()),
        labels: r.labels.unwrap_or_default(),
        exposed_ports: r.exposed_ports.unwrap_or_default().into_keys().collect(),
        volumes: r.volumes.unwrap_or_default().into_keys().collect(),
        stop_signal: r.stop_signal.filter(|s| !s.is_empty()),
    };
    Ok(ParsedConfig {
        platform: PlatformJson {
            os: doc.os,
            architecture: doc.architecture,
            variant: doc.variant,
        },
        config,
        diff_ids,
        history: doc.history,
    })
}

/// `ours` (the manifest's `[config]`) over `base`, key by key.
pub fn inherit(base: &ImageConfig, ours: &ImageConfig) -> ImageConfig {
    let cmd = match (&ours.entrypoint, &ours.cmd) {
        (_, Some(c)) => Some(c.clone()),
        (Some(_), None) => None,
        (None, None) => base.cmd.clone(),
    };
    let mut env = base.env.clone();
    for var in &ours.env {
        let name = var.split('=').next().unwrap_or(var);
        match env
            .iter_mut()
            .find(|e| e.split('=').next().unwrap_or(e) == name)
        {
            Some(slot) => *slot = var.clone(),
            None => env.push(var.clone()),
        }
    }
    let mut labels = base.labels.clone();
    labels.extend(ours.labels.clone());
    let mut exposed_ports = base.exposed_ports.clone();
    for p in &ours.exposed_ports {
        if !exposed_ports.contains(p) {
            exposed_ports.push(p.clone());
        }
    }
    let mut volumes = base.volumes.clone();
    for v in &ours.volumes {
        if !volumes.contains(v) {
            volumes.push(v.clone());
        }
    }
    ImageConfig {
        entrypoint: ours.entrypoint.clone().or_else(|| base.entrypoint.clone()),
        cmd,
        env,
        workdir: ours.workdir.clone().or_else(|| base.workdir.clone()),
        user: ours.user.clone().or_else(|| base.user.clone()),
        labels,
        exposed_ports,
        volumes,
        stop_signal: ours
            .stop_signal
            .clone()
            .or_else(|| base.stop_signal.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"architecture":"arm64","variant":"v8","os":"linux",
        "config":{"Env":["PATH=/usr/bin:/bin","LANG=C"],"Cmd":["/bin/sh"],"WorkingDir":"/root",
        "User":"","Labels":{"a":"1","b":"2"},"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}}},
        "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},
        "history":[{"created_by":"ADD rootfs"}]}"#;

    #[test]
    fn a_config_blob_is_read() {
        let p = parse_config(CONFIG.as_bytes()).unwrap();
        assert_eq!(p.platform.describe(), "linux/arm64/v8");
        assert_eq!(p.diff_ids.len(), 1);
        assert_eq!(p.history.len(), 1);
        assert_eq!(p.config.cmd, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(p.config.user, None, "an empty User is no user");
        assert_eq!(p.config.exposed_ports, ["80/tcp"]);
        assert_eq!(p.config.volumes, ["/data"]);
        assert!(parse_config(br#"{"rootfs":{"diff_ids":["md5:x"]}}"#)
            .unwrap_err()
            .contains("md5:x"));
    }

    #[test]
    fn ours_wins_key_by_key_and_env_merges_by_name() {
        let base = parse_config(CONFIG.as_bytes()).unwrap().config;
        let ours = ImageConfig {
            env: vec!["LANG=C.UTF-8".into(), "APP=1".into()],
            labels: [("b".to_string(), "3".to_string())].into(),
            exposed_ports: vec!["80/tcp".into(), "443/tcp".into()],
            user: Some("1000".into()),
            ..Default::default()
        };
        let merged = inherit(&base, &ours);
        assert_eq!(merged.env, ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "APP=1"]);
        assert_eq!(merged.cmd, Some(vec!["/bin/sh".to_string()]), "inherited");
        assert_eq!(merged.workdir.as_deref(), Some("/root"));
        assert_eq!(merged.user.as_deref(), Some("1000"));
        assert_eq!(merged.labels["a"], "1");
        assert_eq!(merged.labels["b"], "3");
        assert_eq!(merged.exposed_ports, ["80/tcp", "443/tcp"]);
        assert_eq!(merged.volumes, ["/data"]);
    }

    #[test]
    fn an_entrypoint_of_ours_drops_the_base_cmd_unless_we_give_one() {
        let base = parse_config(CONFIG.as_bytes()).unwrap().config;
        let ep = ImageConfig {
            entrypoint: Some(vec!["/app".into()]),
            ..Default::default()
        };
        assert_eq!(inherit(&base, &ep).cmd, None);
        let both = ImageConfig {
            cmd: Some(vec!["--serve".into()]),
            ..ep
        };
        assert_eq!(inherit(&base, &both).cmd, Some(vec!["--serve".to_string()]));
        assert_eq!(inherit(&base, &ImageConfig::default()), base);
    }
}
