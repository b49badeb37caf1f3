//! The settings that shape the output bytes besides the manifest's layers and config: the
//! epoch and the compression.

use super::{BuildError, Session};
use crate::compression::Compression;
use crate::epoch::Epoch;
use crate::lock::Lock;
use crate::Result;

/// The settings that shape the output bytes, from the command line, manifest and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSettings {
    pub epoch: Epoch,
    pub compression: Compression,
}

impl OutputSettings {
    /// The epoch and compression a build would use: the command line, then the manifest,
    /// then the environment (`SOURCE_DATE_EPOCH`), then the defaults.
    pub fn current(s: &Session, cli_compression: Option<Compression>) -> Result<OutputSettings> {
        let env = std::env::var("SOURCE_DATE_EPOCH").ok();
        let epoch = Epoch::resolve(s.manifest().image.source_date_epoch, env.as_deref())
            .map_err(|e| BuildError::Epoch(e.to_string()))?;
        let compression = cli_compression
            .or(s.manifest().image.compression)
            .unwrap_or_default();
        Ok(OutputSettings { epoch, compression })
    }

    /// The settings a lock recorded.
    pub fn recorded(lock: &Lock) -> Result<OutputSettings> {
        let compression =
            lock.compression
                .parse()
                .map_err(|e: crate::compression::CompressionParseError| {
                    BuildError::RecordedSetting(e.to_string())
                })?;
        Ok(OutputSettings {
            epoch: Epoch(lock.source_date_epoch),
            compression,
        })
    }
}
