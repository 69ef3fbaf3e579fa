//! Replacing one partition of a table in a single commit: the partition's live files
//! are removed and the new rows' files added together, so readers see the old rows
//! or the new ones, never both and never neither. A batch job that runs twice for
//! the same day replaces its rows instead of duplicating them.

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use tracing::info;

use crate::error::{LakeError, Result};

/// What a replacement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    pub version: u64,
    pub files_removed: usize,
    pub files_added: usize,
}

/// Replaces every row whose partition column `column` is `value` (as Delta writes
/// it in the log, e.g. `2024-01-31` for a date) by `batches`, whose rows must all
/// carry that value.
pub async fn replace_partition(
    table: &mut DeltaTable,
    column: &str,
    value: &str,
    batches: Vec<RecordBatch>,
) -> Result<Replaced> {
    let url = table.table_url().clone();
    table
        .update_incremental(None)
        .await
        .map_err(LakeError::delta("reload table", &url))?;
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("replace a partition of", &url))?;
    let removes: Vec<Action> = snapshot
        .log_data()
        .iter()
        .filter(|file| {
            file.partition_values_map()
                .get(column)
                .is_some_and(|v| v.as_deref() == Some(value))
        })
        .map(|file| Action::Remove(file.remove_action(true)))
        .collect();
    let files_removed = removes.len();

    let mut writer =
        RecordBatchWriter::for_table(table).map_err(LakeError::delta("write to", &url))?;
    for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
        writer
            .write(batch)
            .await
            .map_err(LakeError::delta("write to", &url))?;
    }
    let adds = writer
        .flush()
        .await
        .map_err(LakeError::delta("write to", &url))?;
    let files_added = adds.len();

    let mut actions = removes;
    actions.extend(adds.into_iter().map(Action::Add));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: Some(vec![column.to_owned()]),
        predicate: Some(format!("{column} = '{value}'")),
    };
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("replace a partition of", &url))?;
    let finalized = CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(LakeError::delta("commit to", &url))?;
    let version = finalized.version();
    table.state = Some(finalized.snapshot());
    info!(table = %url, version, column, value, files_removed, files_added, "replaced partition");
    Ok(Replaced {
        version,
        files_removed,
        files_added,
    })
}
