//! Reading a table's current snapshot back as Arrow batches, without DataFusion: the
//! live data files of the loaded version, fetched through the table's own object
//! store (so S3 roots work too) and decoded as Parquet, projected to the columns asked
//! for. Files whose `date` statistics end before a given day are skipped unread.

use chrono::NaiveDate;
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::logstore::ObjectStoreRef;
use deltalake::parquet::arrow::ProjectionMask;
use std::collections::HashSet;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use deltalake::parquet::file::reader::ChunkReader;
use object_store::ObjectStoreExt as _;
use tokio::task::JoinSet;

use crate::error::{LakeError, Result};

/// Which columns and files a [`scan`] reads.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Columns to read (partition columns are not stored in the data files and cannot
    /// be asked for; none listed reads every stored column), which of them as
    /// dictionaries, and rows per batch.
    pub read: ReadColumns,
    /// Skip files whose `date` column, by the file's statistics, ends before this day.
    /// Files without statistics are always read.
    pub since: Option<NaiveDate>,
    /// Files read at once; decoding runs on the runtime's worker threads (at least 1).
    pub concurrency: usize,
    /// Data files (by their path in the table's store, as [`data_files`] gives them)
    /// not to read: those an earlier scan already read.
    pub skip: Option<Arc<HashSet<String>>>,
}

/// The paths of the live data files of the version loaded in `table`.
pub fn data_files(table: &DeltaTable) -> Result<HashSet<String>> {
    let url = table.table_url().to_string();
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("list files", &url))?;
    Ok(snapshot
        .log_data()
        .iter()
        .map(|file| file.object_store_path().to_string())
        .collect())
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub files: usize,
    pub skipped_files: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// Reads every live data file of the version loaded in `table` and hands its batches
/// to `on_batch`, file after file in the order the log lists them. A failing
/// `on_batch` stops the scan with its error.
pub async fn scan<E>(
    table: &DeltaTable,
    options: &ScanOptions,
    mut on_batch: impl FnMut(RecordBatch) -> std::result::Result<(), E>,
) -> std::result::Result<ScanStats, E>
where
    E: From<LakeError>,
{
    let url = table.table_url().to_string();
    let snapshot = table.snapshot().map_err(LakeError::delta("scan", &url))?;
    let mut stats = ScanStats::default();
    let mut files = Vec::new();
    for file in snapshot.log_data().iter() {
        let path = file.object_store_path();
        if options
            .skip
            .as_ref()
            .is_some_and(|skip| skip.contains(path.as_ref()))
        {
            stats.skipped_files += 1;
            continue;
        }
        if let Some(since) = options.since
            && ends_before(file.stats().as_deref(), since)
        {
            stats.skipped_files += 1;
            continue;
        }
        files.push((path, file.size().max(0) as u64));
    }

    let store = table.object_store();
    let concurrency = options.concurrency.max(1);
    let mut pending = files.into_iter();
    let mut running: JoinSet<(usize, Result<Vec<RecordBatch>>)> = JoinSet::new();
    // Files finish out of order; keep their batches until every earlier file is out.
    let mut done: std::collections::BTreeMap<usize, Vec<RecordBatch>> = Default::default();
    let (mut next_to_emit, mut next_to_start) = (0usize, 0usize);
    loop {
        while running.len() < concurrency {
            let Some((path, size)) = pending.next() else {
                break;
            };
            let (store, url) = (store.clone(), url.clone());
            let columns = options.read.clone();
            let index = next_to_start;
            next_to_start += 1;
            stats.bytes += size;
            running.spawn(async move { (index, read_file(&store, &path, &columns, &url).await) });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (index, batches) = joined.map_err(|e| LakeError::Read {
            table: url.clone(),
            reason: format!("a reading task failed: {e}"),
        })?;
        done.insert(index, batches?);
        while let Some(batches) = done.remove(&next_to_emit) {
            next_to_emit += 1;
            stats.files += 1;
            for batch in batches {
                stats.rows += batch.num_rows() as u64;
                on_batch(batch)?;
            }
        }
    }
    Ok(stats)
}

/// One data file's batches. Data files are written a flush at a time, small enough to
/// fetch whole; decoding then runs off the async workers.
pub(crate) async fn read_file(
    store: &ObjectStoreRef,
    path: &object_store::path::Path,
    columns: &ReadColumns,
    table: &str,
) -> Result<Vec<RecordBatch>> {
    let fetched = match store.get(path).await {
        Ok(object) => object.bytes().await,
        Err(e) => Err(e),
    };
    let name = path.to_string();
    match fetched {
        Ok(bytes) => {
            let (columns, table_name, file) = (columns.clone(), table.to_owned(), name.clone());
            tokio::task::spawn_blocking(move || decode(bytes, &columns, &table_name, &file))
                .await
                .unwrap_or_else(|e| Err(read_error(table, &name, e.to_string())))
        }
        Err(e) => Err(read_error(table, &name, e.to_string())),
    }
}

fn read_error(table: &str, path: &str, reason: String) -> LakeError {
    LakeError::Read {
        table: table.to_owned(),
        reason: format!("{path}: {reason}"),
    }
}

/// Which columns a Parquet read returns, and which text columns as dictionaries
/// (`Int32` codes), as Parquet stores them: far cheaper to decode and to group by
/// than plain strings.
#[derive(Debug, Clone, Default)]
pub struct ReadColumns {
    /// Columns by name; empty reads all.
    pub read: Vec<String>,
    pub dictionary: Vec<String>,
    /// Rows per batch; 0 means 65,536.
    pub batch_rows: usize,
}

/// A reader of Arrow batches from Parquet held in `source` (bytes in
/// memory or a file).
pub fn parquet_reader<R: ChunkReader + 'static>(
    source: R,
    columns: &ReadColumns,
) -> std::result::Result<ParquetRecordBatchReader, String> {
    let mut metadata =
        ArrowReaderMetadata::load(&source, ArrowReaderOptions::new()).map_err(|e| e.to_string())?;
    if !columns.dictionary.is_empty() {
        let hinted: Vec<Field> = metadata
            .schema()
            .fields()
            .iter()
            .map(|field| {
                let text = matches!(
                    field.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                if text && columns.dictionary.iter().any(|c| c == field.name()) {
                    field.as_ref().clone().with_data_type(DataType::Dictionary(
                        Box::new(DataType::Int32),
                        Box::new(DataType::Utf8),
                    ))
                } else {
                    field.as_ref().clone()
                }
            })
            .collect();
        let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hinted)));
        metadata = ArrowReaderMetadata::try_new(metadata.metadata().clone(), options)
            .map_err(|e| e.to_string())?;
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata);
    let builder = if columns.read.is_empty() {
        builder
    } else {
        let schema = builder.schema().clone();
        let mut indices = Vec::with_capacity(columns.read.len());
        for column in &columns.read {
            let index = schema
                .index_of(column)
                .map_err(|_| format!("has no column `{column}`"))?;
            indices.push(index);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        builder.with_projection(mask)
    };
    let batch_rows = if columns.batch_rows == 0 {
        64 * 1024
    } else {
        columns.batch_rows
    };
    builder
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| e.to_string())
}

fn decode(
    bytes: bytes::Bytes,
    columns: &ReadColumns,
    table: &str,
    path: &str,
) -> Result<Vec<RecordBatch>> {
    let failed = |reason: String| read_error(table, path, reason);
    parquet_reader(bytes, columns)
        .map_err(failed)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))
}

/// Whether a file's statistics say its last `date` is before `since`.
fn ends_before(stats: Option<&str>, since: NaiveDate) -> bool {
    let Some(stats) = stats else {
        return false;
    };
    let Ok(stats) = serde_json::from_str::<serde_json::Value>(stats) else {
        return false;
    };
    stats
        .pointer("/maxValues/date")
        .and_then(serde_json::Value::as_str)
        .and_then(|max| NaiveDate::parse_from_str(max, "%Y-%m-%d").ok())
        .is_some_and(|max| max < since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_prune_only_files_that_end_before_the_day() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let stats = r#"{"numRecords":3,"minValues":{"date":"2024-01-01"},"maxValues":{"date":"2024-01-31"}}"#;
        assert!(ends_before(Some(stats), day("2024-02-01")));
        assert!(!ends_before(Some(stats), day("2024-01-31")));
        assert!(!ends_before(None, day("2030-01-01")));
        assert!(!ends_before(Some("not json"), day("2030-01-01")));
        assert!(!ends_before(Some(r#"{"numRecords":3}"#), day("2030-01-01")));
    }
}
