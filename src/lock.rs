//! (being written)

/// Errors of this stage.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{0}")]
    Message(String),
}

impl LockError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        None
    }
}
