//! A corrected day replaces the earlier value in every history rebuilt from the lake,
//! whatever order the `sales` table's files are read in: the correction of one key's
//! last day, published and archived after the original, is listed by the table's log
//! before the original's file (Delta's log replay lists newer commits first), and
//! `herd train --once` and `herd score --batch` still use the correction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use herd_tests::cli::{archive, herd_ok, ingest};
use herd_tests::env::Env;
use herd_tests::lake::SalesTable;
use herd_tests::parquet;
use herd_tests::predictions::PredictionsTable;
use herd_tests::registry::ModelsTable;

/// The corrected value: far from anything the generator sells in a day.
const CORRECTED: f64 = 10_000.0;

/// Files of `sales`, in the order its log lists them (the order a scan reads
/// them), that hold a row of `key` on `day` with sales `value`.
fn files_holding(table: &SalesTable, key: &str, day: NaiveDate, value: f64) -> Vec<usize> {
    let (store, item) = key.split_once('/').expect("a key");
    table
        .files
        .iter()
        .enumerate()
        .filter(|(_, file)| {
            parquet::read_batches(file).iter().any(|batch| {
                let (stores, items) = (
                    parquet::strings(batch, "store_id"),
                    parquet::strings(batch, "item_id"),
                );
                let (dates, sales) = (
                    parquet::dates(batch, "date"),
                    parquet::floats(batch, "sales"),
                );
                (0..batch.num_rows()).any(|i| {
                    stores[i].as_deref() == Some(store)
                        && items[i].as_deref() == Some(item)
                        && dates[i] == Some(day)
                        && sales[i] == Some(value)
                })
            })
        })
        .map(|(index, _)| index)
        .collect()
}

#[test]
fn a_correction_read_before_the_original_still_wins() {
    let env = Env::new("seams-last-write", 3);
    env.create_topics();
    herd_ok(
        &env,
        "generate",
        &[
            "generate",
            "sales.jsonl",
            "--stores",
            "1",
            "--items",
            "4",
            "--days",
            "200",
        ],
    );
    // The key with the longest history, so that it trains a full seasonal-naive
    // model; its last day gets corrected.
    let text = std::fs::read_to_string(env.path("sales.jsonl")).expect("the generated file");
    let mut by_key: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        let key = format!(
            "{}/{}",
            record["store_id"].as_str().expect("a store"),
            record["item_id"].as_str().expect("an item")
        );
        by_key.entry(key).or_default().push(record);
    }
    let (key, records) = by_key
        .iter()
        .max_by_key(|(_, records)| records.len())
        .expect("generated records");
    let last = records
        .iter()
        .max_by_key(|record| record["date"].as_str().map(str::to_owned))
        .expect("a record");
    let day: NaiveDate = last["date"]
        .as_str()
        .expect("a date")
        .parse()
        .expect("a date");
    let original = last["sales"].as_f64().expect("sales");
    assert_ne!(original, CORRECTED);
    let mut correction = last.clone();
    correction["sales"] = serde_json::json!(CORRECTED);
    std::fs::write(env.path("correction.jsonl"), format!("{correction}\n")).expect("written");
    eprintln!("correcting {key} on {day}: {original} → {CORRECTED}");

    // The data set, archived; then the correction, published and archived later.
    let delivered = ingest(&env, "ingest", "sales.jsonl");
    assert_eq!(archive(&env, "3"), delivered);
    assert_eq!(ingest(&env, "ingest-correction", "correction.jsonl"), 1);
    assert_eq!(archive(&env, "3"), 1);

    // The adversarial order, as it is: the log lists the correction's file first.
    let sales = SalesTable::read(&env.lake_root(), &[]);
    let (corrected_in, original_in) = (
        files_holding(&sales, key, day, CORRECTED),
        files_holding(&sales, key, day, original),
    );
    eprintln!(
        "{} files; the correction in {corrected_in:?}, the original in {original_in:?}",
        sales.files.len()
    );
    assert_eq!((corrected_in.len(), original_in.len()), (1, 1));
    assert!(
        corrected_in[0] < original_in[0],
        "a scan reads the correction first"
    );
    let offsets: Vec<i64> = sales
        .rows
        .iter()
        .filter(|row| format!("{}/{}", row.store_id, row.item_id) == *key && row.date == day)
        .map(|row| row.kafka_offset)
        .collect();
    assert_eq!(offsets.len(), 2, "the original and the correction");

    // Training rebuilds the window from the lake: the model's last week ends with
    // the correction.
    herd_ok(
        &env,
        "train",
        &["train", "--once", "--models", "seasonal_naive"],
    );
    let models = ModelsTable::read(&env.lake_root());
    let row = models
        .rows
        .iter()
        .find(|row| row.key == *key)
        .expect("the key's model");
    assert_eq!(row.model_type.as_deref(), Some("seasonal_naive"), "{row:?}");
    assert_eq!(row.data_end, Some(day), "{row:?}");
    let artifact = row.artifact.as_deref().expect("an artifact");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.lake_root().join("models").join(artifact)).expect("the artifact"),
    )
    .expect("JSON");
    let recent = stored["model"]["recent"].as_array().expect("recent sales");
    assert_eq!(
        recent.last().and_then(serde_json::Value::as_f64),
        Some(CORRECTED),
        "the trained model's last day"
    );

    // Batch scoring rebuilds it again: the weekly naive forecast repeats the
    // corrected day a week later.
    herd_ok(&env, "promote", &["promote", "--once", "--rule", "true"]);
    herd_ok(
        &env,
        "score",
        &["score", "--batch", "--as-of", &day.to_string()],
    );
    let predictions = PredictionsTable::read(&env.lake_root(), &[]);
    let forecast: BTreeMap<i64, f64> = predictions
        .rows
        .iter()
        .filter(|row| row.key == *key && row.as_of == day)
        .map(|row| (row.step, row.forecast))
        .collect();
    assert_eq!(forecast.len(), 28);
    assert_eq!(
        [forecast[&7], forecast[&14], forecast[&21], forecast[&28]],
        [CORRECTED; 4],
        "the forecast of the corrected day's weekday"
    );
}
