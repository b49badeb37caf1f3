//! DSSE (Dead Simple Signing Envelope) v1: the payload, its type and signatures over the
//! pre-authentication encoding `DSSEv1 <len> <type> <len> <payload>`, so a signature can
//! never be replayed for a payload of another type.

use super::keys::key_id;
use super::AttestError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::json;

/// The bytes a DSSE signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A signed envelope (canonical JSON) holding `payload` with one Ed25519 signature.
pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let sig = key.sign(&pae(payload_type, payload));
    let envelope = json!({
        "payloadType": payload_type,
        "payload": STANDARD.encode(payload),
        "signatures": [{
            "keyid": key_id(&key.verifying_key()),
            "sig": STANDARD.encode(sig.to_bytes()),
        }],
    });
    crate::image::canonical_value(&envelope)
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// (key id, signature bytes) pairs.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// Parse an envelope; `source_name` names it in errors.
pub fn parse(bytes: &[u8], source_name: &str) -> Result<Envelope, AttestError> {
    let bad = |message: String| AttestError::BadEnvelope {
        source_name: source_name.to_string(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| bad(format!("no string `{k}`")))
    };
    let payload_type = text("payloadType")?.to_string();
    let payload = STANDARD
        .decode(text("payload")?)
        .map_err(|e| bad(format!("`payload` is not base64: {e}")))?;
    let mut signatures = Vec::new();
    for s in v
        .get("signatures")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("no `signatures` array".into()))?
    {
        let keyid = s.get("keyid").and_then(|k| k.as_str()).unwrap_or("");
        let sig = s
            .get("sig")
            .and_then(|k| k.as_str())
            .ok_or_else(|| bad("a signature without `sig`".into()))?;
        let sig = STANDARD
            .decode(sig)
            .map_err(|e| bad(format!("`sig` is not base64: {e}")))?;
        signatures.push((keyid.to_string(), sig));
    }
    Ok(Envelope {
        payload_type,
        payload,
        signatures,
    })
}

impl Envelope {
    /// True when any signature verifies with `key` (key ids are hints: a signature whose
    /// id names another key is still tried, as the DSSE protocol allows).
    pub fn verified_by(&self, key: &VerifyingKey) -> bool {
        let message = pae(&self.payload_type, &self.payload);
        self.signatures.iter().any(|(_, sig)| {
            Signature::from_slice(sig).is_ok_and(|s| key.verify(&message, &s).is_ok())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_matches_the_specification_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_parse_verify_and_tamper() {
        let k = key(7);
        let env = sign("application/vnd.in-toto+json", b"{\"a\":1}", &k);
        // Ed25519 is deterministic: the same envelope every time.
        assert_eq!(env, sign("application/vnd.in-toto+json", b"{\"a\":1}", &k));
        let parsed = parse(&env, "t").unwrap();
        assert_eq!(parsed.payload, b"{\"a\":1}");
        assert_eq!(parsed.signatures[0].0, key_id(&k.verifying_key()));
        assert!(parsed.verified_by(&k.verifying_key()));
        assert!(!parsed.verified_by(&key(8).verifying_key()));
        let mut tampered = parsed.clone();
        tampered.payload = b"{\"a\":2}".to_vec();
        assert!(!tampered.verified_by(&k.verifying_key()));
        let mut retyped = parsed;
        retyped.payload_type = "text/plain".into();
        assert!(!retyped.verified_by(&k.verifying_key()));
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        for bad in [
            &b"nope"[..],
            b"{}",
            b"{\"payloadType\":\"x\",\"payload\":\"!!\",\"signatures\":[]}",
        ] {
            assert!(parse(bad, "e.json")
                .unwrap_err()
                .to_string()
                .starts_with("e.json: not a DSSE envelope"));
        }
    }
}
