//! Publishing model lifecycle events on `herd.models`, keyed by series key, after
//! the Delta commit they describe (a crash between the two can repeat an event,
//! never announce an uncommitted change).

use std::time::{Duration, Instant};

use herd_schemas::ModelEvent;

use crate::bulk::{BulkProducer, DeliveryReport};
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

    /// Waits, without blocking the runtime, up to `timeout` for every event queued
    /// so far to be acknowledged; returns how many were since this publisher was
    /// created, or how many were not. For a caller that must not go on (or report
    /// success) while an event it published may be lost.
    pub async fn confirm(&self, timeout: Duration) -> Result<u64, BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            let report = self.producer.report();
            if report.unacknowledged == 0 || Instant::now() >= deadline {
                return self.outcome(report);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for every queued event to be acknowledged; returns how many were.
    pub fn finish(self, timeout: Duration) -> Result<u64, BusError> {
        let report = self.producer.settle(timeout);
        self.outcome(report)
    }

    fn outcome(&self, report: DeliveryReport) -> Result<u64, BusError> {
        if report.is_complete() {
            return Ok(report.delivered);
        }
        Err(BusError::Undelivered {
            topic: self.topic.clone(),
            count: self.producer.sent().saturating_sub(report.delivered),
            reason: report.first_error.unwrap_or_else(|| "timed out".to_owned()),
        })
    }
}
