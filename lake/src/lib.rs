//! Delta Lake tables under one lake root.
//!
//! Holds opening and creating the tables (`sales` today; `models`,
//! `production/models`, `promotions` and `predictions` later) and the exactly-once
//! appender that commits Arrow batches with one Delta `txn` action per Kafka
//! partition. Offsets are plain numbers here: this crate never talks to Kafka.

/// Arrow and Parquet as Delta Lake builds them, so that every crate uses one version.
pub use deltalake::arrow;
pub use deltalake::parquet;
