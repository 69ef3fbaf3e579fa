//! Folding batches of sales rows into windows, fast: ids are matched per distinct
//! (store, item) pair of a batch, through Parquet's dictionaries when the reader kept
//! them, so a row costs two array lookups and a window insert.

use std::collections::{HashMap, HashSet};

use herd_lake::ReadColumns;
use herd_lake::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use herd_lake::arrow::compute::cast;
use herd_lake::arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type};
use herd_schemas::{Frequency, SeriesId, SeriesKey};

use crate::error::{HistoryError, Result};
use crate::window::{Insert, Window};
use crate::windows::{KeyWindow, Windows};

/// A batch's dictionaries larger than this many (store, item) pairs are matched
/// through a hash map instead of a table.
const MAX_PAIR_TABLE: usize = 1 << 22;

/// Bits of a packed position that hold the offset; the partition takes the rest.
const OFFSET_BITS: u32 = 48;

/// (partition, offset) as one number that orders the same way, so that a held
/// position costs 8 bytes; `None` outside the ranges that fit (partitions below
/// 65,536, offsets below 2^48: 281 trillion records).
fn pack(partition: i32, offset: i64) -> Option<u64> {
    let partition = u64::try_from(partition).ok()?;
    let offset = u64::try_from(offset).ok()?;
    (partition < 1 << (64 - OFFSET_BITS) && offset < 1 << OFFSET_BITS)
        .then_some(partition << OFFSET_BITS | offset)
}

/// Folds batches of sales rows (`store_id`, `item_id`, `date`, `sales`, `price`,
/// `promo`, and optionally `kafka_partition` and `kafka_offset`) into windows. Of two
/// rows for one key and day, the one published later wins: the higher
/// (`kafka_partition`, `kafka_offset`) when rows carry both, whatever order files are
/// read in; otherwise the later one given.
pub struct WindowLoader<'a> {
    capacity: usize,
    frequency: Frequency,
    partitions: Option<&'a HashSet<i32>>,
    /// Per partition, the first offset not kept (rows need `kafka_offset`).
    before: Option<&'a HashMap<i32, i64>>,
    /// Windows the rows add to: a key found here starts from its window there.
    seed: Option<&'a Windows>,
    /// `store_id/item_id` → index into `keys`.
    by_name: HashMap<Box<str>, usize>,
    keys: Vec<(SeriesKey, KeyWindow)>,
    /// Parallel to `keys`, by the window's slots: the packed (partition, offset) of
    /// the row each held day came from (0 for a row without one). Allocated for a
    /// key at its first row with a position: 8 bytes a day of window (5,840 bytes
    /// for 730 days, as much as the window's sales and prices), held only while
    /// loading.
    positions: Vec<Box<[u64]>>,
    name: String,
    /// Key indices by (store code, item code) for the dictionaries last seen.
    pairs: Option<PairTable>,
    rows: u64,
    too_old: u64,
    replaced: u64,
}

/// The (key, row) pairs ordered by key, rows of one key in their original order: a
/// counting sort, linear in rows and keys.
fn by_key(rows: &[(u32, u32)], keys: usize) -> Vec<(u32, u32)> {
    let mut starts = vec![0u32; keys + 1];
    for &(key, _) in rows {
        starts[key as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut sorted = vec![(0u32, 0u32); rows.len()];
    for &(key, row) in rows {
        let at = &mut starts[key as usize];
        sorted[*at as usize] = (key, row);
        *at += 1;
    }
    sorted
}

/// Key indices of every (store, item) code pair of one pair of dictionaries.
/// The table holds the dictionaries themselves, so their buffers cannot be freed
/// and reused by other values while it compares addresses.
struct PairTable {
    stores: StringArray,
    items: StringArray,
    width: usize,
    index: Vec<u32>,
}

/// Whether two dictionaries are the same values: batches of one Parquet row group
/// share the buffer.
fn same_values(a: &StringArray, b: &StringArray) -> bool {
    a.len() == b.len()
        && std::ptr::eq(a.values().as_ptr(), b.values().as_ptr())
        && std::ptr::eq(a.offsets().as_ptr(), b.offsets().as_ptr())
}

/// A batch's id column as dictionary codes and values.
struct Codes {
    codes: Int32Array,
    values: StringArray,
    dictionary: bool,
}

impl Codes {
    fn of(array: &ArrayRef, name: &str) -> Result<Codes> {
        let corrupt = |what: String| HistoryError::Corrupt(format!("sales rows: `{name}` {what}"));
        if let Some(dictionary) = array.as_dictionary_opt::<Int32Type>() {
            let values = cast(dictionary.values(), &DataType::Utf8)
                .map_err(|e| corrupt(format!("has unreadable values: {e}")))?;
            return Ok(Codes {
                codes: dictionary.keys().clone(),
                values: values.as_string::<i32>().clone(),
                dictionary: true,
            });
        }
        // Plain strings: every row is its own code.
        let values =
            cast(array, &DataType::Utf8).map_err(|e| corrupt(format!("is not text: {e}")))?;
        let values = values.as_string::<i32>().clone();
        Ok(Codes {
            codes: Int32Array::from_iter_values(0..values.len() as i32),
            values,
            dictionary: false,
        })
    }
}

impl<'a> WindowLoader<'a> {
    /// How to read a sales Parquet file for the loader: its columns, ids as
    /// dictionaries, and big batches, which give each key many days per visit and so
    /// fewer cache misses.
    pub fn parquet_columns() -> ReadColumns {
        ReadColumns {
            read: ["store_id", "item_id", "date", "sales", "price", "promo"]
                .map(str::to_owned)
                .to_vec(),
            dictionary: vec!["store_id".into(), "item_id".into()],
            batch_rows: 512 * 1024,
        }
    }

    /// Windows of `capacity` days, keeping rows of `partitions` only (all when `None`).
    pub fn new(capacity: usize, partitions: Option<&'a HashSet<i32>>) -> Self {
        Self {
            capacity,
            frequency: Frequency::Daily,
            partitions,
            before: None,
            seed: None,
            by_name: HashMap::new(),
            keys: Vec::new(),
            positions: Vec::new(),
            name: String::new(),
            pairs: None,
            rows: 0,
            too_old: 0,
            replaced: 0,
        }
    }

    /// Keeps only rows of the partitions in `limits` whose `kafka_offset` is below the
    /// partition's limit: the history as it stood at those offsets.
    pub fn before(mut self, limits: &'a HashMap<i32, i64>) -> Self {
        self.before = Some(limits);
        self
    }

    /// Adds the rows to the windows `seed` holds: a key found there starts from its
    /// window instead of an empty one. The rows read must be newer than the seed's
    /// (files written after the ones it was loaded from): a day they repeat is theirs.
    pub fn seeded(mut self, seed: &'a Windows) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Windows of `frequency`'s periods: each row's date counts in the period that
    /// holds it.
    pub fn frequency(mut self, frequency: Frequency) -> Self {
        self.frequency = frequency;
        self
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
        let corrupt = |what: &str| HistoryError::Corrupt(format!("sales rows: {what}"));
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| corrupt(&format!("no column `{name}`")))
        };
        let number = |name: &str| {
            column(name)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| corrupt(&format!("`{name}` is not a float")))
        };
        let stores = Codes::of(column("store_id")?, "store_id")?;
        let items = Codes::of(column("item_id")?, "item_id")?;
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
        let offsets = match batch.column_by_name("kafka_offset") {
            Some(column) => Some(
                column
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| corrupt("`kafka_offset` is not an integer"))?,
            ),
            None if self.before.is_some() => return Err(corrupt("no column `kafka_offset`")),
            None => None,
        };
        // Where each row was published, when the rows say.
        let positions = partitions.zip(offsets);
        if stores.codes.null_count() > 0 || items.codes.null_count() > 0 {
            return Err(corrupt("an id is null"));
        }

        // Pass 1: each kept row's key. Dictionaries usually stay the same from one
        // batch to the next (one per Parquet row group), and so does the pair table.
        let dictionaries = stores.dictionary && items.dictionary;
        let same = self.pairs.as_ref().is_some_and(|p| {
            same_values(&p.stores, &stores.values) && same_values(&p.items, &items.values)
        });
        if dictionaries && !same {
            let size = stores.values.len().saturating_mul(items.values.len());
            self.pairs = (size <= MAX_PAIR_TABLE).then(|| PairTable {
                stores: stores.values.clone(),
                items: items.values.clone(),
                width: items.values.len(),
                index: vec![u32::MAX; size],
            });
        } else if !dictionaries {
            self.pairs = None;
        }
        let mut pairs = self.pairs.take();
        let (store_codes, item_codes) = (stores.codes.values(), items.codes.values());
        let mut rows: Vec<(u32, u32)> = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let partition = partitions.map_or(-1, |p| p.value(row));
            if self
                .partitions
                .is_some_and(|keep| !keep.contains(&partition))
            {
                continue;
            }
            if let (Some(limits), Some(offsets)) = (self.before, offsets)
                && limits
                    .get(&partition)
                    .is_none_or(|&limit| offsets.value(row) >= limit)
            {
                continue;
            }
            let (s, i) = (store_codes[row] as usize, item_codes[row] as usize);
            let cached = pairs
                .as_ref()
                .and_then(|t| t.index.get(s * t.width + i).copied())
                .filter(|&index| index != u32::MAX);
            let index = match cached {
                Some(index) => index as usize,
                None => {
                    let index =
                        self.index_of(stores.values.value(s), items.values.value(i), partition)?;
                    if let Some(slot) = pairs
                        .as_mut()
                        .and_then(|t| t.index.get_mut(s * t.width + i))
                    {
                        *slot = index as u32;
                    }
                    index
                }
            };
            rows.push((index as u32, row as u32));
        }
        self.pairs = pairs;

        // Pass 2, key by key: a batch of day-ordered rows touches every window, and
        // visiting them in key order (stable, so a later row still wins) keeps each
        // window in cache for its few days instead of missing it on every row.
        let rows = by_key(&rows, self.keys.len());
        let (day_values, sales_values, price_values) =
            (dates.values(), sales.values(), prices.values());
        for (index, row) in rows {
            let (index, row) = (index as usize, row as usize);
            let day = match self.frequency {
                Frequency::Daily => day_values[row],
                other => other.period_of(Frequency::Daily.date_of(day_values[row])),
            };
            let position = match positions {
                Some((partitions, offsets)) => {
                    let (partition, offset) = (partitions.values()[row], offsets.values()[row]);
                    Some(pack(partition, offset).ok_or_else(|| {
                        corrupt(&format!(
                            "kafka_partition {partition}, kafka_offset {offset}: outside the \
                             positions the loader orders"
                        ))
                    })?)
                }
                None => None,
            };
            let (_, entry) = &mut self.keys[index];
            let held = &mut self.positions[index];
            if position.is_some() && held.is_empty() {
                *held = vec![0; entry.window.capacity()].into_boxed_slice();
            }
            self.rows += 1;
            // A row published before the one whose value the window holds for that
            // day lost already: files are not read in the order records arrived.
            if let (Some(position), Some(slot)) = (position, entry.window.held_slot(day))
                && held[slot] > position
            {
                self.replaced += 1;
                continue;
            }
            let price = (!prices.is_null(row)).then(|| price_values[row] as f32);
            let promo = !promos.is_null(row) && promos.value(row);
            entry.partition = partitions.map_or(-1, |p| p.values()[row]);
            let (outcome, slot) =
                entry
                    .window
                    .insert_at(day, sales_values[row] as f32, price, promo);
            match outcome {
                Insert::NewDay | Insert::Unchanged => {}
                Insert::Replaced => self.replaced += 1,
                Insert::TooOld => self.too_old += 1,
            }
            if let Some(slot) = slot
                && !held.is_empty()
            {
                held[slot] = position.unwrap_or(0);
            }
        }
        Ok(())
    }

    fn index_of(&mut self, store: &str, item: &str, partition: i32) -> Result<usize> {
        self.name.clear();
        self.name.push_str(store);
        self.name.push('/');
        self.name.push_str(item);
        if let Some(&index) = self.by_name.get(self.name.as_str()) {
            return Ok(index);
        }
        let parse = |id: &str| {
            id.parse::<SeriesId>()
                .map_err(|e| HistoryError::Corrupt(format!("sales rows: id `{id}`: {e}")))
        };
        let key = SeriesKey::new(parse(store)?, parse(item)?);
        let seeded = self
            .seed
            .and_then(|seed| seed.map().get(&key).map(|entry| entry.value().clone()));
        let window = seeded.unwrap_or_else(|| KeyWindow {
            window: Window::of(self.capacity, self.frequency),
            partition,
            new_days: 0,
            trained_through: None,
        });
        self.keys.push((key, window));
        self.positions.push(Box::default());
        let index = self.keys.len() - 1;
        self.by_name.insert(self.name.as_str().into(), index);
        Ok(index)
    }
}

#[cfg(test)]
mod tests;
