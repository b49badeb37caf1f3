//! `--confine-sources`: every local source must lie inside the manifest's folder, for
//! building manifests someone else wrote. Without it a `src` or `tar` may be absolute,
//! climb out with `..` and pass through symlinks: that is the author's choice.

use super::{Location, Manifest, ManifestError, Problem, TextPos};
use std::path::Path;

/// The environment variable that turns confinement on (`1`) like the switch.
pub const CONFINE_ENV: &str = "SCRATCH_CONFINE_SOURCES";

/// Whether sources are confined: the switch, or [`CONFINE_ENV`] set to `1`/`true`/`yes`
/// (`0`, `false`, `no` or empty: off). Another value is an error message.
pub fn wanted(flag: bool) -> Result<bool, String> {
    let env = match std::env::var(CONFINE_ENV) {
        Err(_) => false,
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "" | "0" | "false" | "no" => false,
            _ => return Err(format!("{CONFINE_ENV}=`{v}` is not 1 or 0")),
        },
    };
    Ok(flag || env)
}

impl Manifest {
    /// Refuse any local source outside [`Manifest::dir`] once symlinks are resolved, and
    /// any `file://` URL; each error points at the source in the manifest. A source that
    /// does not exist is left for the build to report.
    pub fn check_confined(&self) -> Result<(), ManifestError> {
        let root = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        for input in self.inputs() {
            let pos = input.pos.clone().unwrap_or_else(|| TextPos {
                file: self.file.clone(),
                line: 1,
                column: 1,
            });
            let refuse = |reason: String| ManifestError::At {
                pos: pos.clone(),
                problem: Box::new(Problem::Unconfined {
                    value: input.key.clone(),
                    reason,
                }),
            };
            match &input.location {
                Location::Url(u) if u.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("file:")) => {
                    return Err(refuse(
                        "is a file:// URL, which may name any host file".into(),
                    ))
                }
                Location::Url(_) => {}
                Location::Local { path, .. } => {
                    if let Some(resolved) = outside(path, &root) {
                        return Err(refuse(format!(
                            "resolves to {}, outside the manifest's folder {}",
                            resolved.display(),
                            root.display()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where `path` really is, when that is outside `root` (symlinks resolved).
fn outside(path: &Path, root: &Path) -> Option<std::path::PathBuf> {
    let resolved = path.canonicalize().ok()?;
    (!resolved.starts_with(root)).then_some(resolved)
}
