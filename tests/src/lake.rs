//! Reading the Delta `sales` table as a reader outside Herd would: the data files of
//! the current snapshot, each read as Parquet, with the `year` partition value taken
//! from the file's directory, and the offsets the table's `txn` actions store.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use herd_lake::{DeltaTable, LakeRoot, tables};

use crate::parquet;
use crate::topic::Watermark;

/// One row of the `sales` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesRow {
    pub store_id: String,
    pub item_id: String,
    pub date: NaiveDate,
    pub sales: f64,
    pub price: Option<f64>,
    pub promo: Option<bool>,
    /// From the `year=…` directory the row's file is in.
    pub year: i32,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

/// The `sales` table at its latest version.
#[derive(Debug)]
pub struct SalesTable {
    pub version: u64,
    pub files: Vec<PathBuf>,
    pub rows: Vec<SalesRow>,
    /// The next offset to read stored per app id asked for (`None`: no `txn`).
    pub stored_offsets: BTreeMap<String, Option<i64>>,
}

/// The Delta app id under which the archive keeps a partition's next offset.
pub fn archive_app_id(topic: &str, partition: i32) -> String {
    format!("herd-archive-{topic}-{partition}")
}

impl SalesTable {
    /// Reads the `sales` table under `lake_root` and the stored offsets of `app_ids`.
    /// Blocks; call it from a plain (not async) test.
    pub fn read(lake_root: &Path, app_ids: &[String]) -> SalesTable {
        let log = lake_root.join("sales").join("_delta_log");
        assert!(log.is_dir(), "no Delta table: {} is missing", log.display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let table = runtime.block_on(async {
            let root = LakeRoot::parse(&lake_root.to_string_lossy()).expect("a lake root");
            tables::open_or_create(&root, &tables::sales())
                .await
                .expect("the sales table opens")
        });
        let stored_offsets = app_ids
            .iter()
            .map(|app_id| {
                let version = runtime.block_on(transaction_version(&table, app_id));
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
        let rows = files.iter().flat_map(|file| read_file(file)).collect();
        SalesTable {
            version: table.version().expect("a loaded table"),
            files,
            rows,
            stored_offsets,
        }
    }

    /// Asserts the exactly-once invariant against the topic's watermarks: every
    /// offset of every partition is in the table exactly once (no duplicate, no gap,
    /// nothing beyond the high watermark), and the table stores each partition's
    /// high watermark as the next offset to read.
    pub fn assert_exactly_once(&self, topic: &str, marks: &[Watermark]) {
        let mut offsets: HashMap<i32, Vec<i64>> = HashMap::new();
        for row in &self.rows {
            offsets
                .entry(row.kafka_partition)
                .or_default()
                .push(row.kafka_offset);
        }
        for list in offsets.values_mut() {
            list.sort_unstable();
        }
        let known: Vec<i32> = marks.iter().map(|m| m.partition).collect();
        for partition in offsets.keys() {
            assert!(
                known.contains(partition),
                "rows from partition {partition}, which {topic} does not have"
            );
        }
        for mark in marks {
            assert_eq!(
                mark.low, 0,
                "{topic}/{}: records were deleted",
                mark.partition
            );
            let list = offsets.remove(&mark.partition).unwrap_or_default();
            let duplicates: Vec<i64> = list
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0])
                .collect();
            assert!(
                duplicates.is_empty(),
                "partition {}: {} offsets archived twice, first {:?}",
                mark.partition,
                duplicates.len(),
                &duplicates[..duplicates.len().min(10)]
            );
            let missing: Vec<i64> = (0..mark.high)
                .filter(|offset| list.binary_search(offset).is_err())
                .collect();
            assert!(
                missing.is_empty(),
                "partition {}: {} of {} offsets missing, first {:?}",
                mark.partition,
                missing.len(),
                mark.high,
                &missing[..missing.len().min(10)]
            );
            assert_eq!(
                list.len() as i64,
                mark.high,
                "partition {}: offsets beyond the high watermark {}",
                mark.partition,
                mark.high
            );
            let app_id = archive_app_id(topic, mark.partition);
            assert_eq!(
                self.stored_offsets.get(&app_id).copied().flatten(),
                Some(mark.high),
                "the table's txn for {app_id} is not the high watermark"
            );
        }
    }
}

async fn transaction_version(table: &DeltaTable, app_id: &str) -> Option<i64> {
    table
        .snapshot()
        .expect("a loaded table")
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .unwrap_or_else(|err| panic!("reading the txn of {app_id}: {err}"))
}

fn missing<T>(path: &Path, row: usize, column: &str) -> T {
    panic!("{}: row {row} has no {column}", path.display())
}

fn read_file(path: &Path) -> Vec<SalesRow> {
    let year: i32 = path
        .ancestors()
        .filter_map(|dir| dir.file_name()?.to_str()?.strip_prefix("year="))
        .next()
        .and_then(|year| year.parse().ok())
        .unwrap_or_else(|| panic!("{} is not under a year=… directory", path.display()));
    let mut rows = Vec::new();
    for batch in parquet::read_batches(path) {
        let store_id = parquet::strings(&batch, "store_id");
        let item_id = parquet::strings(&batch, "item_id");
        let date = parquet::dates(&batch, "date");
        let sales = parquet::floats(&batch, "sales");
        let price = parquet::floats(&batch, "price");
        let promo = parquet::booleans(&batch, "promo");
        let partition = parquet::integers(&batch, "kafka_partition");
        let offset = parquet::integers(&batch, "kafka_offset");
        for i in 0..batch.num_rows() {
            let row = SalesRow {
                store_id: store_id[i]
                    .clone()
                    .unwrap_or_else(|| missing(path, i, "store_id")),
                item_id: item_id[i]
                    .clone()
                    .unwrap_or_else(|| missing(path, i, "item_id")),
                date: date[i].unwrap_or_else(|| missing(path, i, "date")),
                sales: sales[i].unwrap_or_else(|| missing(path, i, "sales")),
                price: price[i],
                promo: promo[i],
                year,
                kafka_partition: partition[i].unwrap_or_else(|| missing(path, i, "kafka_partition"))
                    as i32,
                kafka_offset: offset[i].unwrap_or_else(|| missing(path, i, "kafka_offset")),
            };
            assert_eq!(
                row.date.year(),
                year,
                "{}: a row dated {} in the wrong year directory",
                path.display(),
                row.date
            );
            rows.push(row);
        }
    }
    rows
}

impl SalesTable {
    /// Asserts that every row holds exactly the record found at its
    /// (kafka_partition, kafka_offset) on the topic.
    pub fn assert_rows_match(&self, records: &[crate::topic::Consumed]) {
        let by_position: HashMap<(i32, i64), &crate::topic::Consumed> = records
            .iter()
            .map(|r| ((r.partition, r.offset), r))
            .collect();
        for row in &self.rows {
            let position = (row.kafka_partition, row.kafka_offset);
            let record = by_position
                .get(&position)
                .unwrap_or_else(|| panic!("row {row:?} has no record on the topic"));
            let json: serde_json::Value =
                serde_json::from_slice(&record.value).expect("records on the topic are JSON");
            let expected = (
                json["store_id"].as_str(),
                json["item_id"].as_str(),
                json["date"].as_str().map(str::to_owned),
                json["sales"].as_f64(),
                json["price"].as_f64(),
                json["promo"].as_bool(),
            );
            let actual = (
                Some(row.store_id.as_str()),
                Some(row.item_id.as_str()),
                Some(row.date.to_string()),
                Some(row.sales),
                row.price,
                row.promo,
            );
            assert_eq!(
                actual, expected,
                "the row at {position:?} differs from the record"
            );
            assert_eq!(
                record.key_text(),
                Some(format!("{}/{}", row.store_id, row.item_id)),
                "the record at {position:?} is keyed by another series"
            );
        }
    }
}
