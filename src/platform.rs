//! OCI platforms (`os/arch[/variant]`), with the aliases people type.

use std::fmt;
use std::str::FromStr;

/// A target platform. `arm64` always carries variant `v8`, as containerd and buildx write it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A platform string we cannot understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a platform: expected os/arch[/variant], such as linux/amd64 or linux/arm64")]
pub struct PlatformParseError(pub String);

impl Platform {
    /// linux/amd64, the default.
    pub fn linux_amd64() -> Self {
        "linux/amd64".parse().expect("valid")
    }

    /// The platform of the machine we run on, when it is one we know.
    pub fn host() -> Self {
        match std::env::consts::ARCH {
            "aarch64" => "linux/arm64".parse().expect("valid"),
            _ => Platform::linux_amd64(),
        }
    }
}

fn normalise_arch(arch: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match arch {
        "amd64" | "x86_64" | "x86-64" => ("amd64", None),
        "arm64" | "aarch64" => ("arm64", Some("v8")),
        "386" | "i386" | "i686" => ("386", None),
        "arm" | "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "ppc64le" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        _ => return None,
    })
}

impl FromStr for Platform {
    type Err = PlatformParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformParseError(s.to_string());
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(err()),
        };
        if os != "linux" {
            return Err(err());
        }
        let (arch, default_variant) = normalise_arch(arch).ok_or_else(err)?;
        let variant = match (variant, default_variant) {
            (Some(""), _) => return Err(err()),
            (Some(v), Some(_)) => Some(v.to_string()),
            (Some(_), None) => return Err(err()),
            (None, d) => d.map(str::to_string),
        };
        Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_normalise() {
        assert_eq!(
            "x86_64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            "linux/aarch64".parse::<Platform>().unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            "linux/arm64/v8".parse::<Platform>().unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!("windows/amd64".parse::<Platform>().is_err());
        assert!("linux/amd64/v3".parse::<Platform>().is_err());
        assert!("linux/sparc".parse::<Platform>().is_err());
    }
}
