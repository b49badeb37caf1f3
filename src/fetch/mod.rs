//! (being written)

/// Errors of this stage.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Message(String),
}

impl FetchError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        None
    }
}
