//! The options of the commands that have more than a few.

use super::SessionArgs;
pub use crate::command::load::Engine;
use crate::compression::Compression;
use crate::image::OutputFormat;
use crate::platform::Platform;
use clap::Args;
use std::path::PathBuf;

/// `compose build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Oci)]
    pub format: OutputFormat,
    /// Output path [default: `out` for oci, `out.tar` otherwise]; `-` writes a tar format to
    /// stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Build one platform only (required for docker-archive, rootfs and --load when the
    /// manifest lists several).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// Refuse a missing or stale lock (CI mode).
    #[arg(long)]
    pub locked: bool,
    /// Layer compression: gzip, gzip:LEVEL, zstd, zstd:LEVEL or none [default: the
    /// manifest's, else gzip].
    #[arg(long, value_name = "C")]
    pub compression: Option<Compression>,
    /// Name the image NAME:TAG instead of `[image] name:tag` (a missing :TAG is `[image]
    /// tag`). Repeatable: every name goes into a docker-archive's RepoTags and --load tags
    /// the loaded image with each; index.json (oci, oci-archive) holds one descriptor, named
    /// by the first (skopeo and podman refuse a layout listing several). Names change no
    /// digest.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Also load the image into Docker (the docker CLI, so DOCKER_HOST and contexts apply)
    /// or podman, tagged with its names, and print the image ID the engine gives it. That
    /// ID is the config digest, not the manifest digest `build` prints:
    /// `docker run sha256:<manifest digest>` does not find the image.
    #[arg(long, value_enum, value_name = "ENGINE", num_args = 0..=1, require_equals = true,
          default_missing_value = "docker")]
    pub load: Option<Engine>,
    /// Also write the digests as JSON to FILE, for CI pipelines: the image digest, per
    /// platform the manifest, config and layers, the names, the `image_id` Docker and
    /// podman use (the config digest: `docker run sha256:<manifest digest>` does not work,
    /// `docker run <image_id>` does), what --load loaded, and the preflight findings.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Write a software bill of materials per platform: spdx (SPDX 2.3 JSON), cyclonedx
    /// (CycloneDX 1.6 JSON) or both, beside the output (OUT.spdx.json, OUT.cdx.json) and
    /// attached inside oci and oci-archive outputs, with the provenance (OUT.intoto.json)
    /// [default: the manifest's `[image] sbom`, else none].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both"])]
    pub sbom: Option<String>,
    /// Sign the provenance with this Ed25519 private key (PKCS#8 PEM, as `openssl genpkey
    /// -algorithm ed25519` writes it): OUT.intoto.json becomes a DSSE envelope.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Make preflight findings (a missing entrypoint, interpreter or library, a wrong
    /// architecture, an unknown user) errors instead of warnings; also `[image] strict`.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The registry options `build` and `push` share: the registry-backed layer cache, and
/// which registries may be reached without TLS checks.
#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Read layers the local layer cache lacks from this registry-backed cache
    /// (repeatable, tried in order; also $SCRATCH_CACHE_FROM, space-separated; else
    /// the manifest's `[cache] from`). REF is `HOST[:PORT]/REPOSITORY[:TAG]`, the tag
    /// defaulting to compose-cache.
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,
    /// After the build, write every layer it used to this registry-backed cache;
    /// `,max=SIZE` (500M, 2G) keeps the most recently used entries under SIZE bytes
    /// (also $SCRATCH_CACHE_TO; else the manifest's `[cache] to`).
    #[arg(long = "cache-to", value_name = "REF[,max=SIZE]")]
    pub cache_to: Option<String>,
    /// Allow plain HTTP and unverified TLS for this registry (repeatable; also
    /// $SCRATCH_INSECURE_REGISTRIES, comma-separated). Loopback addresses may always use
    /// plain HTTP.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "SCRATCH_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
}

/// `compose push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Where to push: `HOST[:PORT]/REPOSITORY[:TAG]` (a missing tag is `[image] tag`)
    /// [default: `[image] name:tag`].
    #[arg(value_name = "REF")]
    pub references: Vec<String>,
    /// Push this OCI layout directory or oci-archive unchanged instead of building.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["cache_from", "cache_to"])]
    pub from: Option<PathBuf>,
    /// Build one platform only [default: every platform of the manifest].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "from")]
    pub platform: Option<Platform>,
    /// Refuse a missing or stale lock (CI mode).
    #[arg(long, conflicts_with = "from")]
    pub locked: bool,
    /// Layer compression, as for `build`.
    #[arg(long, value_name = "C", conflicts_with = "from")]
    pub compression: Option<Compression>,
    /// Attach a software bill of materials per platform (spdx, cyclonedx or both) and the
    /// provenance to the pushed image: through the registry's referrers API, else the
    /// referrers tag scheme (`sha256-<hex>`) [default: the manifest's `[image] sbom`].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both"], conflicts_with = "from")]
    pub sbom: Option<String>,
    /// Sign the attached provenance with this Ed25519 private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    pub sign_key: Option<PathBuf>,
    /// Also write the digests and the pushed references as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// `compose diff`: uses no manifest, cache or network.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The first (left) image or tree.
    pub a: PathBuf,
    /// The second (right) image or tree.
    pub b: PathBuf,
    /// The platform to compare when an input holds several [default: match them by platform].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// Ignore entry mtimes and every `created` (config and history).
    #[arg(long)]
    pub ignore_mtime: bool,
    /// Ignore the config's history.
    #[arg(long)]
    pub ignore_history: bool,
    /// Ignore this config label (repeatable).
    #[arg(long = "ignore-label", value_name = "KEY")]
    pub ignore_label: Vec<String>,
    /// Ignore this annotation of the image manifests (repeatable), e.g.
    /// org.opencontainers.image.created. index.json's name annotations are never compared.
    #[arg(long = "ignore-annotation", value_name = "KEY")]
    pub ignore_annotation: Vec<String>,
    /// Ignore entry uid/gid.
    #[arg(long)]
    pub ignore_owner: bool,
    /// Print one line of canonical JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `compose tree`.
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// Add each file's sha256 and the layer each entry comes from.
    #[arg(long)]
    pub long: bool,
    /// Print JSON: [{"platform": P, "entries": [...]}].
    #[arg(long)]
    pub json: bool,
    /// One platform only [default: every platform of the manifest].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    #[command(flatten)]
    pub session: SessionArgs,
}
