//! `build --load`: hand the image to Docker or podman through their own CLI, as a
//! docker-archive streamed to `docker load` / `podman load` (no file written), then ask
//! the engine for the ID it gave the image.
//!
//! The CLI rather than the Engine API: it already knows every way to reach an engine
//! (`DOCKER_HOST` with unix://, tcp:// and ssh://, `DOCKER_CONTEXT`, `DOCKER_TLS_VERIFY`
//! and `DOCKER_CERT_PATH`; podman's `CONTAINER_HOST` and connections), so compose needs
//! no second implementation of them and talks to an engine exactly as the user's own
//! `docker` command does.

use crate::epoch::Epoch;
use crate::image::{self, Assembled, BlobStore, ImageName, OutputFormat};
use std::io::Read;
use std::process::{Command, Stdio};

/// The engine `build --load` loads into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The Docker Engine the docker CLI talks to (DOCKER_HOST, DOCKER_CONTEXT).
    Docker,
    /// podman's image store (CONTAINER_HOST for a remote podman).
    Podman,
}

impl Engine {
    /// The command's name.
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub engine: Engine,
    /// The ID the engine gives the image (`sha256:…`): the config digest for Docker's
    /// classic store and podman, the manifest digest for Docker's containerd store.
    pub image_id: String,
    /// The names it was tagged with (`NAME:TAG`).
    pub tags: Vec<String>,
}

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("--load={}: `{}` could not be started: {source}", .engine.program(), .engine.program())]
    Missing {
        engine: Engine,
        #[source]
        source: std::io::Error,
    },
    #[error("--load={}: `{command}` failed ({status}): {stderr}", .engine.program())]
    Failed {
        engine: Engine,
        command: String,
        status: String,
        stderr: String,
    },
    #[error("--load={}: streaming the image to `{} load`", .engine.program(), .engine.program())]
    Stream {
        engine: Engine,
        #[source]
        source: image::ImageError,
    },
}

impl LoadError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LoadError::Missing { engine, .. } => format!(
                "install {0} or put it on PATH, or leave out --load and load the output yourself (`{0} load -i image.tar` of a --format docker-archive build)",
                engine.program()
            ),
            LoadError::Failed { engine: Engine::Docker, .. } | LoadError::Stream { engine: Engine::Docker, .. } => {
                "check that the Docker Engine runs and that DOCKER_HOST (or the current docker context) points to it: `docker info`".into()
            }
            LoadError::Failed { .. } | LoadError::Stream { .. } => {
                "check that `podman info` works for this user".into()
            }
        })
    }
}

/// Load the single-platform image `a` into `engine` as a docker-archive named `names`,
/// and return the ID the engine reports for it.
pub fn load(
    engine: Engine,
    store: &BlobStore,
    a: &Assembled,
    names: &[ImageName],
    epoch: Epoch,
) -> Result<Loaded, LoadError> {
    let program = engine.program();
    let mut child = Command::new(program)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LoadError::Missing { engine, source })?;
    let stdin = child.stdin.take().expect("piped");
    // Read stderr meanwhile, so a chatty engine cannot block on a full pipe.
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let streamed =
        image::write_archive_to(store, a, OutputFormat::DockerArchive, names, epoch, stdin)
            .map(drop);
    let out = child
        .wait_with_output()
        .map_err(|source| LoadError::Missing { engine, source })?;
    let stderr = errs.join().unwrap_or_default();
    if !out.status.success() {
        return Err(LoadError::Failed {
            engine,
            command: format!("{program} load"),
            status: out.status.to_string(),
            stderr: stderr.trim().to_string(),
        });
    }
    streamed.map_err(|source| LoadError::Stream { engine, source })?;
    let tags: Vec<String> = names.iter().map(ImageName::repo_tag).collect();
    // podman reads the archive's index.json, which names the image once (the first
    // name): the other names are given as tags, as `docker tag`/`podman tag` would.
    for t in &tags[1..] {
        run_engine(engine, &["tag", &tags[0], t])?;
    }
    let image_id = inspect_id(engine, &tags[0])?;
    Ok(Loaded {
        engine,
        image_id,
        tags,
    })
}

/// Run `ENGINE ARGS…`; its stdout.
fn run_engine(engine: Engine, args: &[&str]) -> Result<String, LoadError> {
    let program = engine.program();
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| LoadError::Missing { engine, source })?;
    if !out.status.success() {
        return Err(LoadError::Failed {
            engine,
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ENGINE image inspect --format {{.Id}} NAME`, as `sha256:…`.
fn inspect_id(engine: Engine, name: &str) -> Result<String, LoadError> {
    let out = run_engine(engine, &["image", "inspect", "--format", "{{.Id}}", name])?;
    let id = out.trim().to_string();
    Ok(match id.contains(':') {
        true => id,
        false => format!("sha256:{id}"), // podman prints the bare hex
    })
}
