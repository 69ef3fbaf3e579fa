//! The trainer's error type.

use herd_bus::BusError;
use herd_history::HistoryError;
use herd_lake::LakeError;
use herd_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error(transparent)]
    Registry(#[from] RegistryError),

    #[error(transparent)]
    Bus(#[from] BusError),

    /// A table holds rows Herd would not have written.
    #[error("{0}")]
    Corrupt(String),

    /// Settings that cannot train anything.
    #[error("{0}")]
    Invalid(String),

    #[error("nothing to train: {0}")]
    NoData(String),

    /// The continuous trainer's training task failed, and the trainer with it.
    #[error("training stopped: {0}")]
    Stopped(Box<TrainError>),

    /// Model events that the broker did not acknowledge; the models are registered.
    #[error(
        "{failed} model events were not delivered to {topic} ({reason}); the models are registered in the lake"
    )]
    Announce {
        topic: String,
        failed: u64,
        reason: String,
    },
}

/// History errors keep their own meaning here: a lake error is the trainer's lake
/// error, corrupt rows are corrupt rows.
impl From<HistoryError> for TrainError {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::Lake(error) => TrainError::Lake(error),
            HistoryError::Corrupt(reason) => TrainError::Corrupt(reason),
        }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
