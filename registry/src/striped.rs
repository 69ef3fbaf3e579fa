//! A table whose writers never decide for the same key at once: every commit
//! carries one Delta `txn` action per stripe of the keys it touches (a stripe is a
//! fixed hash bucket of the series key), whose version counts that stripe's commits.
//!
//! A writer reads the stripes' versions with the table; committing stripe `s` says
//! "I decided on the table as it was after commit `n` of `s`". If another writer
//! committed `s` in between, Delta's conflict check (same app id) or the appender's
//! own check fails the commit with [`LakeError::OffsetsMoved`], and the writer reads
//! the table again and decides again. This is how two promoters never both make a
//! key's next production entry, and two trainers never both register a key's next
//! version.

use std::collections::{BTreeSet, HashMap};

use herd_lake::arrow::array::RecordBatch;
use herd_lake::{
    DeltaTable, ExactlyOnceAppender, LakeError, LakeRoot, OffsetRange, ScanOptions, TableSpec,
    scan, tables,
};
use herd_schemas::SeriesKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::error::{RegistryError, Result};
use crate::json_rows;

/// Hash buckets of series keys; each commit names the ones it touches.
pub const STRIPES: i32 = 16;

const SOURCE: &str = "keys";

/// The stripe of `key`: stable across processes, versions and platforms.
pub fn stripe_of(key: &SeriesKey) -> i32 {
    let digest = Sha256::digest(key.to_string().as_bytes());
    i32::from(digest[0]) % STRIPES
}

/// Each stripe's commit count as a writer last read it (`None`: never committed):
/// what its next commit claims to have decided on.
#[derive(Debug, Default)]
pub(crate) struct StripeStamps(HashMap<i32, Option<i64>>);

impl StripeStamps {
    /// Reloads the table behind `appender` to its latest version and reads every
    /// stripe's count from that version; read the rows after this, from the same
    /// table, so that they are exactly what the counts describe.
    pub(crate) async fn read(appender: &mut ExactlyOnceAppender) -> Result<Self> {
        let stripes: Vec<i32> = (0..STRIPES).collect();
        Ok(Self(appender.stored_versions(SOURCE, &stripes).await?))
    }

    /// Appends `batch` in one commit guarded by the stripes of `keys`. Fails with
    /// [`RegistryError::Moved`] when another writer committed one of those stripes
    /// since the last [`read`](Self::read); read again and decide again.
    pub(crate) async fn append<'k>(
        &mut self,
        appender: &mut ExactlyOnceAppender,
        table: &str,
        batch: RecordBatch,
        keys: impl IntoIterator<Item = &'k SeriesKey>,
    ) -> Result<u64> {
        let stripes: BTreeSet<i32> = keys.into_iter().map(stripe_of).collect();
        let ranges: Vec<OffsetRange> = stripes
            .iter()
            .map(|&stripe| {
                let first = self.0.get(&stripe).copied().flatten().unwrap_or(0);
                OffsetRange {
                    partition: stripe,
                    first,
                    next: first + 1,
                }
            })
            .collect();
        match appender.append(vec![batch], SOURCE, &ranges).await {
            Ok(version) => {
                for range in &ranges {
                    self.0.insert(range.partition, Some(range.next));
                }
                Ok(version)
            }
            Err(LakeError::OffsetsMoved { .. } | LakeError::CommitConflicts { .. }) => {
                Err(RegistryError::Moved(table.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// One table written under stripe guards.
pub struct StripedTable {
    appender: ExactlyOnceAppender,
    name: String,
    stamps: StripeStamps,
}

impl StripedTable {
    /// Opens (or creates) the table; `writer` names the app ids.
    pub async fn open(root: &LakeRoot, spec: &TableSpec, writer: &str) -> Result<Self> {
        let table = tables::open_or_create(root, spec).await?;
        Ok(Self::new(table, &spec.name, writer))
    }

    /// Opens the table for reading; `None` when it does not exist. Creates nothing.
    pub async fn open_existing(
        root: &LakeRoot,
        spec: &TableSpec,
        writer: &str,
    ) -> Result<Option<Self>> {
        let table = tables::open_existing(root, spec).await?;
        Ok(table.map(|table| Self::new(table, &spec.name, writer)))
    }

    fn new(table: DeltaTable, name: &str, writer: &str) -> Self {
        Self {
            appender: ExactlyOnceAppender::new(table, writer),
            name: name.to_owned(),
            stamps: StripeStamps::default(),
        }
    }

    pub fn table(&self) -> &DeltaTable {
        self.appender.table()
    }

    /// The table's version as last read or written.
    pub fn version(&self) -> Option<u64> {
        self.table().version()
    }

    /// Reloads the table and returns every row; the stripes' versions are read from
    /// the same table version, so a later [`append`](Self::append) conflicts with any
    /// commit made after these rows were read.
    pub async fn read<T: DeserializeOwned>(&mut self) -> Result<Vec<T>> {
        self.stamps = StripeStamps::read(&mut self.appender).await?;
        let mut rows = Vec::new();
        let options = ScanOptions {
            concurrency: 2,
            ..ScanOptions::default()
        };
        let name = self.name.clone();
        scan(self.appender.table(), &options, |batch: RecordBatch| {
            rows.extend(json_rows::from_batch::<T>(&batch, &name)?);
            Ok::<_, RegistryError>(())
        })
        .await?;
        Ok(rows)
    }

    /// Appends `rows` in one commit guarded by the stripes of `keys`. Fails with
    /// [`RegistryError::Moved`] when another writer committed one of those stripes
    /// since the last [`read`](Self::read); read again and decide again.
    pub async fn append<'k, T: Serialize>(
        &mut self,
        schema: &herd_lake::arrow::datatypes::SchemaRef,
        rows: &[T],
        keys: impl IntoIterator<Item = &'k SeriesKey>,
    ) -> Result<u64> {
        let batch = json_rows::to_batch(schema, rows)?;
        self.stamps
            .append(&mut self.appender, &self.name, batch, keys)
            .await
    }
}
