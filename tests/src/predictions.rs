//! Reading what scoring produced, as readers outside Herd would: the Delta table
//! `predictions` (opened with delta-rs, which follows the checkpoints a long stream
//! of small commits writes; `as_of` comes from each file's partition directory) with
//! the offsets its `txn` actions store, and the forecasts on the predictions topic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use herd_lake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use herd_lake::{DeltaTable, LakeRoot, TableSpec};

use crate::cli::close;
use crate::parquet;
use crate::topic::{self, Consumed};

/// The table's directory under the lake root.
pub const PREDICTIONS_TABLE: &str = "predictions";

/// The Delta app id under which a continuous scorer group keeps a partition's next
/// offset.
pub fn score_app_id(topic: &str, partition: i32, group: &str) -> String {
    format!("herd-score-{topic}-{partition}@{group}")
}

/// The columns readers rely on, in order; opening checks the table has exactly these.
fn spec() -> TableSpec {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let float = |name: &str| Field::new(name, DataType::Float64, false);
    TableSpec {
        name: PREDICTIONS_TABLE.to_owned(),
        schema: Arc::new(Schema::new(vec![
            text("key"),
            text("store_id"),
            text("item_id"),
            Field::new("target_date", DataType::Date32, false),
            Field::new("step", DataType::Int32, false),
            float("forecast"),
            float("lower"),
            float("upper"),
            Field::new("model_version", DataType::Int64, true),
            Field::new("model_type", DataType::Utf8, true),
            Field::new("cold_start", DataType::Boolean, false),
            text("source"),
            Field::new(
                "scored_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("as_of", DataType::Date32, false),
            Field::new("origin", DataType::Utf8, true),
        ])),
        partition_columns: vec!["as_of".to_owned()],
        properties: Vec::new(),
    }
}

/// One row of `predictions`: one step of one key's forecast as of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub key: String,
    pub store_id: String,
    pub item_id: String,
    /// From the `as_of=…` directory the row's file is in.
    pub as_of: NaiveDate,
    pub step: i64,
    pub target_date: NaiveDate,
    pub forecast: f64,
    pub lower: f64,
    pub upper: f64,
    pub model_version: Option<i64>,
    pub model_type: Option<String>,
    pub cold_start: bool,
    /// `stream` or `batch`.
    pub source: String,
    /// `champion`, `baseline` or `cold_start`; `None` in rows written before the
    /// column existed.
    pub origin: Option<String>,
    pub scored_at: DateTime<Utc>,
}

/// `predictions` at its latest version.
#[derive(Debug)]
pub struct PredictionsTable {
    pub version: u64,
    pub rows: Vec<PredictionRow>,
    /// The next offset to read stored per app id asked for (`None`: no `txn`).
    pub stored_offsets: BTreeMap<String, Option<i64>>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The table under `lake_root`, `None` before its first commit.
fn open(runtime: &tokio::runtime::Runtime, lake_root: &Path) -> Option<DeltaTable> {
    let root = LakeRoot::parse(&lake_root.to_string_lossy()).expect("a lake root");
    runtime
        .block_on(herd_lake::open_existing(&root, &spec()))
        .unwrap_or_else(|err| panic!("the predictions table does not open: {err}"))
}

/// The rows the table's log counts (no data file is read), 0 before it exists:
/// cheap enough to poll while a scorer writes.
pub fn row_count(lake_root: &Path) -> u64 {
    open(&runtime(), lake_root).map_or(0, |table| {
        herd_lake::table_stats(&table)
            .expect("statistics of predictions")
            .rows
    })
}

impl PredictionsTable {
    /// Reads `predictions` under `lake_root` and the stored offsets of `app_ids`.
    /// Blocks; call it from a plain (not async) test.
    pub fn read(lake_root: &Path, app_ids: &[String]) -> PredictionsTable {
        let runtime = runtime();
        let table = open(&runtime, lake_root).unwrap_or_else(|| {
            panic!(
                "no predictions table under {}: nothing was scored",
                lake_root.display()
            )
        });
        let snapshot = table.snapshot().expect("a loaded table");
        let stored_offsets = app_ids
            .iter()
            .map(|app_id| {
                let version = runtime
                    .block_on(snapshot.transaction_version(table.log_store().as_ref(), app_id))
                    .unwrap_or_else(|err| panic!("reading the txn of {app_id}: {err}"));
                (app_id.clone(), version)
            })
            .collect();
        let files: Vec<PathBuf> = table
            .get_file_uris()
            .expect("a loaded table")
            .map(|uri| match url::Url::parse(&uri) {
                // Local tables list plain paths; URLs only if the root was one.
                Ok(url) => url
                    .to_file_path()
                    .unwrap_or_else(|()| panic!("{uri} is not a local file")),
                Err(_) => PathBuf::from(uri),
            })
            .collect();
        PredictionsTable {
            version: table.version().expect("a loaded table"),
            rows: files.iter().flat_map(|file| read_file(file)).collect(),
            stored_offsets,
        }
    }

    /// The rows written by `source` (`stream` or `batch`).
    pub fn from_source(&self, source: &str) -> Vec<&PredictionRow> {
        self.rows
            .iter()
            .filter(|row| row.source == source)
            .collect()
    }

    /// Asserts that the `source` rows are exactly one row per step 1..=`horizon`
    /// for every (key, as-of day) of `expected`, with target dates `as_of + step`:
    /// no duplicate, no gap, nothing else.
    pub fn assert_one_row_per_step(
        &self,
        source: &str,
        expected: &BTreeSet<(String, NaiveDate)>,
        horizon: i64,
    ) {
        self.assert_rows_per_step(source, expected, horizon, 1);
    }

    /// Asserts that the `source` rows are exactly `copies` rows per step
    /// 1..=`horizon` for every (key, as-of day) of `expected` (one per scorer group
    /// that forecast it), with target dates `as_of + step`, and nothing else.
    pub fn assert_rows_per_step(
        &self,
        source: &str,
        expected: &BTreeSet<(String, NaiveDate)>,
        horizon: i64,
        copies: usize,
    ) {
        let mut seen: BTreeMap<(String, NaiveDate), Vec<i64>> = BTreeMap::new();
        for row in self.from_source(source) {
            assert_eq!(
                Some(row.target_date),
                row.as_of
                    .checked_add_days(chrono::Days::new(row.step.max(0) as u64)),
                "a target date that is not as_of + step: {row:?}"
            );
            assert_eq!(
                row.key,
                format!("{}/{}", row.store_id, row.item_id),
                "{row:?}"
            );
            seen.entry((row.key.clone(), row.as_of))
                .or_default()
                .push(row.step);
        }
        let unexpected: Vec<_> = seen.keys().filter(|k| !expected.contains(*k)).collect();
        assert!(
            unexpected.is_empty(),
            "{} (key, as_of) pairs scored that should not be, first {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(10)]
        );
        let missing: Vec<_> = expected.iter().filter(|k| !seen.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "{} of {} (key, as_of) pairs never scored, first {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(10)]
        );
        let all: Vec<i64> = (1..=horizon)
            .flat_map(|step| std::iter::repeat_n(step, copies))
            .collect();
        let wrong: Vec<_> = seen
            .iter_mut()
            .filter_map(|(pair, steps)| {
                steps.sort_unstable();
                (*steps != all).then_some((pair, steps))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} (key, as_of) pairs without exactly {copies} of each step 1..={horizon}, first {:?}",
            wrong.len(),
            wrong.first()
        );
    }

    /// Asserts that the forecasts on the predictions topic are those of the `source`
    /// rows: each message well formed (Kafka key, `herd-id` header and `id` agree
    /// with its store, item and as-of day), about a (key, as_of) in the table, and
    /// every (key, as_of) of the table published at least once with exactly the
    /// table's values. With `once`, also no (key, as_of) published twice.
    pub fn assert_published(&self, source: &str, messages: &[PredictionMessage], once: bool) {
        let mut table: BTreeMap<(String, NaiveDate), Vec<&PredictionRow>> = BTreeMap::new();
        for row in self.from_source(source) {
            table
                .entry((row.key.clone(), row.as_of))
                .or_default()
                .push(row);
        }
        let mut published: BTreeMap<(String, NaiveDate), Vec<&PredictionMessage>> = BTreeMap::new();
        for message in messages {
            let pair = (message.key.clone(), message.as_of);
            assert!(
                table.contains_key(&pair),
                "a message about {pair:?}, which the table does not hold: {message:?}"
            );
            published.entry(pair).or_default().push(message);
        }
        for (pair, rows) in &mut table {
            rows.sort_by_key(|row| row.step);
            let copies = published.get(pair).map(Vec::as_slice).unwrap_or_default();
            assert!(
                !copies.is_empty(),
                "{pair:?} is in the table but was never published"
            );
            assert!(
                !once || copies.len() == 1,
                "{pair:?} published {} times: {copies:?}",
                copies.len()
            );
            assert!(
                copies.iter().any(|message| message.matches(rows)),
                "no message about {pair:?} holds the table's forecast\n table: {rows:?}\n \
                 messages: {copies:?}"
            );
        }
    }
}

fn read_file(path: &Path) -> Vec<PredictionRow> {
    let as_of = path
        .ancestors()
        .filter_map(|dir| dir.file_name()?.to_str()?.strip_prefix("as_of="))
        .next()
        .and_then(|day| day.parse().ok())
        .unwrap_or_else(|| panic!("{} is not under an as_of=… directory", path.display()));
    let mut rows = Vec::new();
    for batch in parquet::read_batches(path) {
        let text = |name: &str| parquet::strings(&batch, name);
        let float = |name: &str| parquet::floats(&batch, name);
        let (key, store_id, item_id) = (text("key"), text("store_id"), text("item_id"));
        let (model_type, source) = (text("model_type"), text("source"));
        // Files written before the column was added do not have it.
        let origin = match batch.column_by_name("origin") {
            Some(_) => text("origin"),
            None => vec![None; batch.num_rows()],
        };
        let (forecast, lower, upper) = (float("forecast"), float("lower"), float("upper"));
        let step = parquet::integers(&batch, "step");
        let model_version = parquet::integers(&batch, "model_version");
        // Microseconds; opening the table checked the column is a UTC timestamp.
        let scored_at = parquet::integers(&batch, "scored_at");
        let target_date = parquet::dates(&batch, "target_date");
        let cold_start = parquet::booleans(&batch, "cold_start");
        for i in 0..batch.num_rows() {
            let micros = scored_at[i].unwrap_or_else(|| missing(path, i, "scored_at"));
            rows.push(PredictionRow {
                key: key[i].clone().unwrap_or_else(|| missing(path, i, "key")),
                store_id: store_id[i]
                    .clone()
                    .unwrap_or_else(|| missing(path, i, "store_id")),
                item_id: item_id[i]
                    .clone()
                    .unwrap_or_else(|| missing(path, i, "item_id")),
                as_of,
                step: step[i].unwrap_or_else(|| missing(path, i, "step")),
                target_date: target_date[i].unwrap_or_else(|| missing(path, i, "target_date")),
                forecast: forecast[i].unwrap_or_else(|| missing(path, i, "forecast")),
                lower: lower[i].unwrap_or_else(|| missing(path, i, "lower")),
                upper: upper[i].unwrap_or_else(|| missing(path, i, "upper")),
                model_version: model_version[i],
                model_type: model_type[i].clone(),
                cold_start: cold_start[i].unwrap_or_else(|| missing(path, i, "cold_start")),
                source: source[i]
                    .clone()
                    .unwrap_or_else(|| missing(path, i, "source")),
                origin: origin[i].clone(),
                scored_at: DateTime::from_timestamp_micros(micros)
                    .unwrap_or_else(|| panic!("{}: scored_at out of range", path.display())),
            });
        }
    }
    rows
}

fn missing<T>(path: &Path, row: usize, column: &str) -> T {
    panic!("{}: row {row} has no {column}", path.display())
}

/// One step of a forecast as published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedStep {
    pub target_date: NaiveDate,
    pub step: i64,
    pub forecast: f64,
    pub lower: f64,
    pub upper: f64,
}

/// One key's forecast as of a day, as found on the predictions topic.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionMessage {
    pub id: String,
    /// `store/item`, as in the table.
    pub key: String,
    pub store_id: String,
    pub item_id: String,
    pub as_of: NaiveDate,
    pub model_version: Option<i64>,
    pub model_type: Option<String>,
    pub cold_start: bool,
    /// `champion`, `baseline` or `cold_start`.
    pub origin: String,
    pub source_timestamp_ms: i64,
    pub forecast: Vec<PublishedStep>,
}

impl PredictionMessage {
    /// Parses a record of the predictions topic, failing the test unless it is a
    /// well-formed forecast whose Kafka key, `herd-id` header and `id` agree.
    pub fn parse(record: &Consumed) -> PredictionMessage {
        let at = format!("{}@{}", record.partition, record.offset);
        let json: serde_json::Value = serde_json::from_slice(&record.value)
            .unwrap_or_else(|err| panic!("message {at} is not JSON: {err}"));
        let text = |value: &serde_json::Value, name: &str| -> String {
            value[name]
                .as_str()
                .unwrap_or_else(|| panic!("message {at}: no string `{name}` in {json}"))
                .to_owned()
        };
        let date = |value: &serde_json::Value, name: &str| -> NaiveDate {
            text(value, name)
                .parse()
                .unwrap_or_else(|err| panic!("message {at}: `{name}` is not a date ({err})"))
        };
        let number = |value: &serde_json::Value, name: &str| -> f64 {
            value[name]
                .as_f64()
                .unwrap_or_else(|| panic!("message {at}: no number `{name}` in {value}"))
        };
        let message = PredictionMessage {
            id: text(&json, "id"),
            key: text(&json, "key"),
            store_id: text(&json, "store_id"),
            item_id: text(&json, "item_id"),
            as_of: date(&json, "as_of"),
            model_version: json["model_version"].as_i64(),
            model_type: json["model_type"].as_str().map(str::to_owned),
            cold_start: json["cold_start"]
                .as_bool()
                .unwrap_or_else(|| panic!("message {at}: no boolean `cold_start` in {json}")),
            origin: text(&json, "origin"),
            source_timestamp_ms: json["source_timestamp_ms"]
                .as_i64()
                .unwrap_or_else(|| panic!("message {at}: no `source_timestamp_ms` in {json}")),
            forecast: json["forecast"]
                .as_array()
                .unwrap_or_else(|| panic!("message {at}: no `forecast` array in {json}"))
                .iter()
                .map(|point| PublishedStep {
                    target_date: date(point, "target_date"),
                    step: point["step"]
                        .as_i64()
                        .unwrap_or_else(|| panic!("message {at}: a step without `step`")),
                    forecast: number(point, "forecast"),
                    lower: number(point, "lower"),
                    upper: number(point, "upper"),
                })
                .collect(),
        };
        assert!(
            json["model_version"].is_null() || message.model_version.is_some(),
            "message {at}: `model_version` is neither null nor an integer: {json}"
        );
        let _scored_at = text(&json, "scored_at");
        let pair = format!("{}/{}", message.store_id, message.item_id);
        assert_eq!(message.key, pair, "message {at}");
        assert_eq!(
            message.id,
            format!("{pair}/{}", message.as_of),
            "message {at}"
        );
        assert_eq!(
            record.key_text().as_deref(),
            Some(pair.as_str()),
            "message {at}"
        );
        assert_eq!(
            record.header("herd-id").as_deref(),
            Some(message.id.as_str()),
            "message {at}: the herd-id header is not its id"
        );
        message
    }

    /// Whether this message holds exactly `rows` (one key's rows as of one day,
    /// in step order): same model, same steps, same values.
    fn matches(&self, rows: &[&PredictionRow]) -> bool {
        self.forecast.len() == rows.len()
            && rows.iter().all(|row| {
                (
                    row.model_version,
                    &row.model_type,
                    row.cold_start,
                    row.origin.as_deref(),
                ) == (
                    self.model_version,
                    &self.model_type,
                    self.cold_start,
                    Some(self.origin.as_str()),
                )
            })
            && self.forecast.iter().zip(rows).all(|(point, row)| {
                point.step == row.step
                    && point.target_date == row.target_date
                    && close(Some(point.forecast), Some(row.forecast))
                    && close(Some(point.lower), Some(row.lower))
                    && close(Some(point.upper), Some(row.upper))
            })
    }
}

/// Every message on the predictions topic `topic`, parsed and checked.
pub fn messages(topic: &str) -> Vec<PredictionMessage> {
    topic::drain(topic)
        .iter()
        .map(PredictionMessage::parse)
        .collect()
}
