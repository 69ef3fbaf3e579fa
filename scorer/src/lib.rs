//! Forecasts for users, from the production registry only: batch scoring as of a
//! date into the Delta table `predictions`, and the real-time HTTP API with models
//! loaded on demand into a byte-budgeted cache, with a dashboard page.
//! Continuous scoring follows `herd.sales` and writes exactly-once.

mod batch;
mod dashboard;
mod error;
mod failures;
mod fallback;
mod latency;
mod pipeline;
mod predictions;
mod recent;
mod serve;
mod sql_api;
mod stream;

pub use batch::{BatchOptions, BatchSummary, score_batch, through};
pub use error::{Result, ScoreError};
pub use fallback::{Fallback, FallbackForecast, Origin};
pub use latency::Latency;
pub use pipeline::{
    AccuracyThreshold, ConsumerGroup, PipelineOptions, PipelineReport, accuracy_threshold,
};
pub use predictions::{PREDICTIONS_TABLE, PredictionRows, Scored, predictions_table};
pub use recent::{Loaded, RecentSales, Refresh};
pub use serve::{
    MAX_BODY_BYTES, MAX_HORIZON, ServeLimits, ServeOptions, check_default_horizon, check_exposure,
    follow_models, router, serve,
};
pub use sql_api::{SqlApi, SqlRequest, WITHOUT_SQL};
pub use stream::{
    DEFAULT_SCORE_GROUP, ID_HEADER, SCORE_WRITER, StreamOptions, StreamSummary, prediction_id,
    predictions_appender, run_stream,
};
