//! Preflight checks of a final tree (placeholder while writing)
pub mod elf;
pub(crate) mod bytes;
