//! A run of bytes in a file, as `compose diff` finds blobs: the shared vocabulary of
//! opening inputs (`source.rs`) and reading their tars (`unpack.rs`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::DiffError;

/// The largest JSON document (index, manifest, config) we read into memory.
const MAX_JSON: u64 = 16 << 20;

/// A run of bytes in a file: a blob in a layout folder, or a member of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub offset: u64,
    pub len: u64,
}

impl Span {
    /// A reader over exactly these bytes.
    pub fn open(&self) -> Result<io::Take<File>, DiffError> {
        let mut f =
            File::open(self.file.as_path()).map_err(|e| DiffError::io(self.file.as_path(), e))?;
        f.seek(SeekFrom::Start(self.offset))
            .map_err(|e| DiffError::io(self.file.as_path(), e))?;
        Ok(f.take(self.len))
    }

    /// The bytes of a small JSON document.
    pub(super) fn json(&self, what: &str) -> Result<Value, DiffError> {
        if self.len > MAX_JSON {
            return Err(DiffError::format(
                self.file.as_path(),
                format!(
                    "{what} is {} bytes, too large for a JSON document",
                    self.len
                ),
            ));
        }
        let mut buf = Vec::with_capacity(self.len as usize);
        self.open()?
            .read_to_end(&mut buf)
            .map_err(|e| DiffError::io(self.file.as_path(), e))?;
        serde_json::from_slice(&buf).map_err(|e| {
            DiffError::format(self.file.as_path(), format!("{what}: not valid JSON: {e}"))
        })
    }
}
