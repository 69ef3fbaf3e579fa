//! What can go wrong rebuilding history from the lake.

use herd_lake::LakeError;

/// An error reading per-key history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Lake(#[from] LakeError),

    /// A table holds rows Herd would not have written.
    #[error("{0}")]
    Corrupt(String),
}

/// A result whose error is a [`HistoryError`] unless said otherwise.
pub type Result<T, E = HistoryError> = std::result::Result<T, E>;
