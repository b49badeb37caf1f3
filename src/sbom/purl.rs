//! Package URLs (`pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`), the identifiers SBOM tools
//! match vulnerability data by. Written by the purl specification's encoding rules: every
//! component percent-encoded except the unreserved characters, qualifiers sorted by key.

/// A package URL's parts; its `Display` form is the canonical string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// `apk`, `deb`, `generic`, …: lower case.
    pub kind: String,
    /// The distribution (`alpine`, `debian`); lower case.
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// Key/value qualifiers (`arch`, `distro`, `download_url`, `checksum`); written sorted.
    pub qualifiers: Vec<(String, String)>,
}

impl std::fmt::Display for Purl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pkg:{}/", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{}/", encode(&ns.to_ascii_lowercase()))?;
        }
        f.write_str(&encode(&self.name))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v))?;
        }
        let mut qs: Vec<&(String, String)> = self
            .qualifiers
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        qs.sort();
        for (i, (k, v)) in qs.into_iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", k.to_ascii_lowercase(), encode_qualifier(v))?;
        }
        Ok(())
    }
}

/// Percent-encode everything but the unreserved characters `A-Z a-z 0-9 - . _ ~`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Qualifier values keep `:` and `/` readable (URLs, `sha256:` checksums), as the purl
/// examples write them; everything else is encoded like a component.
fn encode_qualifier(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split_inclusive([':', '/']) {
        match part.strip_suffix([':', '/']) {
            Some(head) => {
                out.push_str(&encode(head));
                out.push(part.as_bytes()[part.len() - 1] as char);
            }
            None => out.push_str(&encode(part)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purl(
        kind: &str,
        ns: Option<&str>,
        name: &str,
        v: Option<&str>,
        q: &[(&str, &str)],
    ) -> String {
        Purl {
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
            version: v.map(Into::into),
            qualifiers: q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
        .to_string()
    }

    #[test]
    fn apk_and_deb_forms() {
        assert_eq!(
            purl(
                "apk",
                Some("alpine"),
                "musl",
                Some("1.2.4_git20230717-r4"),
                &[("distro", "alpine-3.19.4"), ("arch", "x86_64")]
            ),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.4"
        );
        // Epochs, `+` and `~` in Debian versions.
        assert_eq!(
            purl(
                "deb",
                Some("debian"),
                "libstdc++6",
                Some("1:12.2.0-14+deb12u1"),
                &[("arch", "amd64")]
            ),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64"
        );
    }

    #[test]
    fn qualifiers_keep_url_punctuation_and_drop_empty_values() {
        assert_eq!(
            purl(
                "generic",
                None,
                "a b",
                None,
                &[("download_url", "https://x.org/a b.tar?x=1"), ("empty", "")]
            ),
            "pkg:generic/a%20b?download_url=https://x.org/a%20b.tar%3Fx%3D1"
        );
    }
}
