//! The `compose` command line: a thin front end over the `scratch_compose` library.
//!
//! stdout carries results only (one digest line for `build`); logs, warnings and progress
//! go to stderr. Exit codes: 0 success, 1 a check found a difference, 2 any error.

use clap::{Args, Parser, Subcommand};
use scratch_compose::command::{self, BuildOptions, LockOptions, PruneOptions};
use scratch_compose::compression::Compression;
use scratch_compose::diff::{self, DiffOptions};
use scratch_compose::fetch::MirrorRule;
use scratch_compose::image::OutputFormat;
use scratch_compose::listing;
use scratch_compose::platform::Platform;
use scratch_compose::session::pins::Update;
use scratch_compose::session::{Session, SessionOptions};
use scratch_compose::{escape, Error};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "compose",
    version,
    about = "Compose reproducible container images from a pinned scratch.toml",
    long_about = "Compose reproducible container images from a pinned scratch.toml.\n\n\
        `compose lock` pins every input by sha256; `compose build` fetches them, merges them as \
        layers over the empty scratch base and writes an OCI layout, an oci-archive, a \
        docker-archive or a rootfs tar whose bytes are the same on every machine.",
    after_help = "Examples:\n  compose lock\n  compose build                                  # OCI layout in ./out\n  compose build --format docker-archive -o img.tar && docker load -i img.tar\n  compose build --format rootfs -o - | tar -t\n  compose --mirror https://dl-cdn.alpinelinux.org/alpine/=http://mirror.local/alpine/ lock"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// The manifest.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "scratch.toml"
    )]
    file: PathBuf,
    /// The lock file [default: the manifest's name with .lock: scratch.toml ->
    /// scratch.lock, NAME.toml -> NAME.lock].
    #[arg(long, global = true, value_name = "PATH", env = "SCRATCH_LOCKFILE")]
    lockfile: Option<PathBuf>,
    /// The download cache [default: $SCRATCH_CACHE_DIR, else ~/.cache/scratch-compose].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Rewrite URLs starting with PREFIX to start with REPLACEMENT before fetching (the pins
    /// make any mirror safe). Repeatable; also $SCRATCH_MIRRORS (whitespace-separated).
    #[arg(long = "mirror", global = true, value_name = "PREFIX=REPLACEMENT")]
    mirrors: Vec<MirrorRule>,
    /// Never touch the network; fail naming every input the cache lacks.
    #[arg(long, global = true)]
    offline: bool,
    /// Worker threads, at most, for downloads, merging and compression; compression starts
    /// them only as the layer keeps them busy (output is identical for any N)
    /// [default: the CPU count].
    #[arg(short = 'j', long, global = true, value_name = "N")]
    jobs: Option<usize>,
    /// Print nothing but results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Refuse local sources (`src`, `tar`) outside the manifest's folder, symlinks
    /// resolved, and file:// URLs: for manifests you did not write. Also
    /// $SCRATCH_CONFINE_SOURCES=1.
    #[arg(long, global = true)]
    confine_sources: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pin every input of the manifest by sha256 in scratch.lock.
    #[command(
        after_help = "Examples:\n  compose lock\n  compose lock --check   # exit 1 when scratch.lock is stale (CI)"
    )]
    Lock {
        /// Write nothing; exit 1 when the lock would change.
        #[arg(long)]
        check: bool,
        /// Download unpinned inputs again instead of keeping their old pins: all of them,
        /// or the one whose URL or path is (or ends with) INPUT.
        #[arg(long, value_name = "INPUT", num_args = 0..=1, default_missing_value = "")]
        update: Option<String>,
    },
    /// Fetch the inputs, merge the layers and write the image; prints its digest.
    #[command(
        after_help = "Examples:\n  compose build\n  compose build --format oci-archive -o image.tar\n  compose build --format docker-archive -o image.tar --locked\n  compose build --format rootfs -o rootfs.tar\n  compose build --strict   # refuse an image whose entrypoint, loader, libraries or user are missing\n  compose build --locked --cache-from registry.example.com/team/app-cache --cache-to registry.example.com/team/app-cache,max=5G\n  digest=$(compose build -q)"
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
    /// Rebuild from scratch.lock and check that every recorded digest reproduces.
    #[command(
        after_help = "Exit 0 when the build reproduces, 1 when it does not (the explanation \
        starts at the first difference), 2 on errors.\n\nExamples:\n  compose verify\n  compose --offline verify   # with a warm cache, in CI"
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
    },
    /// Compare two images or trees: OCI layout folders, oci-archives, docker-archives
    /// (ours, Docker's or podman's) and rootfs tars.
    #[command(
        after_help = "Exit 0 when equal, 1 when different, 2 on errors.\n\nExamples:\n  compose diff out/ other.tar\n  compose diff --ignore-mtime --ignore-history --ignore-label io.buildah.version ours.tar podman.tar\n  compose diff --json a.tar b.tar | jq ."
    )]
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
}

#[derive(Args, Debug)]
struct TreeArgs {
    /// Add each file's sha256 and the layer each entry comes from.
    #[arg(long)]
    long: bool,
    /// Print JSON: [{"platform": P, "entries": [...]}].
    #[arg(long)]
    json: bool,
    /// One platform only [default: every platform of the manifest].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Free space: remove what killed builds left behind, the derived data and the cached
    /// layers (re-created when needed) except those of the image scratch.lock records; with
    /// --blobs also every blob this manifest's scratch.lock does not pin.
    #[command(
        after_help = "Run it between builds, not during one.\n\nExamples:\n  compose cache prune\n  compose -f app/scratch.toml cache prune --blobs"
    )]
    Prune {
        /// Also remove the downloaded inputs and kept outputs that scratch.lock does not
        /// name (all of them when there is no manifest or lock).
        #[arg(long)]
        blobs: bool,
    },
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The first (left) image or tree.
    a: PathBuf,
    /// The second (right) image or tree.
    b: PathBuf,
    /// The platform to compare when an input holds several [default: match them by platform].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Ignore entry mtimes and every `created` (config and history).
    #[arg(long)]
    ignore_mtime: bool,
    /// Ignore the config's history.
    #[arg(long)]
    ignore_history: bool,
    /// Ignore this config label (repeatable).
    #[arg(long = "ignore-label", value_name = "KEY")]
    ignore_label: Vec<String>,
    /// Ignore entry uid/gid.
    #[arg(long)]
    ignore_owner: bool,
    /// Print one line of canonical JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Oci)]
    format: OutputFormat,
    /// Output path [default: `out` for oci, `out.tar` otherwise]; `-` writes a tar format to
    /// stdout.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Build one platform only (required for docker-archive and rootfs when the manifest
    /// lists several).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Refuse a missing or stale scratch.lock (CI mode).
    #[arg(long)]
    locked: bool,
    /// Layer compression: gzip, gzip:LEVEL, zstd, zstd:LEVEL or none [default: the
    /// manifest's, else gzip].
    #[arg(long, value_name = "C")]
    compression: Option<Compression>,
    /// Also write the digests (image, per platform manifest, config and layers) and the
    /// preflight findings as JSON to FILE, for CI pipelines.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Write a software bill of materials per platform: spdx (SPDX 2.3 JSON), cyclonedx
    /// (CycloneDX 1.6 JSON) or both, beside the output (OUT.spdx.json, OUT.cdx.json) and
    /// attached inside oci and oci-archive outputs, with the provenance (OUT.intoto.json)
    /// [default: the manifest's `[image] sbom`, else none].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both"])]
    sbom: Option<String>,
    /// Sign the provenance with this Ed25519 private key (PKCS#8 PEM, as `openssl genpkey
    /// -algorithm ed25519` writes it): OUT.intoto.json becomes a DSSE envelope.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Make preflight findings (a missing entrypoint, interpreter or library, a wrong
    /// architecture, an unknown user) errors instead of warnings; also `[image] strict`.
    #[arg(long)]
    strict: bool,
    /// Read layers the local layer cache lacks from this registry-backed cache
    /// (repeatable, tried in order; also $SCRATCH_CACHE_FROM, space-separated; else
    /// the manifest's `[cache] from`). REF is `HOST[:PORT]/REPOSITORY[:TAG]`, the tag
    /// defaulting to compose-cache.
    #[arg(long = "cache-from", value_name = "REF")]
    cache_from: Vec<String>,
    /// After the build, write every layer it used to this registry-backed cache;
    /// `,max=SIZE` (500M, 2G) keeps the most recently used entries under SIZE bytes
    /// (also $SCRATCH_CACHE_TO; else the manifest's `[cache] to`).
    #[arg(long = "cache-to", value_name = "REF[,max=SIZE]")]
    cache_to: Option<String>,
    /// Allow plain HTTP and unverified TLS for this cache registry (repeatable; also
    /// $SCRATCH_INSECURE_REGISTRIES, comma-separated). Loopback addresses may always use
    /// plain HTTP.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "SCRATCH_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,
}

#[derive(Args, Debug)]
struct PushArgs {
    /// Where to push: `HOST[:PORT]/REPOSITORY[:TAG]` (a missing tag is `[image] tag`)
    /// [default: `[image] name:tag`].
    #[arg(value_name = "REF")]
    references: Vec<String>,
    /// Push this OCI layout directory or oci-archive unchanged instead of building.
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// Build one platform only [default: every platform of the manifest].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "from")]
    platform: Option<Platform>,
    /// Refuse a missing or stale scratch.lock (CI mode).
    #[arg(long, conflicts_with = "from")]
    locked: bool,
    /// Layer compression, as for `build`.
    #[arg(long, value_name = "C", conflicts_with = "from")]
    compression: Option<Compression>,
    /// Attach a software bill of materials per platform (spdx, cyclonedx or both) and the
    /// provenance to the pushed image: through the registry's referrers API, else the
    /// referrers tag scheme (`sha256-<hex>`) [default: the manifest's `[image] sbom`].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both"], conflicts_with = "from")]
    sbom: Option<String>,
    /// Sign the attached provenance with this Ed25519 private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    sign_key: Option<PathBuf>,
    /// Also write the digests and the pushed references as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Read layers the local layer cache lacks from this registry-backed cache
    /// (repeatable, tried in order; also $SCRATCH_CACHE_FROM, space-separated; else
    /// the manifest's `[cache] from`). REF is `HOST[:PORT]/REPOSITORY[:TAG]`, the tag
    /// defaulting to compose-cache.
    #[arg(long = "cache-from", value_name = "REF", conflicts_with = "from")]
    cache_from: Vec<String>,
    /// After the build, write every layer it used to this registry-backed cache;
    /// `,max=SIZE` (500M, 2G) keeps the most recently used entries under SIZE bytes
    /// (also $SCRATCH_CACHE_TO; else the manifest's `[cache] to`).
    #[arg(
        long = "cache-to",
        value_name = "REF[,max=SIZE]",
        conflicts_with = "from"
    )]
    cache_to: Option<String>,
    /// Allow plain HTTP and unverified TLS for this registry (repeatable; also
    /// $SCRATCH_INSECURE_REGISTRIES, comma-separated). Loopback addresses may always use
    /// plain HTTP.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "SCRATCH_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,
}

/// The manifest `-f` names: `DIR/scratch.toml` when it is a directory.
fn manifest_path(file: PathBuf) -> PathBuf {
    if file.is_dir() {
        file.join("scratch.toml")
    } else {
        file
    }
}

fn session(g: Global) -> Result<Session, Error> {
    Session::new(SessionOptions {
        manifest: manifest_path(g.file),
        lockfile: g.lockfile,
        cache_dir: g.cache_dir,
        mirrors: g.mirrors,
        offline: g.offline,
        jobs: g.jobs,
        quiet: g.quiet,
        verbose: g.verbose,
        confine_sources: g.confine_sources,
    })
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Lock { check, update } => {
            let s = session(cli.global)?;
            let update = match update {
                None => Update::Nothing,
                Some(u) if u.is_empty() => Update::All,
                Some(u) => Update::Input(u),
            };
            let outcome = command::lock(&s, &LockOptions { check, update })?;
            if check && outcome.changed {
                print!("{}", check_report(s.lock_path(), &outcome.findings));
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { key, attestation } => {
            let s = session(cli.global)?;
            let outcome = command::verify_with(
                &s,
                &command::VerifyOptions {
                    key,
                    attestations: attestation,
                },
            )?;
            if outcome.reproduced {
                println!("{}", escape::message(&outcome.report));
                Ok(ExitCode::SUCCESS)
            } else {
                println!("not reproduced:\n{}", escape::message(&outcome.report));
                Ok(ExitCode::from(1))
            }
        }
        Command::Cache(CacheCommand::Prune { blobs }) => {
            let g = cli.global;
            let cache_dir = g
                .cache_dir
                .unwrap_or_else(scratch_compose::store::default_cache_dir);
            let freed = command::prune(&PruneOptions {
                cache_dir: cache_dir.clone(),
                manifest: manifest_path(g.file),
                blobs,
            })?;
            println!(
                "freed {} bytes in {} files from {}",
                freed.bytes,
                freed.files,
                cache_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(d) => {
            let options = DiffOptions {
                ignore_mtime: d.ignore_mtime,
                ignore_history: d.ignore_history,
                ignore_labels: d.ignore_label,
                ignore_owner: d.ignore_owner,
            };
            let mut out = std::io::stdout().lock();
            let equal =
                diff::run_diff(&d.a, &d.b, d.platform.as_ref(), &options, d.json, &mut out)?;
            Ok(if equal {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Push(p) => push(cli.global, p),
        Command::Tree(t) => {
            let s = session(cli.global)?;
            let trees = command::tree(&s, t.platform.as_ref())?;
            let view: Vec<listing::PlatformTree> = trees
                .iter()
                .map(|m| listing::PlatformTree {
                    platform: m.platform.to_string(),
                    entries: &m.entries,
                    origins: t.long.then_some(&m.origins),
                })
                .collect();
            let text = if t.json {
                listing::render_json(&view)
            } else {
                listing::render_text(&view)
            }
            .map_err(|e| Error::io("the merged tree's files", e))?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`compose tree | head`) is not an error.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Ok(ExitCode::SUCCESS)
        }
        Command::Build(b) => {
            let format = b.format;
            let output = b.output.clone().unwrap_or_else(|| format.default_output());
            let to_stdout = output.as_os_str() == "-";
            scratch_compose::image::check_output_path(format, &output)?;
            let s = session(cli.global)?;
            let client = client_options(&s, &b.insecure_registries);
            attach_cache(&s, &b.cache_from, b.cache_to.as_deref(), client)?;
            let result = command::build(
                &s,
                &BuildOptions {
                    format,
                    output,
                    platform: b.platform,
                    locked: b.locked,
                    compression: b.compression,
                    sbom: b
                        .sbom
                        .as_deref()
                        .map(|f| f.parse().expect("clap checked it")),
                    sign_key: b.sign_key.clone(),
                    strict: b.strict,
                },
            )?;
            if let Some(path) = &b.metadata_file {
                let cache = s.remote_cache().map(|r| r.stats());
                write_metadata(path, format, &result, &[], cache.as_ref())?;
            }
            if to_stdout {
                eprintln!("{}", result.digest);
            } else {
                println!("{}", result.digest);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `compose push`: the build (or `--from`), then one `REF@DIGEST` line per reference.
fn push(g: Global, p: PushArgs) -> Result<ExitCode, Error> {
    use scratch_compose::command::push::{self, BuildSettings, PushRequest};
    let ui = scratch_compose::ui::Ui::new(g.quiet, g.verbose);
    let mut client = scratch_compose::registry::ClientOptions {
        ui: ui.clone(),
        ..Default::default()
    };
    client.insecure = p
        .insecure_registries
        .iter()
        .flat_map(|h| scratch_compose::registry::client::parse_insecure(h))
        .collect();
    let request = PushRequest {
        references: p.references,
        client,
        jobs: g
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        ui,
        // Where blobs are known to live, for mounts; only a hint, so a cache that cannot
        // be opened here just means no mounts from earlier commands.
        origins: scratch_compose::store::Cache::open(
            &g.cache_dir
                .clone()
                .unwrap_or_else(scratch_compose::store::default_cache_dir),
        )
        .ok()
        .map(|c| c.origins()),
    };
    let (built, pushed, cache) = match &p.from {
        Some(from) => {
            let manifest =
                scratch_compose::manifest::Manifest::load(&manifest_path(g.file.clone())).ok();
            let default = manifest
                .as_ref()
                .map(|m| (m.image.name.as_str(), m.image.tag.as_str()));
            (None, push::push_path(from, default, &request)?, None)
        }
        None => {
            let settings = BuildSettings {
                platform: p.platform,
                locked: p.locked,
                compression: p.compression,
                sbom: p
                    .sbom
                    .as_deref()
                    .map(|f| f.parse().expect("clap checked it")),
                sign_key: p.sign_key.clone(),
            };
            let s = session(g)?;
            attach_cache(
                &s,
                &p.cache_from,
                p.cache_to.as_deref(),
                request.client.clone(),
            )?;
            let (built, pushed) = push::build_and_push(&s, &settings, &request)?;
            (Some(built), pushed, s.remote_cache().map(|r| r.stats()))
        }
    };
    let lines: Vec<String> = pushed
        .iter()
        .map(|x| format!("{}@{}", x.reference, x.digest))
        .collect();
    if let Some(path) = &p.metadata_file {
        match &built {
            Some(b) => write_metadata(path, OutputFormat::Oci, b, &lines, cache.as_ref())?,
            None => {
                let digest = pushed.first().map(|x| x.digest.to_string());
                let doc = serde_json::json!({"digest": digest, "pushed": lines});
                std::fs::write(path, format!("{doc}\n")).map_err(|e| Error::io(path, e))?;
            }
        }
    }
    for l in &lines {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

/// How to reach registries for a build's cache: `--insecure-registry`, the credential
/// files, the session's log.
fn client_options(s: &Session, insecure: &[String]) -> scratch_compose::registry::ClientOptions {
    scratch_compose::registry::ClientOptions {
        ui: s.ui().clone(),
        insecure: insecure
            .iter()
            .flat_map(|h| scratch_compose::registry::client::parse_insecure(h))
            .collect(),
        ..Default::default()
    }
}

/// Attach the registry-backed layer cache the options, the environment or `[cache]` name.
fn attach_cache(
    s: &Session,
    from: &[String],
    to: Option<&str>,
    client: scratch_compose::registry::ClientOptions,
) -> Result<(), Error> {
    use scratch_compose::cache::{CacheError, CacheSettings, RemoteCache};
    let settings =
        CacheSettings::resolve(from, to, &|k| std::env::var(k).ok(), &s.manifest().cache)
            .map_err(CacheError::Setting)?;
    if !settings.is_empty() {
        s.attach_remote_cache(RemoteCache::new(settings, client, s.jobs()));
    }
    Ok(())
}

/// What `lock --check` found, as results with the fix: a missing lock is said to be
/// missing (not stale); a stale one lists every difference.
fn check_report(lock: &std::path::Path, findings: &[scratch_compose::lock::Staleness]) -> String {
    use scratch_compose::lock::Staleness;
    let name = lock.strip_prefix(".").unwrap_or(lock).display();
    if findings.iter().any(|f| matches!(f, Staleness::NoLock)) {
        return format!(
            "no lock: {name} does not exist\nfix: run `compose lock` to create it, then commit it\n"
        );
    }
    let mut out = format!("stale: {name} does not match the manifest\n");
    if findings.is_empty() {
        out.push_str("  - its text differs from what `compose lock` writes (edited by hand?)\n");
    }
    for f in findings {
        out.push_str(&format!("  - {f}\n"));
    }
    out.push_str("fix: run `compose lock` to update it, then commit it\n");
    out
}

/// `--metadata-file`: the build's digests as canonical JSON (and, for push, the
/// references pushed as `REF@DIGEST`).
fn write_metadata(
    path: &std::path::Path,
    format: OutputFormat,
    r: &command::BuildResult,
    pushed: &[String],
    cache: Option<&scratch_compose::cache::CacheStats>,
) -> Result<(), Error> {
    let platforms: serde_json::Map<String, serde_json::Value> = r
        .outputs
        .iter()
        .map(|(p, o)| {
            let layers: Vec<serde_json::Value> = o
                .layers
                .iter()
                .map(|l| serde_json::json!({"diff_id": l.diff_id.to_string(), "digest": l.digest.to_string(), "size": l.size}))
                .collect();
            let mut v = serde_json::json!({"manifest": o.manifest.to_string(), "config": o.config.to_string(), "layers": layers});
            // The SBOM digests, when --sbom or [image] sbom wrote them.
            for (key, d) in [("spdx", o.spdx), ("cyclonedx", o.cyclonedx)] {
                if let Some(d) = d {
                    v[key] = d.to_string().into();
                }
            }
            (p.clone(), v)
        })
        .collect();
    let mut doc = serde_json::json!({"digest": r.digest.to_string(), "format": format.name(), "platforms": platforms});
    if !pushed.is_empty() {
        doc["pushed"] = serde_json::json!(pushed);
    }
    let preflight: serde_json::Map<String, serde_json::Value> = r
        .preflight
        .iter()
        .map(|(p, f)| (p.clone(), serde_json::json!(f)))
        .collect();
    doc["preflight"] = serde_json::json!(preflight);
    if let Some(c) = cache {
        // Where the layers came from, with a registry-backed cache: CI can check that a
        // warm cache was used (layers_built 0) and what was written.
        doc["cache"] = serde_json::json!(c);
    }
    std::fs::write(path, format!("{doc}\n")).map_err(|e| Error::io(path, e))
}

/// True when the error is a write to stdout, a pipe whose reader has gone (`compose build
/// -o - | head`). Only errors about stdout (named `<stdout>` or `<archive stream>`) count:
/// a broken connection to a server is a real error.
fn is_broken_pipe(e: &Error) -> bool {
    let text = e.to_string();
    if !text.contains("<stdout>") && !text.contains("<archive stream>") {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// End as other Unix tools do when their reader goes away: silently, by SIGPIPE (the
/// shell shows 141), now that every temporary file has been removed.
fn die_of_sigpipe() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: restoring the default action of SIGPIPE and raising it ends the process;
    // nothing runs concurrently that depends on the handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    ExitCode::from(141)
}

fn main() -> ExitCode {
    return_large_buffers();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => die_of_sigpipe(),
        Err(e) => {
            let mut shown = e.to_string();
            eprintln!("error: {}", escape::message(&shown));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {}", escape::message(&text));
                    shown.push_str(&text);
                }
                source = s.source();
            }
            if let Some(h) = e.hint() {
                eprintln!("hint: {}", escape::message(&h));
            }
            ExitCode::from(2)
        }
    }
}

/// Serve allocations of 1 MiB and more from `mmap`, so that they go back to the system when
/// freed. By default glibc raises this threshold to the size of the first large block freed
/// and from then on serves such blocks from per-thread heaps that keep them: peak RSS of the
/// 1 GiB benchmark rootfs was 67 MiB with gzip and 94-105 MiB with zstd, and is 60 and 72
/// MiB with this (and the compressor's buffer reuse). Fixing the threshold also fixes
/// glibc's trim threshold at 128 KiB, which returned pages on almost every free at the top
/// of a heap (1,900 `madvise` calls on that rootfs); 4 MiB keeps that rare, as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers() {
    // Whoever sets glibc's own malloc variables keeps them.
    let tuned = std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k.starts_with("MALLOC_") || k == "GLIBC_TUNABLES")
    });
    if tuned {
        return;
    }
    // SAFETY: `mallopt` only sets an allocator parameter, and this runs before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers() {}
