//! Ed25519 keys in the files OpenSSL writes: the private key as PKCS#8 PEM
//! (`openssl genpkey -algorithm ed25519`, `-----BEGIN PRIVATE KEY-----`), the public key as
//! SubjectPublicKeyInfo PEM (`openssl pkey -pubout`, `-----BEGIN PUBLIC KEY-----`).
//!
//! A key is named by its key id: the lower-case hex SHA-256 of the public key's DER
//! SubjectPublicKeyInfo (`openssl pkey -pubin -in key.pub -outform DER | sha256sum`).

use super::AttestError;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::Path;

/// Read a PKCS#8 PEM Ed25519 private key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, AttestError> {
    let text = read(path)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| AttestError::BadKey {
        path: path.to_path_buf(),
        what: "private",
        message: if text.contains("PUBLIC KEY") {
            "this is a public key; signing needs the private key".into()
        } else {
            e.to_string()
        },
    })
}

/// Read an SPKI PEM Ed25519 public key. A private key file is refused: verification
/// should never need the secret.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, AttestError> {
    let text = read(path)?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| AttestError::BadKey {
        path: path.to_path_buf(),
        what: "public",
        message: if text.contains("PRIVATE KEY") {
            "this is a private key; give the public key".into()
        } else {
            e.to_string()
        },
    })
}

/// The key id: hex SHA-256 of the public key's DER SubjectPublicKeyInfo.
pub fn key_id(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("an Ed25519 public key always encodes");
    crate::digest::Sha256Digest::of(der.as_bytes()).hex()
}

fn read(path: &Path) -> Result<String, AttestError> {
    let bytes = std::fs::read(path).map_err(|source| AttestError::ReadKey {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() > 64 << 10 {
        return Err(AttestError::BadKey {
            path: path.to_path_buf(),
            what: "PEM",
            message: "the file is over 64 KiB".into(),
        });
    }
    String::from_utf8(bytes).map_err(|_| AttestError::BadKey {
        path: path.to_path_buf(),
        what: "PEM",
        message: "the file is not text".into(),
    })
}
