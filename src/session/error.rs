//! What can go wrong between the stages: inputs that are not what they should be, settings
//! that cannot be read, a lock that cannot be used. Usage mistakes stay
//! [`crate::Error::Usage`].

use crate::digest::Sha256Digest;
use std::path::PathBuf;

/// Errors of the orchestration shared by the commands.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An input's bytes do not have the sha256 pinned for them.
    #[error("{0}")]
    WrongPin(Box<crate::lock::WrongPin>),
    /// An input's bytes changed between identifying it and reading it.
    #[error("{input}: changed while compose was building: it had sha256 {}, now {}", .before.hex(), .now.hex())]
    InputChanged {
        input: String,
        before: Sha256Digest,
        now: Sha256Digest,
    },
    /// A local input read in place changed while it was read.
    #[error("{} changed while compose was reading it", .0.display())]
    ChangedWhileReading(PathBuf),
    /// A local input does not exist.
    #[error("{input}: {} does not exist", .path.display())]
    Missing { input: String, path: PathBuf },
    /// A local file input is not a regular file (a directory, a FIFO, a device); `reason`
    /// names the path and what it is.
    #[error("{input}: {reason}")]
    NotAFile { input: String, reason: String },
    /// A local directory input is not a directory.
    #[error("{input}: {} is not a directory", .path.display())]
    NotADirectory { input: String, path: PathBuf },
    /// `SOURCE_DATE_EPOCH` or `[image] source_date_epoch` cannot be used.
    #[error("{0}")]
    Epoch(String),
    /// `SCRATCH_MAX_INPUT_SIZE` is not a number.
    #[error("SCRATCH_MAX_INPUT_SIZE=`{0}` is not a number of bytes")]
    MaxInputSize(String),
    /// A setting the lock records cannot be read.
    #[error("scratch.lock: {0}")]
    RecordedSetting(String),
    /// `compose verify` without a lock.
    #[error("{} does not exist: there is nothing to verify", .0.display())]
    NoLock(PathBuf),
    /// `compose verify` with a lock that records no outputs.
    #[error("{} records no output digests", .0.display())]
    NoOutputs(PathBuf),
}

impl BuildError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            BuildError::WrongPin(w) => return Some(w.hint()),
            BuildError::InputChanged { .. } | BuildError::ChangedWhileReading(_) => {
                "build again once the input stays unchanged"
            }
            BuildError::Missing { .. } | BuildError::NotADirectory { .. } => {
                "local paths are relative to the folder of scratch.toml"
            }
            BuildError::NotAFile { .. } => {
                "a file input must be a regular file (or a symlink to one); directories go in [[layer.dir]], and devices, FIFOs and sockets are refused"
            }
            BuildError::Epoch(_) => {
                "set SOURCE_DATE_EPOCH to whole seconds, or set [image] source_date_epoch"
            }
            BuildError::MaxInputSize(_) => {
                "give the largest decompressed size of one input in bytes, e.g. 21474836480"
            }
            BuildError::RecordedSetting(_) => "run `compose lock` to rewrite it",
            BuildError::NoLock(_) => {
                "run `compose lock` to pin the inputs and record the output digests"
            }
            BuildError::NoOutputs(_) => "run `compose lock` to record them",
        };
        Some(h.to_string())
    }
}
