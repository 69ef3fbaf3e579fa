//! Forecasts for users: batch scoring as of a date into the Delta table
//! `predictions`, with models read from the production registry only.
//!
//! Continuous scoring from `herd.sales` and the real-time HTTP API come next.

mod batch;
mod error;
mod predictions;

pub use batch::{BatchOptions, BatchSummary, score_batch, through};
pub use error::{Result, ScoreError};
pub use predictions::{PREDICTIONS_TABLE, PredictionRows, Scored, predictions_table};
