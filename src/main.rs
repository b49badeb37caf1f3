//! The `compose` command line: a thin front end over the `scratch_compose` library.
//!
//! stdout carries results only (one digest line for `build`); logs, warnings and progress
//! go to stderr. Exit codes: 0 success, 1 a check found a difference, 2 any error.

use clap::Parser;
use scratch_compose::cli::{CacheCommand, Cli, Command, PushArgs, RegistryArgs, SessionArgs};
use scratch_compose::command::{self, BuildOptions, LockOptions, PruneOptions};
use scratch_compose::diff::{self, DiffOptions};
use scratch_compose::image::OutputFormat;
use scratch_compose::listing;
use scratch_compose::session::pins::Update;
use scratch_compose::session::{Session, SessionOptions};
use scratch_compose::{escape, Error};
use std::process::ExitCode;

/// A session from the options given after the command, completed by those before it;
/// `names` are `build -t`'s.
fn session(
    args: SessionArgs,
    before: &SessionArgs,
    names: Vec<String>,
    insecure_registries: &[String],
) -> Result<Session, Error> {
    let g = args.or(before);
    Session::new(SessionOptions {
        manifest: g.manifest(),
        lockfile: g.lockfile,
        cache_dir: g.cache_dir,
        mirrors: g.mirrors,
        offline: g.offline,
        jobs: g.jobs,
        quiet: g.quiet,
        verbose: g.verbose,
        confine_sources: g.confine_sources,
        names,
        insecure_registries: insecure_registries.to_vec(),
    })
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Lock {
            check,
            update,
            refresh,
            session: args,
        } => {
            let s = session(args, &cli.global, Vec::new(), &[])?;
            let update = match update {
                None => Update::Nothing,
                Some(u) if u.is_empty() => Update::All,
                Some(u) => Update::Input(u),
            };
            let outcome = command::lock(
                &s,
                &LockOptions {
                    check,
                    update,
                    refresh,
                },
            )?;
            if check && outcome.changed {
                print_out(&check_report(&s, &outcome.findings))?;
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            key,
            attestation,
            session: args,
        } => {
            let s = session(args, &cli.global, Vec::new(), &[])?;
            let outcome = command::verify_with(
                &s,
                &command::VerifyOptions {
                    key,
                    attestations: attestation,
                },
            )?;
            if outcome.reproduced {
                print_out(&format!("{}\n", escape::message(&outcome.report)))?;
                Ok(ExitCode::SUCCESS)
            } else {
                print_out(&format!(
                    "not reproduced:\n{}\n",
                    escape::message(&outcome.report)
                ))?;
                Ok(ExitCode::from(1))
            }
        }
        Command::Cache(CacheCommand::Prune {
            blobs,
            all,
            file,
            lockfile,
            cache_dir,
        }) => {
            let g = SessionArgs {
                file,
                lockfile,
                cache_dir,
                ..Default::default()
            }
            .or(&cli.global);
            let cache_dir = g
                .cache_dir
                .clone()
                .unwrap_or_else(scratch_compose::store::default_cache_dir);
            let freed = command::prune(&PruneOptions {
                cache_dir: cache_dir.clone(),
                manifest: g.manifest(),
                lockfile: g.lockfile.clone(),
                blobs,
                all,
            })?;
            print_out(&format!(
                "freed {} in {} files from {}\n",
                scratch_compose::disk::human(freed.bytes),
                freed.files,
                cache_dir.display()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(d) => {
            let options = DiffOptions {
                ignore_mtime: d.ignore_mtime,
                ignore_history: d.ignore_history,
                ignore_labels: d.ignore_label,
                ignore_owner: d.ignore_owner,
                ignore_annotations: d.ignore_annotation,
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
        Command::Push(p) => push(&cli.global, p),
        Command::Completions { shell } => {
            // Whole, then written: a closed stdout ends quietly instead of panicking.
            let mut script = Vec::new();
            scratch_compose::cli::docs::completions(shell, &mut script);
            print_out(&String::from_utf8_lossy(&script))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let written =
                scratch_compose::cli::docs::man_pages(&dir).map_err(|e| Error::io(&dir, e))?;
            print_out(
                &written
                    .iter()
                    .map(|p| format!("{}\n", p.display()))
                    .collect::<String>(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tree(t) => {
            let s = session(t.session, &cli.global, Vec::new(), &[])?;
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
            if format == OutputFormat::Rootfs && !b.tags.is_empty() {
                return Err(Error::usage(
                    "-t/--tag names an image, but --format rootfs writes only the merged tree, which carries no name",
                    Some("leave out -t, or build an image format (oci, oci-archive, docker-archive)"),
                ));
            }
            let s = session(
                b.session,
                &cli.global,
                b.tags,
                &b.registry.insecure_registries,
            )?;
            let client = client_options(s.ui(), &b.registry.insecure_registries);
            attach_cache(&s, &b.registry, client)?;
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
                    load: b.load,
                },
            )?;
            if let Some(path) = &b.metadata_file {
                let cache = s.remote_cache().map(|r| r.stats());
                write_metadata(path, format, &result, &[], cache.as_ref())?;
            }
            let mut lines = vec![result.digest.to_string()];
            if let Some(l) = &result.loaded {
                lines.push(loaded_line(l));
            }
            for line in lines {
                if to_stdout {
                    eprintln!("{line}");
                } else {
                    print_out(&format!("{line}\n"))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The line `build --load` adds after the digest: the engine, the ID it gave the image
/// (what `docker run` takes; not the manifest digest) and the names.
fn loaded_line(l: &command::load::Loaded) -> String {
    format!(
        "loaded into {}: image ID {} ({})",
        l.engine.program(),
        l.image_id,
        l.tags.join(", ")
    )
}

/// `compose push`: the build (or `--from`), then one `REF@DIGEST` line per reference.
fn push(before: &SessionArgs, mut p: PushArgs) -> Result<ExitCode, Error> {
    let args = std::mem::take(&mut p.session);
    let g = args.clone().or(before);
    use scratch_compose::command::push::{self, BuildSettings, PushRequest};
    let ui = scratch_compose::ui::Ui::new(g.quiet, g.verbose);
    let client = client_options(&ui, &p.registry.insecure_registries);
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
            let manifest = scratch_compose::manifest::Manifest::load(&g.manifest()).ok();
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
            let s = session(args, before, Vec::new(), &p.registry.insecure_registries)?;
            attach_cache(&s, &p.registry, request.client.clone())?;
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
    print_out(&lines.iter().map(|l| format!("{l}\n")).collect::<String>())?;
    Ok(ExitCode::SUCCESS)
}

/// How `build` and `push` reach registries (a push target, the registry-backed cache):
/// `--insecure-registry`, the credential files, the log.
fn client_options(
    ui: &scratch_compose::ui::Ui,
    insecure: &[String],
) -> scratch_compose::registry::ClientOptions {
    scratch_compose::registry::ClientOptions {
        ui: ui.clone(),
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
    r: &RegistryArgs,
    client: scratch_compose::registry::ClientOptions,
) -> Result<(), Error> {
    use scratch_compose::cache::{CacheError, CacheSettings, RemoteCache};
    let (from, to) = (&r.cache_from, r.cache_to.as_deref());
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
fn check_report(s: &Session, findings: &[scratch_compose::lock::Staleness]) -> String {
    use scratch_compose::lock::Staleness;
    let lock = s.lock_path();
    let name = lock.strip_prefix(".").unwrap_or(lock).display();
    let names = s.file_names();
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
        out.push_str(&format!("  - {}\n", f.describe(&names)));
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
    if !r.names.is_empty() {
        doc["names"] = serde_json::json!(r.names);
    }
    // The ID Docker and podman give a single-platform image is its config digest: `docker
    // run <image_id>` works, `docker run <digest>` (the manifest's) does not.
    if let [(_, only)] = r.outputs.iter().collect::<Vec<_>>().as_slice() {
        doc["image_id"] = only.config.to_string().into();
    }
    if let Some(l) = &r.loaded {
        doc["loaded"] = serde_json::json!({"engine": l.engine.program(), "image_id": l.image_id, "tags": l.tags});
    }
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

/// Write results to stdout. A reader that has gone (`compose build | true`) is not an
/// error: the `<stdout>` error ends the process quietly ([`is_broken_pipe`]), as `-o -`
/// into a closed pipe does.
fn print_out(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
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
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let args: Vec<String> = std::env::args().collect();
        let spaced_load = args
            .windows(2)
            .any(|w| w[0] == "--load" && (w[1] == "docker" || w[1] == "podman"));
        if spaced_load && e.kind() == clap::error::ErrorKind::UnknownArgument {
            let _ = e.print();
            eprintln!("hint: the engine is written with `=`: --load=docker or --load=podman");
            std::process::exit(2);
        }
        e.exit()
    });
    if let Err(e) = scratch_compose::cleanup::install() {
        eprintln!("warning: Ctrl-C will not remove temporary files: {e}");
    }
    let result = run(cli);
    if scratch_compose::cleanup::interrupted() {
        // The interrupt handler removes the temporary files and ends the process; what
        // went wrong here since is its doing.
        scratch_compose::cleanup::wait_for_exit();
    }
    match result {
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
