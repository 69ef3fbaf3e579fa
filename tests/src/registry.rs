//! Reading the Delta `models` table (the candidate registry) as readers outside Herd
//! would: the live data files found by replaying the JSON commits of `_delta_log`,
//! each read as Parquet (the `tags` map column included), and, as a second
//! implementation, Python's `deltalake`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use herd_lake::arrow::array::{Array, AsArray};

use crate::parquet;

/// One row of the `models` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelsRow {
    pub key: String,
    pub store_id: String,
    pub item_id: String,
    pub version: i64,
    pub status: String,
    pub model_type: Option<String>,
    pub cold_start: bool,
    pub artifact: Option<String>,
    pub data_start: Option<NaiveDate>,
    pub data_end: Option<NaiveDate>,
    pub rows: i64,
    pub horizon: i64,
    pub folds: i64,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
    pub wape: Option<f64>,
    pub accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub backtest: String,
    /// `None` when the map itself is null.
    pub tags: Option<BTreeMap<String, String>>,
    pub run_id: String,
    pub feature_set: String,
    pub error: Option<String>,
    /// `new_days`, `drift`, `schedule` or `manual`; `None` in files written before
    /// the column existed.
    pub trigger: Option<String>,
}

/// The `models` table at its latest version.
#[derive(Debug)]
pub struct ModelsTable {
    pub version: u64,
    pub files: Vec<PathBuf>,
    pub rows: Vec<ModelsRow>,
}

impl ModelsTable {
    /// Reads `<lake_root>/models` at its latest version (see [`live_files`]).
    pub fn read(lake_root: &Path) -> ModelsTable {
        let (version, files) = live_files(&lake_root.join("models"));
        let rows = files.iter().flat_map(|file| read_file(file)).collect();
        ModelsTable {
            version,
            files,
            rows,
        }
    }
}

/// The Delta table at `table`: its latest version and the data files live in it,
/// found by replaying its JSON commits (`add` and `remove` actions). Fails the test
/// on a checkpoint, which this reader does not follow (the tables the tests write
/// have too few commits for one), and on deletion vectors.
pub fn live_files(table: &Path) -> (u64, Vec<PathBuf>) {
    let log = table.join("_delta_log");
    assert!(log.is_dir(), "no Delta table: {} is missing", log.display());
    assert!(
        !log.join("_last_checkpoint").exists(),
        "{} has a checkpoint, which this reader does not follow",
        log.display()
    );
    let mut commits: Vec<(u64, PathBuf)> = std::fs::read_dir(&log)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", log.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let number = name.strip_suffix(".json")?;
            (number.len() == 20)
                .then(|| number.parse().ok())
                .flatten()
                .map(|n| (n, path))
        })
        .collect();
    commits.sort();
    assert!(!commits.is_empty(), "{} has no commits", log.display());
    for (i, (number, _)) in commits.iter().enumerate() {
        assert_eq!(
            *number,
            i as u64,
            "{}: commits are not contiguous",
            log.display()
        );
    }
    let mut live: BTreeSet<String> = BTreeSet::new();
    for (_, commit) in &commits {
        let text = std::fs::read_to_string(commit)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", commit.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{}: not JSON ({err}): {line}", commit.display()));
            if let Some(path) = action["add"]["path"].as_str() {
                assert!(
                    action["add"]["deletionVector"].is_null(),
                    "{}: deletion vectors are not expected",
                    commit.display()
                );
                live.insert(percent_decode(path));
            } else if let Some(path) = action["remove"]["path"].as_str() {
                live.remove(&percent_decode(path));
            }
        }
    }
    let files = live.iter().map(|path| table.join(path)).collect();
    (commits.len() as u64 - 1, files)
}

/// Delta stores relative paths URL-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if bytes[i] == b'%'
            && let Some(byte) = hex
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| panic!("{text} is not UTF-8 once decoded"))
}

pub(crate) fn required<T>(path: &Path, row: usize, column: &str, value: Option<T>) -> T {
    value.unwrap_or_else(|| panic!("{}: row {row} has no {column}", path.display()))
}

fn read_file(path: &Path) -> Vec<ModelsRow> {
    let mut rows = Vec::new();
    for batch in parquet::read_batches(path) {
        let text = |name: &str| parquet::strings(&batch, name);
        let (key, store_id, item_id, status) = (
            text("key"),
            text("store_id"),
            text("item_id"),
            text("status"),
        );
        let (model_type, artifact, backtest, run_id) = (
            text("model_type"),
            text("artifact"),
            text("backtest"),
            text("run_id"),
        );
        let (feature_set, error) = (text("feature_set"), text("error"));
        let trigger = match batch.column_by_name("trigger") {
            Some(_) => text("trigger"),
            None => vec![None; batch.num_rows()],
        };
        let version = parquet::integers(&batch, "version");
        let rows_seen = parquet::integers(&batch, "rows");
        let horizon = parquet::integers(&batch, "horizon");
        let folds = parquet::integers(&batch, "folds");
        let cold_start = parquet::booleans(&batch, "cold_start");
        let data_start = parquet::dates(&batch, "data_start");
        let data_end = parquet::dates(&batch, "data_end");
        let metric = |name: &str| parquet::floats(&batch, name);
        let (mae, rmse, wape) = (metric("mae"), metric("rmse"), metric("wape"));
        let (accuracy, baseline) = (metric("accuracy"), metric("baseline_accuracy"));
        let tags = tags(&batch, path);
        for i in 0..batch.num_rows() {
            rows.push(ModelsRow {
                key: required(path, i, "key", key[i].clone()),
                store_id: required(path, i, "store_id", store_id[i].clone()),
                item_id: required(path, i, "item_id", item_id[i].clone()),
                version: required(path, i, "version", version[i]),
                status: required(path, i, "status", status[i].clone()),
                model_type: model_type[i].clone(),
                cold_start: required(path, i, "cold_start", cold_start[i]),
                artifact: artifact[i].clone(),
                data_start: data_start[i],
                data_end: data_end[i],
                rows: required(path, i, "rows", rows_seen[i]),
                horizon: required(path, i, "horizon", horizon[i]),
                folds: required(path, i, "folds", folds[i]),
                mae: mae[i],
                rmse: rmse[i],
                wape: wape[i],
                accuracy: accuracy[i],
                baseline_accuracy: baseline[i],
                backtest: required(path, i, "backtest", backtest[i].clone()),
                tags: tags[i].clone(),
                run_id: required(path, i, "run_id", run_id[i].clone()),
                feature_set: required(path, i, "feature_set", feature_set[i].clone()),
                error: error[i].clone(),
                trigger: trigger[i].clone(),
            });
        }
    }
    rows
}

/// The `tags` column, which must be an Arrow map of strings to strings.
pub(crate) fn tags(
    batch: &herd_lake::arrow::array::RecordBatch,
    path: &Path,
) -> Vec<Option<BTreeMap<String, String>>> {
    let column = batch
        .column_by_name("tags")
        .unwrap_or_else(|| panic!("{}: no column `tags`", path.display()));
    let map = column.as_map_opt().unwrap_or_else(|| {
        panic!(
            "{}: `tags` is {}, not a map",
            path.display(),
            column.data_type()
        )
    });
    (0..map.len())
        .map(|i| {
            if map.is_null(i) {
                return None;
            }
            let entries = map.value(i);
            let text = |j: usize| {
                let array = entries.column(j);
                let strings = array.as_string_opt::<i32>().unwrap_or_else(|| {
                    panic!(
                        "{}: `tags` holds {}, not strings",
                        path.display(),
                        array.data_type()
                    )
                });
                (0..strings.len())
                    .map(|k| (!strings.is_null(k)).then(|| strings.value(k).to_owned()))
                    .collect::<Vec<_>>()
            };
            let (keys, values) = (text(0), text(1));
            Some(
                keys.into_iter()
                    .zip(values)
                    .map(|(k, v)| {
                        (
                            k.unwrap_or_else(|| panic!("{}: a null tag name", path.display())),
                            v.unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Reads the table and prints what the test compares, as one JSON object.
const SCRIPT: &str = r#"
import json, sys
from deltalake import DeltaTable

table = DeltaTable(sys.argv[1])
data = table.to_pyarrow_table(columns=["key", "version", "tags"])
keys = data.column("key").to_pylist()
versions = data.column("version").to_pylist()
tags = data.column("tags").to_pylist()
print(json.dumps({
    "version": table.version(),
    "rows": data.num_rows,
    "tags_type": str(data.schema.field("tags").type),
    "tags": {"%s@%d" % (k, v): dict(t) if t is not None else None
             for k, v, t in zip(keys, versions, tags)},
}))
"#;

/// What Python's `deltalake` saw in the `models` table.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonModelsView {
    pub version: u64,
    pub rows: u64,
    /// The Arrow type of `tags` as pyarrow prints it, e.g. `map<string, string>`.
    pub tags_type: String,
    /// Each row's tags by `key@version`.
    pub tags: BTreeMap<String, Option<BTreeMap<String, String>>>,
}

/// Reads the `models` table at `table` with Python's `deltalake`.
pub fn read_with_python(table: &Path) -> PythonModelsView {
    let json = crate::python::run_script(SCRIPT, table, &[]);
    let number = |name: &str| {
        json[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} missing in the script's output"))
    };
    let tags = json["tags"]
        .as_object()
        .expect("tags")
        .iter()
        .map(|(key, tags)| {
            let tags = tags.as_object().map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            });
            (key.clone(), tags)
        })
        .collect();
    PythonModelsView {
        version: number("version"),
        rows: number("rows"),
        tags_type: json["tags_type"].as_str().unwrap_or_default().to_owned(),
        tags,
    }
}
