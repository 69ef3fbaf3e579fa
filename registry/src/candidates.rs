//! The candidate registry: trained model versions in the Delta table `models`, their
//! artifacts beside it, and each key's latest version number.
//!
//! Registration is batched: artifacts are written first (an orphaned artifact after a
//! crash is harmless, since no row names it), then one Delta commit adds every row.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use herd_lake::arrow::array::{AsArray, RecordBatch};
use herd_lake::arrow::datatypes::{Date32Type, Int64Type};
use herd_lake::{
    DeltaTable, ExactlyOnceAppender, LakeRoot, ReadColumns, ScanOptions, scan, tables,
};
use herd_schemas::SeriesKey;
use tokio::task::JoinSet;
use tracing::info;

use crate::artifact;
use crate::error::{RegistryError, Result};
use crate::table::{ModelRow, from_batch, models_table, to_batch};

/// Artifacts written at once while registering a batch.
const ARTIFACT_WRITES: usize = 32;

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
}

impl CandidateRegistry {
    /// Opens (or creates) `models` under `root` and reads every key's latest version.
    pub async fn open(root: &LakeRoot) -> Result<Self> {
        let table = tables::open_or_create(root, &models_table()).await?;
        let mut registry = Self {
            appender: ExactlyOnceAppender::new(table, "registry"),
            latest: HashMap::new(),
            trained_through: HashMap::new(),
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

    async fn load_versions(&mut self) -> Result<()> {
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
    /// committed.
    pub async fn register(&mut self, models: Vec<NewModel>) -> Result<Vec<ModelRow>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.appender.table().object_store();
        let mut next: HashMap<SeriesKey, i64> = HashMap::new();
        let mut rows = Vec::with_capacity(models.len());
        let mut writes: JoinSet<Result<()>> = JoinSet::new();
        for NewModel { mut row, artifact } in models {
            let version = next
                .entry(row.key.clone())
                .or_insert_with(|| self.latest.get(&row.key).copied().unwrap_or(0));
            *version += 1;
            row.version = *version;
            row.artifact = None;
            if let Some(bytes) = artifact {
                let path = artifact::artifact_path(&row.key, row.version);
                row.artifact = Some(path.clone());
                if writes.len() >= ARTIFACT_WRITES
                    && let Some(done) = writes.join_next().await
                {
                    join(done)??;
                }
                let store = Arc::clone(&store);
                writes.spawn(async move { artifact::write(store.as_ref(), &path, bytes).await });
            }
            rows.push(row);
        }
        while let Some(done) = writes.join_next().await {
            join(done)??;
        }
        let batch = to_batch(&rows)?;
        let version = self.appender.append(vec![batch], "models", &[]).await?;
        info!(
            models = rows.len(),
            table_version = version,
            "registered models"
        );
        self.latest.extend(next);
        for row in &rows {
            if let Some(end) = row.data_end {
                self.trained_through.insert(row.key.clone(), end);
            }
        }
        Ok(rows)
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
