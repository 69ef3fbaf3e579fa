//! Every key's window, shared between the consumer (which inserts) and the training
//! pool (which reads): a `DashMap` from series key to the key's window and trigger
//! state.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use dashmap::DashMap;
use herd_schemas::{SalesRecord, SeriesKey};

use crate::window::{Insert, Window, day_of};

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

/// All windows of one trainer process.
#[derive(Debug)]
pub struct Windows {
    map: DashMap<SeriesKey, KeyWindow>,
    capacity: usize,
    too_old: AtomicU64,
    replaced: AtomicU64,
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
        Self {
            map: DashMap::new(),
            capacity: capacity.max(1),
            too_old: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn map(&self) -> &DashMap<SeriesKey, KeyWindow> {
        &self.map
    }

    /// Adds one record that arrived on `partition`; returns the key's count of new
    /// days since it was last queued for training.
    pub fn insert(&self, record: &SalesRecord, partition: i32) -> u32 {
        let key = SeriesKey::new(record.store_id.clone(), record.item_id.clone());
        let mut entry = self.map.entry(key).or_insert_with(|| KeyWindow {
            window: Window::new(self.capacity),
            partition,
            new_days: 0,
            trained_through: None,
        });
        entry.partition = partition;
        let outcome = entry.window.insert(
            day_of(record.date),
            record.sales as f32,
            record.price.map(|p| p as f32),
            record.promo.unwrap_or(false),
        );
        self.count(outcome, &mut entry);
        entry.new_days
    }

    /// Adds a window built elsewhere (the lake loader), replacing any held for the key.
    pub fn put(&self, key: SeriesKey, window: KeyWindow) {
        self.map.insert(key, window);
    }

    pub(crate) fn count(&self, outcome: Insert, entry: &mut KeyWindow) {
        match outcome {
            Insert::NewDay => entry.new_days = entry.new_days.saturating_add(1),
            Insert::Replaced => {
                // A corrected day changes the data as much as a new one.
                entry.new_days = entry.new_days.saturating_add(1);
                self.replaced.fetch_add(1, Ordering::Relaxed);
            }
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
