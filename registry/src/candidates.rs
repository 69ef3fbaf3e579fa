//! The candidate registry: trained model versions in the Delta table `models`, their
//! artifacts beside it, and each key's latest version number.
//!
//! Registration is batched: artifacts are written first (an orphaned artifact after a
//! crash is harmless, since no row names it), then one Delta commit adds every row.
//! That commit is guarded by the stripes of its keys (see [`crate::striped`]): when
//! another process registered a version of one of them first, the versions are read
//! again and numbered again, so a key's version is unique across every process.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use herd_lake::arrow::array::{AsArray, RecordBatch};
use herd_lake::arrow::datatypes::{Date32Type, Int64Type};
use herd_lake::{
    DeltaTable, ExactlyOnceAppender, LakeRoot, ReadColumns, ScanOptions, scan, tables,
};
use herd_schemas::SeriesKey;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::artifact;
use crate::error::{RegistryError, Result};
use crate::striped::StripeStamps;
use crate::table::{MODELS_TABLE, ModelRow, from_batch, models_table, to_batch};

/// Artifacts written at once while registering a batch.
const ARTIFACT_WRITES: usize = 32;

/// Times a batch is numbered and committed before another writer that keeps
/// registering the same keys first is reported as an error.
const REGISTER_ATTEMPTS: u32 = 10;

/// A model to register: its row (the registry sets `version` and `artifact`) and
/// the artifact's bytes (`None` for a failed training).
#[derive(Debug, Clone)]
pub struct NewModel {
    pub row: ModelRow,
    pub artifact: Option<Vec<u8>>,
}

/// The `models` table and the latest version of every key in it.
pub struct CandidateRegistry {
    appender: ExactlyOnceAppender,
    latest: HashMap<SeriesKey, i64>,
    /// The last data day of each key's latest version.
    trained_through: HashMap<SeriesKey, NaiveDate>,
    /// The stripes' commit counts read with `latest`: a commit is refused when
    /// another writer registered versions of the same stripes since.
    stamps: StripeStamps,
}

impl CandidateRegistry {
    /// Opens (or creates) `models` under `root` and reads every key's latest version.
    pub async fn open(root: &LakeRoot) -> Result<Self> {
        let table = tables::open_or_create(root, &models_table()).await?;
        let mut registry = Self {
            appender: ExactlyOnceAppender::new(table, "registry"),
            latest: HashMap::new(),
            trained_through: HashMap::new(),
            stamps: StripeStamps::default(),
        };
        registry.load_versions().await?;
        Ok(registry)
    }

    /// Opens `models` under `root` for reading; `None` when no model was ever
    /// registered there. Creates nothing.
    pub async fn open_existing(root: &LakeRoot) -> Result<Option<Self>> {
        let Some(table) = tables::open_existing(root, &models_table()).await? else {
            return Ok(None);
        };
        let mut registry = Self {
            appender: ExactlyOnceAppender::new(table, "registry"),
            latest: HashMap::new(),
            trained_through: HashMap::new(),
            stamps: StripeStamps::default(),
        };
        registry.load_versions().await?;
        Ok(Some(registry))
    }

    pub fn table(&self) -> &DeltaTable {
        self.appender.table()
    }

    /// The store its artifacts live in.
    pub fn artifact_store(&self) -> crate::ArtifactStore {
        self.appender.table().object_store()
    }

    /// The latest version registered for `key`, if any.
    pub fn latest_version(&self, key: &SeriesKey) -> Option<i64> {
        self.latest.get(key).copied()
    }

    /// The last day of data that `key`'s latest version saw.
    pub fn trained_through(&self, key: &SeriesKey) -> Option<NaiveDate> {
        self.trained_through.get(key).copied()
    }

    /// Every key's last trained day.
    pub fn all_trained_through(&self) -> &HashMap<SeriesKey, NaiveDate> {
        &self.trained_through
    }

    /// Keys with at least one registered version.
    pub fn keys(&self) -> usize {
        self.latest.len()
    }

    /// Reads every key's latest version and last trained day again from the table's
    /// latest version, e.g. after other processes registered models.
    pub async fn reload(&mut self) -> Result<()> {
        self.load_versions().await
    }

    async fn load_versions(&mut self) -> Result<()> {
        // The stripes first (this reloads the table), then the rows of that same
        // version: the versions read are exactly those the stripes' counts cover.
        self.stamps = StripeStamps::read(&mut self.appender).await?;
        let options = ScanOptions {
            read: ReadColumns {
                read: vec!["key".into(), "version".into(), "data_end".into()],
                ..ReadColumns::default()
            },
            concurrency: 2,
            ..ScanOptions::default()
        };
        let mut latest: HashMap<SeriesKey, (i64, Option<NaiveDate>)> = HashMap::new();
        scan(self.appender.table(), &options, |batch: RecordBatch| {
            let (Some(keys), Some(versions), Some(ends)) = (
                batch.column(0).as_string_opt::<i32>(),
                batch.column(1).as_primitive_opt::<Int64Type>(),
                batch.column(2).as_primitive_opt::<Date32Type>(),
            ) else {
                return Err(RegistryError::Corrupt(
                    "`key`/`version`/`data_end` have the wrong types".into(),
                ));
            };
            for ((key, version), end) in keys.iter().zip(versions.iter()).zip(ends.iter()) {
                let (Some(key), Some(version)) = (key, version) else {
                    continue;
                };
                let key: SeriesKey = key
                    .parse()
                    .map_err(|e| RegistryError::Corrupt(format!("bad key `{key}`: {e}")))?;
                let end = end.and_then(Date32Type::to_naive_date_opt);
                let entry = latest.entry(key).or_insert((version, end));
                if version >= entry.0 {
                    *entry = (version, end);
                }
            }
            Ok(())
        })
        .await?;
        self.trained_through = latest
            .iter()
            .filter_map(|(key, (_, end))| Some((key.clone(), (*end)?)))
            .collect();
        self.latest = latest
            .into_iter()
            .map(|(key, (version, _))| (key, version))
            .collect();
        Ok(())
    }

    /// Registers `models` in one commit: each gets the next version of its key, its
    /// artifact is written under the registry root, and the rows are returned as
    /// committed. When another writer registered versions of the same keys first,
    /// the versions are read again, the models numbered again (with new artifacts
    /// where a number changed) and committed again.
    pub async fn register(&mut self, models: Vec<NewModel>) -> Result<Vec<ModelRow>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let (mut rows, artifacts): (Vec<ModelRow>, Vec<Option<Bytes>>) = models
            .into_iter()
            .map(|NewModel { row, artifact }| (row, artifact.map(Bytes::from)))
            .unzip();
        // The version each row's artifact was written for, if it was.
        let mut written: Vec<Option<i64>> = vec![None; rows.len()];
        let mut attempt = 1;
        loop {
            let next = self.number(&mut rows);
            self.write_artifacts(&mut rows, &artifacts, &mut written)
                .await?;
            let batch = to_batch(&rows)?;
            let keys = rows.iter().map(|row| &row.key);
            match self
                .stamps
                .append(&mut self.appender, MODELS_TABLE, batch, keys)
                .await
            {
                Ok(version) => {
                    info!(
                        models = rows.len(),
                        table_version = version,
                        attempts = attempt,
                        "registered models"
                    );
                    self.latest.extend(next);
                    for row in &rows {
                        if let Some(end) = row.data_end {
                            self.trained_through.insert(row.key.clone(), end);
                        }
                    }
                    return Ok(rows);
                }
                Err(RegistryError::Moved(_)) if attempt < REGISTER_ATTEMPTS => {
                    warn!(
                        models = rows.len(),
                        attempt,
                        "another writer registered versions of these keys first; numbering again"
                    );
                    self.load_versions().await?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives each row the next version of its key after what this registry last
    /// read; returns each key's new latest version.
    fn number(&self, rows: &mut [ModelRow]) -> HashMap<SeriesKey, i64> {
        let mut next: HashMap<SeriesKey, i64> = HashMap::new();
        for row in rows {
            let version = next
                .entry(row.key.clone())
                .or_insert_with(|| self.latest.get(&row.key).copied().unwrap_or(0));
            *version += 1;
            row.version = *version;
        }
        next
    }

    /// Writes each artifact not yet written for its row's version at a new path, and
    /// points the row at it.
    async fn write_artifacts(
        &self,
        rows: &mut [ModelRow],
        artifacts: &[Option<Bytes>],
        written: &mut [Option<i64>],
    ) -> Result<()> {
        let store = self.appender.table().object_store();
        let mut writes: JoinSet<Result<()>> = JoinSet::new();
        for ((row, bytes), written) in rows.iter_mut().zip(artifacts).zip(written.iter_mut()) {
            let Some(bytes) = bytes else {
                row.artifact = None;
                continue;
            };
            if *written == Some(row.version) {
                continue;
            }
            let path = artifact::candidate_artifact_path(&row.key, row.version);
            row.artifact = Some(path.clone());
            *written = Some(row.version);
            if writes.len() >= ARTIFACT_WRITES
                && let Some(done) = writes.join_next().await
            {
                join(done)??;
            }
            let (store, bytes) = (Arc::clone(&store), bytes.clone());
            writes.spawn(async move { artifact::write(store.as_ref(), &path, bytes).await });
        }
        while let Some(done) = writes.join_next().await {
            join(done)??;
        }
        Ok(())
    }

    /// Every row of the registry at the latest table version.
    pub async fn rows(&mut self) -> Result<Vec<ModelRow>> {
        self.appender.refresh().await?;
        let mut rows = Vec::new();
        let options = ScanOptions {
            concurrency: 2,
            ..ScanOptions::default()
        };
        scan(self.appender.table(), &options, |batch: RecordBatch| {
            rows.extend(from_batch(&batch)?);
            Ok::<_, RegistryError>(())
        })
        .await?;
        Ok(rows)
    }

    /// The row of `key` at `version`, or its latest version.
    pub async fn find(&mut self, key: &SeriesKey, version: Option<i64>) -> Result<ModelRow> {
        let rows = self.rows().await?;
        rows.into_iter()
            .filter(|row| &row.key == key && version.is_none_or(|v| row.version == v))
            .max_by_key(|row| row.version)
            .ok_or_else(|| RegistryError::NotFound {
                key: key.to_string(),
                version,
            })
    }

    /// The bytes of a row's artifact.
    pub async fn artifact(&self, row: &ModelRow) -> Result<bytes::Bytes> {
        let path = row
            .artifact
            .as_deref()
            .ok_or_else(|| RegistryError::NotFound {
                key: row.key.to_string(),
                version: Some(row.version),
            })?;
        let store = self.appender.table().object_store();
        artifact::read(store.as_ref(), path).await
    }
}

fn join<T>(joined: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    joined.map_err(|e| RegistryError::Artifact {
        path: String::new(),
        reason: format!("a writing task failed: {e}"),
    })
}

#[cfg(test)]
mod tests;
