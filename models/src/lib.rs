//! Per-series forecasters and how they are judged.
//!
//! One model per store-item series: the candidates (seasonal naive, closed-form ridge
//! on lags and calendar terms, Holt-Winters exponential smoothing, TSB for intermittent
//! demand) are compared by a rolling-origin backtest with the metrics of `docs/workload.md`,
//! the winner is refit on all data and carries everything it needs to forecast.
//! A cold-start fallback covers keys with too little history.
//!
//! Pure compute: slices in, values out; no I/O, no clocks, no globals.

mod backtest;
mod calendar;
mod calibration;
mod cholesky;
mod codec;
mod cold_start;
mod error;
mod ets;
mod features;
mod forecast;
mod gram;
mod history;
mod interval;
mod kind;
mod metrics;
mod model;
mod naive;
mod optimizer;
mod options;
mod rescore;
mod ridge;
#[cfg(test)]
mod testdata;
mod train;
mod tsb;

pub use calibration::Calibration;
pub use codec::DecodeError;
pub use cold_start::{ItemProfile, ItemProfileBuilder, train_cold_start};
pub use error::FitError;
pub use features::FeatureSet;
pub use forecast::{Forecast, Future};
pub use herd_schemas::Frequency;
pub use history::History;
pub use kind::ModelKind;
pub use metrics::{Metrics, accuracy};
pub use model::Model;
pub use options::{TrainOptions, min_history};
pub use rescore::holdout_accuracy;
pub use train::{FoldScore, Trained, train};
