//! Replacing some rows of one partition in a single commit, copy-on-write: of the
//! partition's live files, those holding rows the caller names are rewritten without
//! them, and the new rows are added, all in one commit, so readers see the old rows
//! or the new ones, never both and never neither. Files without such rows, and rows
//! other writers add meanwhile, are left alone.
//!
//! Two replacements of one partition value serialize through a Delta `txn` action
//! (app id `herd-replace-<column>-<value>`, version counting the replacements): the
//! later commit fails delta-rs's conflict check on that app id, reloads and starts
//! over from what the earlier one wrote, so a day's rows are never added twice.
//! Appends by other writers to the same partition pass the check (the commit names no
//! read predicate; it reads and removes only the files it lists); a concurrent
//! removal of any file does not, and the replacement starts over, a bounded number
//! of times.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use deltalake::DeltaTable;
use deltalake::DeltaTableError;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, new_null_array,
};
use deltalake::arrow::compute::kernels::boolean::{and, not};
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Remove, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use tracing::{info, warn};

use crate::appender::{AppendOptions, backoff, is_retryable};
use crate::error::{LakeError, Result};
use crate::scan::{ReadColumns, read_file};

/// Which rows a replacement takes out: those whose every listed text column holds
/// one of that column's values. No column listed matches no row.
#[derive(Debug, Clone, Default)]
pub struct RowMatch {
    columns: Vec<(String, HashSet<String>)>,
}

impl RowMatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Also requires text column `column` to hold one of `values`.
    pub fn column_in<S: Into<String>>(
        mut self,
        column: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.columns
            .push((column.into(), values.into_iter().map(Into::into).collect()));
        self
    }

    /// Whether no row can match (no column listed, or a column with no value).
    fn is_empty(&self) -> bool {
        self.columns.is_empty() || self.columns.iter().any(|(_, values)| values.is_empty())
    }

    /// The matching rows of `batch`; nulls never match.
    fn mask(&self, batch: &RecordBatch) -> std::result::Result<BooleanArray, String> {
        let mut mask = BooleanArray::from(vec![!self.is_empty(); batch.num_rows()]);
        for (column, values) in &self.columns {
            let array = batch
                .column_by_name(column)
                .ok_or_else(|| format!("has no column `{column}`"))?;
            let text = cast(array, &DataType::Utf8)
                .map_err(|e| format!("column `{column}` is not text: {e}"))?;
            let text: &StringArray = text.as_string::<i32>();
            let hits: BooleanArray = text
                .iter()
                .map(|v| Some(v.is_some_and(|v| values.contains(v))))
                .collect();
            mask = and(&mask, &hits).map_err(|e| e.to_string())?;
        }
        Ok(mask)
    }

    /// Whether a file with these Delta statistics may hold a matching row: `false`
    /// only when some column's minimum and maximum leave out all of its values.
    /// Statistics of long strings are truncated, so those are not trusted.
    fn may_match(&self, stats: Option<&str>) -> bool {
        if self.is_empty() {
            return false;
        }
        let Some(stats) = stats.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        else {
            return true;
        };
        self.columns.iter().all(|(column, values)| {
            let bound = |which: &str| {
                stats
                    .get(which)
                    .and_then(|m| m.get(column))
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| s.chars().count() < STATS_PREFIX)
            };
            match (bound("minValues"), bound("maxValues")) {
                (Some(min), Some(max)) => values
                    .iter()
                    .any(|v| min <= v.as_str() && v.as_str() <= max),
                _ => true,
            }
        })
    }
}

/// Delta writers truncate string statistics to this many characters.
const STATS_PREFIX: usize = 32;

/// What a replacement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    pub version: u64,
    /// Files read because they could hold matching rows.
    pub files_read: usize,
    /// Files that held matching rows: removed, and their other rows written again.
    pub files_removed: usize,
    pub files_added: usize,
    pub rows_removed: usize,
    /// Rows of removed files that did not match and were written again.
    pub rows_kept: usize,
    pub attempts: u32,
}

/// The app id under which replacements of one partition value count their commits.
pub fn replace_app_id(column: &str, value: &str) -> String {
    format!("herd-replace-{column}-{value}")
}

/// In the partition whose column `column` is `value` (as Delta writes it in the log,
/// e.g. `2024-01-31` for a date), replaces the rows `matching` names by `batches`,
/// whose rows must all carry that value, in one commit. Rows the match leaves out
/// stay, whoever wrote them.
pub async fn replace_rows(
    table: &mut DeltaTable,
    column: &str,
    value: &str,
    matching: &RowMatch,
    batches: Vec<RecordBatch>,
    options: &AppendOptions,
) -> Result<Replaced> {
    let started = Instant::now();
    let url = table.table_url().to_string();
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let max_attempts = options.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        table
            .update_incremental(None)
            .await
            .map_err(LakeError::delta("reload table", &url))?;
        let plan = rewrite(table, column, value, matching, &batches, options).await?;
        match commit(table, column, value, &plan).await {
            Ok(version) => {
                let replaced = Replaced {
                    version,
                    files_read: plan.files_read,
                    files_removed: plan.removes.len(),
                    files_added: plan.adds.len(),
                    rows_removed: plan.rows_removed,
                    rows_kept: plan.rows_kept,
                    attempts: attempt,
                };
                info!(
                    table = %url,
                    version,
                    column,
                    value,
                    files_read = replaced.files_read,
                    files_removed = replaced.files_removed,
                    files_added = replaced.files_added,
                    rows_removed = replaced.rows_removed,
                    rows_kept = replaced.rows_kept,
                    attempts = attempt,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "replaced rows"
                );
                return Ok(replaced);
            }
            // The files written for this attempt stay unreferenced; vacuum removes them.
            Err(e) if is_retryable(&e) && attempt < max_attempts => {
                warn!(
                    table = %url,
                    attempt,
                    error = %e,
                    "replacement lost to a concurrent writer; reading the partition again"
                );
                tokio::time::sleep(backoff(options.retry_backoff, attempt)).await;
                attempt += 1;
            }
            Err(e) if is_retryable(&e) => {
                return Err(LakeError::CommitConflicts {
                    table: url,
                    attempts: attempt,
                });
            }
            Err(e) => return Err(LakeError::delta("commit to", &url)(e)),
        }
    }
}

/// One attempt's files: what to remove and the written files to add.
struct Plan {
    removes: Vec<Remove>,
    adds: Vec<deltalake::kernel::Add>,
    /// The replacement count stored before this attempt.
    replacements: Option<i64>,
    files_read: usize,
    rows_removed: usize,
    rows_kept: usize,
}

/// Reads the partition's files that may hold matching rows and writes, for each
/// that does, its other rows to new files, plus the new rows.
async fn rewrite(
    table: &DeltaTable,
    column: &str,
    value: &str,
    matching: &RowMatch,
    batches: &[RecordBatch],
    options: &AppendOptions,
) -> Result<Plan> {
    let url = table.table_url().to_string();
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("replace rows of", &url))?;
    let replacements = snapshot
        .transaction_version(table.log_store().as_ref(), replace_app_id(column, value))
        .await
        .map_err(LakeError::delta("read the replacements of", &url))?;
    let candidates: Vec<_> = snapshot
        .log_data()
        .iter()
        .filter(|file| {
            file.partition_values_map()
                .get(column)
                .is_some_and(|v| v.as_deref() == Some(value))
        })
        .filter(|file| matching.may_match(file.stats().as_deref()))
        .map(|file| {
            (
                file.object_store_path(),
                file.remove_action(true),
                file.partition_values_map(),
            )
        })
        .collect();

    let mut writer =
        RecordBatchWriter::for_table(table).map_err(LakeError::delta("write to", &url))?;
    if let Some(size) = options.target_file_size {
        writer = writer.with_target_file_size(size);
    }
    let schema = writer.arrow_schema();
    let store = table.object_store();
    let mut plan = Plan {
        removes: Vec::new(),
        adds: Vec::new(),
        replacements,
        files_read: candidates.len(),
        rows_removed: 0,
        rows_kept: 0,
    };
    for (path, remove, partition_values) in candidates {
        let file_batches = read_file(&store, &path, &ReadColumns::default(), &url).await?;
        let mut kept = Vec::with_capacity(file_batches.len());
        let mut removed = 0;
        for batch in file_batches {
            let unreadable = |reason: String| LakeError::Read {
                table: url.clone(),
                reason: format!("{path}: {reason}"),
            };
            let mask = matching.mask(&batch).map_err(unreadable)?;
            removed += mask.true_count();
            let keep = not(&mask).map_err(|e| unreadable(e.to_string()))?;
            let rest = filter_record_batch(&batch, &keep).map_err(|e| unreadable(e.to_string()))?;
            if rest.num_rows() > 0 {
                kept.push(
                    with_partition_values(&rest, &schema, &partition_values).map_err(unreadable)?,
                );
            }
        }
        if removed == 0 {
            continue;
        }
        plan.rows_removed += removed;
        plan.removes.push(remove);
        for batch in kept {
            plan.rows_kept += batch.num_rows();
            writer
                .write(batch)
                .await
                .map_err(LakeError::delta("write to", &url))?;
        }
    }
    for batch in batches {
        writer
            .write(batch.clone())
            .await
            .map_err(LakeError::delta("write to", &url))?;
    }
    plan.adds = writer
        .flush()
        .await
        .map_err(LakeError::delta("write to", &url))?;
    Ok(plan)
}

/// `batch` (a data file's rows, without the partition columns Delta keeps in the log)
/// in the table's `schema`, with each partition column set to the file's value.
fn with_partition_values(
    batch: &RecordBatch,
    schema: &SchemaRef,
    partition_values: &std::collections::HashMap<String, Option<String>>,
) -> std::result::Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let array: ArrayRef = match (
                batch.column_by_name(field.name()),
                partition_values.get(field.name()),
            ) {
                (Some(array), _) => Arc::clone(array),
                (None, Some(Some(value))) => {
                    Arc::new(StringArray::from(vec![value.as_str(); rows]))
                }
                (None, Some(None)) => new_null_array(field.data_type(), rows),
                (None, None) => return Err(format!("has no column `{}`", field.name())),
            };
            if array.data_type() == field.data_type() {
                Ok(array)
            } else {
                cast(&array, field.data_type())
                    .map_err(|e| format!("column `{}` does not fit the table: {e}", field.name()))
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}

/// Commits the plan's removes and adds with the next replacement count on top of the
/// loaded version.
async fn commit(
    table: &mut DeltaTable,
    column: &str,
    value: &str,
    plan: &Plan,
) -> std::result::Result<u64, DeltaTableError> {
    let snapshot = table.snapshot()?;
    let partition_columns = snapshot.metadata().partition_columns().to_vec();
    // No read predicate: with one, delta-rs would count every file another writer
    // adds to the partition meanwhile as read, and refuse the commit.
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
        predicate: None,
    };
    let txn = Transaction::new_with_last_update(
        replace_app_id(column, value),
        plan.replacements.unwrap_or(0) + 1,
        Some(chrono::Utc::now().timestamp_millis()),
    );
    let mut actions: Vec<Action> = plan.removes.iter().cloned().map(Action::Remove).collect();
    actions.extend(plan.adds.iter().cloned().map(Action::Add));
    let finalized =
        CommitBuilder::from(CommitProperties::default().with_application_transaction(txn))
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await?;
    let version = finalized.version();
    table.state = Some(finalized.snapshot());
    Ok(version)
}

#[cfg(test)]
mod tests;
