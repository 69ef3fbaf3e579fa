//! Training one model per series.
//!
//! Per-key windows of recent days (`herd-history`: rebuilt from the lake's `sales`
//! table, then kept up to date from `herd.sales`), the triggers that decide when a
//! key is retrained, and the bounded training pool that registers every model in the
//! candidate registry and announces it on `herd.models`.

mod announce;
mod continuous;
mod drift;
mod error;
mod fit;
mod once;

pub use announce::Announcer;
pub use continuous::{ContinuousOptions, ContinuousSummary, run_continuous};
pub use drift::{Drift, DriftOptions, Watch};
pub use error::{Result, TrainError};
pub use fit::{RunSettings, fit_key};
pub use once::{OnceOptions, OnceSummary, fit_all, train_histories, train_once, training_pool};
