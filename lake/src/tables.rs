//! Table definitions and opening: each Herd table is a name, an Arrow schema and
//! its partition columns; `open_or_create` makes it exist under a lake root.

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tracing::info;
use url::Url;

use herd_schemas::Frequency;

use crate::error::{LakeError, Result};
use crate::root::LakeRoot;
use crate::sales::{SALES_PARTITION_COLUMN, SALES_TABLE, sales_schema};

/// What a table is: where it lives under the root, its columns and its partitioning.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Path under the lake root, e.g. `sales` or `production/models`.
    pub name: String,
    /// Columns in order, with their nullability.
    pub schema: SchemaRef,
    /// Columns whose values become `column=value` directories.
    pub partition_columns: Vec<String>,
    /// Table properties (`configuration` in the Delta log) written when the table is
    /// created, e.g. `herd.frequency`.
    pub properties: Vec<(String, String)>,
}

/// The table property that declares the calendar of the `sales` table's series.
pub const FREQUENCY_PROPERTY: &str = "herd.frequency";

/// The `sales` table: one row per accepted input record, partitioned by year.
pub fn sales() -> TableSpec {
    sales_of(Frequency::Daily)
}

/// The `sales` table of series observed at `frequency`, which a table created from
/// this spec declares in its `herd.frequency` property.
pub fn sales_of(frequency: Frequency) -> TableSpec {
    TableSpec {
        name: SALES_TABLE.to_owned(),
        schema: sales_schema(),
        partition_columns: vec![SALES_PARTITION_COLUMN.to_owned()],
        properties: vec![(FREQUENCY_PROPERTY.to_owned(), frequency.as_str().to_owned())],
    }
}

/// The frequency the `sales` table declares: its `herd.frequency` property, daily
/// for a table created before the property existed.
pub fn declared_frequency(table: &DeltaTable) -> Result<Frequency> {
    let url = table.table_url().to_string();
    let snapshot = table
        .snapshot()
        .map_err(|e| LakeError::delta("read the table properties of", &url)(e))?;
    match snapshot
        .table_config()
        .unknown_properties
        .get(FREQUENCY_PROPERTY)
    {
        None => Ok(Frequency::Daily),
        Some(value) => Frequency::parse(value).ok_or_else(|| LakeError::SchemaMismatch {
            table: url,
            reason: format!("{FREQUENCY_PROPERTY} is `{value}`, not daily, weekly or monthly"),
        }),
    }
}

/// Fails unless the `sales` table declares `frequency`: a lake of weekly series read
/// as daily ones (or the other way round) would forecast nonsense.
pub fn check_frequency(table: &DeltaTable, frequency: Frequency) -> Result<()> {
    let declared = declared_frequency(table)?;
    if declared == frequency {
        return Ok(());
    }
    Err(LakeError::SchemaMismatch {
        table: table.table_url().to_string(),
        reason: format!(
            "it holds {declared} series ({FREQUENCY_PROPERTY} = {declared}) but this process \
             is set up for {frequency} ones: set `frequency = \"{declared}\"` \
             (HERD_FREQUENCY={declared}), or give the {frequency} series a lake of their own"
        ),
    })
}

/// Opens table `spec.name` under `root`, creating it with the spec's schema and
/// partitioning when it does not exist yet. An existing table must have the spec's
/// columns and partitioning; one written by an earlier Herd, whose columns are the
/// spec's first ones, gets the spec's later (nullable) columns added in place, its
/// rows reading them as null.
pub async fn open_or_create(root: &LakeRoot, spec: &TableSpec) -> Result<DeltaTable> {
    let url = root.table_url(&spec.name)?;
    let expected = kernel_schema(&url, spec)?;
    if root.is_local() {
        // Delta's local store is rooted at the table directory and reports a missing
        // one as a bad location rather than as "no table yet".
        let path = url.to_file_path().map_err(|()| LakeError::InvalidRoot {
            root: url.to_string(),
            reason: "not a local file path".to_owned(),
        })?;
        std::fs::create_dir_all(&path).map_err(|cause| LakeError::LocalDirectory {
            path: path.display().to_string(),
            cause,
        })?;
    }
    if let Some(table) = try_open(&url).await? {
        return upgraded(table, &url, &expected, spec).await;
    }
    let table = build(&url)?;
    let created = table
        .create()
        .with_table_name(spec.name.clone())
        .with_columns(expected.fields().cloned())
        .with_partition_columns(spec.partition_columns.clone())
        .with_configuration(
            spec.properties
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        )
        // Herd's own properties are not Delta's.
        .with_raise_if_key_not_exists(false)
        .with_save_mode(SaveMode::ErrorIfExists)
        // With retries, delta-rs 1.1.3 turns a lost race for version 0 into a second
        // protocol + metadata commit at version 1 (its fallback reloads the winner's
        // version 0 and then skips the conflict check), silently replacing the
        // winner's metadata. Without retries the loser fails and opens the winner's
        // table below.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(table) => {
            info!(table = %url, version = table.version(), "created table");
            Ok(table)
        }
        // Another process may have committed version 0 between our open and our
        // create; its table is as good as ours if the schema matches.
        Err(create_error) => match try_open(&url).await {
            Ok(Some(table)) => upgraded(table, &url, &expected, spec).await,
            _ => Err(LakeError::delta("create table", &url)(create_error)),
        },
    }
}

/// Opens table `spec.name` under `root` if it exists, checking its schema; `None`
/// when nothing is there yet. Creates nothing, for readers.
pub async fn open_existing(root: &LakeRoot, spec: &TableSpec) -> Result<Option<DeltaTable>> {
    let url = root.table_url(&spec.name)?;
    let Some(table) = open_latest(&url).await? else {
        return Ok(None);
    };
    let expected = kernel_schema(&url, spec)?;
    check_matches(&table, &url, &expected, spec)?;
    Ok(Some(table))
}

/// The table at `url` at its latest version, or `None` when nothing is there yet.
/// Creates nothing and checks no schema, for readers of any table.
pub(crate) async fn open_latest(url: &Url) -> Result<Option<DeltaTable>> {
    if url.scheme() == "file" {
        // Delta's local store reports a missing directory as a bad location rather
        // than as "no table yet".
        let exists = url
            .to_file_path()
            .is_ok_and(|path| path.join("_delta_log").is_dir());
        if !exists {
            return Ok(None);
        }
    }
    try_open(url).await
}

/// Files, rows and bytes in a table version, from the log's `add` actions and
/// their statistics (no data file is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub version: u64,
    /// Live data files.
    pub files: usize,
    /// Rows across live files; files written without statistics count as zero.
    pub rows: u64,
    /// Parquet bytes across live files.
    pub bytes: u64,
}

/// Statistics of the table version currently loaded in `table`.
pub fn table_stats(table: &DeltaTable) -> Result<TableStats> {
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("read statistics of", table.table_url()))?;
    let (mut files, mut rows, mut bytes) = (0, 0, 0);
    for file in snapshot.log_data().iter() {
        files += 1;
        rows += file.num_records().unwrap_or(0) as u64;
        bytes += file.size().max(0) as u64;
    }
    Ok(TableStats {
        version: snapshot.version(),
        files,
        rows,
        bytes,
    })
}

fn build(url: &Url) -> Result<DeltaTable> {
    DeltaTableBuilder::from_url(url.clone())
        .and_then(DeltaTableBuilder::build)
        .map_err(LakeError::delta("open table", url))
}

/// The table at `url` at its latest version, or `None` when nothing is there yet.
async fn try_open(url: &Url) -> Result<Option<DeltaTable>> {
    let mut table = build(url)?;
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(LakeError::delta("open table", url)(e)),
    }
}

fn kernel_schema(url: &Url, spec: &TableSpec) -> Result<StructType> {
    let schema: StructType =
        spec.schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| LakeError::SchemaMismatch {
                table: url.to_string(),
                reason: format!("the spec's schema has no Delta equivalent: {e}"),
            })?;
    for column in &spec.partition_columns {
        if schema.field(column).is_none() {
            return Err(LakeError::SchemaMismatch {
                table: url.to_string(),
                reason: format!("partition column `{column}` is not in the schema"),
            });
        }
    }
    Ok(schema)
}

/// `table` with the spec's columns: as it is when it has them, else with the
/// missing trailing columns added in one commit. Another process may add them first;
/// its commit is as good as ours.
async fn upgraded(
    table: DeltaTable,
    url: &Url,
    expected: &StructType,
    spec: &TableSpec,
) -> Result<DeltaTable> {
    let missing = missing_columns(&table, url, expected)?;
    if missing.is_empty() {
        check_matches(&table, url, expected, spec)?;
        return Ok(table);
    }
    let names: Vec<String> = missing.iter().map(|f| f.name().clone()).collect();
    let table = match table.add_columns().with_fields(missing).await {
        Ok(table) => {
            info!(table = %url, columns = ?names, version = table.version(), "added columns");
            table
        }
        Err(add_error) => match try_open(url).await? {
            Some(table) if missing_columns(&table, url, expected)?.is_empty() => table,
            _ => return Err(LakeError::delta("add columns to", url)(add_error)),
        },
    };
    check_matches(&table, url, expected, spec)?;
    Ok(table)
}

/// The spec's columns after the table's own, when the table's columns are exactly
/// the spec's first ones and those after are nullable: what an in-place upgrade adds.
/// Empty otherwise (nothing to add, or a difference [`check_matches`] reports).
fn missing_columns(
    table: &DeltaTable,
    url: &Url,
    expected: &StructType,
) -> Result<Vec<deltalake::kernel::StructField>> {
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("read schema of", url))?;
    let actual = snapshot.schema();
    let have: Vec<_> = actual.fields().collect();
    let want: Vec<_> = expected.fields().collect();
    if have.len() >= want.len() || have[..] != want[..have.len()] {
        return Ok(Vec::new());
    }
    let added = &want[have.len()..];
    if added.iter().any(|f| !f.is_nullable()) {
        return Ok(Vec::new());
    }
    Ok(added.iter().map(|f| (*f).clone()).collect())
}

fn check_matches(
    table: &DeltaTable,
    url: &Url,
    expected: &StructType,
    spec: &TableSpec,
) -> Result<()> {
    let snapshot = table
        .snapshot()
        .map_err(LakeError::delta("read schema of", url))?;
    let mismatch = |reason: String| LakeError::SchemaMismatch {
        table: url.to_string(),
        reason,
    };
    let actual = snapshot.schema();
    let describe = |schema: &StructType| -> Vec<String> {
        schema
            .fields()
            .map(|f| {
                let null = if f.is_nullable() { "" } else { " not null" };
                format!("{} {}{null}", f.name(), f.data_type())
            })
            .collect()
    };
    let (have, want) = (describe(&actual), describe(expected));
    if have != want {
        return Err(mismatch(format!(
            "has columns [{}], expected [{}]",
            have.join(", "),
            want.join(", ")
        )));
    }
    let partitions = snapshot.metadata().partition_columns();
    if partitions != spec.partition_columns.as_slice() {
        return Err(mismatch(format!(
            "partitioned by {partitions:?}, expected {:?}",
            spec.partition_columns
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
