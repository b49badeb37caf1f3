//! Talking to OCI registries (the distribution spec): references, credentials,
//! transport with TLS and retries, and pushing an OCI layout.
//!
//! `compose push` builds into an OCI layout and hands it to [`push::push_layout`]; pulling
//! base images and a registry-backed layer cache reuse [`client::Registry`].
//!
//! ```text
//! reference ─▶ auth (credential files, helpers) ─▶ client (TLS, tokens, retries) ─▶ push
//!                                                   layout (dir or oci-archive) ──┘
//! ```

pub mod auth;
pub mod challenge;
pub mod client;
mod error;
pub mod layout;
pub mod push;
pub mod reference;
pub mod referrers;
pub mod tls;
pub mod write;

pub use client::{ClientOptions, Registry};
pub use error::RegistryError;
pub use reference::Reference;
