//! Synthetic series for the unit tests: deterministic, owned, and turned into a
//! [`History`] on demand.

use chrono::NaiveDate;
use herd_schemas::Frequency;

use crate::history::History;

/// Sales, prices and promotions of one test series.
pub(crate) struct Owned {
    pub start: NaiveDate,
    pub frequency: Frequency,
    pub sales: Vec<f32>,
    pub price: Vec<f32>,
    pub promo: Vec<u8>,
}

impl Owned {
    pub fn new(sales: Vec<f32>) -> Owned {
        let n = sales.len();
        Owned {
            start: monday(),
            frequency: Frequency::Daily,
            sales,
            price: vec![2.0; n],
            promo: vec![0; n],
        }
    }

    pub fn history(&self) -> History<'_> {
        History {
            start: self.start,
            frequency: self.frequency,
            sales: &self.sales,
            price: &self.price,
            promo: &self.promo,
        }
    }

    /// The first `days` days.
    pub fn head(&self, days: usize) -> History<'_> {
        let days = days.min(self.sales.len());
        History {
            start: self.start,
            frequency: self.frequency,
            sales: &self.sales[..days],
            price: &self.price[..days],
            promo: &self.promo[..days],
        }
    }
}

pub(crate) fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 2).unwrap_or_default()
}

/// A PCG-style generator: uniform in [0, 1).
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) const WEEK: [f32; 7] = [10.0, 12.0, 11.0, 14.0, 18.0, 25.0, 9.0];

/// The same week, repeated.
pub(crate) fn weekly(days: usize) -> Owned {
    Owned::new((0..days).map(|t| WEEK[t % 7]).collect())
}

/// Weekly pattern, upward trend, noise of about ±`noise` units.
pub(crate) fn trending(days: usize, noise: f64, seed: u64) -> Owned {
    let mut rng = Rng::new(seed);
    Owned::new(
        (0..days)
            .map(|t| {
                let mean = f64::from(WEEK[t % 7]) + 0.05 * t as f64;
                (mean + noise * (2.0 * rng.uniform() - 1.0)).max(0.0) as f32
            })
            .collect(),
    )
}
