//! Software bills of materials: what is inside an image, in SPDX 2.3 and CycloneDX 1.6
//! JSON, byte-identical on every machine like the image itself.
//!
//! The build hands over a [`model::Sbom`]: the image (one platform) with its manifest
//! digest, every pinned input with its digest, size and layers, and the packages found in
//! rootfs inputs by [`pkgdb`]. The writers ([`spdx`], [`cyclonedx`]) turn it into canonical
//! JSON: no wall clock (the build epoch is the creation time), no random identifiers (the
//! document namespace and serial number derive from the image digest), everything sorted.
//!
//! Packages whose every file a later layer removed are left out; those that lost some of
//! their files are kept with a note saying how many (SPDX `comment`, CycloneDX property
//! `scratch-compose:files-removed`).

pub mod collect;
pub mod cyclonedx;
pub mod license;
pub mod model;
pub mod pkgdb;
pub mod purl;
pub mod spdx;

use std::fmt;
use std::str::FromStr;

/// Which SBOM documents to write (`build --sbom`, `[image] sbom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SbomFormat {
    Spdx,
    CycloneDx,
    Both,
}

impl SbomFormat {
    /// The single formats this selection writes, SPDX first.
    pub fn formats(self) -> &'static [SbomFormat] {
        match self {
            SbomFormat::Spdx => &[SbomFormat::Spdx],
            SbomFormat::CycloneDx => &[SbomFormat::CycloneDx],
            SbomFormat::Both => &[SbomFormat::Spdx, SbomFormat::CycloneDx],
        }
    }

    /// The media type (and OCI artifactType) of one format's document.
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "application/spdx+json",
            SbomFormat::CycloneDx | SbomFormat::Both => "application/vnd.cyclonedx+json",
        }
    }

    /// The file name suffix of one format's document (`.spdx.json`, `.cdx.json`), the
    /// conventions both projects recommend.
    pub fn file_suffix(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx.json",
            SbomFormat::CycloneDx | SbomFormat::Both => "cdx.json",
        }
    }
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SbomFormat::Spdx => "spdx",
            SbomFormat::CycloneDx => "cyclonedx",
            SbomFormat::Both => "both",
        })
    }
}

impl FromStr for SbomFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "spdx" => Ok(SbomFormat::Spdx),
            "cyclonedx" => Ok(SbomFormat::CycloneDx),
            "both" => Ok(SbomFormat::Both),
            _ => Err(format!(
                "`{s}` is not an SBOM format (expected spdx, cyclonedx or both)"
            )),
        }
    }
}

/// A package database inside an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// A database file is larger than we are willing to read.
    #[error(
        "{input}: /{path} is {size} bytes, over the limit of {limit} bytes for a package database"
    )]
    TooLarge {
        input: String,
        path: String,
        size: u64,
        limit: u64,
    },
    /// Reading a database's bytes failed.
    #[error("{input}: reading /{path}: {source}")]
    Read {
        input: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A database is not in the format its package manager writes.
    #[error("{input}: /{path}:{line}: {message}")]
    Malformed {
        input: String,
        path: String,
        line: usize,
        message: String,
    },
}

impl SbomError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SbomError::TooLarge { .. } | SbomError::Malformed { .. } => {
                "the SBOM lists the packages of rootfs inputs from their own databases; check \
                 that this input is the rootfs you meant, or build without --sbom"
                    .into()
            }
            SbomError::Read { .. } => "check the cache directory and rerun the build".into(),
        })
    }
}
