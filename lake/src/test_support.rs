//! Records, batches and tables for the crate's tests.

use chrono::NaiveDate;
use deltalake::arrow::array::RecordBatch;
use herd_schemas::SalesRecord;

use crate::{LakeRoot, SalesRows};

pub(crate) fn record(store: &str, item: &str, date: NaiveDate, sales: f64) -> SalesRecord {
    SalesRecord {
        store_id: store.parse().unwrap(),
        item_id: item.parse().unwrap(),
        date,
        sales,
        price: None,
        promo: Some(true),
    }
}

/// Rows for offsets `first..next` of `partition`, one day apart from `start` and
/// wrapping after two years.
pub(crate) fn sales_batch(partition: i32, first: i64, next: i64, start: NaiveDate) -> RecordBatch {
    let mut rows = SalesRows::with_capacity((next - first) as usize);
    for offset in first..next {
        let date = start + chrono::Days::new(((offset - first) % 730) as u64);
        let store = (offset % 10).to_string();
        let item = (offset % 500).to_string();
        rows.push(
            &record(&store, &item, date, offset as f64),
            partition,
            offset,
        );
    }
    rows.finish()
}

pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A fresh lake root in a temporary directory that lives as long as the guard.
pub(crate) fn temp_root() -> (tempfile::TempDir, LakeRoot) {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
    (dir, root)
}
