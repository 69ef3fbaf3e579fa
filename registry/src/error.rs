//! The registry's error type.

use herd_lake::LakeError;
use herd_lake::arrow::error::ArrowError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error("building a registry batch: {0}")]
    Arrow(#[from] ArrowError),

    /// The registry's storage holds something Herd did not write.
    #[error("the registry is corrupt: {0}")]
    Corrupt(String),

    #[error("artifact {path}: {reason}")]
    Artifact { path: String, reason: String },

    #[error("no model registered for {key}{}", .version.map(|v| format!(" at version {v}")).unwrap_or_default())]
    NotFound { key: String, version: Option<i64> },

    /// Another writer committed to the same keys since this process read the table.
    #[error("`{0}` changed under this writer; read it again and decide again")]
    Moved(String),

    /// A `--tag` filter that is not `name=value`.
    #[error("invalid tag filter `{0}`: expected name=value")]
    BadTag(String),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
