//! Delta Lake tables under one lake root.
//!
//! Holds opening and creating the tables (`sales` today; `models`,
//! `production/models`, `promotions` and `predictions` later) and the exactly-once
//! appender that commits Arrow batches with one Delta `txn` action per Kafka
//! partition. Offsets are plain numbers here: this crate never talks to Kafka.

mod appender;
mod error;
mod replace;
mod root;
mod sales;
mod scan;
#[cfg(feature = "sql")]
pub mod sql;
pub mod tables;

#[cfg(test)]
mod test_support;

/// The Delta table handle that [`tables::open_or_create`] returns.
pub use deltalake::DeltaTable;
/// Arrow and Parquet as Delta Lake builds them, so that every crate uses one version.
pub use deltalake::arrow;
pub use deltalake::parquet;

pub use appender::{AppendOptions, ExactlyOnceAppender, OffsetRange};
pub use error::{LakeError, Result};
pub use replace::{Replaced, RowMatch, replace_app_id, replace_rows};
pub use root::LakeRoot;
pub use sales::{SALES_PARTITION_COLUMN, SALES_TABLE, SalesRows, sales_schema};
pub use scan::{ReadColumns, ScanOptions, ScanStats, data_files, parquet_reader, scan};
pub use tables::{TableSpec, TableStats, open_existing, open_or_create, table_stats};
