//! The promoter's error type, worded for the operator.

use herd_bus::BusError;
use herd_history::HistoryError;
use herd_lake::LakeError;
use herd_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Registry(#[from] RegistryError),

    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error(transparent)]
    Bus(#[from] BusError),

    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),

    #[error("reading sales to re-score champions: {0}")]
    History(#[from] HistoryError),

    /// Nothing to decide on: `herd train` never registered a model here.
    #[error("no candidate registry at {0}: run `herd train` first")]
    NoCandidates(String),

    #[error("{key} has no production model")]
    NoProduction { key: String },

    #[error(
        "version {version} of {key} was never in production; its production versions are {versions}"
    )]
    NeverInProduction {
        key: String,
        version: i64,
        versions: String,
    },

    #[error("{key} has no earlier production version to roll back to (v{current} is its only one)")]
    NothingEarlier { key: String, current: i64 },

    #[error("v{version} is already {key}'s current production model")]
    AlreadyCurrent { key: String, version: i64 },

    #[error("a promotion task failed: {0}")]
    Task(String),

    /// Other writers kept committing to the same keys.
    #[error("gave up after {attempts} attempts: other promoters kept deciding for the same keys")]
    Contended { attempts: u32 },
}

pub type Result<T, E = PromoteError> = std::result::Result<T, E>;
