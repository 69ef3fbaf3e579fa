//! One key's recent days in compact storage: a ring of `capacity` days ending at the
//! latest day seen, four bytes of sales and four of price per day and a bit of promo.
//! A 365-day window takes under 3 KB.
//!
//! Out-of-order days land in their slot, a repeated day replaces the earlier value
//! (the record contract's last write wins), and days older than the window are
//! dropped and counted by the caller.

use chrono::NaiveDate;
use herd_models::Frequency;

/// A period's index on its frequency's clock (`Frequency::period_of`): for daily
/// series, days since 1970-01-01.
pub type Day = i32;

/// Days since 1970-01-01.
pub fn day_of(date: NaiveDate) -> Day {
    Frequency::Daily.period_of(date)
}

/// The date of a day index.
pub fn date_of(day: Day) -> NaiveDate {
    Frequency::Daily.date_of(day.max(0))
}

/// What inserting one observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// A day the window did not hold yet.
    NewDay,
    /// A day it held; the new value replaced a different old one.
    Replaced,
    /// A day it held with exactly these values already (a record read twice).
    Unchanged,
    /// Older than the window's first day: not kept.
    TooOld,
}

/// One series' bounded history.
#[derive(Debug, Clone)]
pub struct Window {
    /// The latest day seen; the window covers `end - capacity + 1 ..= end`.
    end: Day,
    /// The earliest day observed within the window (for trimming leading emptiness).
    sales: Box<[f32]>,
    price: Box<[f32]>,
    promo: Box<[u64]>,
    /// Observed days currently held.
    observed: u32,
    /// What one slot is: a day, a week or a month.
    frequency: Frequency,
}

/// The dense slices a model trains on, oldest first, from the first observed day to
/// the last.
#[derive(Debug, Clone, Default)]
pub struct DenseHistory {
    pub start: NaiveDate,
    pub frequency: Frequency,
    pub sales: Vec<f32>,
    pub price: Vec<f32>,
    pub promo: Vec<u8>,
}

impl DenseHistory {
    /// The slices as the forecasters take them.
    pub fn view(&self) -> herd_models::History<'_> {
        herd_models::History {
            start: self.start,
            frequency: self.frequency,
            sales: &self.sales,
            price: &self.price,
            promo: &self.promo,
        }
    }
}

impl Window {
    /// An empty window of `capacity` days (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self::of(capacity, Frequency::Daily)
    }

    /// An empty window of `capacity` periods of `frequency` (at least 1).
    pub fn of(capacity: usize, frequency: Frequency) -> Self {
        let capacity = capacity.max(1);
        Self {
            end: Day::MIN,
            sales: vec![f32::NAN; capacity].into_boxed_slice(),
            price: vec![f32::NAN; capacity].into_boxed_slice(),
            promo: vec![0; capacity.div_ceil(64)].into_boxed_slice(),
            observed: 0,
            frequency,
        }
    }

    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// The index of `date`'s period in this window's clock.
    pub fn period_of(&self, date: NaiveDate) -> Day {
        self.frequency.period_of(date)
    }

    pub fn capacity(&self) -> usize {
        self.sales.len()
    }

    /// Days with an observation.
    pub fn observed_days(&self) -> usize {
        self.observed as usize
    }

    /// The latest day seen, if any.
    pub fn last_day(&self) -> Option<NaiveDate> {
        (self.observed > 0).then(|| self.frequency.date_of(self.end))
    }

    /// Bytes this window holds on the heap and inline.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.sales.len() * 4
            + self.price.len() * 4
            + self.promo.len() * 8
    }

    /// Where `day`'s value is kept, if the window holds one for it: the same slot for
    /// the same day until the day falls out of the window.
    pub fn held_slot(&self, day: Day) -> Option<usize> {
        if self.observed == 0 || day > self.end || day < self.first_day() {
            return None;
        }
        let slot = self.slot(day);
        (!self.sales[slot].is_nan()).then_some(slot)
    }

    /// The sales held for `date`, when the window holds an observation of it.
    pub fn sales_on(&self, date: NaiveDate) -> Option<f32> {
        self.held_slot(self.period_of(date))
            .map(|slot| self.sales[slot])
    }

    fn slot(&self, day: Day) -> usize {
        day.rem_euclid(self.capacity() as Day) as usize
    }

    fn first_day(&self) -> Day {
        self.end.saturating_sub(self.capacity() as Day - 1)
    }

    /// Records `sales` (finite, ≥ 0 by the record contract) on `day`.
    pub fn insert(&mut self, day: Day, sales: f32, price: Option<f32>, promo: bool) -> Insert {
        self.insert_at(day, sales, price, promo).0
    }

    /// [`insert`](Self::insert), also naming the slot that holds `day`'s value now
    /// (`None` when too old), as [`held_slot`](Self::held_slot) would.
    pub fn insert_at(
        &mut self,
        day: Day,
        sales: f32,
        price: Option<f32>,
        promo: bool,
    ) -> (Insert, Option<usize>) {
        if self.observed == 0 || day > self.end {
            self.advance_to(day);
        } else if day < self.first_day() {
            return (Insert::TooOld, None);
        }
        let slot = self.slot(day);
        let (word, bit) = (slot / 64, slot % 64);
        let price = price.unwrap_or(f32::NAN);
        let outcome = if self.sales[slot].is_nan() {
            self.observed += 1;
            Insert::NewDay
        } else if self.sales[slot] == sales
            && self.price[slot].to_bits() == price.to_bits()
            && (self.promo[word] >> bit & 1 == 1) == promo
        {
            return (Insert::Unchanged, Some(slot));
        } else {
            Insert::Replaced
        };
        self.sales[slot] = sales;
        self.price[slot] = price;
        if promo {
            self.promo[word] |= 1 << bit;
        } else {
            self.promo[word] &= !(1 << bit);
        }
        (outcome, Some(slot))
    }

    /// Moves the end to `day`, clearing the slots of days that fall out.
    fn advance_to(&mut self, day: Day) {
        if self.end == Day::MIN {
            // A new window: every slot is empty already.
            self.end = day;
            return;
        }
        let capacity = self.capacity();
        let steps = (i64::from(day) - i64::from(self.end)).min(capacity as i64) as usize;
        let mut slot = self.slot(self.end);
        for _ in 0..steps {
            slot += 1;
            if slot == capacity {
                slot = 0;
            }
            if !self.sales[slot].is_nan() {
                self.observed -= 1;
            }
            self.sales[slot] = f32::NAN;
            self.price[slot] = f32::NAN;
            self.promo[slot / 64] &= !(1 << (slot % 64));
        }
        self.end = day;
    }

    /// The held days from the first observed one to the latest, oldest first; days
    /// without an observation are NaN sales.
    pub fn dense(&self) -> DenseHistory {
        if self.observed == 0 {
            return DenseHistory::default();
        }
        let first = (self.first_day()..=self.end)
            .find(|&day| !self.sales[self.slot(day)].is_nan())
            .unwrap_or(self.end);
        let days = (self.end - first + 1) as usize;
        let mut history = DenseHistory {
            start: self.frequency.date_of(first),
            frequency: self.frequency,
            sales: Vec::with_capacity(days),
            price: Vec::with_capacity(days),
            promo: Vec::with_capacity(days),
        };
        for day in first..=self.end {
            let slot = self.slot(day);
            history.sales.push(self.sales[slot]);
            history.price.push(self.price[slot]);
            history
                .promo
                .push(u8::from(self.promo[slot / 64] >> (slot % 64) & 1 == 1));
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        day_of(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn out_of_order_days_land_in_place_and_repeats_replace() {
        let mut w = Window::new(10);
        assert_eq!(
            w.insert(day("2024-01-05"), 5.0, Some(2.0), false),
            Insert::NewDay
        );
        assert_eq!(w.insert(day("2024-01-03"), 3.0, None, true), Insert::NewDay);
        assert_eq!(
            w.insert(day("2024-01-03"), 4.0, None, false),
            Insert::Replaced
        );
        let dense = w.dense();
        assert_eq!(dense.start, NaiveDate::from_ymd_opt(2024, 1, 3).unwrap());
        assert_eq!(dense.sales.len(), 3);
        assert_eq!(dense.sales[0], 4.0);
        assert!(dense.sales[1].is_nan());
        assert_eq!(dense.sales[2], 5.0);
        assert_eq!(dense.promo, [0, 0, 0]);
        assert_eq!(dense.price[2], 2.0);
        assert_eq!(w.observed_days(), 2);
    }

    #[test]
    fn days_older_than_the_window_are_refused_and_old_days_fall_out() {
        let mut w = Window::new(7);
        for d in 0..20 {
            w.insert(day("2024-01-01") + d, d as f32, None, d % 2 == 0);
        }
        assert_eq!(w.observed_days(), 7);
        assert_eq!(
            w.insert(day("2024-01-01"), 1.0, None, false),
            Insert::TooOld
        );
        let dense = w.dense();
        assert_eq!(dense.sales, [13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0]);
        assert_eq!(dense.promo, [0, 1, 0, 1, 0, 1, 0]);
        // A jump past the whole window leaves only the new day.
        w.insert(day("2025-01-01"), 9.0, None, false);
        assert_eq!(w.observed_days(), 1);
        assert_eq!(w.dense().sales, [9.0]);
    }

    #[test]
    fn held_slots_name_observed_days_in_the_window_only() {
        let mut w = Window::new(7);
        assert_eq!(w.held_slot(day("2024-01-05")), None);
        w.insert(day("2024-01-05"), 5.0, None, false);
        w.insert(day("2024-01-03"), 3.0, None, false);
        let slot = w.held_slot(day("2024-01-05")).unwrap();
        assert_ne!(w.held_slot(day("2024-01-03")), Some(slot));
        assert_eq!(w.held_slot(day("2024-01-04")), None, "not observed");
        assert_eq!(w.held_slot(day("2024-01-06")), None, "after the end");
        // Two windows later the slot holds another day; the old one is gone.
        assert_eq!(
            w.insert_at(day("2024-01-12"), 12.0, None, false),
            (Insert::NewDay, Some(slot))
        );
        assert_eq!(
            w.insert_at(day("2024-01-01"), 1.0, None, false),
            (Insert::TooOld, None)
        );
        assert_eq!(w.held_slot(day("2024-01-05")), None);
        assert_eq!(w.held_slot(day("2024-01-12")), Some(slot));
    }

    #[test]
    fn a_year_long_window_fits_in_four_kilobytes() {
        let w = Window::new(365);
        assert!(w.memory_bytes() <= 4096, "{}", w.memory_bytes());
    }
}
