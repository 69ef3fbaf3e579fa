//! Forecasts the continuous scorer could not make. A failure is tried again a few
//! times with a growing pause (a model that cannot be read may be readable a moment
//! later); one that still fails becomes a record on the dead-letter topic, which must
//! be acknowledged before the offset that moves past it is committed. So every key
//! and as-of day the stream advanced ends as a forecast or as a recorded failure.

use std::time::Duration;

use chrono::NaiveDate;
use herd_bus::{BulkProducer, BusError};
use herd_schemas::{SeriesKey, dlq};
use serde::Serialize;

use crate::stream::{ID_HEADER, prediction_id};

/// Pauses before each new attempt at the forecasts that failed: about two seconds
/// in all, short enough that a model that is gone for good holds a flush up only
/// briefly.
pub(crate) const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(600),
    Duration::from_millis(1200),
];

/// A forecast that failed after every attempt, as the dead-letter record's value.
#[derive(Debug, Serialize)]
struct FailedForecast<'a> {
    /// `store_id/item_id/as_of`, as the forecast's id would have been.
    id: &'a str,
    key: String,
    store_id: &'a str,
    item_id: &'a str,
    as_of: NaiveDate,
    reason: &'a str,
    attempts: usize,
}

/// Where the record that advanced the key came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// Queues the record of one failed forecast on the dead-letter topic `dlq_topic`,
/// keyed by series key, with the headers rejected input carries there
/// (`herd.error.kind` = `forecast_failed`) and the forecast's id in `herd-id`, the
/// same for every copy should a crash repeat it.
pub(crate) fn dead_letter(
    producer: &mut BulkProducer,
    dlq_topic: &str,
    key: &SeriesKey,
    as_of: NaiveDate,
    reason: &str,
    source: SourceRecord<'_>,
) -> Result<(), BusError> {
    let id = prediction_id(key, as_of);
    let value = FailedForecast {
        id: &id,
        key: key.to_string(),
        store_id: key.store_id().as_str(),
        item_id: key.item_id().as_str(),
        as_of,
        reason,
        attempts: RETRY_BACKOFF.len() + 1,
    };
    // A struct of strings and a date always encodes.
    let payload = serde_json::to_vec(&value).unwrap_or_default();
    let (partition, offset) = (source.partition.to_string(), source.offset.to_string());
    producer.send(
        dlq_topic,
        Some(value.key.as_bytes()),
        &payload,
        &[
            (dlq::ERROR_KIND, dlq::FORECAST_FAILED.as_bytes()),
            (dlq::ERROR_MESSAGE, reason.as_bytes()),
            (dlq::SOURCE, source.topic.as_bytes()),
            (dlq::PARTITION, partition.as_bytes()),
            (dlq::OFFSET, offset.as_bytes()),
            (ID_HEADER, id.as_bytes()),
        ],
    )
}
