//! The dead-letter topic's contract: the headers of a record on `herd.sales.dlq`.
//! Ingest and the archive put rejected input there as its original bytes; the
//! continuous scorer puts there each forecast it could not make.

/// Machine-readable kind, e.g. `bad_date` (see `RecordError::kind`) or
/// [`FORECAST_FAILED`].
pub const ERROR_KIND: &str = "herd.error.kind";
/// The rule broken, or why a forecast failed, in words.
pub const ERROR_MESSAGE: &str = "herd.error.message";
/// Where the record came from: a file name, `<stdin>`, or a topic.
pub const SOURCE: &str = "herd.source";
/// Its 1-based line in a CSV or JSON-lines source.
pub const LINE: &str = "herd.source.line";
/// Its 1-based row in a Parquet source.
pub const ROW: &str = "herd.source.row";
/// Its partition in a topic source.
pub const PARTITION: &str = "herd.source.partition";
/// Its offset in a topic source.
pub const OFFSET: &str = "herd.source.offset";

/// The kind of a forecast the continuous scorer could not make, even after
/// retrying: the record's value says which key and as-of day, and why.
pub const FORECAST_FAILED: &str = "forecast_failed";
