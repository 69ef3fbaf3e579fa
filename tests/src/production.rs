//! Reading the two Delta tables promotion writes, as readers outside Herd would:
//! `production/models` (every key's production history; its current model is its
//! row with the highest `entry`) and `promotions` (the audit trail of every
//! decision). Like [`crate::registry`], the live files come from replaying
//! `_delta_log` ([`registry::live_files`]) and are read as Parquet; Python's
//! `deltalake` reads `promotions` as a second implementation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use herd_lake::arrow::array::{Array, AsArray, RecordBatch};
use herd_lake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};

use crate::parquet;
use crate::registry::{self, required, tags};

/// The production registry's directory under its root.
pub const PRODUCTION_TABLE: &str = "production/models";
/// The audit table's directory under the lake root.
pub const PROMOTIONS_TABLE: &str = "promotions";

/// One row of `production/models`: a model made current for its key.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductionRow {
    pub key: String,
    pub store_id: String,
    pub item_id: String,
    /// 1, 2, … per key; the highest is the key's current model.
    pub entry: i64,
    /// The candidate version current from this entry on.
    pub version: i64,
    /// `promoted` or `rolled_back`.
    pub action: String,
    /// Relative to the production table's directory.
    pub artifact: String,
    pub model_type: Option<String>,
    pub cold_start: bool,
    pub data_start: Option<NaiveDate>,
    pub data_end: Option<NaiveDate>,
    pub horizon: i64,
    pub accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub wape: Option<f64>,
    /// The version current before this entry.
    pub champion_version: Option<i64>,
    pub champion_accuracy: Option<f64>,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
    pub decision_id: String,
    /// The promoter's run id.
    pub promoter: String,
    /// The candidate's training run.
    pub run_id: String,
    pub tags: Option<BTreeMap<String, String>>,
}

/// `production/models` at its latest version.
#[derive(Debug)]
pub struct ProductionTable {
    /// The table's directory (artifacts are relative to it).
    pub dir: PathBuf,
    pub version: u64,
    pub rows: Vec<ProductionRow>,
}

impl ProductionTable {
    /// Reads `<production_root>/production/models`.
    pub fn read(production_root: &Path) -> ProductionTable {
        let dir = production_root.join(PRODUCTION_TABLE);
        let (version, files) = registry::live_files(&dir);
        let rows = files
            .iter()
            .flat_map(|file| read_production(file))
            .collect();
        ProductionTable { dir, version, rows }
    }

    /// Every key's rows, in entry order.
    pub fn by_key(&self) -> BTreeMap<String, Vec<&ProductionRow>> {
        let mut by_key: BTreeMap<String, Vec<&ProductionRow>> = BTreeMap::new();
        for row in &self.rows {
            by_key.entry(row.key.clone()).or_default().push(row);
        }
        for rows in by_key.values_mut() {
            rows.sort_by_key(|row| row.entry);
        }
        by_key
    }

    /// Every key's current version: that of its row with the highest entry.
    pub fn current(&self) -> BTreeMap<String, i64> {
        self.by_key()
            .into_iter()
            .filter_map(|(key, rows)| Some((key, rows.last()?.version)))
            .collect()
    }
}

/// One row of `promotions`: a decision on a candidate, or a rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionRow {
    pub decision_id: String,
    pub decided_at: DateTime<Utc>,
    pub key: String,
    pub store_id: String,
    pub item_id: String,
    pub version: i64,
    /// `promoted`, `rejected` or `rolled_back`.
    pub decision: String,
    pub reason: String,
    /// The rule's source text.
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

/// `promotions` at its latest version.
#[derive(Debug)]
pub struct PromotionsTable {
    pub version: u64,
    pub rows: Vec<PromotionRow>,
}

impl PromotionsTable {
    /// Reads `<lake_root>/promotions`.
    pub fn read(lake_root: &Path) -> PromotionsTable {
        let (version, files) = registry::live_files(&lake_root.join(PROMOTIONS_TABLE));
        let rows = files
            .iter()
            .flat_map(|file| read_promotions(file))
            .collect();
        PromotionsTable { version, rows }
    }
}

/// The Delta version of the table at `table`, or `None` when there is none.
pub fn table_version(table: &Path) -> Option<u64> {
    table
        .join("_delta_log")
        .is_dir()
        .then(|| registry::live_files(table).0)
}

/// A `Timestamp(µs, UTC)` column; nulls are `None`. Fails the test on any other
/// type, a timestamp without a time zone included.
fn timestamps(batch: &RecordBatch, path: &Path, name: &str) -> Vec<Option<DateTime<Utc>>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("{}: no column `{name}`", path.display()));
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, Some(zone))
            if ["UTC", "+00:00", "Z"].contains(&zone.as_ref()) => {}
        other => panic!(
            "{}: `{name}` is {other}, not Timestamp(µs, UTC)",
            path.display()
        ),
    }
    let array = column.as_primitive::<TimestampMicrosecondType>();
    (0..array.len())
        .map(|i| {
            (!array.is_null(i)).then(|| {
                DateTime::from_timestamp_micros(array.value(i))
                    .unwrap_or_else(|| panic!("{}: `{name}` out of range", path.display()))
            })
        })
        .collect()
}

fn read_production(path: &Path) -> Vec<ProductionRow> {
    let mut rows = Vec::new();
    for batch in parquet::read_batches(path) {
        let text = |name: &str| parquet::strings(&batch, name);
        let int = |name: &str| parquet::integers(&batch, name);
        let float = |name: &str| parquet::floats(&batch, name);
        let (key, store_id, item_id) = (text("key"), text("store_id"), text("item_id"));
        let (action, artifact, model_type) = (text("action"), text("artifact"), text("model_type"));
        let (reason, decision_id) = (text("reason"), text("decision_id"));
        let (promoter, run_id) = (text("promoter"), text("run_id"));
        let (entry, version, horizon) = (int("entry"), int("version"), int("horizon"));
        let champion_version = int("champion_version");
        let (accuracy, baseline, wape) =
            (float("accuracy"), float("baseline_accuracy"), float("wape"));
        let champion_accuracy = float("champion_accuracy");
        let cold_start = parquet::booleans(&batch, "cold_start");
        let data_start = parquet::dates(&batch, "data_start");
        let data_end = parquet::dates(&batch, "data_end");
        let decided_at = timestamps(&batch, path, "decided_at");
        let tags = tags(&batch, path);
        for i in 0..batch.num_rows() {
            rows.push(ProductionRow {
                key: required(path, i, "key", key[i].clone()),
                store_id: required(path, i, "store_id", store_id[i].clone()),
                item_id: required(path, i, "item_id", item_id[i].clone()),
                entry: required(path, i, "entry", entry[i]),
                version: required(path, i, "version", version[i]),
                action: required(path, i, "action", action[i].clone()),
                artifact: required(path, i, "artifact", artifact[i].clone()),
                model_type: model_type[i].clone(),
                cold_start: required(path, i, "cold_start", cold_start[i]),
                data_start: data_start[i],
                data_end: data_end[i],
                horizon: required(path, i, "horizon", horizon[i]),
                accuracy: accuracy[i],
                baseline_accuracy: baseline[i],
                wape: wape[i],
                champion_version: champion_version[i],
                champion_accuracy: champion_accuracy[i],
                reason: required(path, i, "reason", reason[i].clone()),
                decided_at: required(path, i, "decided_at", decided_at[i]),
                decision_id: required(path, i, "decision_id", decision_id[i].clone()),
                promoter: required(path, i, "promoter", promoter[i].clone()),
                run_id: required(path, i, "run_id", run_id[i].clone()),
                tags: tags[i].clone(),
            });
        }
    }
    rows
}

fn read_promotions(path: &Path) -> Vec<PromotionRow> {
    let mut rows = Vec::new();
    for batch in parquet::read_batches(path) {
        let text = |name: &str| parquet::strings(&batch, name);
        let int = |name: &str| parquet::integers(&batch, name);
        let float = |name: &str| parquet::floats(&batch, name);
        let (decision_id, key, store_id) = (text("decision_id"), text("key"), text("store_id"));
        let (item_id, decision, reason) = (text("item_id"), text("decision"), text("reason"));
        let (rule, promoter) = (text("rule"), text("promoter"));
        let (version, champion_version) = (int("version"), int("champion_version"));
        let production_entry = int("production_entry");
        let (margin, accuracy, baseline) = (
            float("margin"),
            float("accuracy"),
            float("baseline_accuracy"),
        );
        let champion_accuracy = float("champion_accuracy");
        let decided_at = timestamps(&batch, path, "decided_at");
        for i in 0..batch.num_rows() {
            rows.push(PromotionRow {
                decision_id: required(path, i, "decision_id", decision_id[i].clone()),
                decided_at: required(path, i, "decided_at", decided_at[i]),
                key: required(path, i, "key", key[i].clone()),
                store_id: required(path, i, "store_id", store_id[i].clone()),
                item_id: required(path, i, "item_id", item_id[i].clone()),
                version: required(path, i, "version", version[i]),
                decision: required(path, i, "decision", decision[i].clone()),
                reason: required(path, i, "reason", reason[i].clone()),
                rule: required(path, i, "rule", rule[i].clone()),
                margin: required(path, i, "margin", margin[i]),
                accuracy: accuracy[i],
                baseline_accuracy: baseline[i],
                champion_version: champion_version[i],
                champion_accuracy: champion_accuracy[i],
                production_entry: production_entry[i],
                promoter: required(path, i, "promoter", promoter[i].clone()),
            });
        }
    }
    rows
}

/// Reads `promotions` and prints what the test compares, as one JSON object.
const SCRIPT: &str = r#"
import collections, json, sys
from deltalake import DeltaTable

table = DeltaTable(sys.argv[1])
data = table.to_pyarrow_table(columns=["key", "version", "decision", "decided_at"])
print(json.dumps({
    "version": table.version(),
    "rows": data.num_rows,
    "decisions": dict(collections.Counter(data.column("decision").to_pylist())),
    "decided_at_type": str(data.schema.field("decided_at").type),
}))
"#;

/// What Python's `deltalake` saw in `promotions`.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonPromotionsView {
    pub version: u64,
    pub rows: u64,
    /// Rows per decision (`promoted`, `rejected`, `rolled_back`).
    pub decisions: BTreeMap<String, u64>,
    /// The Arrow type of `decided_at` as pyarrow prints it.
    pub decided_at_type: String,
}

/// Reads the `promotions` table at `table` with Python's `deltalake`.
pub fn read_promotions_with_python(table: &Path) -> PythonPromotionsView {
    let json = crate::python::run_script(SCRIPT, table, &[]);
    let number = |name: &str| {
        json[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} missing in {json}"))
    };
    let decisions = json["decisions"]
        .as_object()
        .unwrap_or_else(|| panic!("decisions missing in {json}"))
        .iter()
        .map(|(decision, count)| (decision.clone(), count.as_u64().unwrap_or_default()))
        .collect();
    PythonPromotionsView {
        version: number("version"),
        rows: number("rows"),
        decisions,
        decided_at_type: json["decided_at_type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}
