//! The command-line definition (clap), shared by the `compose` binary, its shell
//! completions and its man pages, so all three always say the same thing.
//!
//! Each subcommand declares only the options it uses: [`SessionArgs`] (manifest, lock,
//! cache, network, threads, verbosity) for the commands that read a manifest, a smaller
//! set for `cache prune`, none for `diff`, `completions` and `man`. The same options are
//! also accepted before the subcommand (`compose -f app.toml build`), as they always were;
//! [`SessionArgs::or`] merges the two places, the subcommand's winning.

mod args;
pub mod docs;

pub use args::{BuildArgs, DiffArgs, Engine, PushArgs, RegistryArgs, TreeArgs};

use crate::fetch::MirrorRule;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `compose [OPTIONS] COMMAND`.
#[derive(Parser, Debug)]
#[command(
    name = "compose",
    version,
    about = "Compose reproducible container images from a pinned scratch.toml",
    long_about = "Compose reproducible container images from a pinned scratch.toml.\n\n\
        `compose lock` pins every input by sha256; `compose build` fetches them, merges them as \
        layers over the empty scratch base and writes an OCI layout, an oci-archive, a \
        docker-archive or a rootfs tar whose bytes are the same on every machine.\n\n\
        The options below may also be given after the command, and each command's --help \
        lists those it uses; before the command they apply to the commands that use them.",
    after_help = "Examples:\n  compose lock\n  compose build                                  # OCI layout in ./out\n  compose build --format docker-archive -o img.tar && docker load -i img.tar\n  compose build -t app:dev --load                # into Docker, as app:dev\n  compose build --format rootfs -o - | tar -t\n  compose --mirror https://dl-cdn.alpinelinux.org/alpine/=http://mirror.local/alpine/ lock"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: SessionArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The options of every command that reads a manifest: which manifest and lock, where the
/// cache is, how to fetch, how many threads, how much to say.
#[derive(Args, Debug, Clone, Default)]
pub struct SessionArgs {
    /// The manifest, or a folder holding scratch.toml [default: scratch.toml].
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The lock file [default: the manifest's name with .lock: scratch.toml ->
    /// scratch.lock, NAME.toml -> NAME.lock].
    #[arg(long, value_name = "PATH", env = "SCRATCH_LOCKFILE")]
    pub lockfile: Option<PathBuf>,
    /// The download cache [default: $SCRATCH_CACHE_DIR, else ~/.cache/scratch-compose].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Rewrite URLs starting with PREFIX to start with REPLACEMENT before fetching (the pins
    /// make any mirror safe). Repeatable; also $SCRATCH_MIRRORS (whitespace-separated).
    #[arg(long = "mirror", value_name = "PREFIX=REPLACEMENT")]
    pub mirrors: Vec<MirrorRule>,
    /// Never touch the network; fail naming every input the cache lacks.
    #[arg(long)]
    pub offline: bool,
    /// Worker threads, at most, for downloads, merging and compression; compression starts
    /// them only as the layer keeps them busy (output is identical for any N)
    /// [default: the CPU count].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print nothing but results and errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail.
    #[arg(short, long)]
    pub verbose: bool,
    /// Refuse local sources (`src`, `tar`) outside the manifest's folder, symlinks
    /// resolved, and file:// URLs: for manifests you did not write. Also
    /// $SCRATCH_CONFINE_SOURCES=1.
    #[arg(long)]
    pub confine_sources: bool,
}

impl SessionArgs {
    /// These options (given after the command) completed by `before` (given before it):
    /// a value here wins, lists add up, a flag set in either place is set.
    pub fn or(self, before: &SessionArgs) -> SessionArgs {
        let before = before.clone();
        let mut mirrors = before.mirrors;
        mirrors.extend(self.mirrors);
        SessionArgs {
            file: self.file.or(before.file),
            lockfile: self.lockfile.or(before.lockfile),
            cache_dir: self.cache_dir.or(before.cache_dir),
            mirrors,
            offline: self.offline || before.offline,
            jobs: self.jobs.or(before.jobs),
            quiet: (self.quiet || before.quiet) && !self.verbose,
            verbose: self.verbose || (before.verbose && !self.quiet),
            confine_sources: self.confine_sources || before.confine_sources,
        }
    }

    /// The manifest `-f` names: `DIR/scratch.toml` when it is a directory, `scratch.toml`
    /// when it is not given.
    pub fn manifest(&self) -> PathBuf {
        let file = self
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("scratch.toml"));
        if file.is_dir() {
            file.join("scratch.toml")
        } else {
            file
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pin every input of the manifest by sha256 in its lock (scratch.lock).
    #[command(
        after_help = "Examples:\n  compose lock\n  compose lock --check   # exit 1 when scratch.lock is stale (CI)\n  compose lock --update https://example.com/app.tar.gz\n  compose lock --update base            # move [image] base to what its tag names now\n  compose lock --check --refresh        # also exit 1 when the base's tag has moved"
    )]
    Lock {
        /// Write nothing; exit 1 when the lock would change.
        #[arg(long)]
        check: bool,
        /// Download unpinned inputs again instead of keeping their old pins: all of them,
        /// or the one whose URL or path is (or ends with) INPUT; `base` resolves
        /// `[image] base`'s tag again.
        #[arg(long, value_name = "INPUT", num_args = 0..=1, default_missing_value = "")]
        update: Option<String>,
        /// Resolve `[image] base`'s tag again (a registry request) even though the lock
        /// pins it: with --check, report a tag that now names another image. Never done
        /// by default: a lock is a lock.
        #[arg(long)]
        refresh: bool,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Fetch the inputs, merge the layers and write the image; prints its digest.
    #[command(
        after_help = "Examples:\n  compose build\n  compose build --format oci-archive -o image.tar\n  compose build --format docker-archive -o image.tar --locked\n  compose build -t app:dev -t registry.example.com/app:1.0 --load   # into Docker\n  compose build --load=podman\n  compose build --format rootfs -o rootfs.tar\n  compose build --strict   # refuse an image whose entrypoint, loader, libraries or user are missing\n  compose build --locked --cache-from registry.example.com/team/app-cache --cache-to registry.example.com/team/app-cache,max=5G\n  digest=$(compose build -q)"
    )]
    Build(BuildArgs),
    /// Build the image as `build` does and push it to registries; prints REF@DIGEST per
    /// reference.
    #[command(
        after_help = "Credentials come from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, \
        then $DOCKER_CONFIG/config.json or ~/.docker/config.json (credHelpers and credsStore \
        included). TLS trusts the system roots, SSL_CERT_FILE/SSL_CERT_DIR and \
        /etc/containers/certs.d/HOST:PORT/*.crt; plain HTTP only for loopback addresses and \
        --insecure-registry hosts.\n\nExamples:\n  compose push                                   # to [image] name:tag\n  compose push registry.example.com/team/app:1.0 registry.example.com/team/app:latest\n  compose push --locked --platform linux/amd64 localhost:5000/app\n  compose push --from out.tar registry.example.com/team/app:1.0\n  compose push --sbom both --sign-key release.pem registry.example.com/team/app:1.0\n  compose push --cache-from registry.example.com/team/app-cache --cache-to registry.example.com/team/app-cache"
    )]
    Push(PushArgs),
    /// Rebuild from the lock and check that every recorded digest reproduces.
    #[command(
        after_help = "Exit 0 when the build reproduces, 1 when it does not (the explanation \
        starts at the first difference), 2 on errors.\n\nExamples:\n  compose verify\n  compose verify --offline   # with a warm cache, in CI"
    )]
    Verify {
        /// Also check the signed provenance (DSSE envelope) with this Ed25519 public key
        /// (SPKI PEM, as `openssl pkey -pubout` writes it).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// The envelope(s) to check [default: out.intoto.json, or out.OS-ARCH.intoto.json
        /// per platform, as `build --sign-key` writes them beside the default output].
        #[arg(long, value_name = "FILE", requires = "key")]
        attestation: Vec<PathBuf>,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Compare two images or trees: OCI layout folders, oci-archives, docker-archives
    /// (ours, Docker's or podman's), rootfs tars and unpacked root filesystem folders.
    #[command(after_help = "Exit 0 when equal, 1 when different, 2 on errors.\n\n\
        Images are compared as images: their manifests, configs and layers' contents. What \
        only names them is not compared: the annotations on index.json's descriptors \
        (io.containerd.image.name, org.opencontainers.image.ref.name), so the same image in \
        an OCI layout and in a docker-archive is equal. A folder that is not an OCI layout is \
        an unpacked root filesystem, compared as a tree (with an image's merged layers, a \
        rootfs tar or another folder).\n\nExamples:\n  compose diff out/ other.tar\n  compose diff --ignore-mtime --ignore-history --ignore-label io.buildah.version ours.tar podman.tar\n  compose diff --ignore-annotation org.opencontainers.image.created a.tar b.tar\n  compose diff rootfs/ out.tar        # an unpacked tree against an image\n  compose diff --json a.tar b.tar | jq .")]
    Diff(DiffArgs),
    /// Print the merged tree of the image, per platform, without writing an image.
    #[command(
        after_help = "Each line: type and mode, uid:gid, size (major,minor for devices), path, and \
        `-> target` for symlinks or `link to PATH` for hard links; --long adds each file's \
        sha256 and the layer that last wrote the entry.\n\nExamples:\n  compose tree\n  \
        compose tree --long --platform linux/arm64\n  compose tree --json | jq '.[0].entries[] | select(.type == \"file\") | .path'"
    )]
    Tree(TreeArgs),
    /// Manage the download cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Examples:\n  compose completions bash > ~/.local/share/bash-completion/completions/compose\n  compose completions zsh > ~/.zfunc/_compose      # with fpath+=(~/.zfunc) before compinit\n  compose completions fish > ~/.config/fish/completions/compose.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (compose(1), compose-build(1), one per command) into DIR.
    #[command(
        after_help = "Examples:\n  compose man ~/.local/share/man/man1 && man compose-build\n  sudo compose man /usr/local/share/man/man1"
    )]
    Man {
        /// The folder to write NAME.1 files into (created when missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `compose cache …`.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Free space: remove what killed builds left behind, the derived data and the cached
    /// layers (re-created when needed) except those of the image the lock records; with
    /// --blobs also every blob this manifest's lock does not pin.
    #[command(
        after_help = "Run it between builds, not during one.\n\nExamples:\n  compose cache prune\n  compose cache prune -f app/scratch.toml --blobs\n  compose cache prune --all   # empty the whole cache"
    )]
    Prune {
        /// Also remove the downloaded inputs and kept outputs that the manifest's lock does
        /// not name (all of them when the manifest has no lock); refused where there is no
        /// manifest.
        #[arg(long)]
        blobs: bool,
        /// Also remove every downloaded input and kept output, whatever any lock names.
        #[arg(long)]
        all: bool,
        /// The manifest whose lock says what to keep, or a folder holding scratch.toml
        /// [default: scratch.toml].
        #[arg(short = 'f', long = "file", value_name = "PATH")]
        file: Option<PathBuf>,
        /// The lock that says what to keep [default: the manifest's name with .lock].
        #[arg(long, value_name = "PATH", env = "SCRATCH_LOCKFILE")]
        lockfile: Option<PathBuf>,
        /// The cache [default: $SCRATCH_CACHE_DIR, else ~/.cache/scratch-compose].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// The whole definition, for completions, man pages and tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
