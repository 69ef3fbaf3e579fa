//! The dead-letter topic's contract: a rejected record's original bytes, with headers
//! saying why and where it came from.

use herd_bus::{BulkProducer, BusError};
use herd_schemas::RecordError;

/// Machine-readable kind, e.g. `bad_date` (see `herd_schemas::RecordError::kind`).
pub const ERROR_KIND: &str = "herd.error.kind";
/// The rule broken, in words.
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

/// Publishes one rejected record to `topic` with the reason and its origin;
/// `position` names the position headers, e.g. `[(LINE, 17)]`.
pub fn send_reject(
    producer: &mut BulkProducer,
    topic: &str,
    original: &[u8],
    error: &RecordError,
    source: &str,
    position: &[(&str, i64)],
) -> Result<(), BusError> {
    let message = error.to_string();
    let numbers: Vec<String> = position.iter().map(|(_, n)| n.to_string()).collect();
    let mut headers: Vec<(&str, &[u8])> = vec![
        (ERROR_KIND, error.kind().as_bytes()),
        (ERROR_MESSAGE, message.as_bytes()),
        (SOURCE, source.as_bytes()),
    ];
    for ((name, _), number) in position.iter().zip(&numbers) {
        headers.push((name, number.as_bytes()));
    }
    producer.send(topic, None, original, &headers)
}
