//! The Delta table `promotions`: one row per decision on a candidate (promoted or
//! rejected, with the reason) and per rollback, the audit trail that `herd models
//! history` tells.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use herd_lake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use herd_lake::{LakeRoot, TableSpec};
use herd_schemas::SeriesKey;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::striped::StripedTable;

/// The audit table's name under the lake root.
pub const PROMOTIONS_TABLE: &str = "promotions";

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Promoted,
    Rejected,
    RolledBack,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Promoted => "promoted",
            DecisionKind::Rejected => "rejected",
            DecisionKind::RolledBack => "rolled_back",
        }
    }
}

/// One row of `promotions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub decided_at: DateTime<Utc>,
    pub key: SeriesKey,
    pub store_id: String,
    pub item_id: String,
    /// The candidate version decided on (for a rollback: the version made current).
    pub version: i64,
    pub decision: DecisionKind,
    pub reason: String,
    /// The promotion rule's source text.
    pub rule: String,
    pub margin: f64,
    pub accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub champion_version: Option<i64>,
    pub champion_accuracy: Option<f64>,
    /// The production entry a promotion or rollback created.
    pub production_entry: Option<i64>,
    pub promoter: String,
}

static PROMOTIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        text("decision_id"),
        Field::new(
            "decided_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("key"),
        text("store_id"),
        text("item_id"),
        Field::new("version", DataType::Int64, false),
        text("decision"),
        text("reason"),
        text("rule"),
        Field::new("margin", DataType::Float64, false),
        float("accuracy"),
        float("baseline_accuracy"),
        Field::new("champion_version", DataType::Int64, true),
        float("champion_accuracy"),
        Field::new("production_entry", DataType::Int64, true),
        text("promoter"),
    ]))
});

/// The `promotions` table: unpartitioned.
pub fn promotions_table() -> TableSpec {
    TableSpec {
        name: PROMOTIONS_TABLE.to_owned(),
        schema: Arc::clone(&PROMOTIONS_SCHEMA),
        partition_columns: Vec::new(),
        properties: Vec::new(),
    }
}

/// The audit trail as last read.
pub struct DecisionLog {
    table: StripedTable,
    rows: Vec<Decision>,
    ids: HashSet<String>,
    /// The highest candidate version decided per key (rollbacks excluded).
    decided: HashMap<SeriesKey, i64>,
}

impl DecisionLog {
    /// Opens (or creates) `promotions` under `root` and reads it.
    pub async fn open(root: &LakeRoot) -> Result<Self> {
        let table = StripedTable::open(root, &promotions_table(), "promotions").await?;
        Self::with(table).await
    }

    /// Opens it for reading; `None` when no decision was ever made. Creates nothing.
    pub async fn open_existing(root: &LakeRoot) -> Result<Option<Self>> {
        match StripedTable::open_existing(root, &promotions_table(), "promotions").await? {
            Some(table) => Ok(Some(Self::with(table).await?)),
            None => Ok(None),
        }
    }

    async fn with(table: StripedTable) -> Result<Self> {
        let mut log = Self {
            table,
            rows: Vec::new(),
            ids: HashSet::new(),
            decided: HashMap::new(),
        };
        log.reload().await?;
        Ok(log)
    }

    /// Reads the table again at its latest version.
    pub async fn reload(&mut self) -> Result<()> {
        self.rows = self.table.read().await?;
        self.rows.sort_by_key(|d| d.decided_at);
        self.ids = self.rows.iter().map(|d| d.decision_id.clone()).collect();
        self.decided.clear();
        for row in &self.rows {
            note(&mut self.decided, row);
        }
        Ok(())
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// The highest candidate version of `key` already decided.
    pub fn decided(&self, key: &SeriesKey) -> Option<i64> {
        self.decided.get(key).copied()
    }

    pub fn contains(&self, decision_id: &str) -> bool {
        self.ids.contains(decision_id)
    }

    /// Every decision, oldest first.
    pub fn rows(&self) -> &[Decision] {
        &self.rows
    }

    /// Appends `decisions` in one commit guarded by their keys' stripes; fails with
    /// [`RegistryError::Moved`](crate::RegistryError::Moved) when another writer
    /// got there first.
    pub async fn append(&mut self, decisions: Vec<Decision>) -> Result<u64> {
        if decisions.is_empty() {
            return Ok(self.version().unwrap_or_default());
        }
        let keys: Vec<SeriesKey> = decisions.iter().map(|d| d.key.clone()).collect();
        let version = self
            .table
            .append(&PROMOTIONS_SCHEMA, &decisions, &keys)
            .await?;
        for row in decisions {
            note(&mut self.decided, &row);
            self.ids.insert(row.decision_id.clone());
            self.rows.push(row);
        }
        Ok(version)
    }
}

/// Counts `row` into the highest decided version of its key; a rollback decides no
/// candidate.
fn note(decided: &mut HashMap<SeriesKey, i64>, row: &Decision) {
    if row.decision != DecisionKind::RolledBack {
        let highest = decided.entry(row.key.clone()).or_insert(row.version);
        *highest = (*highest).max(row.version);
    }
}
