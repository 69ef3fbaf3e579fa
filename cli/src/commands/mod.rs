//! One module per `herd` command.

pub mod archive;
pub mod doctor;
pub mod generate;
pub mod ingest;
pub mod models;
pub mod promote;
pub mod score;
pub mod serve;
pub mod simulate;
pub mod sql;
pub mod topics;
pub mod train;

use std::time::Duration;

/// How long setup commands wait for the broker before failing with a clear message.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
