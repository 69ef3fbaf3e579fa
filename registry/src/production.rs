//! The production registry: the Delta table `production/models`, under a root of its
//! own (another directory or bucket than the candidates'), with a copy of every
//! promoted artifact beside it. Only promotion and rollback write here; scorers
//! read only here.
//!
//! One row per production entry: a promotion or a rollback. Entries are numbered
//! 1, 2, … per key, and a key's current model is its highest entry, so the table
//! is also the key's production history.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use herd_lake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use herd_lake::{LakeRoot, TableSpec};
use herd_schemas::SeriesKey;
use serde::{Deserialize, Serialize};

use crate::artifact;
use crate::error::Result;
use crate::striped::StripedTable;
use crate::table::{ModelRow, tags_type};

/// The production registry's table, under the production root.
pub const PRODUCTION_TABLE: &str = "production/models";

/// How an entry became current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductionAction {
    /// A candidate passed the rule and beat the champion.
    Promoted,
    /// An operator made an earlier production version current again.
    RolledBack,
}

impl ProductionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductionAction::Promoted => "promoted",
            ProductionAction::RolledBack => "rolled_back",
        }
    }
}

/// One row of `production/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionEntry {
    pub key: SeriesKey,
    pub store_id: String,
    pub item_id: String,
    /// 1, 2, … per key; the highest is current.
    pub entry: i64,
    /// The candidate version that serves from this entry on.
    pub version: i64,
    pub action: ProductionAction,
    /// The artifact's path relative to the production table's root.
    pub artifact: String,
    pub model_type: Option<String>,
    pub cold_start: bool,
    pub data_start: Option<NaiveDate>,
    pub data_end: Option<NaiveDate>,
    pub horizon: i32,
    /// The version's holdout metrics as registered.
    pub accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub wape: Option<f64>,
    /// The version that was current before this entry.
    pub champion_version: Option<i64>,
    /// That version's accuracy on this version's holdout.
    pub champion_accuracy: Option<f64>,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
    /// Ties the entry to its row in `promotions`.
    pub decision_id: String,
    /// The run id of the promoter (or rollback) that wrote the entry.
    pub promoter: String,
    /// The training run that produced the version.
    pub run_id: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ProductionEntry {
    /// `key`'s entry number `entry`, promoting `row`'s model as `version`, decided
    /// at `decided_at`: the key, the artifact path and everything `row` says of the
    /// model. The decision's own fields (champion, reason, decision id, promoter)
    /// are empty for the caller to fill in.
    pub fn promotion(
        key: &SeriesKey,
        version: i64,
        entry: i64,
        row: &ModelRow,
        decided_at: DateTime<Utc>,
    ) -> Self {
        Self {
            key: key.clone(),
            store_id: key.store_id().as_str().to_owned(),
            item_id: key.item_id().as_str().to_owned(),
            entry,
            version,
            action: ProductionAction::Promoted,
            artifact: artifact::artifact_path(key, version),
            model_type: row.model_type.clone(),
            cold_start: row.cold_start,
            data_start: row.data_start,
            data_end: row.data_end,
            horizon: row.horizon,
            accuracy: row.metrics.map(|m| m.accuracy),
            baseline_accuracy: row.metrics.map(|m| m.baseline_accuracy),
            wape: row.metrics.map(|m| m.wape),
            champion_version: None,
            champion_accuracy: None,
            reason: String::new(),
            decided_at,
            decision_id: String::new(),
            promoter: String::new(),
            run_id: row.run_id.clone(),
            tags: row.tags.clone(),
        }
    }
}

static PRODUCTION_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        text("key", false),
        text("store_id", false),
        text("item_id", false),
        Field::new("entry", DataType::Int64, false),
        Field::new("version", DataType::Int64, false),
        text("action", false),
        text("artifact", false),
        text("model_type", true),
        Field::new("cold_start", DataType::Boolean, false),
        Field::new("data_start", DataType::Date32, true),
        Field::new("data_end", DataType::Date32, true),
        Field::new("horizon", DataType::Int32, false),
        float("accuracy"),
        float("baseline_accuracy"),
        float("wape"),
        Field::new("champion_version", DataType::Int64, true),
        float("champion_accuracy"),
        text("reason", false),
        Field::new(
            "decided_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("decision_id", false),
        text("promoter", false),
        text("run_id", false),
        Field::new("tags", tags_type(), true),
    ]))
});

/// The `production/models` table: unpartitioned, a few rows per promotion pass.
pub fn production_table() -> TableSpec {
    TableSpec {
        name: PRODUCTION_TABLE.to_owned(),
        schema: Arc::clone(&PRODUCTION_SCHEMA),
        partition_columns: Vec::new(),
        properties: Vec::new(),
    }
}

/// The production registry as last read: every entry, by key in entry order.
pub struct ProductionRegistry {
    table: StripedTable,
    by_key: HashMap<SeriesKey, Vec<ProductionEntry>>,
}

impl ProductionRegistry {
    /// Opens (or creates) `production/models` under `root` and reads it.
    pub async fn open(root: &LakeRoot) -> Result<Self> {
        let table = StripedTable::open(root, &production_table(), "production").await?;
        let mut registry = Self {
            table,
            by_key: HashMap::new(),
        };
        registry.reload().await?;
        Ok(registry)
    }

    /// Opens it for reading; `None` when nothing was ever promoted there.
    pub async fn open_existing(root: &LakeRoot) -> Result<Option<Self>> {
        let Some(table) =
            StripedTable::open_existing(root, &production_table(), "production").await?
        else {
            return Ok(None);
        };
        let mut registry = Self {
            table,
            by_key: HashMap::new(),
        };
        registry.reload().await?;
        Ok(Some(registry))
    }

    /// Reads the table again at its latest version.
    pub async fn reload(&mut self) -> Result<()> {
        let rows: Vec<ProductionEntry> = self.table.read().await?;
        let mut by_key: HashMap<SeriesKey, Vec<ProductionEntry>> = HashMap::new();
        for row in rows {
            by_key.entry(row.key.clone()).or_default().push(row);
        }
        for entries in by_key.values_mut() {
            entries.sort_by_key(|e| e.entry);
        }
        self.by_key = by_key;
        Ok(())
    }

    /// The table's version as last read or written.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// `key`'s current production model.
    pub fn current(&self, key: &SeriesKey) -> Option<&ProductionEntry> {
        self.by_key.get(key).and_then(|entries| entries.last())
    }

    /// Every key's current production model.
    pub fn all_current(&self) -> impl Iterator<Item = &ProductionEntry> {
        self.by_key.values().filter_map(|entries| entries.last())
    }

    /// `key`'s entries, oldest first.
    pub fn entries(&self, key: &SeriesKey) -> &[ProductionEntry] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }

    /// Every entry, grouped by key.
    pub fn all_entries(&self) -> impl Iterator<Item = &ProductionEntry> {
        self.by_key.values().flatten()
    }

    /// Appends `entries` in one commit guarded by their keys' stripes; fails with
    /// [`RegistryError::Moved`](crate::RegistryError::Moved) when another writer
    /// got there first (reload and decide again).
    pub async fn append(&mut self, entries: Vec<ProductionEntry>) -> Result<u64> {
        let keys: Vec<SeriesKey> = entries.iter().map(|e| e.key.clone()).collect();
        let version = self
            .table
            .append(&PRODUCTION_SCHEMA, &entries, &keys)
            .await?;
        for entry in entries {
            let list = self.by_key.entry(entry.key.clone()).or_default();
            list.push(entry);
            list.sort_by_key(|e| e.entry);
        }
        Ok(version)
    }

    /// The store its artifacts live in, under the production root.
    pub fn artifact_store(&self) -> crate::ArtifactStore {
        self.table.table().object_store()
    }

    /// The bytes of an entry's artifact.
    pub async fn artifact(&self, entry: &ProductionEntry) -> Result<bytes::Bytes> {
        let store = self.table.table().object_store();
        artifact::read(store.as_ref(), &entry.artifact).await
    }
}

#[cfg(test)]
mod tests;
