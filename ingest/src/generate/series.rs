//! One synthetic series: parameters drawn once from (seed, series index), and its
//! value on any day as a pure function of (seed, series index, day index), so a
//! file writer, a stream simulator and a thread pool all see the same numbers
//! (bit for bit on one platform: `exp`, `sin` and `powf` come from its libm).

use std::f64::consts::TAU;

use chrono::{Datelike, Days, NaiveDate};
use herd_schemas::{SalesRecord, SeriesId};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::draw::{Stream, mix, splitmix, unit, within};
use super::spec::GeneratorSpec;

/// Median daily units of a regular series. With a log-scale spread of 0.9, a bit
/// over half the regular series sell the ~16 units a day at which Poisson noise
/// alone still allows accuracy 0.80 (WAPE ≈ sqrt(2 / (π·μ))); the rest cannot.
const REGULAR_MEDIAN: f64 = 20.0;
const REGULAR_SIGMA: f64 = 0.9;
/// Intermittent series: a low rate, and on top of it days with no sale at all.
const INTERMITTENT_SHARE: f64 = 0.10;
const INTERMITTENT_MEDIAN: f64 = 0.8;
const INTERMITTENT_SIGMA: f64 = 0.6;
const INTERMITTENT_ZERO_SHARE: (f64, f64) = (0.3, 0.7);
/// New products: their first row is on a random day after the first.
const LATE_START_SHARE: f64 = 0.05;
/// Promotions run a week at a time, so a promotion is a stretch, as in stores.
const PROMO_SHARE: f64 = 0.10;
const PROMO_WEEK: u32 = 7;
const PROMO_LIFT: (f64, f64) = (1.2, 1.6);
/// Prices change every four weeks, chain-wide, by up to ±8% around the item's base.
const PRICE_PERIOD: u32 = 28;
const PRICE_SWING: f64 = 0.08;
const BASE_PRICE: (f64, f64) = (0.99, 29.99);
const ELASTICITY: (f64, f64) = (0.8, 2.2);
/// Monday first; Friday and Saturday sell most.
const WEEKDAY_PROFILE: [f64; 7] = [0.92, 0.88, 0.90, 0.95, 1.08, 1.22, 1.05];
const WEEKDAY_JITTER: f64 = 0.06;
/// Linear trend, relative to the level on day 0, kept within sensible bounds.
const TREND_SD_PER_YEAR: f64 = 0.08;
const TREND_BOUNDS: (f64, f64) = (0.25, 4.0);
const YEARLY_MAX_AMPLITUDE: f64 = 0.3;
const DAYS_PER_YEAR: f64 = 365.2425;

/// What every series shares about one day: its index, date and place in the
/// week and the year.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    pub(crate) index: u32,
    pub(crate) date: NaiveDate,
    weekday: usize,
    year_sin: f64,
    year_cos: f64,
}

impl Day {
    /// Day `index` counted from `start`, if the calendar reaches it.
    pub(crate) fn new(start: NaiveDate, index: u32) -> Option<Self> {
        let date = start.checked_add_days(Days::new(u64::from(index)))?;
        // Measured from a fixed epoch, not from `start`, so the seasons stay on the
        // calendar whatever the start date.
        let angle = TAU * f64::from(date.num_days_from_ce()) / DAYS_PER_YEAR;
        Some(Self {
            index,
            date,
            weekday: date.weekday().num_days_from_monday() as usize,
            year_sin: angle.sin(),
            year_cos: angle.cos(),
        })
    }
}

/// One generated day of one series, in the compact form the writers encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observation {
    pub(crate) series: u32,
    pub(crate) day: u32,
    pub(crate) sales: u32,
    pub(crate) price_cents: u32,
    pub(crate) promo: bool,
}

/// The parameters of one store-item series.
#[derive(Debug, Clone)]
pub struct SeriesModel {
    seed: u64,
    series: u32,
    item: u32,
    store_id: SeriesId,
    item_id: SeriesId,
    start_date: NaiveDate,
    first_day: u32,
    intermittent: bool,
    level: f64,
    zero_share: f64,
    trend_per_day: f64,
    weekday: [f64; 7],
    yearly_sin: f64,
    yearly_cos: f64,
    promo_offset: u32,
    base_cents: u32,
    elasticity: f64,
    price_offset: u32,
}

impl SeriesModel {
    /// Series `series` of `spec`: store `series / items`, item `series % items`,
    /// so series indices run store by store.
    pub fn new(spec: &GeneratorSpec, series: u32) -> Self {
        let items = spec.items.max(1);
        let (store, item) = (series / items, series % items);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(spec.seed, Stream::Series, series, 0));
        let intermittent = rng.random::<f64>() < INTERMITTENT_SHARE;
        let (median, sigma) = if intermittent {
            (INTERMITTENT_MEDIAN, INTERMITTENT_SIGMA)
        } else {
            (REGULAR_MEDIAN, REGULAR_SIGMA)
        };
        let mut normal = || -> f64 { rng.sample(StandardNormal) };
        let level = median * (sigma * normal()).exp();
        let trend_per_day = TREND_SD_PER_YEAR * normal() / DAYS_PER_YEAR;
        let mut weekday = WEEKDAY_PROFILE.map(|w| w * (WEEKDAY_JITTER * normal()).exp());
        let mean_weekday = weekday.iter().sum::<f64>() / 7.0;
        weekday.iter_mut().for_each(|w| *w /= mean_weekday);
        let amplitude = YEARLY_MAX_AMPLITUDE * rng.random::<f64>();
        let phase = TAU * rng.random::<f64>();
        let zero_share = if intermittent {
            within(INTERMITTENT_ZERO_SHARE, rng.random())
        } else {
            0.0
        };
        let late = spec.days > 1 && rng.random::<f64>() < LATE_START_SHARE;
        let first_day = if late {
            rng.random_range(1..spec.days)
        } else {
            0
        };
        let promo_offset = rng.random_range(0..PROMO_WEEK);

        // Price and elasticity belong to the item, the same in every store.
        let mut item_rng = Xoshiro256PlusPlus::seed_from_u64(mix(spec.seed, Stream::Item, item, 0));
        let (low, high) = BASE_PRICE;
        let base_price = within((low.ln(), high.ln()), item_rng.random()).exp();
        Self {
            seed: spec.seed,
            series,
            item,
            store_id: id('S', 4, store),
            item_id: id('I', 5, item),
            start_date: spec.start_date,
            first_day,
            intermittent,
            level,
            zero_share,
            trend_per_day,
            weekday,
            yearly_sin: amplitude * phase.cos(),
            yearly_cos: amplitude * phase.sin(),
            promo_offset,
            base_cents: (base_price * 100.0).round() as u32,
            elasticity: within(ELASTICITY, item_rng.random()),
            price_offset: item_rng.random_range(0..PRICE_PERIOD),
        }
    }

    pub fn store_id(&self) -> &SeriesId {
        &self.store_id
    }

    pub fn item_id(&self) -> &SeriesId {
        &self.item_id
    }

    /// The first day index with a row: 0, or later for a new product.
    pub fn first_day(&self) -> u32 {
        self.first_day
    }

    /// Whether the series sells a unit or two on some days and nothing on many.
    pub fn is_intermittent(&self) -> bool {
        self.intermittent
    }

    /// The row of day index `day`, or `None` before the series starts (or past the
    /// end of the calendar).
    pub fn day(&self, day: u32) -> Option<SalesRecord> {
        let day = Day::new(self.start_date, day)?;
        let observation = self.observe(&day)?;
        Some(SalesRecord {
            store_id: self.store_id.clone(),
            item_id: self.item_id.clone(),
            date: day.date,
            sales: f64::from(observation.sales),
            price: Some(f64::from(observation.price_cents) / 100.0),
            promo: Some(observation.promo),
        })
    }

    /// The expected sales of day index `day` (the noise-free truth a perfect model
    /// would forecast), or `None` before the series starts.
    pub fn expected_sales(&self, day: u32) -> Option<f64> {
        let day = Day::new(self.start_date, day)?;
        if day.index < self.first_day {
            return None;
        }
        Some(self.rate(&day) * (1.0 - self.zero_share))
    }

    pub(crate) fn observe(&self, day: &Day) -> Option<Observation> {
        if day.index < self.first_day {
            return None;
        }
        let rate = self.rate(day);
        let key = mix(self.seed, Stream::Noise, self.series, day.index);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(key);
        let closed = self.zero_share > 0.0 && rng.random::<f64>() < self.zero_share;
        let sales = match Poisson::new(rate) {
            Ok(poisson) if !closed => poisson.sample(&mut rng) as u32,
            // A zero-inflated day, or a rate of zero.
            _ => 0,
        };
        Some(Observation {
            series: self.series,
            day: day.index,
            sales,
            price_cents: self.price_cents(day.index),
            promo: self.promo_lift(day.index).is_some(),
        })
    }

    /// The Poisson rate of a day on which the series sells at all.
    fn rate(&self, day: &Day) -> f64 {
        let (low, high) = TREND_BOUNDS;
        let trend = (1.0 + self.trend_per_day * f64::from(day.index)).clamp(low, high);
        let yearly = 1.0 + self.yearly_sin * day.year_sin + self.yearly_cos * day.year_cos;
        let price_ratio = f64::from(self.price_cents(day.index)) / f64::from(self.base_cents);
        let promo = self.promo_lift(day.index).unwrap_or(1.0);
        self.level
            * trend
            * self.weekday[day.weekday]
            * yearly
            * promo
            * price_ratio.powf(-self.elasticity)
    }

    /// The lift of the promotion running on `day`, if one is.
    fn promo_lift(&self, day: u32) -> Option<f64> {
        let week = (day + self.promo_offset) / PROMO_WEEK;
        let hash = mix(self.seed, Stream::Promo, self.series, week);
        (unit(hash) < PROMO_SHARE).then(|| within(PROMO_LIFT, unit(splitmix(hash))))
    }

    /// The item's shelf price on `day`, in cents, never below one cent.
    fn price_cents(&self, day: u32) -> u32 {
        let period = (day + self.price_offset) / PRICE_PERIOD;
        let hash = mix(self.seed, Stream::Price, self.item, period);
        let factor = 1.0 + PRICE_SWING * (2.0 * unit(hash) - 1.0);
        ((f64::from(self.base_cents) * factor).round() as u32).max(1)
    }
}

/// `S0007`-style ids: a letter and the 1-based number, zero-padded to `width`.
fn id(letter: char, width: usize, index: u32) -> SeriesId {
    let text = format!("{letter}{:0width$}", u64::from(index) + 1);
    // An ASCII letter and at most 11 digits always make a valid id.
    text.parse().expect("generated ids are letters and digits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Size;

    fn models(spec: &GeneratorSpec) -> Vec<SeriesModel> {
        (0..spec.series() as u32)
            .map(|series| SeriesModel::new(spec, series))
            .collect()
    }

    fn share(count: usize, total: usize) -> f64 {
        count as f64 / total as f64
    }

    #[test]
    fn ids_name_store_and_item() {
        let spec = GeneratorSpec::sized(Size::Small, 1);
        let model = SeriesModel::new(&spec, 57);
        assert_eq!(model.store_id().as_str(), "S0002");
        assert_eq!(model.item_id().as_str(), "I00008");
    }

    #[test]
    fn a_day_is_the_same_whenever_it_is_asked_for() {
        let spec = GeneratorSpec::sized(Size::Small, 9);
        let forward: Vec<_> = (0..30).map(|d| SeriesModel::new(&spec, 3).day(d)).collect();
        let model = SeriesModel::new(&spec, 3);
        let backward: Vec<_> = (0..30).rev().map(|d| model.day(d)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        let other = GeneratorSpec { seed: 10, ..spec };
        let changed =
            (0..30).filter(|&d| SeriesModel::new(&other, 3).day(d) != forward[d as usize]);
        assert!(changed.count() > 20);
    }

    #[test]
    fn shares_of_intermittent_late_and_promoted_are_near_target() {
        let spec = GeneratorSpec {
            days: 364,
            ..GeneratorSpec::sized(Size::Medium, 5)
        };
        let all = models(&spec);
        let intermittent = all.iter().filter(|m| m.is_intermittent()).count();
        assert!((0.08..0.12).contains(&share(intermittent, all.len())));
        let late: Vec<_> = all.iter().filter(|m| m.first_day() > 0).collect();
        assert!((0.035..0.065).contains(&share(late.len(), all.len())));
        for model in late.iter().take(50) {
            assert_eq!(model.day(model.first_day() - 1), None);
            assert!(model.day(model.first_day()).is_some());
        }
        let rows: Vec<SalesRecord> = all[..500]
            .iter()
            .flat_map(|m| (0..spec.days).filter_map(|d| m.day(d)))
            .collect();
        let promoted = rows.iter().filter(|r| r.promo == Some(true)).count();
        assert!((0.08..0.12).contains(&share(promoted, rows.len())));
    }

    #[test]
    fn intermittent_series_have_mostly_zero_days_and_regular_ones_few() {
        let spec = GeneratorSpec::sized(Size::Small, 2);
        let zero_share = |model: &SeriesModel| {
            let days: Vec<f64> = (0..spec.days)
                .filter_map(|d| model.day(d))
                .map(|r| r.sales)
                .collect();
            share(days.iter().filter(|&&s| s == 0.0).count(), days.len())
        };
        let (intermittent, regular): (Vec<_>, Vec<_>) = models(&spec)
            .into_iter()
            .filter(|m| m.first_day() == 0)
            .partition(SeriesModel::is_intermittent);
        let mean = |ms: &[SeriesModel]| ms.iter().map(zero_share).sum::<f64>() / ms.len() as f64;
        assert!(mean(&intermittent) > 0.5, "{}", mean(&intermittent));
        assert!(mean(&regular) < 0.1, "{}", mean(&regular));
    }

    /// The calibration the business rule depends on: the median regular level is
    /// about 20 units a day, and even a perfect forecast (the expected value)
    /// reaches accuracy 0.80 over the last 28 days on only part of the regular keys.
    #[test]
    fn levels_split_the_regular_keys_on_the_accuracy_rule() {
        let spec = GeneratorSpec::sized(Size::Small, 3);
        let regular: Vec<SeriesModel> = models(&spec)
            .into_iter()
            .filter(|m| !m.is_intermittent() && m.first_day() == 0)
            .collect();
        let holdout = spec.days - 28..spec.days;
        let mut means: Vec<f64> = regular
            .iter()
            .map(|m| {
                holdout
                    .clone()
                    .filter_map(|d| m.day(d))
                    .map(|r| r.sales)
                    .sum::<f64>()
                    / 28.0
            })
            .collect();
        means.sort_by(f64::total_cmp);
        let median = means[means.len() / 2];
        assert!((15.0..27.0).contains(&median), "median level {median}");
        let accurate = regular.iter().filter(|m| {
            let (mut error, mut total) = (0.0, 0.0);
            for day in holdout.clone() {
                let actual = m.day(day).map_or(0.0, |r| r.sales);
                error += (actual - m.expected_sales(day).unwrap_or(0.0)).abs();
                total += actual;
            }
            total > 0.0 && 1.0 - error / total >= 0.8
        });
        let accurate = share(accurate.count(), regular.len());
        assert!(
            (0.4..0.7).contains(&accurate),
            "share reaching 0.80: {accurate}"
        );
    }

    #[test]
    fn prices_stay_near_the_item_base_and_are_shared_by_stores() {
        let spec = GeneratorSpec::sized(Size::Small, 4);
        let (a, b) = (SeriesModel::new(&spec, 7), SeriesModel::new(&spec, 57));
        assert_eq!(a.item_id(), b.item_id());
        for day in 0..200 {
            assert_eq!(a.price_cents(day), b.price_cents(day));
            let ratio = f64::from(a.price_cents(day)) / f64::from(a.base_cents);
            assert!((0.91..1.09).contains(&ratio), "{ratio}");
        }
    }
}
