//! What can go wrong talking to a registry, each error naming the registry, repository,
//! blob or file concerned, and the registry's own message; never a credential.

use std::path::PathBuf;

/// A registry, credential or layout failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that does not parse.
    #[error("reference `{reference}` is invalid: {why}")]
    Reference { reference: String, why: String },
    /// A credential file that cannot be read or understood.
    #[error("credential file {}: {why}", path.display())]
    AuthFile { path: PathBuf, why: String },
    /// A `docker-credential-*` helper that failed.
    #[error("credential helper `{helper}` for {server}: {why}")]
    Helper {
        helper: String,
        server: String,
        why: String,
    },
    /// A CA file that cannot be used.
    #[error("TLS certificate {}: {why}", path.display())]
    Certificate { path: PathBuf, why: String },
    /// The registry cannot be reached (after the retries).
    #[error("registry {registry}: {what}: {why}")]
    Connect {
        registry: String,
        what: String,
        why: String,
    },
    /// TLS failed and plain HTTP is not allowed for this host.
    #[error("registry {registry}: TLS failed: {why}")]
    Tls { registry: String, why: String },
    /// The registry refused the credentials, or wants some and none were found.
    #[error("registry {registry}: access to `{repository}` denied ({status}){}: {message}", if *.had_credentials { " with the credentials found" } else { " anonymously" })]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
        had_credentials: bool,
        message: String,
    },
    /// The token service failed.
    #[error("token service {realm} for registry {registry}: {why}")]
    Token {
        registry: String,
        realm: String,
        why: String,
    },
    /// Any other refusal, with the registry's own message.
    #[error("registry {registry}: {what}: HTTP {status}: {message}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    /// An OCI layout or oci-archive that cannot be pushed as it is.
    #[error("{}: {why}", path.display())]
    Layout { path: PathBuf, why: String },
    /// The reference pins a digest the image does not have.
    #[error("{reference} pins {expected}, but the image to push is {actual}")]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
}

impl RegistryError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::Reference { .. } => {
                "write HOST[:PORT]/REPOSITORY[:TAG], e.g. registry.example.com:5000/team/app:1.0 \
                 (a name without a host means Docker Hub)"
                    .into()
            }
            RegistryError::AuthFile { .. } => {
                "fix or remove the file (podman login / docker login rewrite it)".into()
            }
            RegistryError::Helper { helper, .. } => format!(
                "check that `{helper}` is on PATH and works (`echo HOST | {helper} get`), \
                 or remove it from credHelpers/credsStore in the Docker config"
            ),
            RegistryError::Certificate { .. } => {
                "a CA file must hold PEM certificates (-----BEGIN CERTIFICATE-----)".into()
            }
            RegistryError::Connect { .. } => {
                "check the address and that the registry is running; HTTP(S)_PROXY and \
                 NO_PROXY apply"
                    .into()
            }
            RegistryError::Tls { registry, .. } => format!(
                "trust its CA with SSL_CERT_FILE=CA.pem or /etc/containers/certs.d/{registry}/ca.crt; \
                 --insecure-registry {registry} allows plain HTTP and unverified TLS"
            ),
            RegistryError::Unauthorized {
                registry,
                had_credentials,
                ..
            } => {
                if *had_credentials {
                    format!("log in again (`podman login {registry}` or `docker login {registry}`), or check the account may push there")
                } else {
                    format!("log in first (`podman login {registry}` or `docker login {registry}`); credentials are read from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and the Docker config")
                }
            }
            RegistryError::Token { .. } => {
                "the registry's token service refused or failed; check the credentials".into()
            }
            RegistryError::Status { status, .. } => match status {
                400 | 404 => "the registry refused the request: its message above says why".into(),
                413 => "the registry limits upload sizes; ask its operator".into(),
                _ => return None,
            },
            RegistryError::Layout { .. } => {
                "--from takes an OCI layout directory or an oci-archive, as `compose build` writes".into()
            }
            RegistryError::DigestMismatch { .. } => {
                "drop the @sha256:… part to push whatever the build produces".into()
            }
        })
    }
}
