//! The committed `schemas/scratch.schema.json` must be what the code generates.

use std::path::PathBuf;

#[test]
fn committed_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/scratch.schema.json");
    let generated = scratch_compose::manifest::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: regenerate it with `UPDATE_SCHEMA=1 cargo test --test manifest_schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_the_keys_editors_complete() {
    let schema: serde_json::Value =
        serde_json::from_str(&scratch_compose::manifest::json_schema()).expect("valid JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    let props = &schema["properties"];
    for key in ["image", "config", "layer"] {
        assert!(props.get(key).is_some(), "missing {key}");
    }
    let defs = &schema["definitions"];
    let file = &defs["File"]["properties"];
    assert_eq!(file["mode"]["pattern"], "^[0-7]{3,4}$");
    assert!(file["dest"]["description"]
        .as_str()
        .unwrap()
        .contains("absolute path"));
    let image = &defs["Image"]["properties"];
    assert!(image["compression"]["pattern"]
        .as_str()
        .unwrap()
        .contains("zstd"));
    assert_eq!(schema["required"], serde_json::json!(["image"]));
    assert_eq!(
        defs["Symlink"]["x-taplo"]["initKeys"],
        serde_json::json!(["dest", "target"])
    );
    assert!(schema["x-taplo-info"]["patterns"][0]
        .as_str()
        .unwrap()
        .ends_with("scratch\\.toml$"));
}
