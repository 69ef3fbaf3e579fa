//! `herd ingest`: every row of every source validated; valid records onto
//! `herd.sales` keyed by series, rejects onto `herd.sales.dlq` with their original
//! bytes and the reason in headers. Nothing is lost silently: the summary says how
//! many records the broker acknowledged, and how many it did not.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use herd_bus::{BulkProducer, BusError, DeliveryReport};
use serde::Serialize;

use crate::dlq;
use crate::read::{self, Format, Location, ReadError, Row, Source};

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub topic: String,
    pub dlq_topic: String,
    /// Stop with an error once more records than this were rejected.
    pub max_rejects: Option<u64>,
    /// How long to wait for the broker's last acknowledgements.
    pub delivery_timeout: Duration,
    /// The calendar records must be dated on; records off it are rejected.
    pub frequency: herd_schemas::Frequency,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            topic: herd_schemas::topics::SALES.to_owned(),
            frequency: herd_schemas::Frequency::Daily,
            dlq_topic: herd_schemas::topics::SALES_DLQ.to_owned(),
            max_rejects: None,
            delivery_timeout: Duration::from_secs(60),
        }
    }
}

/// What one ingest run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Unknown fields seen (ignored), summed over records.
    pub unknown_fields: u64,
    /// Acknowledged by the broker, valid and rejected records together.
    pub delivered: u64,
    pub failed: u64,
    pub unacknowledged: u64,
    pub first_delivery_error: Option<String>,
    pub seconds: f64,
    /// Rejections per error kind.
    pub rejects_by_kind: std::collections::BTreeMap<String, u64>,
}

impl IngestSummary {
    pub fn rows_per_second(&self) -> f64 {
        self.read as f64 / self.seconds.max(1e-9)
    }

    /// Every record published was acknowledged.
    pub fn all_delivered(&self) -> bool {
        self.failed == 0 && self.unacknowledged == 0
    }

    fn record_delivery(&mut self, report: DeliveryReport) {
        self.delivered = report.delivered;
        self.failed = report.failed;
        self.unacknowledged = report.unacknowledged;
        self.first_delivery_error = report.first_error;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(
        "more than {limit} records rejected (--max-rejects); stopped after reading {read} \
         ({accepted} accepted records already published)"
    )]
    TooManyRejects {
        limit: u64,
        read: u64,
        accepted: u64,
        summary: Box<IngestSummary>,
    },
}

/// Reads, validates and publishes every source in order. All files are checked
/// (existence, header or schema) before the first record is published.
pub fn publish(
    sources: &[(Source, Format)],
    mut producer: BulkProducer,
    options: &PublishOptions,
    progress: &dyn Fn(&IngestSummary),
) -> Result<IngestSummary, IngestError> {
    for (source, format) in sources {
        read::preflight(source, *format)?;
    }
    let started = Instant::now();
    let mut summary = IngestSummary::default();
    let mut key = String::with_capacity(64);
    let mut payload = Vec::with_capacity(256);
    let mut failure: Option<IngestError> = None;
    for (source, format) in sources {
        let source_name = source.to_string();
        let mut each = |row: Row<'_>| -> ControlFlow<()> {
            summary.read += 1;
            summary.unknown_fields += row.unknown_fields as u64;
            let off_calendar = row
                .parsed
                .as_ref()
                .ok()
                .and_then(|record| record.check_calendar(options.frequency).err());
            // Borrowed, not cloned: every accepted row passes through here.
            let verdict = match (&row.parsed, &off_calendar) {
                (_, Some(err)) | (Err(err), None) => Err(err),
                (Ok(record), None) => Ok(record),
            };
            let sent = match verdict {
                Ok(record) => {
                    summary.accepted += 1;
                    key.clear();
                    use std::fmt::Write as _;
                    let _ = write!(key, "{}/{}", record.store_id, record.item_id);
                    payload.clear();
                    let _ = serde_json::to_writer(&mut payload, record);
                    producer.send(&options.topic, Some(key.as_bytes()), &payload, &[])
                }
                Err(err) => {
                    summary.rejected += 1;
                    *summary
                        .rejects_by_kind
                        .entry(err.kind().to_owned())
                        .or_default() += 1;
                    let position = match row.location {
                        Location::Line(n) => (dlq::LINE, n as i64),
                        Location::Row(n) => (dlq::ROW, n as i64),
                    };
                    dlq::send_reject(
                        &mut producer,
                        &options.dlq_topic,
                        row.original,
                        err,
                        &source_name,
                        &[position],
                    )
                }
            };
            if let Err(err) = sent {
                failure = Some(err.into());
                return ControlFlow::Break(());
            }
            if let Some(limit) = options.max_rejects
                && summary.rejected > limit
            {
                failure = Some(IngestError::TooManyRejects {
                    limit,
                    read: summary.read,
                    accepted: summary.accepted,
                    summary: Box::default(),
                });
                return ControlFlow::Break(());
            }
            if summary.read.is_multiple_of(65_536) {
                summary.delivered = producer.delivered();
                progress(&summary);
            }
            ControlFlow::Continue(())
        };
        let read = read::read_rows(source, *format, &mut each);
        if let Err(err) = read {
            failure.get_or_insert(err.into());
        }
        if failure.is_some() {
            break;
        }
    }
    // Whatever happened, wait for what was queued: the summary must say what the
    // broker holds.
    summary.record_delivery(producer.finish(options.delivery_timeout));
    summary.seconds = started.elapsed().as_secs_f64();
    progress(&summary);
    match failure {
        None => Ok(summary),
        Some(IngestError::TooManyRejects {
            limit,
            read,
            accepted,
            ..
        }) => Err(IngestError::TooManyRejects {
            limit,
            read,
            accepted,
            summary: Box::new(summary),
        }),
        Some(err) => Err(err),
    }
}
