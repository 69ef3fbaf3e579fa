//! Rebuilding windows from the Delta `sales` table: the archived history of the keys
//! on the partitions this process owns. Every row carries its Kafka partition and
//! offset, so for a repeated day the record published later wins as it did on the
//! topic, whatever order the table's files are read in.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use herd_lake::{DeltaTable, ScanOptions, ScanStats, scan};

use crate::error::Result;
use crate::loader::WindowLoader;
use crate::windows::Windows;

/// What a load read and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub scan: ScanStats,
    /// Rows of the partitions asked for.
    pub rows: u64,
    pub keys: usize,
}

/// Reads `sales` into `windows`, keeping only rows of `partitions` (all when
/// `None`). Keys already in `windows` are replaced by what the table holds.
pub async fn load(
    windows: &Windows,
    sales: &DeltaTable,
    partitions: Option<&HashSet<i32>>,
) -> Result<LoadSummary> {
    scan_into(
        windows,
        sales,
        WindowLoader::new(windows.capacity(), partitions).frequency(windows.frequency()),
        None,
    )
    .await
}

/// Reads `sales` into `windows` as it stood at `limits`: only rows of those
/// partitions with an offset below the partition's limit. Keys already in
/// `windows` are replaced by what the table holds.
pub async fn load_before(
    windows: &Windows,
    sales: &DeltaTable,
    limits: &HashMap<i32, i64>,
) -> Result<LoadSummary> {
    let partitions: HashSet<i32> = limits.keys().copied().collect();
    let loader = WindowLoader::new(windows.capacity(), Some(&partitions))
        .before(limits)
        .frequency(windows.frequency());
    scan_into(windows, sales, loader, None).await
}

/// Adds to `windows` the rows of `sales`' data files that are not in `read` (the
/// files `windows` was loaded from, all still live): each key those rows touch is
/// replaced by its window with them added, the others are left as they are.
pub async fn load_new(
    windows: &Windows,
    sales: &DeltaTable,
    read: Arc<HashSet<String>>,
) -> Result<LoadSummary> {
    let loader = WindowLoader::new(windows.capacity(), None)
        .frequency(windows.frequency())
        .seeded(windows);
    scan_into(windows, sales, loader, Some(read)).await
}

/// Scans `sales` through `loader` into `windows`, with each row's Kafka partition
/// and offset: the loader orders repeated days by them.
async fn scan_into(
    windows: &Windows,
    sales: &DeltaTable,
    mut loader: WindowLoader<'_>,
    skip: Option<Arc<HashSet<String>>>,
) -> Result<LoadSummary> {
    herd_lake::tables::check_frequency(sales, windows.frequency())?;
    let mut read = WindowLoader::parquet_columns();
    read.read
        .extend(["kafka_partition", "kafka_offset"].map(str::to_owned));
    let options = ScanOptions {
        read,
        since: None,
        concurrency: 2,
        skip,
    };
    let scan = scan(sales, &options, |batch| loader.add(&batch)).await?;
    let (rows, keys) = loader.finish(windows);
    Ok(LoadSummary { scan, rows, keys })
}
