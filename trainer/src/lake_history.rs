//! Rebuilding windows from the Delta `sales` table: the archived history of the keys
//! on the partitions this process owns, in commit order, so that for a repeated day
//! the later record wins as it did on the topic.

use std::collections::{HashMap, HashSet};

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
    read(
        windows,
        sales,
        WindowLoader::new(windows.capacity(), partitions),
        false,
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
    let loader = WindowLoader::new(windows.capacity(), Some(&partitions)).before(limits);
    read(windows, sales, loader, true).await
}

/// Scans `sales` through `loader` into `windows`, with the Kafka offsets when
/// the loader needs them.
async fn read(
    windows: &Windows,
    sales: &DeltaTable,
    mut loader: WindowLoader<'_>,
    offsets: bool,
) -> Result<LoadSummary> {
    let mut read = WindowLoader::parquet_columns();
    read.read.push("kafka_partition".into());
    if offsets {
        read.read.push("kafka_offset".into());
    }
    let options = ScanOptions {
        read,
        since: None,
        concurrency: 2,
    };
    let scan = scan(sales, &options, |batch| loader.add(&batch)).await?;
    let (rows, keys) = loader.finish(windows);
    Ok(LoadSummary { scan, rows, keys })
}
