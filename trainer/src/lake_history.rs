//! Rebuilding windows from the Delta `sales` table: the archived history of the keys
//! on the partitions this process owns, in commit order, so that for a repeated day
//! the later record wins as it did on the topic.

use std::collections::{HashMap, HashSet};

use herd_lake::arrow::array::{Array, AsArray, RecordBatch};
use herd_lake::arrow::datatypes::{Date32Type, Float64Type, Int32Type};
use herd_lake::{DeltaTable, ScanOptions, ScanStats, scan};
use herd_schemas::{SeriesId, SeriesKey};

use crate::error::{Result, TrainError};
use crate::window::{Insert, Window};
use crate::windows::{KeyWindow, Windows};

const COLUMNS: [&str; 7] = [
    "store_id",
    "item_id",
    "date",
    "sales",
    "price",
    "promo",
    "kafka_partition",
];

/// What a load read and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub scan: ScanStats,
    /// Rows of the partitions asked for.
    pub rows: u64,
    pub keys: usize,
}

/// Reads `sales` into `windows`, keeping only rows of `partitions` (all when
/// `None`). Keys already in `windows` are replaced by what the table holds.
pub async fn load(
    windows: &Windows,
    sales: &DeltaTable,
    partitions: Option<&HashSet<i32>>,
) -> Result<LoadSummary> {
    let mut loader = WindowLoader::new(windows.capacity(), partitions);
    let options = ScanOptions {
        columns: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        since: None,
        concurrency: 2,
    };
    let scan = scan(sales, &options, |batch| loader.add(&batch)).await?;
    let (rows, keys) = loader.finish(windows);
    Ok(LoadSummary { scan, rows, keys })
}

/// Folds batches of sales rows (`store_id`, `item_id`, `date`, `sales`, `price`,
/// `promo`, and optionally `kafka_partition`) into windows, in the order given.
pub struct WindowLoader<'a> {
    capacity: usize,
    partitions: Option<&'a HashSet<i32>>,
    /// `store_id/item_id` → index into `keys`.
    by_name: HashMap<String, usize>,
    keys: Vec<(SeriesKey, KeyWindow)>,
    /// The previous row's key and index: archived rows come in runs of one key.
    last: Option<(String, String, usize)>,
    rows: u64,
    too_old: u64,
    replaced: u64,
}

impl<'a> WindowLoader<'a> {
    /// Windows of `capacity` days, keeping rows of `partitions` only (all when `None`).
    pub fn new(capacity: usize, partitions: Option<&'a HashSet<i32>>) -> Self {
        Self {
            capacity,
            partitions,
            by_name: HashMap::new(),
            keys: Vec::new(),
            last: None,
            rows: 0,
            too_old: 0,
            replaced: 0,
        }
    }

    /// Moves the windows into `windows`; returns the rows kept and the keys seen.
    pub fn finish(self, windows: &Windows) -> (u64, usize) {
        windows.add_counts(self.too_old, self.replaced);
        let keys = self.keys.len();
        for (key, window) in self.keys {
            windows.put(key, window);
        }
        (self.rows, keys)
    }

    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let corrupt = |what: &str| TrainError::Corrupt(format!("sales rows: {what}"));
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| corrupt(&format!("no column `{name}`")))
        };
        let text = |name: &str| {
            column(name)?
                .as_string_opt::<i32>()
                .ok_or_else(|| corrupt(&format!("`{name}` is not text")))
        };
        let number = |name: &str| {
            column(name)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| corrupt(&format!("`{name}` is not a float")))
        };
        let (stores, items) = (text("store_id")?, text("item_id")?);
        let dates = column("date")?
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(|| corrupt("`date` is not a date"))?;
        let (sales, prices) = (number("sales")?, number("price")?);
        let promos = column("promo")?
            .as_boolean_opt()
            .ok_or_else(|| corrupt("`promo` is not a boolean"))?;
        let partitions = match batch.column_by_name("kafka_partition") {
            Some(column) => Some(
                column
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| corrupt("`kafka_partition` is not an integer"))?,
            ),
            None => None,
        };
        for row in 0..batch.num_rows() {
            let partition = partitions.map_or(-1, |p| p.value(row));
            if self
                .partitions
                .is_some_and(|keep| !keep.contains(&partition))
            {
                continue;
            }
            let (store, item) = (stores.value(row), items.value(row));
            let index = self.index_of(store, item, partition)?;
            let price = (!prices.is_null(row)).then(|| prices.value(row) as f32);
            let promo = !promos.is_null(row) && promos.value(row);
            let entry = &mut self.keys[index].1;
            match entry
                .window
                .insert(dates.value(row), sales.value(row) as f32, price, promo)
            {
                Insert::NewDay | Insert::Unchanged => {}
                Insert::Replaced => self.replaced += 1,
                Insert::TooOld => self.too_old += 1,
            }
            self.rows += 1;
        }
        Ok(())
    }

    fn index_of(&mut self, store: &str, item: &str, partition: i32) -> Result<usize> {
        if let Some((last_store, last_item, index)) = &self.last
            && last_store == store
            && last_item == item
        {
            return Ok(*index);
        }
        let name = format!("{store}/{item}");
        let index = match self.by_name.get(&name) {
            Some(&index) => index,
            None => {
                let parse = |id: &str| {
                    id.parse::<SeriesId>()
                        .map_err(|e| TrainError::Corrupt(format!("sales table: id `{id}`: {e}")))
                };
                let key = SeriesKey::new(parse(store)?, parse(item)?);
                self.keys.push((
                    key,
                    KeyWindow {
                        window: Window::new(self.capacity),
                        partition,
                        new_days: 0,
                        trained_through: None,
                    },
                ));
                self.by_name.insert(name, self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        self.last = Some((store.to_owned(), item.to_owned(), index));
        Ok(index)
    }
}
