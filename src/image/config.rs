//! The OCI image config (`application/vnd.oci.image.config.v1+json`).
//!
//! Built as a [`serde_json::Value`] and serialized canonically; a field the manifest does
//! not set is omitted, never written empty.

use crate::digest::Sha256Digest;
use crate::epoch::Epoch;
use crate::platform::Platform;
use serde_json::{json, Map, Value};

/// The runtime settings of the image: exactly the manifest's validated `[config]`, so
/// there is one type to keep in step with the OCI config, not two.
pub type ImageConfig = crate::manifest::ConfigSettings;

/// One `history` record. Entries with `empty_layer: false` correspond, in order, to the
/// image's layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub created_by: String,
    pub comment: Option<String>,
    pub empty_layer: bool,
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

fn empty_objects<'a>(keys: impl Iterator<Item = &'a String>) -> Value {
    Value::Object(keys.map(|k| (k.clone(), json!({}))).collect())
}

/// `80` → `80/tcp`, as docker normalises exposed ports.
fn normalise_port(p: &str) -> String {
    if p.contains('/') {
        p.to_string()
    } else {
        format!("{p}/tcp")
    }
}

impl ImageConfig {
    /// The `config` object: only the fields that are set, with OCI's capitalised names.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(v) = &self.entrypoint {
            m.insert("Entrypoint".into(), strings(v));
        }
        if let Some(v) = &self.cmd {
            m.insert("Cmd".into(), strings(v));
        }
        if !self.env.is_empty() {
            m.insert("Env".into(), strings(&self.env));
        }
        if let Some(v) = &self.workdir {
            m.insert("WorkingDir".into(), json!(v));
        }
        if let Some(v) = &self.user {
            m.insert("User".into(), json!(v));
        }
        if !self.labels.is_empty() {
            m.insert("Labels".into(), json!(self.labels));
        }
        if !self.exposed_ports.is_empty() {
            let ports: Vec<String> = self
                .exposed_ports
                .iter()
                .map(|p| normalise_port(p))
                .collect();
            m.insert("ExposedPorts".into(), empty_objects(ports.iter()));
        }
        if !self.volumes.is_empty() {
            m.insert("Volumes".into(), empty_objects(self.volumes.iter()));
        }
        if let Some(v) = &self.stop_signal {
            m.insert("StopSignal".into(), json!(v));
        }
        Value::Object(m)
    }
}

/// The whole image config document. `base_history` is a base image's `history`, kept as
/// written, before ours.
pub fn config_json(
    platform: &Platform,
    config: &ImageConfig,
    diff_ids: &[Sha256Digest],
    base_history: &[Value],
    history: &[HistoryEntry],
    epoch: Epoch,
) -> Value {
    let created = epoch.rfc3339();
    let history: Vec<Value> = base_history
        .iter()
        .cloned()
        .chain(history.iter().map(|h| {
            let mut m = Map::new();
            m.insert("created".into(), json!(created));
            m.insert("created_by".into(), json!(h.created_by));
            if let Some(c) = &h.comment {
                m.insert("comment".into(), json!(c));
            }
            if h.empty_layer {
                m.insert("empty_layer".into(), json!(true));
            }
            Value::Object(m)
        }))
        .collect();
    let mut doc = Map::new();
    doc.insert("architecture".into(), json!(platform.architecture));
    doc.insert("os".into(), json!(platform.os));
    if let Some(v) = &platform.variant {
        doc.insert("variant".into(), json!(v));
    }
    doc.insert("created".into(), json!(created));
    doc.insert("config".into(), config.to_json());
    doc.insert(
        "rootfs".into(),
        json!({
            "type": "layers",
            "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        }),
    );
    doc.insert("history".into(), Value::Array(history));
    Value::Object(doc)
}

/// The `platform` object of a descriptor.
pub fn platform_json(p: &Platform) -> Value {
    let mut m = Map::new();
    m.insert("architecture".into(), json!(p.architecture));
    m.insert("os".into(), json!(p.os));
    if let Some(v) = &p.variant {
        m.insert("variant".into(), json!(v));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::canonical_value;

    #[test]
    fn omits_unset_fields() {
        let v = ImageConfig::default().to_json();
        assert_eq!(canonical_value(&v), b"{}");
    }

    #[test]
    fn writes_set_fields_with_oci_names() {
        let c = ImageConfig {
            cmd: Some(vec!["/bin/sh".into()]),
            env: vec!["A=1".into()],
            exposed_ports: vec!["80".into(), "53/udp".into()],
            volumes: vec!["/data".into()],
            labels: [("b".to_string(), "2".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(canonical_value(&c.to_json())).unwrap(),
            r#"{"Cmd":["/bin/sh"],"Env":["A=1"],"ExposedPorts":{"53/udp":{},"80/tcp":{}},"Labels":{"b":"2"},"Volumes":{"/data":{}}}"#
        );
    }

    #[test]
    fn a_base_history_comes_first_as_written() {
        let base = vec![
            json!({"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs", "author": "x"}),
        ];
        let ours = vec![HistoryEntry {
            created_by: "compose: layer 1".into(),
            comment: None,
            empty_layer: false,
        }];
        let doc = config_json(
            &Platform::linux_amd64(),
            &ImageConfig::default(),
            &[],
            &base,
            &ours,
            Epoch(0),
        );
        assert_eq!(doc["history"][0], base[0]);
        assert_eq!(doc["history"][1]["created_by"], "compose: layer 1");
        assert_eq!(doc["history"][1]["created"], "1970-01-01T00:00:00Z");
    }
}
