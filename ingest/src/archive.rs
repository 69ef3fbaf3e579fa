//! `herd archive`: the Delta table `sales`, fed from `herd.sales` exactly-once.
//!
//! Composes the two halves of the protocol: the consumer-group loop of `herd_bus`
//! (seeks where the table says, hands over records with their offsets) and the
//! appender of `herd_lake` (commits rows and offsets in one Delta commit). Records on
//! the topic that break the contract — another producer may have written them — go to
//! the dead-letter topic, acknowledged before the offsets that skip them are stored.

use std::collections::HashMap;
use std::time::Duration;

use herd_bus::{
    BulkProducer, BusError, ConsumedRecord, Counter, ExactlyOnceSink, FlushOutcome, FlushPolicy,
    GapPolicy, KafkaOptions, LoopError, LoopOptions, LoopStats, OffsetRange, Status,
    run_exactly_once,
};
use herd_lake::{ExactlyOnceAppender, LakeError, LakeRoot, SalesRows, tables};
use herd_schemas::{Frequency, SalesRecord};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::dlq;

/// Where and how the archive runs; every field has a default.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// The lake root holding the `sales` table.
    pub lake_root: String,
    /// The consumer group; archivers in one group split the partitions.
    pub group: String,
    pub topic: String,
    pub dlq_topic: String,
    pub flush: FlushPolicy,
    /// Stop once no record arrived for this long (`None`: run until cancelled).
    pub stop_when_idle: Option<std::time::Duration>,
    /// What to do when records were deleted (retention) before they were archived.
    pub on_gap: GapPolicy,
    /// Where the run reports its health and counters.
    pub status: Status,
    /// The calendar records must be dated on; records off it go to the dead-letter
    /// topic.
    pub frequency: Frequency,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            lake_root: "./data/lake".to_owned(),
            group: "herd-archive".to_owned(),
            topic: herd_schemas::topics::SALES.to_owned(),
            dlq_topic: herd_schemas::topics::SALES_DLQ.to_owned(),
            flush: FlushPolicy::default(),
            stop_when_idle: None,
            on_gap: GapPolicy::Fail,
            status: Status::default(),
            frequency: Frequency::Daily,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("{0} rejected records were not acknowledged by the dead-letter topic")]
    DlqUndelivered(u64),
}

/// The Delta `sales` table as an exactly-once sink.
pub struct SalesSink {
    appender: ExactlyOnceAppender,
    rows: SalesRows,
    dlq: BulkProducer,
    dlq_topic: String,
    source: String,
    frequency: Frequency,
    /// Rejected records sent to the dead-letter topic.
    pub rejected: u64,
    /// Rows committed to the table.
    pub committed: u64,
    /// Rejected records since the last commit.
    rejected_pending: u64,
    archived_metric: Counter,
    rejected_metric: Counter,
}

impl SalesSink {
    pub async fn open(
        options: &ArchiveOptions,
        kafka: &KafkaOptions,
    ) -> Result<Self, ArchiveError> {
        let root = LakeRoot::parse(&options.lake_root)?;
        let table = tables::open_or_create(&root, &tables::sales_of(options.frequency)).await?;
        tables::check_frequency(&table, options.frequency)?;
        Ok(Self {
            appender: ExactlyOnceAppender::new(table, "archive"),
            rows: SalesRows::new(),
            dlq: BulkProducer::new(kafka)?,
            dlq_topic: options.dlq_topic.clone(),
            source: options.topic.clone(),
            frequency: options.frequency,
            rejected: 0,
            committed: 0,
            rejected_pending: 0,
            archived_metric: options
                .status
                .counter("herd_sales_rows_archived", "Sales rows committed to the sales table."),
            rejected_metric: options.status.counter(
                "herd_records_dead_lettered",
                "Malformed records sent to the dead-letter topic, counted when their offsets commit.",
            ),
        })
    }
}

impl ExactlyOnceSink for SalesSink {
    type Error = ArchiveError;

    async fn stored_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>, ArchiveError> {
        Ok(self.appender.stored_versions(topic, partitions).await?)
    }

    fn buffer(&mut self, record: ConsumedRecord<'_>) {
        let payload = record.payload.unwrap_or_default();
        let checked = SalesRecord::from_json(payload).and_then(|parsed| {
            parsed.record.check_calendar(self.frequency)?;
            Ok(parsed)
        });
        match checked {
            Ok(parsed) => self
                .rows
                .push(&parsed.record, record.partition, record.offset),
            Err(err) => {
                self.rejected += 1;
                self.rejected_pending += 1;
                let sent = dlq::send_reject(
                    &mut self.dlq,
                    &self.dlq_topic,
                    payload,
                    &err,
                    &self.source,
                    &[
                        (dlq::PARTITION, i64::from(record.partition)),
                        (dlq::OFFSET, record.offset),
                    ],
                );
                if let Err(err) = sent {
                    // Counted as unacknowledged at the next flush, which then fails.
                    warn!(error = %err, "rejected record not queued for the dead-letter topic");
                }
            }
        }
    }

    async fn flush(
        &mut self,
        topic: &str,
        ranges: &[OffsetRange],
    ) -> Result<FlushOutcome, ArchiveError> {
        // A rejected record must be safe on the dead-letter topic before the offset
        // that moves past it is stored.
        let report = self.dlq.settle(Duration::from_secs(30));
        if !report.is_complete() {
            return Err(ArchiveError::DlqUndelivered(
                report.failed + report.unacknowledged,
            ));
        }
        let rows = self.rows.len() as u64;
        let batch = self.rows.finish();
        let ranges: Vec<herd_lake::OffsetRange> = ranges
            .iter()
            .map(|r| herd_lake::OffsetRange {
                partition: r.partition,
                first: r.first,
                next: r.next,
            })
            .collect();
        match self.appender.append(vec![batch], topic, &ranges).await {
            Ok(_) => {
                self.committed += rows;
                self.archived_metric.inc_by(rows);
                self.rejected_metric
                    .inc_by(std::mem::take(&mut self.rejected_pending));
                Ok(FlushOutcome::Committed)
            }
            Err(LakeError::OffsetsMoved { .. }) => Ok(FlushOutcome::OffsetsMoved),
            Err(err) => Err(err.into()),
        }
    }

    fn discard(&mut self) {
        let _ = self.rows.finish();
        self.rejected_pending = 0;
    }
}

/// What an archive run did.
#[derive(Debug, Clone, Default)]
pub struct ArchiveSummary {
    pub stats: LoopStats,
    pub committed: u64,
    pub rejected: u64,
    /// The `sales` table as this archiver last saw it.
    pub table: Option<herd_lake::TableStats>,
}

/// Runs the archive until `cancel` fires, then flushes and returns.
pub async fn run_archive(
    options: &ArchiveOptions,
    kafka: &KafkaOptions,
    cancel: CancellationToken,
) -> Result<ArchiveSummary, ArchiveError> {
    let mut sink = SalesSink::open(options, kafka).await?;
    let stats = run_exactly_once(
        kafka,
        &options.group,
        &options.topic,
        LoopOptions {
            flush: options.flush,
            stop_when_idle: options.stop_when_idle,
            on_gap: options.on_gap,
            status: options.status.clone(),
        },
        &mut sink,
        cancel,
    )
    .await
    .map_err(|err| match err {
        LoopError::Bus(err) => ArchiveError::Bus(err),
        LoopError::Sink(err) => err,
    })?;
    Ok(ArchiveSummary {
        stats,
        committed: sink.committed,
        rejected: sink.rejected,
        table: herd_lake::table_stats(sink.appender.table()).ok(),
    })
}
