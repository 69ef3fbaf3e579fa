//! Rejected input on the dead-letter topic: a record's original bytes, with headers
//! (named in `herd_schemas::dlq`) saying why and where it came from.

use herd_bus::{BulkProducer, BusError};
use herd_schemas::RecordError;

pub use herd_schemas::dlq::{ERROR_KIND, ERROR_MESSAGE, LINE, OFFSET, PARTITION, ROW, SOURCE};

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
