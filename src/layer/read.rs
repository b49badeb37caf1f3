//! Reading plain tar archives into normalised entries (being written).

use super::LayerError;
use crate::entry::Entry;
use std::path::Path;

/// Read a plain (uncompressed) tar file into normalised entries.
pub fn read_tar(_tar_path: &Path, label: &str) -> Result<Vec<Entry>, LayerError> {
    Err(LayerError::Message(format!(
        "{label}: tar reading is not implemented yet"
    )))
}
