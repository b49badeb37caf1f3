//! `[image] base`: the image a build starts from, as written (`REF`, `oci:PATH`,
//! `oci-archive:PATH`, `docker-archive:PATH`, each with an optional `@sha256:…` pin).

use crate::digest::Sha256Digest;
use crate::registry::Reference;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a base image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// A registry reference (`alpine:3.20`, `ghcr.io/o/r@sha256:…`), normalised.
    Registry(Reference),
    /// An OCI image layout directory (`oci:PATH`).
    OciLayout(PathBuf),
    /// An OCI layout in one tar (`oci-archive:PATH`).
    OciArchive(PathBuf),
    /// What `docker save` writes (`docker-archive:PATH`).
    DockerArchive(PathBuf),
}

/// `[image] base`, validated: the source and its pin when the manifest gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSpec {
    /// As written in the manifest (for messages).
    pub written: String,
    /// Where the image comes from.
    pub source: BaseSource,
    /// The manifest or index digest the reference pins (`@sha256:…`), if any.
    pub digest: Option<Sha256Digest>,
}

impl BaseSpec {
    /// Parse `text`; local paths resolve against `dir` (the manifest's folder). The error
    /// says what is wrong, for [`super::Problem::BadBase`].
    pub fn parse(text: &str, dir: &Path) -> Result<BaseSpec, String> {
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return Err("it is empty".into());
        }
        if text_trimmed != text {
            return Err("it has leading or trailing spaces".into());
        }
        let local = [
            ("oci:", BaseSource::OciLayout as fn(PathBuf) -> BaseSource),
            ("oci-archive:", BaseSource::OciArchive),
            ("docker-archive:", BaseSource::DockerArchive),
        ];
        for (prefix, make) in local {
            if let Some(rest) = text.strip_prefix(prefix) {
                let (path, digest) = split_pin(rest)?;
                if path.is_empty() {
                    return Err(format!("`{prefix}` needs a path after it"));
                }
                if path.contains('\0') {
                    return Err("the path contains a NUL character".into());
                }
                return Ok(BaseSpec {
                    written: text.to_string(),
                    source: make(dir.join(path)),
                    digest,
                });
            }
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "`{scheme}://` is not a base reference; write HOST/REPOSITORY[:TAG]@sha256:…"
            ));
        }
        if let Some((transport, _)) = text.split_once(':') {
            if ["docker", "containers-storage", "dir", "docker-daemon"].contains(&transport) {
                return Err(format!(
                    "the `{transport}:` transport is not supported (use a registry reference, \
                     oci:, oci-archive: or docker-archive:)"
                ));
            }
        }
        let reference = Reference::parse(text).map_err(|e| match e {
            crate::registry::RegistryError::Reference { why, .. } => why,
            other => other.to_string(),
        })?;
        Ok(BaseSpec {
            written: text.to_string(),
            digest: reference.digest,
            source: BaseSource::Registry(reference),
        })
    }

    /// The key the lock records the base under: the reference without its digest (so a
    /// pin added later still finds the entry), or the kind and path as written.
    pub fn lock_key(&self) -> String {
        match &self.source {
            BaseSource::Registry(r) => {
                let mut r = r.clone();
                r.digest = None;
                r.or_tag("latest").to_string()
            }
            _ => match self.written.rsplit_once('@') {
                Some((k, d)) if d.starts_with("sha256:") => k.to_string(),
                _ => self.written.clone(),
            },
        }
    }

    /// True for a registry reference (fetched over the network).
    pub fn is_remote(&self) -> bool {
        matches!(self.source, BaseSource::Registry(_))
    }
}

/// `[[layer]] image = "REF"` with its `paths`: an image's merged tree (or the parts of it
/// below `paths`, with their parents) as one layer of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayerSpec {
    /// The image, pinned and resolved as `[image] base` is.
    pub source: BaseSpec,
    /// The paths kept; empty keeps everything.
    pub paths: Vec<crate::entry::ImagePath>,
}

impl fmt::Display for BaseSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// `PATH[@sha256:HEX]` split into the path and the pin.
fn split_pin(rest: &str) -> Result<(&str, Option<Sha256Digest>), String> {
    match rest.rsplit_once('@') {
        Some((path, d)) if d.starts_with("sha256:") => {
            let digest = d
                .parse()
                .map_err(|_| format!("`{d}` is not a sha256:<64 hex> digest"))?;
            Ok((path, Some(digest)))
        }
        _ => Ok((rest, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn registry_references_are_normalised_and_keep_their_pin() {
        let b = BaseSpec::parse(&format!("alpine:3.20@{D}"), Path::new("/m")).unwrap();
        let BaseSource::Registry(r) = &b.source else {
            panic!("{b:?}")
        };
        assert_eq!(r.repository, "library/alpine");
        assert_eq!(b.digest, Some(D.parse().unwrap()));
        assert_eq!(b.lock_key(), "docker.io/library/alpine:3.20");
        assert!(b.is_remote());
        let b = BaseSpec::parse("localhost:5000/base", Path::new("/m")).unwrap();
        assert_eq!(b.digest, None);
        assert_eq!(b.lock_key(), "localhost:5000/base:latest");
    }

    #[test]
    fn local_forms_resolve_against_the_manifest_folder() {
        let b = BaseSpec::parse("oci:img", Path::new("/m")).unwrap();
        assert_eq!(b.source, BaseSource::OciLayout("/m/img".into()));
        let b = BaseSpec::parse(&format!("oci-archive:a.tar@{D}"), Path::new("/m")).unwrap();
        assert_eq!(b.source, BaseSource::OciArchive("/m/a.tar".into()));
        assert_eq!(b.digest, Some(D.parse().unwrap()));
        assert_eq!(b.lock_key(), "oci-archive:a.tar");
        let b = BaseSpec::parse("docker-archive:/abs/d.tar", Path::new("/m")).unwrap();
        assert_eq!(b.source, BaseSource::DockerArchive("/abs/d.tar".into()));
        assert!(!b.is_remote());
    }

    #[test]
    fn mistakes_are_explained() {
        let e = |t: &str| BaseSpec::parse(t, Path::new("/m")).unwrap_err();
        assert!(e("").contains("empty"));
        assert!(e("oci:").contains("needs a path"));
        assert!(e("https://x/y").contains("not a base reference"));
        assert!(e("docker://alpine").contains("not a base reference"));
        assert!(e("containers-storage:alpine").contains("not supported"));
        assert!(e("alpine@sha256:12").contains("digest"));
        assert!(e("Alpine").contains("Alpine") || !e("Alpine").is_empty());
    }
}
