//! Registry references: `host[:port]/repo[:tag][@sha256:…]`, normalised as Docker and
//! podman do (`alpine` → `docker.io/library/alpine`), a missing tag filled in by the caller.

use super::RegistryError;
use crate::digest::Sha256Digest;
use crate::image::ImageName;
use std::fmt;

/// The registry a name without a host refers to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed reference to an image in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` when the name had none).
    pub registry: String,
    /// The repository path inside the registry (`library/alpine`).
    pub repository: String,
    /// The tag, when given (or filled in by [`Reference::or_tag`]).
    pub tag: Option<String>,
    /// The digest, when given.
    pub digest: Option<Sha256Digest>,
}

impl Reference {
    /// Parse `text`, validating every part; the error names the reference and why.
    pub fn parse(text: &str) -> Result<Reference, RegistryError> {
        let bad = |why: String| RegistryError::Reference {
            reference: text.to_string(),
            why,
        };
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                let digest: Sha256Digest = d
                    .parse()
                    .map_err(|_| bad(format!("`{d}` is not a sha256:<64 hex> digest")))?;
                (r, Some(digest))
            }
            None => (text, None),
        };
        // The tag is after the last `:` of the last path component (a port sits before a `/`).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        ImageName::new(name, tag.unwrap_or("latest")).map_err(|e| bad(e.to_string()))?;
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// This reference with `tag` when it has neither a tag nor a digest.
    pub fn or_tag(mut self, tag: &str) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(tag.to_string());
        }
        self
    }

    /// The host the registry API is served from (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What a manifest is stored under: the tag if any, else the digest.
    pub fn manifest_key(&self) -> Option<String> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port: registries
/// there may be spoken to over plain HTTP.
pub fn is_loopback(registry: &str) -> bool {
    if registry
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    let host = host_of(registry);
    if host == "localhost" {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host` of `host[:port]` (IPv6 in brackets kept whole).
pub fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry
            .split_once(']')
            .map_or(registry, |(h, _)| &registry[..h.len() + 1]);
    }
    registry.split_once(':').map_or(registry, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        let r = p("alpine");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/alpine")
        );
        assert_eq!(r.tag, None);
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(p("acc/app:1").to_string(), "docker.io/acc/app:1");
        assert_eq!(p("index.docker.io/acc/app").registry, "docker.io");
        assert_eq!(
            p("docker.io/alpine:3").to_string(),
            "docker.io/library/alpine:3"
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let r = p("127.0.0.1:5000/team/app:v1.2");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        let r = p("localhost/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "app")
        );
        let r = p("localhost:5000/app");
        assert_eq!(r.tag, None);
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = p(&format!("ghcr.io/o/app:1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert_eq!(r.manifest_key().as_deref(), Some("1"));
        let r = p(&format!("ghcr.io/o/app@{d}"));
        assert_eq!(r.manifest_key(), Some(d.clone()));
        assert_eq!(r.clone().or_tag("x").tag, None, "a digest needs no tag");
        assert_eq!(p("a.io/b").or_tag("7").to_string(), "a.io/b:7");
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "",
            "App",
            "a.io/b:",
            "a.io/b:-x",
            "a.io//b",
            "a.io/b@sha256:12",
            "a.io:port/b",
            "a.io/b c",
        ] {
            let e = Reference::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1",
            "127.8.9.1",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "[fe80::1]:80",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
