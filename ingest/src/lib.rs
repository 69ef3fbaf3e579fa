//! Getting sales into Herd.
//!
//! Holds the synthetic data generator, the CSV, Parquet and JSON-lines readers,
//! validation into `herd.sales` with rejects on `herd.sales.dlq`, and the archive
//! service that feeds the Delta `sales` table from Kafka exactly-once.

pub mod archive;
pub mod dlq;
pub mod format;
pub mod generate;
pub mod publish;
pub mod read;
pub mod simulate;
