//! `compose tree`: each platform's merged tree, without writing an image.

use crate::lock::Lock;
use crate::manifest::LayerSpec;
use crate::platform::Platform;
use crate::session::check::MergedTree;
use crate::session::Session;
use crate::{Error, Result};

/// The merged tree of every platform of the manifest (or only `platform`), with the
/// layer that last wrote each entry.
pub fn tree(s: &Session, platform: Option<&Platform>) -> Result<Vec<MergedTree>> {
    let all = &s.manifest().image.platforms;
    let platforms = match platform {
        Some(p) if all.contains(p) => vec![p.clone()],
        Some(p) => {
            let names: Vec<String> = all.iter().map(|p| p.to_string()).collect();
            return Err(Error::usage(
                format!(
                    "--platform {p} is not one of the manifest's platforms ({})",
                    names.join(", ")
                ),
                Some("pick one of [image] platforms"),
            ));
        }
        None => all.clone(),
    };
    let lock = Lock::read(s.lock_path())?;
    let mut inputs = s.identify(lock.as_ref(), &platforms, true, true)?;
    s.ensure_blobs(&mut inputs)?;
    let mut out = Vec::new();
    for p in platforms {
        let specs: Vec<&LayerSpec> = s.manifest().layers_for(&p).collect();
        let mut origins = Default::default();
        let tree = s.merge_quietly(&specs, &inputs, &p, Some(&mut origins))?;
        out.push(MergedTree {
            entries: tree.entries(),
            platform: p,
            origins,
        });
    }
    inputs.check_unchanged()?;
    Ok(out)
}
