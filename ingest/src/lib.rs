//! Getting sales into Herd.
//!
//! Will hold the CSV, Parquet and JSON-lines readers, the synthetic data generator,
//! validation into `herd.sales` with rejects on `herd.sales.dlq`, and the archive
//! service that feeds the Delta `sales` table from Kafka exactly-once.
