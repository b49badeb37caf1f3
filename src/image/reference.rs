//! Image names: validation, the `name:tag` docker writes, and the full reference
//! containerd and podman use.

use std::fmt;

/// Why a name or tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("image name `{name}` is invalid: {why}")]
    Name { name: String, why: String },
    #[error("image tag `{tag}` is invalid: {why}")]
    Tag { tag: String, why: String },
}

impl NameError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            NameError::Name { .. } => "image names are lowercase path components of letters, \
                digits and single `.`, `_`, `__` or `-` separators, optionally after a registry \
                host (`registry.example.com:5000/team/app`); put the tag in `[image] tag`"
                .to_string(),
            NameError::Tag { .. } => "a tag is 1-128 characters of letters, digits, `_`, `.` and \
                `-`, not starting with `.` or `-`"
                .to_string(),
        })
    }
}

/// A validated image name and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    name: String,
    tag: String,
}

impl ImageName {
    /// Validate `name` (as written in the manifest) and `tag`.
    pub fn new(name: &str, tag: &str) -> Result<ImageName, NameError> {
        validate_name(name)?;
        validate_tag(tag)?;
        Ok(ImageName {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// `NAME[:TAG]` as `build -t` takes it: the tag after the last `:` that follows the
    /// last `/` (so a registry port is not a tag), else `default_tag`.
    pub fn parse(reference: &str, default_tag: &str) -> Result<ImageName, NameError> {
        let slash = reference.rfind('/').map_or(0, |i| i + 1);
        match reference[slash..].rfind(':') {
            Some(i) => ImageName::new(&reference[..slash + i], &reference[slash + i + 1..]),
            None => ImageName::new(reference, default_tag),
        }
    }

    /// The name as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `name:tag` as written: docker's `RepoTags` entry.
    pub fn repo_tag(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The normalised full reference for `io.containerd.image.name`:
    /// `alpine` → `docker.io/library/alpine:TAG`, `acc/x` → `docker.io/acc/x:TAG`, a name
    /// starting with a registry host kept as is.
    pub fn full_reference(&self) -> String {
        let (domain, path) = split_domain(&self.name);
        let full = match domain {
            Some(d) if d != "docker.io" && d != "index.docker.io" => self.name.clone(),
            _ if path.contains('/') => format!("docker.io/{path}"),
            _ => format!("docker.io/library/{path}"),
        };
        format!("{full}:{}", self.tag)
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repo_tag())
    }
}

/// The registry host when the first component is one (contains `.` or `:`, or is
/// `localhost`), and the rest of the name.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_name(name: &str) -> Result<(), NameError> {
    let bad = |why: &str| NameError::Name {
        name: name.to_string(),
        why: why.to_string(),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 255 {
        return Err(bad("it is longer than 255 characters"));
    }
    let (domain, path) = split_domain(name);
    if let Some(d) = domain {
        validate_domain(d).map_err(|why| bad(&why))?;
    }
    if path.contains('@') {
        return Err(bad("a digest (`@sha256:…`) cannot be part of the name"));
    }
    for comp in path.split('/') {
        validate_component(comp).map_err(|why| bad(&why))?;
    }
    Ok(())
}

fn validate_domain(d: &str) -> Result<(), String> {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port `{p}` is not a number"));
        }
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("registry host `{host}` is not a host name"));
        }
    }
    Ok(())
}

/// One path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn validate_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("it has an empty path component".to_string());
    }
    if c.contains(':') {
        return Err("it contains `:`; the tag goes in `[image] tag`, not the name".to_string());
    }
    if let Some(ch) = c
        .chars()
        .find(|ch| !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(*ch)))
    {
        return Err(if ch.is_ascii_uppercase() {
            format!("component `{c}` has uppercase letters; names are lowercase")
        } else {
            format!("component `{c}` contains `{ch}`")
        });
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "component `{c}` must start and end with a letter or digit"
        ));
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or `-`+.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!("component `{c}` has the separator `{sep}`"));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), NameError> {
    let bad = |why: &str| NameError::Tag {
        tag: tag.to_string(),
        why: why.to_string(),
    };
    if tag.is_empty() {
        return Err(bad("it is empty"));
    }
    if tag.len() > 128 {
        return Err(bad("it is longer than 128 characters"));
    }
    if tag.starts_with(['.', '-']) {
        return Err(bad("it starts with `.` or `-`"));
    }
    if let Some(ch) = tag
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || "_.-".contains(*ch)))
    {
        return Err(bad(&format!("it contains `{ch}`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(name: &str) -> String {
        ImageName::new(name, "1.0").unwrap().full_reference()
    }

    #[test]
    fn parses_name_and_tag_like_docker_tag() {
        let p = |r: &str| ImageName::parse(r, "dflt").map(|n| n.repo_tag());
        assert_eq!(p("app").unwrap(), "app:dflt");
        assert_eq!(p("app:1.2").unwrap(), "app:1.2");
        assert_eq!(
            p("localhost:5000/team/app").unwrap(),
            "localhost:5000/team/app:dflt"
        );
        assert_eq!(p("localhost:5000/app:v1").unwrap(), "localhost:5000/app:v1");
        assert!(matches!(p("App"), Err(NameError::Name { .. })));
        assert!(matches!(p("app:"), Err(NameError::Tag { .. })));
        assert!(matches!(p("app@sha256:00"), Err(NameError::Name { .. })));
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("alpine"), "docker.io/library/alpine:1.0");
        assert_eq!(full("acc/x"), "docker.io/acc/x:1.0");
        assert_eq!(full("docker.io/alpine"), "docker.io/library/alpine:1.0");
        assert_eq!(full("ghcr.io/o/r"), "ghcr.io/o/r:1.0");
        assert_eq!(full("localhost/x"), "localhost/x:1.0");
        assert_eq!(full("reg:5000/a/b"), "reg:5000/a/b:1.0");
        assert_eq!(
            ImageName::new("acc/x", "1.0").unwrap().repo_tag(),
            "acc/x:1.0"
        );
    }

    #[test]
    fn accepts_valid_names() {
        for n in [
            "a",
            "scratch-alpine",
            "a__b",
            "a---b",
            "a.b_c",
            "x/y/z",
            "Reg.Example.com/x",
        ] {
            assert!(ImageName::new(n, "latest").is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_bad_names_and_tags() {
        for n in [
            "", "Alpine", "a:1", "a//b", "-a", "a-", "a..b", "a___b", "a b", "/a", "a@sha256",
        ] {
            assert!(ImageName::new(n, "latest").is_err(), "{n:?}");
        }
        for t in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(ImageName::new("a", t).is_err(), "{t:?}");
        }
        let e = ImageName::new("Alpine", "latest").unwrap_err();
        assert!(e.to_string().contains("lowercase"), "{e}");
        assert!(e.hint().is_some());
    }
}
