//! Publishing model lifecycle events on `herd.models`, keyed by series key, after
//! the Delta commit they describe (a crash between the two can repeat an event,
//! never announce an uncommitted change).

use std::time::Duration;

use herd_schemas::ModelEvent;

use crate::bulk::BulkProducer;
use crate::config::KafkaOptions;
use crate::error::BusError;

/// Publishes [`ModelEvent`]s to one topic.
pub struct EventPublisher {
    producer: BulkProducer,
    topic: String,
}

impl EventPublisher {
    pub fn new(kafka: &KafkaOptions, topic: impl Into<String>) -> Result<Self, BusError> {
        Ok(Self {
            producer: BulkProducer::new(kafka)?,
            topic: topic.into(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues one event, keyed by its series key.
    pub fn publish(&mut self, event: &ModelEvent) -> Result<(), BusError> {
        let key = event.key.to_string();
        self.producer
            .send(&self.topic, Some(key.as_bytes()), &event.to_json(), &[])
    }

    /// Waits for every queued event to be acknowledged; returns how many were.
    pub fn finish(self, timeout: Duration) -> Result<u64, BusError> {
        let sent = self.producer.sent();
        let report = self.producer.finish(timeout);
        if report.is_complete() {
            return Ok(report.delivered);
        }
        Err(BusError::Undelivered {
            topic: self.topic,
            count: sent.saturating_sub(report.delivered),
            reason: report.first_error.unwrap_or_else(|| "timed out".to_owned()),
        })
    }
}
