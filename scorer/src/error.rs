//! The scorer's error type.

use herd_history::HistoryError;
use herd_lake::LakeError;
use herd_lake::arrow::error::ArrowError;
use herd_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Registry(#[from] RegistryError),

    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error("building prediction rows: {0}")]
    Arrow(#[from] ArrowError),

    #[error("reading sales: {0}")]
    History(#[from] HistoryError),

    #[error("no production registry at {0}: run `herd promote` first")]
    NoProduction(String),

    #[error("no sales in the lake at {0}: run `herd archive` first")]
    NoSales(String),

    #[error("model {path}: {reason}")]
    Model { path: String, reason: String },

    #[error(transparent)]
    Bus(#[from] herd_bus::BusError),

    #[error("{count} forecasts were not acknowledged by topic {topic}")]
    Undelivered { topic: String, count: u64 },

    #[error("a scoring task failed: {0}")]
    Task(String),
}

pub type Result<T, E = ScoreError> = std::result::Result<T, E>;
