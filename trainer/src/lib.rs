//! Training one model per series.
//!
//! Per-key windows of recent days (rebuilt from the lake's `sales` table, then kept
//! up to date from `herd.sales`), the triggers that decide when a key is retrained,
//! and the bounded training pool that registers every model in the candidate
//! registry and announces it on `herd.models`.

mod announce;
mod continuous;
mod error;
mod fit;
mod lake_history;
mod loader;
mod once;
mod window;
mod windows;

pub use announce::Announcer;
pub use continuous::{ContinuousOptions, ContinuousSummary, run_continuous, sale_of};
pub use error::{Result, TrainError};
pub use fit::{RunSettings, fit_key};
pub use lake_history::{LoadSummary, load, load_before};
pub use loader::WindowLoader;
pub use once::{
    OnceOptions, OnceSummary, fit_all, item_profiles, train_histories, train_once, training_pool,
};
pub use window::{DenseHistory, Insert, Window};
pub use windows::{KeyWindow, WindowCounts, WindowDigest, Windows};
