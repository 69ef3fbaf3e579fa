//! Errors of the Kafka layer, worded for the person who has to fix them.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No broker answered within the deadline.
    #[error("no Kafka broker answered at {servers} within {seconds} s ({reason})")]
    Unreachable {
        servers: String,
        seconds: u64,
        reason: String,
    },
    /// The broker refused to create or describe a topic.
    #[error("topic {topic}: {code}")]
    Topic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    /// A record was not acknowledged by the broker.
    #[error("delivery to {topic} failed: {reason}")]
    Delivery { topic: String, reason: KafkaError },
    /// Records the broker did not acknowledge.
    #[error("{count} records to {topic} were not delivered: {reason}")]
    Undelivered {
        topic: String,
        count: u64,
        reason: String,
    },
    /// A partition's next offset to read was deleted (retention) before it was read.
    #[error(
        "topic {topic} partition {partition}: the stored offset {stored} is below the low watermark {low}; {lost} records were deleted before they were read (`--on-gap skip` goes on from {low} without them)"
    )]
    OffsetGap {
        topic: String,
        partition: i32,
        stored: i64,
        low: i64,
        lost: u64,
    },
    /// A client setting that librdkafka rejected, or another client error.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}
