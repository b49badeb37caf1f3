//! SPDX 2.3 JSON: the image as the described package (`CONTAINER`), every input as a
//! package it `CONTAINS`, and every package found inside a rootfs input as a package that
//! input `CONTAINS`. Licenses the SPDX list does not know are declared as
//! `hasExtractedLicensingInfos` with the text the package or manifest gave.

use super::license::License;
use super::model::ItemKind;
use super::model::{tool_version, InputItem, Sbom};
use super::pkgdb::{Package, Presence};
use crate::image::canonical_value;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The document's bytes (canonical JSON).
pub fn write(sbom: &Sbom) -> Vec<u8> {
    canonical_value(&document(sbom))
}

/// The document as a JSON value.
pub fn document(sbom: &Sbom) -> Value {
    let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut note = |l: &Option<License>| {
        if let Some(l) = l {
            for (id, raw) in &l.refs {
                let v = refs.entry(id.clone()).or_default();
                if !v.contains(raw) {
                    v.push(raw.clone());
                }
            }
        }
    };
    let digest = &sbom.image.manifest_digest;
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": sbom.image_ref(),
        "versionInfo": digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": digest.hex()}],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": sbom.image_purl(),
        }],
        "comment": format!("The image manifest for {}.", sbom.image.platform),
    })];
    let mut relationships = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image")];
    for (i, input) in sbom.sorted_inputs().into_iter().enumerate() {
        let id = format!("SPDXRef-Input-{}", i + 1);
        note(&input.license);
        packages.push(input_package(&id, input));
        relationships.push(rel("SPDXRef-Image", "CONTAINS", &id));
        for (j, (pkg, presence)) in input.listed_packages().into_iter().enumerate() {
            let pid = format!("SPDXRef-Input-{}-Package-{}", i + 1, j + 1);
            note(&pkg.license);
            packages.push(found_package(&pid, pkg, *presence));
            relationships.push(rel(&id, "CONTAINS", &pid));
        }
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} {}", sbom.image_ref(), sbom.image.platform),
        "documentNamespace": namespace(sbom),
        "creationInfo": {
            "created": sbom.epoch.rfc3339(),
            "creators": [format!("Tool: scratch-compose-{}", tool_version())],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages,
        "relationships": relationships,
    });
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(
            refs.into_iter()
                .map(|(id, raws)| {
                    json!({
                        "licenseId": id,
                        "name": raws[0],
                        "extractedText": format!("Declared as: {}", raws.join(" | ")),
                    })
                })
                .collect(),
        );
    }
    doc
}

/// The namespace: a URI unique to the image manifest, the same on every machine.
pub fn namespace(sbom: &Sbom) -> String {
    format!(
        "https://scratch-compose.invalid/spdx/sha256-{}",
        sbom.image.manifest_digest.hex()
    )
}

fn rel(a: &str, kind: &str, b: &str) -> Value {
    json!({"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b})
}

fn input_package(id: &str, input: &InputItem) -> Value {
    let mut p = Map::new();
    p.insert("SPDXID".into(), id.into());
    p.insert("name".into(), input.short_name().into());
    let remote = input.is_url && !input.source.to_ascii_lowercase().starts_with("file:");
    p.insert(
        "downloadLocation".into(),
        if remote {
            input.source.clone()
        } else {
            "NOASSERTION".into()
        }
        .into(),
    );
    if !remote {
        p.insert("packageFileName".into(), input.source.clone().into());
    }
    p.insert("filesAnalyzed".into(), false.into());
    p.insert(
        "primaryPackagePurpose".into(),
        match input.kind {
            ItemKind::Base => "CONTAINER",
            ItemKind::Tar => "ARCHIVE",
            ItemKind::File => "FILE",
            ItemKind::Dir => "OTHER",
        }
        .into(),
    );
    p.insert(
        "checksums".into(),
        json!([{"algorithm": "SHA256", "checksumValue": input.sha256.hex()}]),
    );
    if let Some(l) = &input.license {
        p.insert("licenseDeclared".into(), l.expression.clone().into());
    }
    if let Some(s) = &input.supplier {
        p.insert("supplier".into(), supplier(s).into());
    }
    let what = match input.kind {
        ItemKind::Base => "base image (sha256 of its image manifest; bytes of its layers)",
        ItemKind::Tar => "tar input",
        ItemKind::File => "file input",
        ItemKind::Dir => "directory input (sha256 of its canonical tar)",
    };
    p.insert(
        "comment".into(),
        format!(
            "{what} `{}` of {}; {} bytes",
            input.source,
            input.layers_text(),
            input.size
        )
        .into(),
    );
    Value::Object(p)
}

fn found_package(id: &str, pkg: &Package, presence: Presence) -> Value {
    let mut p = Map::new();
    p.insert("SPDXID".into(), id.into());
    p.insert("name".into(), pkg.name.clone().into());
    p.insert("versionInfo".into(), pkg.version.clone().into());
    p.insert("downloadLocation".into(), "NOASSERTION".into());
    p.insert("filesAnalyzed".into(), false.into());
    p.insert("primaryPackagePurpose".into(), "INSTALL".into());
    p.insert(
        "externalRefs".into(),
        json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": pkg.purl().to_string(),
        }]),
    );
    if let Some(l) = &pkg.license {
        p.insert("licenseDeclared".into(), l.expression.clone().into());
    }
    if let Some(m) = &pkg.maintainer {
        p.insert("supplier".into(), person(m).into());
    }
    if let Some(h) = pkg.homepage.as_ref().filter(|h| h.starts_with("http")) {
        p.insert("homepage".into(), h.clone().into());
    }
    if let Some(s) = &pkg.summary {
        p.insert("summary".into(), s.clone().into());
    }
    if let Some(o) = &pkg.origin {
        p.insert(
            "sourceInfo".into(),
            format!("built from source package {o}").into(),
        );
    }
    let mut notes = vec![format!("listed in /{}", pkg.ecosystem.database())];
    if let Some(c) = &pkg.checksum {
        notes.push(format!("database checksum {}:{}", c.algorithm, c.hex));
    }
    if let Some(s) = &pkg.state {
        notes.push(format!("dpkg state {s}"));
    }
    if let Presence::Partial { removed, owned } = presence {
        notes.push(format!(
            "a later layer removed {removed} of its {owned} files"
        ));
    }
    p.insert("comment".into(), notes.join("; ").into());
    Value::Object(p)
}

/// A supplier as SPDX writes it: kept when it already says `Person:`/`Organization:`,
/// else an organization.
fn supplier(s: &str) -> String {
    if s.starts_with("Person:") || s.starts_with("Organization:") {
        s.to_string()
    } else {
        format!("Organization: {s}")
    }
}

/// A maintainer (`Name <email>`) as an SPDX person: `Person: Name (email)`.
fn person(m: &str) -> String {
    match m.split_once('<') {
        Some((name, rest)) => {
            let email = rest.trim_end().trim_end_matches('>');
            format!("Person: {} ({email})", name.trim())
        }
        None => format!("Person: {}", m.trim()),
    }
}
