//! The manifest exactly as written: serde types that mirror `scratch.toml` key by key.
//!
//! Unknown keys are refused (`deny_unknown_fields`), values that need a location in an
//! error keep their span, and the doc comments become the descriptions of the JSON schema
//! that editors use to validate and complete `scratch.toml`.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Pattern of a file mode: three or four octal digits, at most 07777.
pub(crate) const MODE_PATTERN: &str = "^[0-7]{3,4}$";
/// Pattern of a platform: `os/arch[/variant]` or a bare architecture.
pub(crate) const PLATFORM_PATTERN: &str = "^(linux/)?(amd64|x86_64|x86-64|arm64|aarch64|386|i386|i686|arm|armhf|armel|ppc64le|s390x|riscv64)(/[A-Za-z0-9]+)?$";
/// Pattern of a compression setting.
pub(crate) const COMPRESSION_PATTERN: &str =
    "^(gzip(:([1-9]|1[0-2]))?|zstd(:([1-9]|1[0-9]))?|none)$";
/// Pattern of a sha256 pin.
pub(crate) const SHA256_PATTERN: &str = "^(sha256:)?[0-9a-f]{64}$";
/// Pattern of an absolute path inside the image.
pub(crate) const DEST_PATTERN: &str = "^/.";
/// Pattern of a user or group name.
pub(crate) const ACCOUNT_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_.-]*[$]?$";

/// `scratch.toml`: how to compose a container image from pinned inputs, layer by layer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "scratch.toml")]
pub(crate) struct RawManifest {
    /// The image: its name and tag, the build epoch, the platforms, compression, annotations.
    #[schemars(with = "RawImage")]
    pub image: Spanned<RawImage>,
    /// The OCI image configuration: what runs when a container starts, and how.
    #[serde(default)]
    pub config: RawConfig,
    /// The layers, applied in order over the empty `scratch` base; one `[[layer]]` table is
    /// one image layer.
    #[serde(default, rename = "layer")]
    #[schemars(with = "Vec<RawLayer>")]
    pub layers: Vec<Spanned<RawLayer>>,
    /// Named inputs: pinned archives that are not layers themselves; `[[layer.copy]]`
    /// takes paths out of them. `[input.NAME]` for one archive, or `[[input.NAME]]` with
    /// `platform`/`platforms` for one archive per platform.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawInputSchema>")]
    pub input: BTreeMap<String, RawInputs>,
    /// Users and groups written into `/etc/passwd`, `/etc/group` (and `/etc/shadow` when
    /// the tree has one), merged over what the layers hold.
    #[serde(default)]
    pub accounts: RawAccounts,
    /// The layer cache in a registry, for `build` and `push` (the `--cache-from` and
    /// `--cache-to` options and `SCRATCH_CACHE_FROM`/`SCRATCH_CACHE_TO` override it).
    #[serde(default)]
    pub cache: RawCache,
}

/// `[cache]`: where `build` and `push` read and write the layer cache in a registry.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cache")]
pub(crate) struct RawCache {
    /// Caches to read layers from, in order, when the local layer cache lacks them:
    /// `HOST[:PORT]/REPOSITORY[:TAG]` (tag default `compose-cache`, or `@sha256:…`).
    #[serde(default)]
    #[schemars(with = "Vec<String>", extend("examples" = [["registry.example.com/team/app-cache"]]))]
    pub from: Vec<Spanned<String>>,
    /// The cache to write every layer of the build to, after the build:
    /// `HOST[:PORT]/REPOSITORY[:TAG][,max=SIZE]`; `max` keeps the most recently used
    /// entries under SIZE bytes (`500M`, `2G`).
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["registry.example.com/team/app-cache,max=5G"]))]
    pub to: Option<Spanned<String>>,
}

/// `[input.NAME]` written as one table or as an array of tables.
#[derive(Debug)]
pub(crate) enum RawInputs {
    One(RawInput),
    Many(Vec<RawInput>),
}

impl<'de> Deserialize<'de> for RawInputs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawInputs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table [input.NAME] or an array of tables [[input.NAME]]")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawInputs, A::Error> {
                RawInput::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawInputs::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<RawInputs, A::Error> {
                Vec::<RawInput>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RawInputs::Many)
            }
        }
        d.deserialize_any(V)
    }
}

/// The schema of `[input.NAME]`: one table, or an array of them.
#[derive(JsonSchema)]
#[schemars(untagged, rename = "NamedInput")]
#[allow(dead_code)]
pub(crate) enum RawInputSchema {
    One(RawInput),
    Many(Vec<RawInput>),
}

/// One archive of a named input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Input")]
pub(crate) struct RawInput {
    /// A tar archive (a rootfs, for instance): a URL (`https://`, `http://`, `file://`) or a
    /// path relative to `scratch.toml`. Plain, gzip, xz, zstd or bzip2. A URL needs a
    /// `sha256` here or in `scratch.lock`.
    #[schemars(with = "String")]
    pub tar: Spanned<String>,
    /// The sha256 of `tar`, 64 lowercase hex digits.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = SHA256_PATTERN))]
    pub sha256: Option<Spanned<String>>,
    /// This archive serves one platform only (one `[[input.NAME]]` per platform).
    #[serde(default)]
    #[schemars(with = "PlatformString")]
    pub platform: Option<Spanned<String>>,
    /// This archive serves these platforms only.
    #[serde(default)]
    #[schemars(with = "Vec<PlatformString>", extend("minItems" = 1))]
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[accounts]`: users and groups, as apko declares them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Accounts")]
pub(crate) struct RawAccounts {
    /// Users, written into `/etc/passwd` (and locked in `/etc/shadow`).
    #[serde(default)]
    #[schemars(with = "Vec<RawUser>")]
    pub user: Vec<Spanned<RawUser>>,
    /// Groups, written into `/etc/group`.
    #[serde(default)]
    #[schemars(with = "Vec<RawGroup>")]
    pub group: Vec<Spanned<RawGroup>>,
}

/// `[[accounts.user]]`: one user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "User")]
pub(crate) struct RawUser {
    /// The user name, such as `app`.
    #[schemars(with = "String", extend("pattern" = ACCOUNT_NAME_PATTERN))]
    pub name: Spanned<String>,
    /// The numeric user id.
    pub uid: u64,
    /// The primary group id. Default: the uid (a group named after the user is created
    /// when no group has that id).
    #[serde(default)]
    pub gid: Option<u64>,
    /// The home directory (created, owned by the user, when missing). Default: `/home/NAME`.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = "^/"))]
    pub home: Option<Spanned<String>>,
    /// The login shell. Default: `/sbin/nologin`.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = "^/"))]
    pub shell: Option<Spanned<String>>,
    /// Supplementary groups, by name; each must be declared or in the tree's `/etc/group`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<Spanned<String>>,
}

/// `[[accounts.group]]`: one group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Group")]
pub(crate) struct RawGroup {
    /// The group name, such as `app`.
    #[schemars(with = "String", extend("pattern" = ACCOUNT_NAME_PATTERN))]
    pub name: Spanned<String>,
    /// The numeric group id.
    pub gid: u64,
}

/// `[[layer.copy]]`: paths taken from a named input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Copy")]
pub(crate) struct RawCopy {
    /// The name of the `[input.NAME]` the paths come from.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// Absolute paths and patterns: `*`, `?`, `[abc]` within a name, `**` for any number of
    /// directories (`/usr/share/zoneinfo/**`). A directory brings its contents. A path that
    /// matches nothing is an error.
    #[schemars(with = "Vec<AbsoluteString>", extend("minItems" = 1))]
    pub paths: Spanned<Vec<Spanned<String>>>,
    /// A directory the paths go below (by their path after the pattern's literal part).
    /// Default: every path keeps its place.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = DEST_PATTERN))]
    pub dest: Option<Spanned<String>>,
    /// Symlinks met in the selection: `keep` copies them as links, `follow` copies what
    /// they point to inside the input. Default: `keep`.
    #[serde(default)]
    pub symlinks: Option<RawSymlinks>,
}

/// How `[[layer.copy]]` treats symlinks.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Symlinks")]
pub(crate) enum RawSymlinks {
    /// Copy links as links.
    Keep,
    /// Copy what links point to (inside the input only).
    Follow,
}

/// `[image]`: what the image is called and how its bytes are fixed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Image")]
pub(crate) struct RawImage {
    /// The image name, as in `RepoTags` (`name:tag`): `alpine`, `acme/app`,
    /// `registry.example.com:5000/team/app`.
    #[schemars(with = "String", extend("examples" = ["scratch-alpine"]))]
    pub name: Spanned<String>,
    /// The image tag. Default: `latest`.
    #[serde(default)]
    #[schemars(with = "String", extend("default" = "latest", "pattern" = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"))]
    pub tag: Option<Spanned<String>>,
    /// Seconds since 1970-01-01T00:00:00Z used for every mtime and every `created` date.
    /// Default: the `SOURCE_DATE_EPOCH` environment variable, else 0.
    #[serde(default)]
    #[schemars(with = "u64", range(max = 253_402_300_799u64))]
    pub source_date_epoch: Option<Spanned<u64>>,
    /// The platforms to build, in the order the image index lists them.
    /// Default: `["linux/amd64"]`.
    #[serde(default)]
    #[schemars(with = "Vec<PlatformString>", extend("default" = ["linux/amd64"], "minItems" = 1, "uniqueItems" = true))]
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// Write all layers as one single layer. Default: false.
    #[serde(default)]
    pub squash: bool,
    /// Merge directory entries that land on a symlink to a directory (Debian's
    /// `bin -> usr/bin`, `lib -> usr/lib`, …) into the directory it points to, instead of
    /// replacing the symlink as container runtimes do. Default: false.
    #[serde(default)]
    pub usrmerge: bool,
    /// Preflight findings (a missing entrypoint, interpreter or library, a wrong
    /// architecture, an unknown user) stop the build instead of warning, as
    /// `build --strict` does. Default: false.
    #[serde(default)]
    pub strict: bool,
    /// Layer compression: `gzip`, `gzip:LEVEL` (1-12, default 6), `zstd`, `zstd:LEVEL`
    /// (1-19, default 3) or `none`. The `--compression` option overrides it. Default: `gzip`.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = COMPRESSION_PATTERN, "examples" = ["gzip", "gzip:9", "zstd", "zstd:19", "none"], "default" = "gzip"))]
    pub compression: Option<Spanned<String>>,
    /// Write a software bill of materials beside the image and inside OCI outputs:
    /// `spdx` (SPDX 2.3 JSON), `cyclonedx` (CycloneDX 1.6 JSON) or `both`; its digests are
    /// recorded in `scratch.lock` and checked by `compose verify`. The `--sbom` option
    /// overrides it. Default: none.
    #[serde(default)]
    #[schemars(with = "String", extend("enum" = ["spdx", "cyclonedx", "both"]))]
    pub sbom: Option<Spanned<String>>,
    /// Annotations written on every image manifest and on the image index.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub annotations: Option<Spanned<BTreeMap<String, String>>>,
    /// The image to start from, its layers kept byte for byte: a registry reference
    /// (`alpine:3.20@sha256:…`; a tag alone is pinned by `scratch.lock`), `oci:PATH` (an OCI
    /// layout), `oci-archive:PATH` or `docker-archive:PATH`, each with an optional
    /// `@sha256:…` pin. Its configuration is inherited; `[config]` overrides it key by key.
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["docker.io/library/alpine:3.20@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "oci:base-layout", "oci-archive:base.tar", "docker-archive:saved.tar"]))]
    pub base: Option<Spanned<String>>,
}

/// A platform: `os/arch[/variant]` (only `linux`), such as `linux/amd64` or `linux/arm64`.
#[derive(JsonSchema)]
#[schemars(extend("pattern" = PLATFORM_PATTERN, "examples" = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"]))]
#[allow(dead_code)]
#[schemars(rename = "Platform")]
pub(crate) struct PlatformString(String);

/// `[config]`: the OCI image configuration.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Config")]
pub(crate) struct RawConfig {
    /// The program a container runs (`Entrypoint`), as a list of arguments.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// The default arguments (`Cmd`), appended to the entrypoint or run on their own.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Environment variables, each `KEY=VALUE`.
    #[serde(default)]
    #[schemars(with = "Vec<EnvString>")]
    pub env: Vec<Spanned<String>>,
    /// The working directory of the container's process: an absolute path.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = "^/"))]
    pub workdir: Option<Spanned<String>>,
    /// The user the process runs as: `name`, `uid`, `uid:gid` or `name:group`.
    #[serde(default)]
    pub user: Option<String>,
    /// Labels of the image configuration.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// Ports the container listens on: `80`, `80/tcp`, `53/udp` or `5000/sctp`.
    #[serde(default)]
    #[schemars(with = "Vec<PortString>")]
    pub exposed_ports: Vec<Spanned<String>>,
    /// Mount points to create volumes at: absolute paths.
    #[serde(default)]
    #[schemars(with = "Vec<AbsoluteString>")]
    pub volumes: Vec<Spanned<String>>,
    /// The signal that stops the container: a name such as `SIGTERM`, or a number.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = "^(SIG[A-Z0-9+-]+|[0-9]+)$", "examples" = ["SIGTERM", "SIGINT", "SIGQUIT"]))]
    pub stop_signal: Option<Spanned<String>>,
}

/// An environment variable, `KEY=VALUE`.
#[derive(JsonSchema)]
#[schemars(extend("pattern" = "^[^=]+=", "examples" = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]))]
#[allow(dead_code)]
#[schemars(rename = "EnvVar")]
pub(crate) struct EnvString(String);

/// A port: `N`, `N/tcp`, `N/udp` or `N/sctp`.
#[derive(JsonSchema)]
#[schemars(extend("pattern" = "^[0-9]{1,5}(/(tcp|udp|sctp))?$", "examples" = ["80", "443/tcp", "53/udp"]))]
#[allow(dead_code)]
#[schemars(rename = "Port")]
pub(crate) struct PortString(String);

/// An absolute path inside the image.
#[derive(JsonSchema)]
#[schemars(extend("pattern" = DEST_PATTERN))]
#[allow(dead_code)]
#[schemars(rename = "AbsolutePath")]
pub(crate) struct AbsoluteString(String);

/// `[[layer]]`: one image layer, built from any mix of sources.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Layer")]
pub(crate) struct RawLayer {
    /// A note about this layer, written in the image history.
    #[serde(default)]
    pub comment: Option<String>,
    /// Apply this layer on one platform only (see `[image] platforms`).
    #[serde(default)]
    #[schemars(with = "PlatformString")]
    pub platform: Option<Spanned<String>>,
    /// Apply this layer on these platforms only (see `[image] platforms`).
    #[serde(default)]
    #[schemars(with = "Vec<PlatformString>", extend("minItems" = 1))]
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// A tar archive unpacked as this layer's base: a URL (`https://`, `http://`, `file://`)
    /// or a path relative to `scratch.toml`. Plain, gzip, xz, zstd or bzip2, detected from the
    /// bytes. A URL needs a `sha256` here or in `scratch.lock`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub tar: Option<Spanned<String>>,
    /// The sha256 of the `tar` archive, 64 lowercase hex digits.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = SHA256_PATTERN))]
    pub sha256: Option<Spanned<String>>,
    /// Another image whose merged tree (all its layers applied) becomes this layer,
    /// re-encoded canonically like a `tar`: a registry reference (`REF@sha256:…`, or a tag
    /// pinned by `scratch.lock`), `oci:PATH`, `oci-archive:PATH` or `docker-archive:PATH`.
    /// Each platform takes that image's own platform. Not with `tar`.
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["ghcr.io/acme/tools:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "oci:tools-layout"]))]
    pub image: Option<Spanned<String>>,
    /// With `image`: only these absolute paths of the image (and what is below them), with
    /// their parent directories. Default: the whole tree.
    #[serde(default)]
    #[schemars(with = "Vec<AbsoluteString>")]
    pub paths: Vec<Spanned<String>>,
    /// The license of the `tar` archive as an SPDX expression, for the SBOM.
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["MIT", "Apache-2.0 OR MIT"]))]
    pub license: Option<Spanned<String>>,
    /// Who supplies the `tar` archive, for the SBOM: `Organization: NAME`, `Person: NAME`
    /// or a plain name (an organization).
    #[serde(default)]
    #[schemars(with = "String")]
    pub supplier: Option<Spanned<String>>,
    /// Paths removed from the lower layers (written as whiteouts): absolute paths. A path
    /// that matches nothing below is an error, unless it ends with `?` (`/var/cache/apk?`).
    /// A trailing `/` changes nothing.
    #[serde(default)]
    #[schemars(with = "Vec<AbsoluteString>")]
    pub remove: Vec<Spanned<String>>,
    /// Files added by this layer.
    #[serde(default)]
    #[schemars(with = "Vec<RawFile>")]
    pub file: Vec<Spanned<RawFile>>,
    /// Directories added by this layer: empty, or copied from a local directory.
    #[serde(default)]
    #[schemars(with = "Vec<RawDir>")]
    pub dir: Vec<Spanned<RawDir>>,
    /// Symbolic links added by this layer.
    #[serde(default)]
    #[schemars(with = "Vec<RawSymlink>")]
    pub symlink: Vec<Spanned<RawSymlink>>,
    /// Paths taken from named inputs (`[input.NAME]`).
    #[serde(default)]
    #[schemars(with = "Vec<RawCopy>")]
    pub copy: Vec<Spanned<RawCopy>>,
}

/// `[[layer.file]]`: one file, from `src` or from inline `content`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "File")]
pub(crate) struct RawFile {
    /// Where the file goes in the image: an absolute path.
    #[schemars(with = "String", extend("pattern" = DEST_PATTERN))]
    pub dest: Spanned<String>,
    /// Where the bytes come from: a path relative to `scratch.toml`, or a URL with a
    /// `sha256` (here or in `scratch.lock`). Not with `content`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub src: Option<Spanned<String>>,
    /// The sha256 of `src`, 64 lowercase hex digits.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = SHA256_PATTERN))]
    pub sha256: Option<Spanned<String>>,
    /// The license of `src` as an SPDX expression, for the SBOM.
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["MIT", "Apache-2.0 OR MIT"]))]
    pub license: Option<Spanned<String>>,
    /// Who supplies `src`, for the SBOM: `Organization: NAME`, `Person: NAME` or a plain
    /// name (an organization).
    #[serde(default)]
    #[schemars(with = "String")]
    pub supplier: Option<Spanned<String>>,
    /// The file's text, given inline. Not with `src`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub content: Option<Spanned<String>>,
    /// Octal permission bits, such as `"0755"` or `"0644"`. Default: 0755 when the source is
    /// executable by its owner, 0644 otherwise.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = MODE_PATTERN, "examples" = ["0644", "0755"]))]
    pub mode: Option<Spanned<String>>,
    /// Numeric owner. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub uid: Option<Spanned<u64>>,
    /// Numeric group. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub gid: Option<Spanned<u64>>,
}

/// `[[layer.dir]]`: a directory, empty or copied from a local directory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dir")]
pub(crate) struct RawDir {
    /// Where the directory goes in the image: an absolute path.
    #[schemars(with = "String", extend("pattern" = DEST_PATTERN))]
    pub dest: Spanned<String>,
    /// A local directory (relative to `scratch.toml`) whose contents are copied. Without
    /// it the directory is created empty.
    #[serde(default)]
    #[schemars(with = "String")]
    pub src: Option<Spanned<String>>,
    /// The license of the files copied from `src` as an SPDX expression, for the SBOM.
    #[serde(default)]
    #[schemars(with = "String", extend("examples" = ["MIT", "Apache-2.0 OR MIT"]))]
    pub license: Option<Spanned<String>>,
    /// Who supplies `src`, for the SBOM: `Organization: NAME`, `Person: NAME` or a plain
    /// name (an organization).
    #[serde(default)]
    #[schemars(with = "String")]
    pub supplier: Option<Spanned<String>>,
    /// Octal permission bits of the directory itself, such as `"0755"` or `"1777"`.
    /// Default: 0755.
    #[serde(default)]
    #[schemars(with = "String", extend("pattern" = MODE_PATTERN, "examples" = ["0755", "1777"]))]
    pub mode: Option<Spanned<String>>,
    /// Numeric owner of the directory and everything copied into it. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub uid: Option<Spanned<u64>>,
    /// Numeric group of the directory and everything copied into it. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub gid: Option<Spanned<u64>>,
}

/// `[[layer.symlink]]`: a symbolic link.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Symlink")]
pub(crate) struct RawSymlink {
    /// Where the link goes in the image: an absolute path.
    #[schemars(with = "String", extend("pattern" = DEST_PATTERN))]
    pub dest: Spanned<String>,
    /// What the link points to, written as is (absolute or relative).
    #[schemars(with = "String", extend("minLength" = 1))]
    pub target: Spanned<String>,
    /// Numeric owner. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub uid: Option<Spanned<u64>>,
    /// Numeric group. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", extend("maximum" = 4294967295u32))]
    pub gid: Option<Spanned<u64>>,
}

/// The JSON schema of `scratch.toml` (draft-07, which taplo and Even Better TOML read),
/// pretty-printed with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    let mut value = schema.to_value();
    drop_null_defaults(&mut value);
    add_taplo_hints(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// taplo's extensions: the file names the schema is for, and the keys a new table starts
/// with when an editor completes it.
fn add_taplo_hints(value: &mut serde_json::Value) {
    use serde_json::json;
    if let Some(root) = value.as_object_mut() {
        root.insert(
            "x-taplo-info".to_string(),
            json!({ "patterns": ["^(.*(/|\\\\))?scratch\\.toml$"] }),
        );
    }
    for (def, keys) in [
        ("Image", json!(["name"])),
        ("File", json!(["dest"])),
        ("Dir", json!(["dest"])),
        ("Symlink", json!(["dest", "target"])),
        ("Copy", json!(["from", "paths"])),
        ("Input", json!(["tar", "sha256"])),
        ("User", json!(["name", "uid"])),
        ("Group", json!(["name", "gid"])),
    ] {
        if let Some(d) = value
            .pointer_mut(&format!("/definitions/{def}"))
            .and_then(|d| d.as_object_mut())
        {
            d.insert("x-taplo".to_string(), json!({ "initKeys": keys }));
        }
    }
}

/// Remove `null` (a `"default": null`, a `"null"` type), which schemars writes for optional
/// keys: TOML has no null, an optional key is simply left out.
fn drop_null_defaults(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.get("default").is_some_and(|d| d.is_null()) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".to_string(), only);
                }
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}
