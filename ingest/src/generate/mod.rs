//! Synthetic sales with the shape of real retail: levels, trend, weekly and yearly
//! seasons, promotions, prices with elasticity, intermittent and late-starting
//! series. Every value is a pure function of (seed, series, day), so files, streams
//! and threads all produce the same rows.
//!
//! Files list rows day by day, and within a day series by series (store, then
//! item), the order a daily feed delivers them in.

mod draw;
mod encode;
mod periods;
mod series;
mod spec;
#[cfg(test)]
mod tests;
mod write;

use std::io;
use std::path::PathBuf;

use chrono::NaiveDate;
use herd_lake::arrow::error::ArrowError;
use herd_lake::parquet::errors::ParquetError;

pub use periods::{periodic_records, write_periodic};
pub use series::SeriesModel;
pub use spec::{DEFAULT_SEED, DEFAULT_START_DATE, GeneratorSpec, Size};
pub use write::{Format, Summary, write_file};

/// Why synthetic data could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "stores, items and days must each be at least 1 (got {stores} stores, {items} items, {days} days)"
    )]
    EmptySpec { stores: u32, items: u32, days: u32 },
    #[error(
        "{series} series is too many: stores × items must be at most {}",
        u32::MAX
    )]
    TooManySeries { series: u64 },
    #[error("{days} days from {start} leave the years 0000–9999")]
    DatesOutOfRange { start: NaiveDate, days: u32 },
    #[error("unknown size {name:?}: use small, medium or headline")]
    UnknownSize { name: String },
    #[error(
        "cannot tell the format of {}: name it .csv, .parquet, .jsonl, .ndjson or .json",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot write Parquet to {}: {source}", path.display())]
    Parquet { path: PathBuf, source: ParquetError },
    #[error("cannot build a record batch: {0}")]
    Batch(#[from] ArrowError),
}
