//! Every key's window, shared between the consumer (which inserts) and the tasks
//! that read them (the trainer's training pool, the scorer's forecasts): a `DashMap`
//! from series key to the key's window and trigger state.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use dashmap::mapref::one::RefMut;
use herd_schemas::{Frequency, SalesRecord, SeriesKey};

use crate::window::{Insert, Window};

/// A key's window and what the trigger needs to know about it.
#[derive(Debug, Clone)]
pub struct KeyWindow {
    pub window: Window,
    /// The Kafka partition the key's records arrive on (−1 when loaded from a file).
    pub partition: i32,
    /// Distinct new days since the key was last trained or queued.
    pub new_days: u32,
    /// The last day of the data the key's latest model saw.
    pub trained_through: Option<NaiveDate>,
}

impl KeyWindow {
    /// Whether `min` new days have arrived; if so the count starts again, so that one
    /// burst of records queues the key once.
    pub fn take_due(&mut self, min: u32) -> bool {
        let due = self.new_days >= min;
        if due {
            self.new_days = 0;
        }
        due
    }
}

/// All windows of one process.
#[derive(Debug)]
pub struct Windows {
    map: DashMap<SeriesKey, KeyWindow>,
    capacity: usize,
    frequency: Frequency,
    too_old: AtomicU64,
    replaced: AtomicU64,
}

/// What [`Windows::digest`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WindowDigest {
    pub keys: usize,
    /// Observed days across keys.
    pub days: u64,
    pub digest: String,
}

/// FNV-1a: a stable hash with no dependencies, for fingerprints only.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Counts since the store was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WindowCounts {
    pub keys: usize,
    /// Observations older than their key's window, not kept.
    pub too_old: u64,
    /// Observations that replaced an earlier value of the same day.
    pub replaced: u64,
}

impl Windows {
    /// A store whose windows hold `capacity` days each.
    pub fn new(capacity: usize) -> Self {
        Self::of(capacity, Frequency::Daily)
    }

    /// A store whose windows hold `capacity` periods of `frequency` each.
    pub fn of(capacity: usize, frequency: Frequency) -> Self {
        Self {
            map: DashMap::new(),
            capacity: capacity.max(1),
            frequency,
            too_old: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What one slot of every window is.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    pub fn map(&self) -> &DashMap<SeriesKey, KeyWindow> {
        &self.map
    }

    /// Adds one record that arrived on `partition`; returns the key's count of new
    /// days since it was last queued for training. Only days after the key's
    /// latest model's data count: a record read again after a restart, or a late
    /// correction of a day a model already saw, is kept for the next training but
    /// does not trigger one. `trained_through` is asked for keys seen the first time.
    pub fn insert(
        &self,
        record: &SalesRecord,
        partition: i32,
        trained_through: impl FnOnce(&SeriesKey) -> Option<NaiveDate>,
    ) -> u32 {
        self.insert_entry(record, partition, trained_through)
            .new_days
    }

    /// [`insert`](Self::insert), then [`KeyWindow::take_due`] with `due_at` new days
    /// (`None`: never due, e.g. while the partition replays), in one map lookup.
    pub fn insert_and_take_due(
        &self,
        record: &SalesRecord,
        partition: i32,
        trained_through: impl FnOnce(&SeriesKey) -> Option<NaiveDate>,
        due_at: Option<u32>,
    ) -> bool {
        let mut entry = self.insert_entry(record, partition, trained_through);
        due_at.is_some_and(|min| entry.take_due(min))
    }

    fn insert_entry(
        &self,
        record: &SalesRecord,
        partition: i32,
        trained_through: impl FnOnce(&SeriesKey) -> Option<NaiveDate>,
    ) -> RefMut<'_, SeriesKey, KeyWindow> {
        let key = SeriesKey::new(record.store_id.clone(), record.item_id.clone());
        let mut entry = match self.map.entry(key) {
            Entry::Occupied(entry) => entry.into_ref(),
            Entry::Vacant(entry) => {
                let through = trained_through(entry.key());
                entry.insert(KeyWindow {
                    window: Window::of(self.capacity, self.frequency),
                    partition,
                    new_days: 0,
                    trained_through: through,
                })
            }
        };
        entry.partition = partition;
        let outcome = entry.window.insert(
            self.frequency.period_of(record.date),
            record.sales as f32,
            record.price.map(|p| p as f32),
            record.promo.unwrap_or(false),
        );
        let seen = entry
            .trained_through
            .is_some_and(|through| record.date <= through);
        self.count(outcome, &mut entry, !seen);
        entry
    }

    /// Adds a window built elsewhere (the lake loader), replacing any held for the key.
    pub fn put(&self, key: SeriesKey, window: KeyWindow) {
        self.map.insert(key, window);
    }

    fn count(&self, outcome: Insert, entry: &mut KeyWindow, triggers: bool) {
        let step = u32::from(triggers);
        match outcome {
            Insert::NewDay => entry.new_days = entry.new_days.saturating_add(step),
            Insert::Replaced => {
                // A corrected day changes the data as much as a new one.
                entry.new_days = entry.new_days.saturating_add(step);
                self.replaced.fetch_add(1, Ordering::Relaxed);
            }
            Insert::Unchanged => {}
            Insert::TooOld => {
                self.too_old.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn add_counts(&self, too_old: u64, replaced: u64) {
        self.too_old.fetch_add(too_old, Ordering::Relaxed);
        self.replaced.fetch_add(replaced, Ordering::Relaxed);
    }

    /// Drops the windows of keys on `partitions` (revoked from this process).
    pub fn drop_partitions(&self, partitions: &[i32]) {
        self.map.retain(|_, w| !partitions.contains(&w.partition));
    }

    pub fn counts(&self) -> WindowCounts {
        WindowCounts {
            keys: self.map.len(),
            too_old: self.too_old.load(Ordering::Relaxed),
            replaced: self.replaced.load(Ordering::Relaxed),
        }
    }

    /// A fingerprint of every window's content (keys, days, values), equal for two
    /// stores that hold the same data however it arrived: for checking that a
    /// rebuild from the lake and the topic matches a replay of the topic alone.
    pub fn digest(&self) -> WindowDigest {
        let mut keys: Vec<(String, u64, usize)> = self
            .map
            .iter()
            .map(|entry| {
                let dense = entry.value().window.dense();
                let mut hash = Fnv::default();
                hash.write(&dense.start.to_string().into_bytes());
                for ((sales, price), promo) in
                    dense.sales.iter().zip(&dense.price).zip(&dense.promo)
                {
                    hash.write(&sales.to_bits().to_le_bytes());
                    hash.write(&price.to_bits().to_le_bytes());
                    hash.write(&[*promo]);
                }
                let days = dense.sales.iter().filter(|v| !v.is_nan()).count();
                (entry.key().to_string(), hash.0, days)
            })
            .collect();
        keys.sort();
        let mut all = Fnv::default();
        for (key, hash, _) in &keys {
            all.write(key.as_bytes());
            all.write(&hash.to_le_bytes());
        }
        WindowDigest {
            keys: keys.len(),
            days: keys.iter().map(|(_, _, days)| *days as u64).sum(),
            digest: format!("{:016x}", all.0),
        }
    }

    /// Bytes held by windows, keys and the map's entries (an estimate that counts
    /// what each entry owns, not allocator slack).
    pub fn memory_bytes(&self) -> usize {
        self.map
            .iter()
            .map(|entry| {
                let key = entry.key();
                std::mem::size_of::<(SeriesKey, KeyWindow)>()
                    + key.store_id().as_str().len()
                    + key.item_id().as_str().len()
                    + entry.value().window.memory_bytes()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use herd_schemas::SalesRecord;

    use super::*;

    fn record(item: &str, date: &str, sales: f64) -> SalesRecord {
        SalesRecord {
            store_id: "S1".parse().unwrap(),
            item_id: item.parse().unwrap(),
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            sales,
            price: Some(2.0),
            promo: Some(false),
        }
    }

    #[test]
    fn only_days_after_the_latest_model_count_towards_retraining() {
        let windows = Windows::new(30);
        let through = NaiveDate::from_ymd_opt(2024, 1, 10);
        let trained = |_: &SeriesKey| through;
        // A day the model saw, read again: kept, but not new.
        assert_eq!(
            windows.insert(&record("I1", "2024-01-09", 3.0), 0, trained),
            0
        );
        assert_eq!(
            windows.insert(&record("I1", "2024-01-11", 3.0), 0, trained),
            1
        );
        // The same record again changes nothing.
        assert_eq!(
            windows.insert(&record("I1", "2024-01-11", 3.0), 0, trained),
            1
        );
        // A correction of a new day counts; one of an old day does not.
        assert_eq!(
            windows.insert(&record("I1", "2024-01-11", 4.0), 0, trained),
            2
        );
        assert_eq!(
            windows.insert(&record("I1", "2024-01-09", 9.0), 0, trained),
            2
        );
        // A key never trained counts every day.
        assert_eq!(
            windows.insert(&record("I2", "2023-06-01", 1.0), 3, |_| None),
            1
        );
        let counts = windows.counts();
        assert_eq!((counts.keys, counts.replaced), (2, 2));
    }

    #[test]
    fn revoked_partitions_lose_their_windows_and_digests_see_content_only() {
        let a = Windows::new(30);
        a.insert(&record("I1", "2024-01-01", 1.0), 0, |_| None);
        a.insert(&record("I2", "2024-01-01", 2.0), 1, |_| None);
        let b = Windows::new(30);
        b.insert(&record("I2", "2024-01-01", 2.0), 7, |_| None);
        b.insert(&record("I1", "2024-01-01", 1.0), 5, |_| None);
        assert_eq!(a.digest(), b.digest());
        a.drop_partitions(&[1]);
        assert_eq!(a.counts().keys, 1);
        assert_ne!(a.digest(), b.digest());
    }
}
