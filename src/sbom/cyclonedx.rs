//! CycloneDX 1.6 JSON: the image is `metadata.component` (type `container`), every input a
//! component of it, and the packages found inside a rootfs input are nested in that
//! input's `components` (CycloneDX's way of saying "contained in").

use super::model::ItemKind;
use super::model::{tool_version, InputItem, Sbom};
use super::pkgdb::{Package, Presence};
use crate::image::canonical_value;
use serde_json::{json, Map, Value};

/// The document's bytes (canonical JSON).
pub fn write(sbom: &Sbom) -> Vec<u8> {
    canonical_value(&document(sbom))
}

/// The document as a JSON value.
pub fn document(sbom: &Sbom) -> Value {
    let digest = &sbom.image.manifest_digest;
    let mut components = Vec::new();
    let mut image_deps = Vec::new();
    for (i, input) in sbom.sorted_inputs().into_iter().enumerate() {
        let r = format!("input-{}", i + 1);
        image_deps.push(Value::from(r.clone()));
        components.push(input_component(&r, input));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", sbom.derived_uuid()),
        "version": 1,
        "metadata": {
            "timestamp": sbom.epoch.rfc3339(),
            "tools": {"components": [{
                "type": "application",
                "name": "scratch-compose",
                "version": tool_version(),
            }]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": sbom.image_ref(),
                "version": digest.to_string(),
                "hashes": [{"alg": "SHA-256", "content": digest.hex()}],
                "purl": sbom.image_purl(),
                "properties": [prop("scratch-compose:platform", &sbom.image.platform.to_string())],
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": image_deps}],
    })
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn input_component(r: &str, input: &InputItem) -> Value {
    let mut c = Map::new();
    let component_type = match input.kind {
        ItemKind::Base => "container",
        _ => "file",
    };
    c.insert("type".into(), component_type.into());
    c.insert("bom-ref".into(), r.into());
    c.insert("name".into(), input.short_name().into());
    c.insert(
        "hashes".into(),
        json!([{"alg": "SHA-256", "content": input.sha256.hex()}]),
    );
    if input.is_url {
        c.insert(
            "externalReferences".into(),
            json!([{"type": "distribution", "url": input.source}]),
        );
    }
    if let Some(l) = &input.license {
        c.insert("licenses".into(), json!([{"expression": l.expression}]));
    }
    if let Some(s) = &input.supplier {
        let name = s
            .strip_prefix("Organization:")
            .or_else(|| s.strip_prefix("Person:"))
            .unwrap_or(s)
            .trim();
        c.insert("supplier".into(), json!({ "name": name }));
    }
    let kind = input.kind.as_str();
    let layers: Vec<String> = input.layers.iter().map(|l| l.to_string()).collect();
    c.insert(
        "properties".into(),
        json!([
            prop("scratch-compose:kind", kind),
            prop("scratch-compose:layers", &layers.join(",")),
            prop("scratch-compose:size", &input.size.to_string()),
            prop("scratch-compose:source", &input.source),
        ]),
    );
    let nested: Vec<Value> = input
        .listed_packages()
        .into_iter()
        .enumerate()
        .map(|(j, (p, pr))| package_component(&format!("{r}-package-{}", j + 1), p, *pr))
        .collect();
    if !nested.is_empty() {
        c.insert("components".into(), Value::Array(nested));
    }
    Value::Object(c)
}

fn package_component(r: &str, pkg: &Package, presence: Presence) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), "library".into());
    c.insert("bom-ref".into(), r.into());
    c.insert("name".into(), pkg.name.clone().into());
    c.insert("version".into(), pkg.version.clone().into());
    c.insert("purl".into(), pkg.purl().to_string().into());
    if let Some(l) = &pkg.license {
        c.insert("licenses".into(), json!([{"expression": l.expression}]));
    }
    if let Some(m) = &pkg.maintainer {
        c.insert("supplier".into(), json!({ "name": m }));
    }
    if let Some(s) = &pkg.summary {
        c.insert("description".into(), s.clone().into());
    }
    if let Some(h) = pkg.homepage.as_ref().filter(|h| h.starts_with("http")) {
        c.insert(
            "externalReferences".into(),
            json!([{"type": "website", "url": h}]),
        );
    }
    let mut props = vec![prop(
        "scratch-compose:database",
        &format!("/{}", pkg.ecosystem.database()),
    )];
    if let Some(a) = &pkg.arch {
        props.push(prop("scratch-compose:arch", a));
    }
    if let Some(c) = &pkg.checksum {
        props.push(prop(
            "scratch-compose:database-checksum",
            &format!("{}:{}", c.algorithm, c.hex),
        ));
    }
    if let Some(o) = &pkg.origin {
        props.push(prop("scratch-compose:origin", o));
    }
    if let Some(s) = &pkg.state {
        props.push(prop("scratch-compose:dpkg-state", s));
    }
    if let Presence::Partial { removed, owned } = presence {
        props.push(prop(
            "scratch-compose:files-removed",
            &format!("{removed} of {owned}"),
        ));
    }
    props.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    c.insert("properties".into(), Value::Array(props));
    Value::Object(c)
}
