//! Announcing registered versions on `herd.models`, keyed by series key, after the
//! Delta commit that registered them (a crash between the two can repeat an event,
//! never announce an uncommitted model). Each commit's events are confirmed before
//! the trainer goes on, so it never reports success while one may be lost.

use std::time::Duration;

use chrono::Utc;
use herd_bus::{BusError, EventPublisher, KafkaOptions};
use herd_registry::{ModelRow, ModelStatus};
use herd_schemas::{ModelEvent, ModelEventKind};

use crate::error::{Result, TrainError};

/// Publishes one `registered` or `failed` event per registered row.
pub struct Announcer {
    publisher: EventPublisher,
}

impl Announcer {
    pub fn new(kafka: &KafkaOptions, topic: impl Into<String>) -> Result<Self> {
        Ok(Self {
            publisher: EventPublisher::new(kafka, topic)?,
        })
    }

    /// Queues one event per row.
    pub fn announce(&mut self, rows: &[ModelRow]) -> Result<()> {
        for row in rows {
            let event = ModelEvent {
                event: match row.status {
                    ModelStatus::Candidate => ModelEventKind::Registered,
                    ModelStatus::Failed => ModelEventKind::Failed,
                },
                key: row.key.clone(),
                version: row.version,
                model_type: row.model_type.clone(),
                accuracy: row.metrics.map(|m| m.accuracy),
                baseline_accuracy: row.metrics.map(|m| m.baseline_accuracy),
                artifact: row.artifact.clone(),
                error: row.error.clone(),
                run_id: row.run_id.clone(),
                at: Utc::now(),
            };
            self.publisher.publish(&event)?;
        }
        Ok(())
    }

    /// Waits until every event queued so far is acknowledged, for up to a little
    /// longer than the producer's own delivery timeout, so that each event's fate is
    /// known; fails with the number of events that were not delivered.
    pub async fn confirm(&self) -> Result<u64> {
        undelivered(self.publisher.confirm(DELIVERY_WAIT).await)
    }

    /// Waits for every queued event to be acknowledged.
    pub fn finish(self, timeout: Duration) -> Result<u64> {
        undelivered(self.publisher.finish(timeout))
    }
}

/// Longer than the producer's `message.timeout.ms` (30 s unless configured):
/// librdkafka fails an event it could not deliver by then.
const DELIVERY_WAIT: Duration = Duration::from_secs(35);

fn undelivered(outcome: std::result::Result<u64, BusError>) -> Result<u64> {
    match outcome {
        Err(BusError::Undelivered {
            topic,
            count,
            reason,
        }) => Err(TrainError::Announce {
            topic,
            failed: count,
            reason,
        }),
        other => Ok(other?),
    }
}
