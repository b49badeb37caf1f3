//! Canonical JSON: the one way every JSON blob we write is serialized.
//!
//! Objects with keys sorted byte-wise, compact separators, UTF-8, no trailing newline.
//! Everything goes through [`serde_json::Value`], whose maps are `BTreeMap`s as long as
//! serde_json's `preserve_order` feature is off (a unit test below guards that), so
//! `HashMap`s in the source types cannot leak their random order into a digest.

use serde::Serialize;

/// Serialize `value` canonically.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    Ok(canonical_value(&v))
}

/// Serialize an already built [`serde_json::Value`] canonically.
pub fn canonical_value(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(v, &mut out);
    out
}

fn write_value(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            // Sort explicitly, so the order never depends on the map's implementation.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(&map[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers: serde_json's own forms are already canonical for the
        // integers we write.
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// A JSON string: `"` and `\` escaped, control characters as `\b \f \n \r \t` or `\u00XX`,
/// everything else (including `<`, `>`, `&`, U+2028) verbatim UTF-8, as RFC 8785 says.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serde_json_preserve_order_is_off() {
        // REPRODUCIBILITY.md item 9: a map from serde_json must come out sorted.
        let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn sorts_nested_keys_compactly() {
        let v = json!({"z": {"b": [1, {"y": true, "x": null}], "a": "s"}, "A": 0});
        assert_eq!(
            String::from_utf8(canonical_value(&v)).unwrap(),
            r#"{"A":0,"z":{"a":"s","b":[1,{"x":null,"y":true}]}}"#
        );
    }

    #[test]
    fn escaping_is_pinned() {
        // REPRODUCIBILITY.md item 26: a committed golden for the tricky characters.
        let s = "<a>&b\u{2028}c\u{2029}\"\\/\u{0}\u{1f}\u{7f}\n\t\r\u{8}\u{c}é😀";
        let got = canonical_value(&json!({ "k": s }));
        let golden: &[u8] = b"{\"k\":\"<a>&b\xe2\x80\xa8c\xe2\x80\xa9\\\"\\\\/\\u0000\\u001f\x7f\\n\\t\\r\\b\\f\xc3\xa9\xf0\x9f\x98\x80\"}";
        assert_eq!(got, golden);
        // serde_json agrees, so values we parse back are the ones we wrote.
        assert_eq!(serde_json::to_vec(&json!({ "k": s })).unwrap(), golden);
    }

    #[test]
    fn hashmaps_serialize_the_same_every_time() {
        let mut first = None;
        for _ in 0..20 {
            let m: std::collections::HashMap<String, u32> =
                (0..8).map(|i| (format!("key{i}"), i)).collect();
            let bytes = to_canonical(&m).unwrap();
            assert_eq!(*first.get_or_insert_with(|| bytes.clone()), bytes);
        }
    }
}
