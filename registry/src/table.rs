//! The Delta table `models`, the candidate registry: one row per trained (or failed)
//! model version, with its metrics, lineage and tags, and its conversion to and from
//! Arrow batches.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use herd_lake::TableSpec;
use herd_lake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
    MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use herd_lake::arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType,
};
use herd_schemas::SeriesKey;

use crate::error::{RegistryError, Result};

/// The candidate registry's table name under the lake root.
pub const MODELS_TABLE: &str = "models";

/// Whether a version holds a usable model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelStatus {
    /// Trained and registered; promotion decides whether it serves.
    Candidate,
    /// Training failed; `error` says why and no artifact exists.
    Failed,
}

impl ModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Candidate => "candidate",
            ModelStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "candidate" => Some(ModelStatus::Candidate),
            "failed" => Some(ModelStatus::Failed),
            _ => None,
        }
    }
}

/// Why a key was trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Continuous training: enough new days arrived since the key's last model.
    NewDays,
    /// Continuous training: the key's live error or level left what its model
    /// expected, before enough new days arrived.
    Drift,
    /// `herd train --once` run on a schedule (`--trigger schedule`).
    Schedule,
    /// `herd train --once`.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NewDays => "new_days",
            Trigger::Drift => "drift",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Trigger::NewDays,
            Trigger::Drift,
            Trigger::Schedule,
            Trigger::Manual,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// The metrics of `docs/workload.md` on the holdout (the last `horizon` days, multi-step).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct HoldoutMetrics {
    pub mae: f64,
    pub rmse: f64,
    pub wape: f64,
    pub accuracy: f64,
    pub baseline_accuracy: f64,
}

/// One row of `models`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelRow {
    pub key: SeriesKey,
    /// 1, 2, … per key, in registration order.
    pub version: i64,
    pub status: ModelStatus,
    /// The selected forecaster; `None` for a failure.
    pub model_type: Option<String>,
    /// A fallback for a key with too little history of its own.
    pub cold_start: bool,
    /// The artifact's path relative to the table root; `None` for a failure.
    pub artifact: Option<String>,
    pub trained_at: DateTime<Utc>,
    /// First and last day of the data the model saw.
    pub data_start: Option<NaiveDate>,
    pub data_end: Option<NaiveDate>,
    /// Observed days it was trained on.
    pub rows: i64,
    pub horizon: i32,
    pub folds: i32,
    pub metrics: Option<HoldoutMetrics>,
    /// Every candidate's score on every backtest fold, as JSON.
    pub backtest: String,
    pub tags: BTreeMap<String, String>,
    pub run_id: String,
    pub feature_set: String,
    pub error: Option<String>,
    /// Why the key was trained; `None` in rows written before the column existed.
    pub trigger: Option<Trigger>,
}

impl serde::Serialize for ModelStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

const METRIC_COLUMNS: [&str; 5] = ["mae", "rmse", "wape", "accuracy", "baseline_accuracy"];

pub(crate) fn tags_type() -> DataType {
    // Delta's map type as delta-kernel names it in Arrow.
    let entries = Field::new(
        "key_value",
        DataType::Struct(
            vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

static MODELS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("store_id", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("model_type", DataType::Utf8, true),
        Field::new("cold_start", DataType::Boolean, false),
        Field::new("artifact", DataType::Utf8, true),
        Field::new(
            "trained_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("data_start", DataType::Date32, true),
        Field::new("data_end", DataType::Date32, true),
        Field::new("rows", DataType::Int64, false),
        Field::new("horizon", DataType::Int32, false),
        Field::new("folds", DataType::Int32, false),
    ];
    fields.extend(
        METRIC_COLUMNS
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, true)),
    );
    fields.extend([
        Field::new("backtest", DataType::Utf8, false),
        Field::new("tags", tags_type(), true),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("feature_set", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        // Added after the table's first release: nullable, so that an older table
        // gains it in place.
        Field::new("trigger", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
});

/// The `models` table: unpartitioned; a key's versions are found by scanning
/// `key` and `version`, which Parquet's column projection keeps cheap.
pub fn models_table() -> TableSpec {
    TableSpec {
        name: MODELS_TABLE.to_owned(),
        schema: Arc::clone(&MODELS_SCHEMA),
        partition_columns: Vec::new(),
        properties: Vec::new(),
    }
}

/// Rows as one Arrow batch in the table's schema.
pub fn to_batch(rows: &[ModelRow]) -> Result<RecordBatch> {
    let strings = |f: &dyn Fn(&ModelRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let date = |d: Option<NaiveDate>| d.map(Date32Type::from_naive_date);
    let metric = |f: fn(&HoldoutMetrics) -> f64| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|r| r.metrics.as_ref().map(f))
                .collect::<Float64Array>(),
        )
    };
    let names = MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let mut tags = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_values_field(Field::new("value", DataType::Utf8, true));
    for row in rows {
        for (k, v) in &row.tags {
            tags.keys().append_value(k);
            tags.values().append_value(v);
        }
        tags.append(true)?;
    }
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| Some(r.key.to_string())),
        strings(&|r| Some(r.key.store_id().as_str().to_owned())),
        strings(&|r| Some(r.key.item_id().as_str().to_owned())),
        Arc::new(rows.iter().map(|r| r.version).collect::<Int64Array>()),
        strings(&|r| Some(r.status.as_str().to_owned())),
        strings(&|r| r.model_type.clone()),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.cold_start))
                .collect::<BooleanArray>(),
        ),
        strings(&|r| r.artifact.clone()),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.trained_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            rows.iter()
                .map(|r| date(r.data_start))
                .collect::<Date32Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| date(r.data_end))
                .collect::<Date32Array>(),
        ),
        Arc::new(rows.iter().map(|r| r.rows).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.horizon).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.folds).collect::<Int32Array>()),
        metric(|m| m.mae),
        metric(|m| m.rmse),
        metric(|m| m.wape),
        metric(|m| m.accuracy),
        metric(|m| m.baseline_accuracy),
        strings(&|r| Some(r.backtest.clone())),
        Arc::new(tags.finish()),
        strings(&|r| Some(r.run_id.clone())),
        strings(&|r| Some(r.feature_set.clone())),
        strings(&|r| r.error.clone()),
        strings(&|r| r.trigger.map(|t| t.as_str().to_owned())),
    ];
    Ok(RecordBatch::try_new(Arc::clone(&MODELS_SCHEMA), columns)?)
}

/// Reads rows back from a batch of the table (every column present but `trigger`,
/// which files written before it existed lack).
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<ModelRow>> {
    let column = |name: &str| -> Result<&ArrayRef> {
        batch
            .column_by_name(name)
            .ok_or_else(|| RegistryError::Corrupt(format!("no column `{name}` in `models`")))
    };
    let text = |name: &str| -> Result<&StringArray> {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| RegistryError::Corrupt(format!("column `{name}` is not text")))
    };
    let (key, status, model_type, artifact) = (
        text("key")?,
        text("status")?,
        text("model_type")?,
        text("artifact")?,
    );
    let (backtest, run_id, feature_set, error) = (
        text("backtest")?,
        text("run_id")?,
        text("feature_set")?,
        text("error")?,
    );
    let version = column("version")?.as_primitive::<Int64Type>();
    let rows_seen = column("rows")?.as_primitive::<Int64Type>();
    let horizon = column("horizon")?.as_primitive::<Int32Type>();
    let folds = column("folds")?.as_primitive::<Int32Type>();
    let cold_start = column("cold_start")?.as_boolean();
    let trained_at = column("trained_at")?.as_primitive::<TimestampMicrosecondType>();
    let data_start = column("data_start")?.as_primitive::<Date32Type>();
    let data_end = column("data_end")?.as_primitive::<Date32Type>();
    let metrics: Vec<_> = METRIC_COLUMNS
        .iter()
        .map(|name| column(name).map(|c| c.as_primitive::<Float64Type>()))
        .collect::<Result<_>>()?;
    let tags = column("tags")?.as_map();
    let trigger =
        match batch.column_by_name("trigger") {
            Some(column) => Some(column.as_string_opt::<i32>().ok_or_else(|| {
                RegistryError::Corrupt("column `trigger` is not text".to_owned())
            })?),
            None => None,
        };
    let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
    let day = |a: &Date32Array, i: usize| {
        (!a.is_null(i))
            .then(|| Date32Type::to_naive_date_opt(a.value(i)))
            .flatten()
    };

    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let key: SeriesKey = key
            .value(i)
            .parse()
            .map_err(|e| RegistryError::Corrupt(format!("bad key `{}`: {e}", key.value(i))))?;
        let status = ModelStatus::parse(status.value(i)).ok_or_else(|| {
            RegistryError::Corrupt(format!("unknown status `{}`", status.value(i)))
        })?;
        let metrics = (!metrics[3].is_null(i)).then(|| HoldoutMetrics {
            mae: metrics[0].value(i),
            rmse: metrics[1].value(i),
            wape: metrics[2].value(i),
            accuracy: metrics[3].value(i),
            baseline_accuracy: metrics[4].value(i),
        });
        let mut row_tags = BTreeMap::new();
        if !tags.is_null(i) {
            let entries = tags.value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            if let (Some(keys), Some(values)) =
                (keys.as_string_opt::<i32>(), values.as_string_opt::<i32>())
            {
                for j in 0..keys.len() {
                    row_tags.insert(keys.value(j).to_owned(), values.value(j).to_owned());
                }
            }
        }
        out.push(ModelRow {
            key,
            version: version.value(i),
            status,
            model_type: opt(model_type, i),
            cold_start: cold_start.value(i),
            artifact: opt(artifact, i),
            trained_at: DateTime::from_timestamp_micros(trained_at.value(i)).unwrap_or_default(),
            data_start: day(data_start, i),
            data_end: day(data_end, i),
            rows: rows_seen.value(i),
            horizon: horizon.value(i),
            folds: folds.value(i),
            metrics,
            backtest: backtest.value(i).to_owned(),
            tags: row_tags,
            run_id: run_id.value(i).to_owned(),
            feature_set: feature_set.value(i).to_owned(),
            error: opt(error, i),
            trigger: trigger
                .and_then(|t| opt(t, i))
                .and_then(|t| Trigger::parse(&t)),
        });
    }
    Ok(out)
}
