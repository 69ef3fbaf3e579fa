//! File-level checks: what the writers put on disk, read back the way Herd's
//! readers and validators read it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use herd_lake::arrow::datatypes::DataType;
use herd_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use herd_schemas::{FieldValue, RawRecord, SalesRecord};

use super::*;

/// 200 series × 700 days: more slots than one worker run, so runs interleave.
fn spec(seed: u64) -> GeneratorSpec {
    GeneratorSpec {
        seed,
        stores: 10,
        items: 20,
        days: 700,
        start_date: DEFAULT_START_DATE,
    }
}

fn write(dir: &Path, name: &str, spec: &GeneratorSpec) -> (PathBuf, Summary) {
    let path = dir.join(name);
    let summary = write_file(spec, &path, None, &|_| {}).unwrap();
    (path, summary)
}

fn csv_records(path: &Path) -> Vec<SalesRecord> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let mut raw = RawRecord::default();
            for (field, cell) in herd_schemas::Field::ALL.into_iter().zip(line.split(',')) {
                *raw.field_mut(field) = FieldValue::Text(cell);
            }
            raw.validate().unwrap_or_else(|e| panic!("{line}: {e}"))
        })
        .collect()
}

fn json_records(path: &Path) -> Vec<SalesRecord> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| SalesRecord::from_json(line.as_bytes()).unwrap().record)
        .collect()
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.csv", "a.jsonl", "a.parquet"] {
        let (first, _) = write(dir.path(), name, &spec(1));
        let once = fs::read(&first).unwrap();
        let (again, _) = write(dir.path(), name, &spec(1));
        assert!(once == fs::read(&again).unwrap(), "{name} differs");
        let (other, _) = write(dir.path(), name, &spec(2));
        assert!(once != fs::read(&other).unwrap(), "{name} ignores the seed");
    }
}

#[test]
fn files_hold_exactly_what_the_series_models_say_in_day_major_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(3);
    let (csv, summary) = write(dir.path(), "sales.csv", &spec);
    let records = csv_records(&csv);
    assert_eq!(summary.rows, records.len() as u64);
    assert_eq!(summary.series, 200);
    assert_eq!(summary.bytes, fs::metadata(&csv).unwrap().len());
    let models: Vec<SeriesModel> = (0..200).map(|s| SeriesModel::new(&spec, s)).collect();
    let expected: Vec<SalesRecord> = (0..spec.days)
        .flat_map(|day| models.iter().filter_map(move |m| m.day(day)))
        .collect();
    assert!(records == expected, "the CSV file differs from the models");
    let (jsonl, _) = write(dir.path(), "sales.ndjson", &spec);
    assert!(json_records(&jsonl) == expected, "the JSON lines differ");
    assert!(records.windows(2).all(|pair| {
        let (a, b) = (&pair[0], &pair[1]);
        (a.date, a.key()) < (b.date, b.key())
    }));
}

#[test]
fn late_starters_have_no_rows_before_their_first_day() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(4);
    let (path, _) = write(dir.path(), "sales.jsonl", &spec);
    let mut first_dates = HashMap::new();
    for record in json_records(&path) {
        first_dates
            .entry(record.key().to_string())
            .or_insert(record.date);
    }
    assert_eq!(first_dates.len(), 200);
    let late = (0..200)
        .map(|s| SeriesModel::new(&spec, s))
        .filter(|m| m.first_day() > 0)
        .inspect(|m| {
            let key = format!("{}/{}", m.store_id(), m.item_id());
            assert_eq!(first_dates[&key], spec.date(m.first_day()).unwrap());
        })
        .count();
    assert!(late > 0, "no late starter among 200 series");
}

#[test]
fn parquet_reads_back_with_the_contract_schema() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(5);
    let (path, summary) = write(dir.path(), "sales.parquet", &spec);
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
    let schema = builder.schema().clone();
    let columns: Vec<(&str, &DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    assert_eq!(
        columns,
        [
            ("store_id", &DataType::Utf8),
            ("item_id", &DataType::Utf8),
            ("date", &DataType::Date32),
            ("sales", &DataType::Float64),
            ("price", &DataType::Float64),
            ("promo", &DataType::Boolean),
        ]
    );
    let rows: usize = builder
        .build()
        .unwrap()
        .map(|batch| batch.unwrap().num_rows())
        .sum();
    assert_eq!(rows as u64, summary.rows);
    assert!(summary.rows > 130_000 && summary.rows < 140_000);
}

#[test]
fn csv_starts_with_the_exact_header() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = GeneratorSpec { days: 3, ..spec(6) };
    let (path, _) = write(dir.path(), "sales.CSV", &tiny);
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("store_id,item_id,date,sales,price,promo")
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("S0001,I00001,2022-01-01,")
    );
}

#[test]
fn an_unknown_extension_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sales.xlsx");
    let error = write_file(&spec(7), &path, None, &|_| {}).unwrap_err();
    assert!(matches!(error, GenerateError::UnknownFormat { .. }));
    assert!(error.to_string().contains("sales.xlsx"), "{error}");
    assert!(!path.exists());
    let forced = write_file(&spec(7), &path, Some(Format::Csv), &|_| {}).unwrap();
    assert!(forced.rows > 0);
}

#[test]
fn progress_reaches_the_row_count_and_bad_paths_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let last = std::cell::Cell::new(0);
    let path = dir.path().join("sales.csv");
    let summary = write_file(&spec(8), &path, None, &|rows| last.set(rows)).unwrap();
    assert_eq!(last.get(), summary.rows);
    let missing = dir.path().join("no-such-dir").join("sales.csv");
    let error = write_file(&spec(8), &missing, None, &|_| {}).unwrap_err();
    assert!(error.to_string().starts_with("cannot create "), "{error}");
    assert!(error.to_string().contains("no-such-dir"), "{error}");
}
