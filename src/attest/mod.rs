//! Build provenance: an in-toto Statement v1 carrying a SLSA Provenance v1 predicate that
//! says how an image was made, optionally signed in a DSSE envelope with an Ed25519 key.
//!
//! The statement is canonical JSON with no clock and no random identifier, so two builds
//! of the same manifest, lock and inputs by the same release write the same bytes; Ed25519
//! signatures are deterministic, so the signed envelope is reproducible too. The build
//! type is documented in `docs/provenance.md`.

pub mod dsse;
pub mod keys;
pub mod provenance;

/// The DSSE payload type and OCI artifactType of an in-toto statement.
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";

/// Signing or verifying went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The key file cannot be read.
    #[error("{}: {source}", path.display())]
    ReadKey {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file is not an Ed25519 key in the expected form.
    #[error("{}: not an Ed25519 {what} key in PEM form: {message}", path.display())]
    BadKey {
        path: std::path::PathBuf,
        what: &'static str,
        message: String,
    },
    /// A DSSE envelope is not well-formed.
    #[error("{source_name}: not a DSSE envelope: {message}")]
    BadEnvelope {
        source_name: String,
        message: String,
    },
}

impl AttestError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            AttestError::ReadKey { .. } => None,
            AttestError::BadKey { what: "private", .. } => Some(
                "make one with `openssl genpkey -algorithm ed25519 -out key.pem` (PKCS#8 PEM)"
                    .into(),
            ),
            AttestError::BadKey { .. } => Some(
                "export the public half with `openssl pkey -in key.pem -pubout -out key.pub`"
                    .into(),
            ),
            AttestError::BadEnvelope { .. } => Some(
                "`compose verify --key` checks the `.intoto.jsonl` envelope `build --sign-key` wrote"
                    .into(),
            ),
        }
    }
}
