//! What to generate: the seed, how many stores, items and days, and the first date.
//!
//! The named sizes are the benchmark sizes of docs/workload.md, so every benchmark and
//! every test that says "small" means the same rows.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate};

use super::GenerateError;

/// The first date of generated data unless a spec says otherwise: 2022-01-01.
pub const DEFAULT_START_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2022, 1, 1) {
    Some(date) => date,
    None => panic!("2022-01-01 is a calendar date"),
};

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// A synthetic data set: `stores × items` series over `days` consecutive days.
///
/// Every value is a pure function of the spec, the series index and the day index,
/// so the same spec always yields the same rows, in any order and on any thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorSpec {
    /// Seeds every random draw; two specs that differ only here share no noise.
    pub seed: u64,
    /// Number of stores; store ids are `S0001`, `S0002`, …
    pub stores: u32,
    /// Number of items per store; item ids are `I00001`, `I00002`, …
    pub items: u32,
    /// Number of days, starting at `start_date` (day index 0).
    pub days: u32,
    /// The date of day index 0 (default 2022-01-01).
    pub start_date: NaiveDate,
}

impl GeneratorSpec {
    /// The benchmark size `size` with `seed`, starting on [`DEFAULT_START_DATE`].
    pub fn sized(size: Size, seed: u64) -> Self {
        let (stores, items, days) = size.dimensions();
        Self {
            seed,
            stores,
            items,
            days,
            start_date: DEFAULT_START_DATE,
        }
    }

    /// Number of series (store-item keys).
    pub fn series(&self) -> u64 {
        u64::from(self.stores) * u64::from(self.items)
    }

    /// Series times days: the row count if no series started late.
    pub fn slots(&self) -> u64 {
        self.series() * u64::from(self.days)
    }

    /// The date of day index `day`, if the calendar reaches it.
    pub fn date(&self, day: u32) -> Option<NaiveDate> {
        self.start_date.checked_add_days(Days::new(u64::from(day)))
    }

    /// Checks that the spec describes at least one row, that series indices fit a
    /// `u32` and that every day has a date with a four-digit year.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let (stores, items, days) = (self.stores, self.items, self.days);
        if stores == 0 || items == 0 || days == 0 {
            return Err(GenerateError::EmptySpec {
                stores,
                items,
                days,
            });
        }
        if self.series() > u64::from(u32::MAX) {
            return Err(GenerateError::TooManySeries {
                series: self.series(),
            });
        }
        let four_digit_year = |date: NaiveDate| (0..=9999).contains(&date.year());
        match self.date(days - 1) {
            Some(last) if four_digit_year(self.start_date) && four_digit_year(last) => Ok(()),
            _ => Err(GenerateError::DatesOutOfRange {
                start: self.start_date,
                days,
            }),
        }
    }
}

impl Default for GeneratorSpec {
    /// The `small` size with [`DEFAULT_SEED`].
    fn default() -> Self {
        Self::sized(Size::Small, DEFAULT_SEED)
    }
}

/// The benchmark sizes of docs/workload.md that fit in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1,000 series (20 stores × 50 items) × 730 days = 0.73 M rows.
    Small,
    /// 10,000 series (50 stores × 200 items) × 730 days = 7.3 M rows.
    Medium,
    /// 10,000 series (50 stores × 200 items) × 4,000 days = 40 M rows.
    Headline,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Headline];

    /// `(stores, items, days)`.
    pub fn dimensions(self) -> (u32, u32, u32) {
        match self {
            Size::Small => (20, 50, 730),
            Size::Medium => (50, 200, 730),
            Size::Headline => (50, 200, 4_000),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Headline => "headline",
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Size {
    type Err = GenerateError;

    fn from_str(name: &str) -> Result<Self, GenerateError> {
        Size::ALL
            .into_iter()
            .find(|size| size.as_str() == name)
            .ok_or_else(|| GenerateError::UnknownSize {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_benchmark_table() {
        let rows: Vec<(u64, u64)> = Size::ALL
            .into_iter()
            .map(|size| {
                let spec = GeneratorSpec::sized(size, 1);
                (spec.series(), spec.slots())
            })
            .collect();
        assert_eq!(
            rows,
            [(1_000, 730_000), (10_000, 7_300_000), (10_000, 40_000_000)]
        );
        assert_eq!("medium".parse::<Size>().unwrap(), Size::Medium);
        assert!("huge".parse::<Size>().is_err());
    }

    #[test]
    fn validation_refuses_empty_and_out_of_calendar_specs() {
        let spec = GeneratorSpec::default();
        assert!(spec.validate().is_ok());
        assert_eq!(spec.date(0), Some(DEFAULT_START_DATE));
        let empty = GeneratorSpec { items: 0, ..spec };
        assert!(matches!(
            empty.validate(),
            Err(GenerateError::EmptySpec { .. })
        ));
        let late = GeneratorSpec {
            start_date: NaiveDate::from_ymd_opt(9999, 6, 1).unwrap(),
            ..spec
        };
        assert!(matches!(
            late.validate(),
            Err(GenerateError::DatesOutOfRange { .. })
        ));
        let huge = GeneratorSpec {
            stores: u32::MAX,
            ..spec
        };
        assert!(matches!(
            huge.validate(),
            Err(GenerateError::TooManySeries { .. })
        ));
    }
}
