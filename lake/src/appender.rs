//! Exactly-once appends, the kafka-delta-ingest way: every commit carries one Delta
//! `txn` action per source partition whose version is the next offset to read, so
//! the table itself records how far each partition has been written.
//!
//! A writer reads those versions when it is assigned partitions and starts reading
//! there; before each commit it checks that the table still ends where its batch
//! begins. Data files and offsets land in one commit, so a crash either keeps both
//! or neither, and a partition can never be written twice from the same offset.
//!
//! Concurrency, as delta-rs 1.1.3 (`kernel/transaction/conflict_checker.rs`) does it:
//! when a commit finds newer versions in the log, the committer checks each winning
//! commit before taking the next version. The app ids of the losing commit's own
//! `txn` actions count as "read" (`TransactionInfo::read_app_ids`), so a winner
//! carrying a `txn` for the same app id fails the loser with
//! `TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction)`,
//! with or without the `datafusion` feature. Winners that only touch other app ids
//! are blind appends for a `Write`/`Append` operation (no read predicate, not the
//! whole table), pass the check, and the commit is retried internally at the next
//! version — up to 15 times, after which `MaxCommitAttempts` comes back. Lost races
//! for the same version number surface as `VersionAlreadyExists` only after those
//! internal retries. This module reloads the table on any of these, checks the
//! offsets again (another writer owning the partition now shows up as
//! `OffsetsMoved`) and commits the same data files again, a bounded number of times.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher as _, RandomState};
use std::time::{Duration, Instant};

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitConflictError, CommitProperties, TransactionError,
};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use tracing::{debug, info, warn};

use crate::error::{LakeError, Result};

/// The source offsets one append covers in one partition: `first` is the offset of
/// the first record in the batch, `next` the offset to read after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    pub partition: i32,
    pub first: i64,
    pub next: i64,
}

/// How an [`ExactlyOnceAppender`] retries and sizes its files.
#[derive(Debug, Clone)]
pub struct AppendOptions {
    /// Commit attempts per append when concurrent writers keep winning (at least 1).
    pub max_attempts: u32,
    /// Pause before the first retry; it doubles on each further retry, and a random
    /// part of up to the same length is added so that racing writers spread out.
    pub retry_backoff: Duration,
    /// Start a new Parquet file once one reaches this many bytes; `None` writes one
    /// file per partition value per append.
    pub target_file_size: Option<u64>,
}

impl Default for AppendOptions {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_backoff: Duration::from_millis(25),
            target_file_size: None,
        }
    }
}

/// Appends batches to one table together with the offsets they came from.
#[derive(Debug)]
pub struct ExactlyOnceAppender {
    table: DeltaTable,
    writer: String,
    /// The consumer group whose offsets these are, when several groups each write
    /// every record (see [`in_group`](Self::in_group)).
    group: Option<String>,
    /// Whether offsets stored under the app ids without the group count as the
    /// group's until it commits its own.
    adopt_ungrouped: bool,
    options: AppendOptions,
}

impl ExactlyOnceAppender {
    /// An appender for `table` (already opened) named `writer`, e.g. `archive`. The
    /// name is part of every app id, so two services writing one table with their
    /// own offsets must use different names.
    pub fn new(table: DeltaTable, writer: impl Into<String>) -> Self {
        Self {
            table,
            writer: writer.into(),
            group: None,
            adopt_ungrouped: false,
            options: AppendOptions::default(),
        }
    }

    /// Keeps the offsets of consumer group `group` apart from every other group's:
    /// two groups that each write every record (two scorer groups, say) then each
    /// write it once, instead of sharing, and stealing, one position.
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Reads offsets stored under the app ids that did not name a group as this
    /// group's, until it commits its own: a table written before app ids named the
    /// group carries on where its (default) group left off.
    pub fn adopting_ungrouped_offsets(mut self) -> Self {
        self.adopt_ungrouped = true;
        self
    }

    pub fn with_options(mut self, options: AppendOptions) -> Self {
        self.options = options;
        self
    }

    /// The Delta app id under which partition `partition` of `source` keeps its
    /// offset: `herd-<writer>-<source>-<partition>`, then `@<group>` for a writer
    /// [`in_group`](Self::in_group). Kafka topic names cannot hold `@`, so no two
    /// (source, partition, group) share an id.
    pub fn app_id(&self, source: &str, partition: i32) -> String {
        let ungrouped = self.ungrouped_app_id(source, partition);
        match &self.group {
            Some(group) => format!("{ungrouped}@{group}"),
            None => ungrouped,
        }
    }

    fn ungrouped_app_id(&self, source: &str, partition: i32) -> String {
        format!("herd-{}-{source}-{partition}", self.writer)
    }

    /// The table as of the last refresh or commit.
    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    pub fn into_table(self) -> DeltaTable {
        self.table
    }

    /// Reloads the table to its latest version and returns, per partition, the next
    /// offset to read (`None` when this writer never committed that partition).
    pub async fn stored_versions(
        &mut self,
        source: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        self.refresh().await?;
        let mut versions = HashMap::with_capacity(partitions.len());
        for &partition in partitions {
            versions.insert(partition, self.stored_version(source, partition).await?);
        }
        Ok(versions)
    }

    /// Commits `batches` and one `txn` per range in a single Delta commit and returns
    /// the new table version.
    ///
    /// Each range must continue where the table is: its partition's stored offset is
    /// `first`, or nothing is stored yet. Otherwise nothing is committed and
    /// [`LakeError::OffsetsMoved`] tells the caller where to re-seek. Batches may be
    /// empty (every record of a range filtered out): the offsets are still committed.
    ///
    /// After any other error, read [`stored_versions`](Self::stored_versions) again
    /// before going on: a few failures (a checkpoint that could not be written, say)
    /// come after the commit itself has landed.
    pub async fn append(
        &mut self,
        batches: Vec<RecordBatch>,
        source: &str,
        ranges: &[OffsetRange],
    ) -> Result<u64> {
        check_ranges(ranges)?;
        let started = Instant::now();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if ranges.is_empty() && rows == 0 {
            return self.current_version();
        }
        // The first check runs against the version this appender last saw; if the
        // table moved since, delta-rs's conflict check catches any commit to our
        // app ids and the retry below checks again against the latest version.
        self.verify(source, ranges).await?;
        let adds = self.write_files(batches).await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let txns: Vec<Transaction> = ranges
            .iter()
            .map(|r| {
                Transaction::new_with_last_update(
                    self.app_id(source, r.partition),
                    r.next,
                    Some(now_ms),
                )
            })
            .collect();

        let max_attempts = self.options.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.commit(&adds, &txns).await {
                Ok(version) => {
                    info!(
                        table = %self.table.table_url(),
                        version,
                        rows,
                        files = adds.len(),
                        bytes = adds.iter().map(|a| a.size).sum::<i64>(),
                        partitions = ranges.len(),
                        attempts = attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "committed append"
                    );
                    return Ok(version);
                }
                Err(e) if is_retryable(&e) && attempt < max_attempts => {
                    warn!(
                        table = %self.table.table_url(),
                        attempt,
                        error = %e,
                        "commit lost to a concurrent writer; reloading and checking offsets again"
                    );
                    tokio::time::sleep(backoff(self.options.retry_backoff, attempt)).await;
                    self.refresh().await?;
                    // Files already written stay unreferenced if this fails; vacuum
                    // removes them.
                    self.verify(source, ranges).await?;
                    attempt += 1;
                }
                Err(e) if is_retryable(&e) => {
                    return Err(LakeError::CommitConflicts {
                        table: self.table.table_url().to_string(),
                        attempts: attempt,
                    });
                }
                Err(e) => return Err(LakeError::delta("commit to", self.table.table_url())(e)),
            }
        }
    }

    /// Reloads the table to its latest version.
    pub async fn refresh(&mut self) -> Result<()> {
        let url = self.table.table_url().clone();
        self.table
            .update_incremental(None)
            .await
            .map_err(LakeError::delta("reload table", url))
    }

    fn current_version(&self) -> Result<u64> {
        self.table.version().ok_or_else(|| {
            LakeError::delta("read version of", self.table.table_url())(
                DeltaTableError::NotInitialized,
            )
        })
    }

    async fn stored_version(&self, source: &str, partition: i32) -> Result<Option<i64>> {
        let url = self.table.table_url();
        let snapshot = self
            .table
            .snapshot()
            .map_err(LakeError::delta("read offsets of", url))?;
        let log_store = self.table.log_store();
        let stored = snapshot
            .transaction_version(log_store.as_ref(), self.app_id(source, partition))
            .await
            .map_err(LakeError::delta("read offsets of", url))?;
        if stored.is_some() || !(self.adopt_ungrouped && self.group.is_some()) {
            return Ok(stored);
        }
        snapshot
            .transaction_version(log_store.as_ref(), self.ungrouped_app_id(source, partition))
            .await
            .map_err(LakeError::delta("read offsets of", url))
    }

    async fn verify(&self, source: &str, ranges: &[OffsetRange]) -> Result<()> {
        for range in ranges {
            let stored = self.stored_version(source, range.partition).await?;
            if stored.is_some_and(|stored| stored != range.first) {
                debug!(
                    table = %self.table.table_url(),
                    partition = range.partition,
                    stored,
                    expected = range.first,
                    "offsets moved"
                );
                return Err(LakeError::OffsetsMoved {
                    partition: range.partition,
                    stored,
                    expected: range.first,
                });
            }
        }
        Ok(())
    }

    /// Writes the rows as Parquet files (split by the table's partition columns) and
    /// returns their `add` actions, not yet committed.
    async fn write_files(&self, batches: Vec<RecordBatch>) -> Result<Vec<Add>> {
        let url = self.table.table_url();
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(Vec::new());
        }
        let mut writer =
            RecordBatchWriter::for_table(&self.table).map_err(LakeError::delta("write to", url))?;
        if let Some(size) = self.options.target_file_size {
            writer = writer.with_target_file_size(size);
        }
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            writer
                .write(batch)
                .await
                .map_err(LakeError::delta("write to", url))?;
        }
        writer
            .flush()
            .await
            .map_err(LakeError::delta("write to", url))
    }

    /// One commit of the files and offsets on top of the loaded version; on success
    /// the appender holds the committed version.
    async fn commit(&mut self, adds: &[Add], txns: &[Transaction]) -> Result<u64, DeltaTableError> {
        let snapshot = self.table.snapshot()?;
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
            predicate: None,
        };
        let properties = CommitProperties::default().with_application_transactions(txns.to_vec());
        let finalized = CommitBuilder::from(properties)
            .with_actions(adds.iter().cloned().map(Action::Add).collect())
            .build(Some(snapshot), self.table.log_store(), operation)
            .await?;
        self.table.state = Some(finalized.snapshot());
        Ok(finalized.version())
    }
}

/// The pause before retry `attempt` (from 1): `base`, doubled on each further retry,
/// plus a random part of up to the same length so that racing writers spread out.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let base = base * 2u32.saturating_pow(attempt.max(1) - 1);
    // A fresh `RandomState` is randomly keyed, which is all the jitter needs.
    let jitter = RandomState::new().hash_one(attempt) % 1_000;
    base + base.mul_f64(jitter as f64 / 1_000.0)
}

fn check_ranges(ranges: &[OffsetRange]) -> Result<()> {
    let mut seen = HashSet::with_capacity(ranges.len());
    for range in ranges {
        let invalid = |reason: &str| LakeError::InvalidRange {
            partition: range.partition,
            reason: reason.to_owned(),
        };
        if range.first < 0 || range.next < range.first {
            return Err(invalid(&format!(
                "first {} and next {} do not describe offsets",
                range.first, range.next
            )));
        }
        if !seen.insert(range.partition) {
            return Err(invalid("listed more than once"));
        }
    }
    Ok(())
}

/// Whether reloading the table and trying again can help.
pub(crate) fn is_retryable(error: &DeltaTableError) -> bool {
    match error {
        DeltaTableError::VersionAlreadyExists(_) => true,
        DeltaTableError::Transaction { source } => matches!(
            source,
            TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(
                    CommitConflictError::ConcurrentTransaction
                        | CommitConflictError::ConcurrentAppend
                        | CommitConflictError::ConcurrentDeleteRead
                        | CommitConflictError::ConcurrentDeleteDelete
                )
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
