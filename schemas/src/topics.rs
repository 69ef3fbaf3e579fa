//! Kafka topic names shared by every Herd service.
//!
//! The keys and values on each topic are described in docs/architecture.md's topic table.

/// Validated sales records, keyed by series key.
pub const SALES: &str = "herd.sales";
/// Rejected input, as the original bytes with the error kind and message in headers.
pub const SALES_DLQ: &str = "herd.sales.dlq";
/// Model lifecycle events: registered, promoted, rejected, rolled back.
pub const MODELS: &str = "herd.models";
/// Forecast rows for one key and as-of date.
pub const PREDICTIONS: &str = "herd.predictions";

/// Every topic Herd uses, for topic setup.
pub const ALL: [&str; 4] = [SALES, SALES_DLQ, MODELS, PREDICTIONS];
