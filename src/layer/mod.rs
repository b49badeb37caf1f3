//! (being written)

/// Errors of this stage.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{0}")]
    Message(String),
}

impl LayerError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        None
    }
}
