//! The crate's error type: every stage's error, with context and a hint.

use std::path::PathBuf;

/// Any error the pipeline can report. Each variant names what it is about (file,
/// line:column, layer, URL, path); [`Error::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Build(#[from] crate::session::BuildError),
    #[error(transparent)]
    NothingRemoved(#[from] crate::session::NothingRemoved),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Sbom(#[from] crate::sbom::SbomError),
    #[error(transparent)]
    Attest(#[from] crate::attest::AttestError),
    #[error(transparent)]
    Select(#[from] crate::select::SelectError),
    #[error(transparent)]
    Accounts(#[from] crate::accounts::AccountsError),
    #[error(transparent)]
    Load(#[from] crate::command::load::LoadError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Base(#[from] crate::base::BaseError),
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A full disk, named as such.
    #[error("{0}")]
    DiskFull(crate::disk::DiskFull),
    /// A mistake in how compose was called (options that do not fit together or the manifest).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Manifest(e) => e.hint(),
            Error::Lock(e) => e.hint(),
            Error::Fetch(e) => e.hint(),
            Error::Layer(e) => e.hint(),
            Error::Merge(e) => e.hint(),
            Error::Image(e) => e.hint(),
            Error::Diff(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Build(e) => e.hint(),
            Error::NothingRemoved(e) => Some(e.hint()),
            Error::Registry(e) => e.hint(),
            Error::Sbom(e) => e.hint(),
            Error::Attest(e) => e.hint(),
            Error::Select(e) => Some(e.hint()),
            Error::Accounts(e) => Some(e.hint()),
            Error::Load(e) => e.hint(),
            Error::Cache(e) => e.hint(),
            Error::Base(e) => e.hint(),
            Error::Io { .. } => None,
            Error::DiskFull(d) => Some(d.hint()),
            Error::Usage { hint, .. } => hint.clone(),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        if crate::disk::is_full(&source) {
            return Error::DiskFull(crate::disk::DiskFull::new(&path, "writing", None));
        }
        Error::Io {
            path,
            source: without_temp_path(source),
        }
    }

    /// The same error, saying the step needs about `bytes` when it is a full disk.
    pub fn needing(self, bytes: u64) -> Error {
        match self {
            Error::DiskFull(mut d) => {
                d.needed = d.needed.or(Some(crate::disk::Need::About(bytes)));
                d.step = "writing the output".into();
                Error::DiskFull(d)
            }
            Error::Image(e) => Error::Image(e.needing(bytes)),
            other => other,
        }
    }

    /// A usage error with an optional hint.
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
}

/// The system's error without the `at path "…/.name.tmp-XXXX"` that `tempfile` adds:
/// internal temporary names mean nothing to users, and the error already names the path
/// they gave.
pub(crate) fn without_temp_path(e: std::io::Error) -> std::io::Error {
    // tempfile's wrapper is private; its text is `{system error} at path "{path}"`.
    let text = match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => return e,
    };
    match text.split_once(" at path \"") {
        Some((system, _)) => std::io::Error::new(e.kind(), system.to_string()),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn temporary_names_are_left_out_of_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir");
        let e = tempfile::Builder::new()
            .prefix(".out.tmp-")
            .tempfile_in(&missing)
            .unwrap_err();
        assert!(e.to_string().contains(".out.tmp-"), "{e}");
        let e = super::Error::io(&missing, e);
        let text = e.to_string();
        assert!(!text.contains(".tmp-"), "{text}");
        assert!(text.contains("no/such/dir"), "{text}");
        assert!(text.contains("No such file or directory"), "{text}");
    }
}
