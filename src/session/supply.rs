//! The supply-chain documents of a build, per platform: the SBOMs of
//! `--sbom`/`[image] sbom` and the provenance statement (signed with `--sign-key`), made
//! from the same inputs, manifest and lock as the image, so they are as reproducible.

use super::inputs::Inputs;
use super::produce::Built;
use super::recipe::layer_label;
use super::{OutputSettings, Session};
use crate::attest::{dsse, provenance, IN_TOTO_MEDIA_TYPE};
use crate::digest::Sha256Digest;
use crate::entry::{Entry, ImagePath};
use crate::image::Descriptor;
use crate::layer;
use crate::lock::InputKind;
use crate::manifest::{LayerSpec, Location};
use crate::merge::{MergeOptions, Tree};
use crate::platform::Platform;
use crate::sbom::collect::{self, BaseFacts, BuildView, InputFacts};
use crate::sbom::model::Sbom;
use crate::sbom::{cyclonedx, spdx, SbomFormat};
use crate::{Error, Result};
use ed25519_dalek::SigningKey;

/// What to make besides the image.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The SBOM formats (`--sbom`, else `[image] sbom`).
    pub sbom: Option<SbomFormat>,
    /// Write the provenance statement.
    pub provenance: bool,
    /// Sign the provenance (a DSSE envelope) with this key.
    pub sign_key: Option<SigningKey>,
}

impl Request {
    /// True when nothing besides the image is asked for.
    pub fn is_empty(&self) -> bool {
        self.sbom.is_none() && !self.provenance && self.sign_key.is_none()
    }
}

/// One platform's documents.
#[derive(Debug, Clone)]
pub struct PlatformDocuments {
    pub platform: Platform,
    /// The image manifest they describe.
    pub subject: Descriptor,
    /// Each SBOM asked for, SPDX first.
    pub sboms: Vec<(SbomFormat, Vec<u8>)>,
    /// The provenance: the in-toto statement, or its DSSE envelope when signed.
    pub provenance: Option<Vec<u8>>,
}

impl PlatformDocuments {
    /// The digest of this platform's SBOM in `format`, when one was made.
    pub fn sbom_digest(&self, format: SbomFormat) -> Option<Sha256Digest> {
        self.sboms
            .iter()
            .find(|(f, _)| *f == format)
            .map(|(_, b)| Sha256Digest::of(b))
    }

    /// Every document with its artifact type, for attaching to the image.
    pub fn attachments(&self) -> Vec<(&'static str, &[u8])> {
        let mut v: Vec<(&'static str, &[u8])> = self
            .sboms
            .iter()
            .map(|(f, b)| (f.media_type(), b.as_slice()))
            .collect();
        if let Some(p) = &self.provenance {
            v.push((IN_TOTO_MEDIA_TYPE, p.as_slice()));
        }
        v
    }
}

/// The build as an SBOM sees it: input blobs and the finished tree of one platform.
struct View<'a> {
    session: &'a Session,
    platform: &'a Platform,
    inputs: &'a Inputs,
    /// Looked up by `present` (which may read names from a snapshot).
    tree: std::cell::RefCell<Tree>,
}

impl BuildView for View<'_> {
    fn facts(&self, kind: InputKind, key: &str) -> Result<InputFacts> {
        let loc = self.location(kind, key);
        let blob = self.inputs.blob(kind, &loc);
        Ok(InputFacts {
            sha256: blob.sha256,
            size: blob.size,
        })
    }

    fn tar_entries(&self, key: &str, label: &str) -> Result<Vec<Entry>> {
        let blob = self
            .inputs
            .blob(InputKind::Tar, &self.location(InputKind::Tar, key));
        let plain = match self.inputs.plain.get(&blob.sha256) {
            Some(p) => p.clone(),
            None => self
                .session
                .plain_tar(blob, label, self.inputs.remembered)?,
        };
        Ok(layer::read_tar(&plain, label)?)
    }

    fn present(&self, path: &ImagePath) -> bool {
        self.tree.borrow_mut().get(path).is_some()
    }

    fn base(&self) -> Result<Option<BaseFacts>> {
        let Some(b) = self.session.base()? else {
            return Ok(None);
        };
        let image = b.image(self.platform)?;
        let mut tree = self.session.bottom_tree(self.platform)?;
        tree.load_all()?;
        Ok(Some(BaseFacts {
            reference: b.written().to_string(),
            manifest: image.manifest.digest,
            size: image.layers.iter().map(|l| l.blob.size).sum(),
            entries: tree.entries(),
        }))
    }
}

impl View<'_> {
    /// The manifest's location for an input key (the inputs map is keyed by it).
    fn location(&self, kind: InputKind, key: &str) -> Location {
        self.session
            .manifest()
            .inputs()
            .into_iter()
            .find(|i| i.kind == kind && i.key == key)
            .map(|i| i.location)
            .expect("every input key comes from the manifest")
    }
}

impl Session {
    /// The documents `req` asks for, for every platform `built` holds. Every input must
    /// be readable ([`Session::ensure_blobs`]): packages are read from the inputs.
    pub fn supply_chain(
        &self,
        built: &Built,
        inputs: &Inputs,
        settings: OutputSettings,
        req: &Request,
    ) -> Result<Vec<PlatformDocuments>> {
        let mut out = Vec::new();
        for img in &built.assembled.images {
            let sbom = self.sbom_model(&img.platform, img.manifest.digest, inputs, settings)?;
            let sboms: Vec<(SbomFormat, Vec<u8>)> = req
                .sbom
                .map(|f| f.formats())
                .unwrap_or(&[])
                .iter()
                .map(|f| {
                    let bytes = match f {
                        SbomFormat::Spdx => spdx::write(&sbom),
                        _ => cyclonedx::write(&sbom),
                    };
                    (*f, bytes)
                })
                .collect();
            let provenance = match req.provenance || req.sign_key.is_some() {
                false => None,
                true => {
                    let statement = self.statement(&sbom, &sboms, settings)?;
                    Some(match &req.sign_key {
                        Some(k) => dsse::sign(IN_TOTO_MEDIA_TYPE, &statement, k),
                        None => statement,
                    })
                }
            };
            out.push(PlatformDocuments {
                platform: img.platform.clone(),
                subject: img.manifest.clone(),
                sboms,
                provenance,
            });
        }
        Ok(out)
    }

    /// The SBOM model of one platform: the merged tree rebuilt from the inputs (warnings
    /// were shown by the build already), the packages read from the tar inputs.
    fn sbom_model(
        &self,
        platform: &Platform,
        manifest_digest: Sha256Digest,
        inputs: &Inputs,
        settings: OutputSettings,
    ) -> Result<Sbom> {
        let specs: Vec<&LayerSpec> = self.manifest().layers_for(platform).collect();
        let mut tree = self.bottom_tree(platform)?;
        for layer in specs {
            let label = layer_label(layer);
            let (entries, _) = self.entries_over(&mut tree, layer, inputs, &label, platform)?;
            tree.apply(&label, entries, &MergeOptions::default())?;
        }
        let view = View {
            session: self,
            platform,
            inputs,
            tree: std::cell::RefCell::new(tree),
        };
        collect::collect(
            self.manifest(),
            platform,
            manifest_digest,
            settings.epoch,
            &view,
        )
    }

    /// The provenance statement of one platform.
    fn statement(
        &self,
        sbom: &Sbom,
        sboms: &[(SbomFormat, Vec<u8>)],
        settings: OutputSettings,
    ) -> Result<Vec<u8>> {
        let file = |path: &std::path::Path| -> Result<Option<provenance::ParameterFile>> {
            match std::fs::read(path) {
                Ok(bytes) => Ok(Some(provenance::ParameterFile {
                    name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: Sha256Digest::of(&bytes),
                })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(path, e)),
            }
        };
        let manifest = file(&self.manifest().file)?
            .ok_or_else(|| Error::usage("the manifest file disappeared during the build", None))?;
        let facts = provenance::Facts {
            image_ref: sbom.image_ref(),
            platform: sbom.image.platform.clone(),
            manifest_digest: sbom.image.manifest_digest,
            manifest,
            lock: file(self.lock_path())?,
            epoch: settings.epoch,
            compression: settings.compression.to_string(),
            inputs: &sbom.inputs,
            byproducts: sboms
                .iter()
                .map(|(f, b)| (f.file_suffix().to_string(), Sha256Digest::of(b)))
                .collect(),
        };
        Ok(provenance::statement(&facts))
    }
}
