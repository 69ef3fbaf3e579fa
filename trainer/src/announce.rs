//! Announcing registered versions on `herd.models`, keyed by series key, after the
//! Delta commit that registered them (a crash between the two can repeat an event,
//! never announce an uncommitted model).

use std::time::Duration;

use chrono::Utc;
use herd_bus::{BulkProducer, KafkaOptions};
use herd_registry::{ModelRow, ModelStatus};
use herd_schemas::{ModelEvent, ModelEventKind};

use crate::error::{Result, TrainError};

/// Publishes model events to one topic.
pub struct Announcer {
    producer: BulkProducer,
    topic: String,
}

impl Announcer {
    pub fn new(kafka: &KafkaOptions, topic: impl Into<String>) -> Result<Self> {
        Ok(Self {
            producer: BulkProducer::new(kafka)?,
            topic: topic.into(),
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
            let key = row.key.to_string();
            self.producer
                .send(&self.topic, Some(key.as_bytes()), &event.to_json(), &[])?;
        }
        Ok(())
    }

    /// Waits for every queued event to be acknowledged.
    pub fn finish(self, timeout: Duration) -> Result<u64> {
        let sent = self.producer.sent();
        let report = self.producer.finish(timeout);
        if report.is_complete() {
            Ok(report.delivered)
        } else {
            Err(TrainError::Announce {
                topic: self.topic,
                sent,
                failed: report.failed + report.unacknowledged,
                reason: report.first_error.unwrap_or_else(|| "timed out".to_owned()),
            })
        }
    }
}
