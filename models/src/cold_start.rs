//! Cold start: a forecast for a key with too little history of its own, borrowed from
//! its item across stores — the item's weekday shape, scaled to whatever level the key
//! has shown so far.

use chrono::NaiveDate;
use herd_schemas::Frequency;
use serde::{Deserialize, Serialize};

use crate::history::{History, Series, prepare};
use crate::interval::Interval;
use crate::kind::ModelKind;
use crate::metrics::{ErrorSums, Metrics};
use crate::model::{Model, Params};
use crate::naive;
use crate::options::TrainOptions;
use crate::train::{FoldScore, Trained};

/// An item's demand shape across its stores, computed by the trainer from keys with a
/// full history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemProfile {
    /// Relative sales by weekday, Monday = 0, mean 1.0.
    pub weekday: [f64; 7],
    /// Typical daily sales of one store (the median over stores).
    pub level: f64,
}

/// Accumulates an [`ItemProfile`] over the keys of one item.
#[derive(Clone, Debug, Default)]
pub struct ItemProfileBuilder {
    /// Σ over keys of level × weekday share: big keys shape the profile more than keys
    /// selling one unit a week, whose shape is mostly noise.
    weighted_shape: [f64; 7],
    weight: f64,
    levels: Vec<f64>,
}

impl ItemProfileBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one key's observed days. A key with no observations adds nothing; one
    /// without a sale on every weekday adds its level but not its shape. Weekly and
    /// monthly series add their level only: their profile is flat.
    pub fn add(&mut self, history: &History) {
        let daily = history.frequency == Frequency::Daily;
        let first_weekday = history.frequency.position(history.start);
        let mut sums = [0.0; 7];
        let mut counts = [0usize; 7];
        for (t, &y) in history.sales.iter().enumerate() {
            if y.is_finite() {
                sums[(first_weekday + t) % 7] += f64::from(y);
                counts[(first_weekday + t) % 7] += 1;
            }
        }
        let days: usize = counts.iter().sum();
        if days == 0 {
            return;
        }
        let level = sums.iter().sum::<f64>() / days as f64;
        self.levels.push(level);
        if !daily || counts.contains(&0) || level <= 0.0 {
            return;
        }
        // Mean of the weekday means, so a key observed on more Saturdays is not skewed.
        let means: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s / c as f64)
            .collect();
        let centre = means.iter().sum::<f64>() / 7.0;
        if centre > 0.0 {
            for (shape, mean) in self.weighted_shape.iter_mut().zip(&means) {
                *shape += level * mean / centre;
            }
            self.weight += level;
        }
    }

    /// The profile, or `None` when no key had an observation.
    pub fn finish(&self) -> Option<ItemProfile> {
        let mut levels = self.levels.clone();
        levels.sort_by(f64::total_cmp);
        let middle = levels.len() / 2;
        let level = match levels.len() {
            0 => return None,
            n if n % 2 == 1 => levels[middle],
            _ => (levels[middle - 1] + levels[middle]) / 2.0,
        };
        let weekday = if self.weight > 0.0 {
            self.weighted_shape.map(|s| s / self.weight)
        } else {
            [1.0; 7]
        };
        Some(ItemProfile { weekday, level })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ColdStartParams {
    /// Relative sales by weekday, Monday = 0, mean 1.0.
    pub weekday: [f64; 7],
    /// The key's mean daily sales.
    pub level: f64,
}

/// The level times the weekday shape, for daily series; the level alone otherwise.
pub(crate) fn project(
    params: &ColdStartParams,
    first: NaiveDate,
    frequency: Frequency,
    horizon: usize,
) -> Vec<f64> {
    let daily = frequency == Frequency::Daily;
    let first_weekday = if daily { frequency.position(first) } else { 0 };
    (0..horizon)
        .map(|step| {
            let shape = if daily {
                params.weekday[(first_weekday + step) % 7]
            } else {
                1.0
            };
            let y = params.level * shape;
            if y.is_finite() { y.max(0.0) } else { 0.0 }
        })
        .collect()
}

/// The key's own level from fresher data, keeping the item's shape.
pub(crate) fn refresh(params: &ColdStartParams, series: &Series) -> ColdStartParams {
    ColdStartParams {
        level: observed_mean(&series.sales, &series.observed).unwrap_or(params.level),
        ..params.clone()
    }
}

fn observed_mean(sales: &[f64], observed: &[bool]) -> Option<f64> {
    let (n, total) = sales
        .iter()
        .zip(observed)
        .filter(|(_, seen)| **seen)
        .fold((0usize, 0.0), |(n, s), (y, _)| (n + 1, s + y));
    (n > 0).then(|| total / n as f64)
}

/// A usable weekday shape: finite, non-negative, mean 1; else flat.
fn shape(profile: Option<&ItemProfile>) -> [f64; 7] {
    let Some(weekday) = profile.map(|p| p.weekday) else {
        return [1.0; 7];
    };
    let mean = weekday.iter().sum::<f64>() / 7.0;
    if weekday.iter().all(|w| w.is_finite() && *w >= 0.0) && mean > 0.0 {
        weekday.map(|w| w / mean)
    } else {
        [1.0; 7]
    }
}

/// A cold-start model for a key with too little history: the item's weekday shape
/// scaled to the key's mean over its observed days (the profile's level when it has
/// none, 0 without a profile). Scored on its last `min(horizon, days)` days when it has
/// at least 7 observed days, with the level taken from the days before them; otherwise
/// the metrics are all 0. Never fails.
pub fn train_cold_start(
    history: &History,
    profile: Option<&ItemProfile>,
    options: &TrainOptions,
) -> Trained {
    let weekday = if history.frequency == Frequency::Daily {
        shape(profile)
    } else {
        [1.0; 7]
    };
    let profile_level = profile
        .map(|p| p.level)
        .filter(|l| l.is_finite() && *l >= 0.0);
    let level = if options.interval_level > 0.0 && options.interval_level < 1.0 {
        options.interval_level
    } else {
        0.8
    };
    let Ok(series) = prepare(history) else {
        return unobserved(history, weekday, profile_level.unwrap_or(0.0), level);
    };

    let own_level = observed_mean(&series.sales, &series.observed);
    let params = ColdStartParams {
        weekday,
        level: own_level.or(profile_level).unwrap_or(0.0),
    };
    let mut metrics = Metrics::default();
    let mut folds = Vec::new();
    let mut interval = Interval::poisson(level);
    let season = series.frequency.season();
    if series.observed_days >= 7 {
        let window = options.horizon.min(series.len());
        let origin = series.len() - window;
        let before = observed_mean(&series.sales[..origin], &series.observed[..origin]);
        let scored = ColdStartParams {
            level: before.or(profile_level).or(own_level).unwrap_or(0.0),
            weekday,
        };
        let first = series.frequency.add(series.start, origin);
        let forecast = project(&scored, first, series.frequency, window);
        let (actual, observed) = (&series.sales[origin..], &series.observed[origin..]);
        let sums = ErrorSums::of(actual, observed, &forecast);
        let baseline = if origin >= season {
            ErrorSums::of(
                actual,
                observed,
                &naive::project(&series.sales[..origin], season, window),
            )
            .accuracy()
        } else {
            0.0
        };
        metrics = Metrics {
            baseline_accuracy: baseline,
            ..sums.metrics()
        };
        folds.push(FoldScore {
            origin: first,
            model: ModelKind::ColdStart,
            metrics,
        });
        let errors: Vec<(usize, f64)> = actual
            .iter()
            .zip(observed)
            .zip(&forecast)
            .enumerate()
            .filter(|(_, ((_, seen), _))| **seen)
            .map(|(step, ((y, _), f))| (step, y - f))
            .collect();
        if errors.len() >= 7 {
            interval = Interval::from_errors(&errors, level);
        }
    }
    Trained {
        model: Model::new(Params::ColdStart(params), &series, interval),
        metrics,
        // Nothing was chosen: the profile is the only model.
        selection: metrics,
        folds,
        data_start: series.start,
        data_end: series.end(),
        observed_days: series.observed_days,
        calibration: Vec::new(),
    }
}

/// A key with nothing usable: the profile's level from the end of its history.
fn unobserved(history: &History, weekday: [f64; 7], level: f64, interval_level: f64) -> Trained {
    let last_price = history
        .price
        .iter()
        .rev()
        .find(|p| p.is_finite() && **p > 0.0)
        .map_or(1.0, |&p| f64::from(p));
    let end = history.end();
    Trained {
        model: Model {
            last_date: end,
            params: Params::ColdStart(ColdStartParams { weekday, level }),
            recent: Vec::new(),
            last_price,
            interval: Interval::poisson(interval_level),
            frequency: history.frequency,
        },
        metrics: Metrics::default(),
        selection: Metrics::default(),
        folds: Vec::new(),
        data_start: history.start,
        data_end: end,
        observed_days: 0,
        calibration: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{Owned, WEEK, monday, weekly};

    fn profile() -> ItemProfile {
        let mut builder = ItemProfileBuilder::new();
        let big = weekly(70);
        let small = Owned::new(weekly(70).sales.iter().map(|y| y / 10.0).collect());
        for data in [&big, &small, &small] {
            builder.add(&data.history());
        }
        builder.add(&Owned::new(vec![f32::NAN; 10]).history()); // adds nothing
        builder.finish().unwrap()
    }

    #[test]
    fn a_profile_has_the_item_shape_and_the_median_level() {
        let p = profile();
        let mean_week = WEEK.iter().map(|&y| f64::from(y)).sum::<f64>() / 7.0;
        assert!((p.weekday.iter().sum::<f64>() - 7.0).abs() < 1e-12);
        for (share, y) in p.weekday.iter().zip(WEEK) {
            assert!((share - f64::from(y) / mean_week).abs() < 1e-6);
        }
        assert!((p.level - mean_week / 10.0).abs() < 1e-6);
        assert!(ItemProfileBuilder::new().finish().is_none());
    }

    #[test]
    fn a_new_key_gets_the_item_shape_at_its_own_level() {
        let p = profile();
        let data = Owned::new((0..20).map(|t| WEEK[t % 7] * 2.0).collect());
        let trained = train_cold_start(&data.history(), Some(&p), &TrainOptions::default());
        assert_eq!(trained.model.kind(), ModelKind::ColdStart);
        assert_eq!(trained.observed_days, 20);
        assert_eq!(trained.folds.len(), 1);
        // Scored on all 20 days, from the profile's level (nothing before them).
        assert!(trained.metrics.accuracy > 0.0 && trained.metrics.accuracy < 1.0);
        let f = trained.model.forecast(7, None);
        assert_eq!(f.start, monday() + chrono::Days::new(20));
        let own_mean = data.sales.iter().map(|&y| f64::from(y)).sum::<f64>() / 20.0;
        let weekday = (20 % 7) as usize; // day 20 after a Monday
        assert!((f.mean[0] - own_mean * p.weekday[weekday]).abs() < 1e-9);
        assert!(
            f.lower
                .iter()
                .zip(&f.mean)
                .zip(&f.upper)
                .all(|((l, m), u)| l <= m && m <= u)
        );
    }

    #[test]
    fn keys_with_little_or_nothing_never_fail() {
        let p = profile();
        let few = Owned::new(vec![1.0, f32::NAN, 3.0]);
        let none = Owned::new(vec![f32::NAN; 5]);
        let empty = Owned::new(vec![]);
        let mut mismatched = Owned::new(vec![1.0; 4]);
        mismatched.price.pop();
        for data in [&few, &none, &empty, &mismatched] {
            for profile in [Some(&p), None] {
                let trained = train_cold_start(&data.history(), profile, &TrainOptions::default());
                assert_eq!(trained.metrics, Metrics::default());
                let f = trained.model.forecast(10, None);
                assert!(
                    f.mean
                        .iter()
                        .chain(&f.lower)
                        .chain(&f.upper)
                        .all(|v| v.is_finite() && *v >= 0.0)
                );
                let back = Model::from_bytes(&trained.model.to_bytes()).unwrap();
                assert_eq!(back, trained.model);
            }
        }
        let trained = train_cold_start(&none.history(), Some(&p), &TrainOptions::default());
        assert!(
            (trained.model.forecast(7, None).mean.iter().sum::<f64>() / 7.0 - p.level).abs() < 1e-9
        );
        assert_eq!(trained.model.last_date(), monday() + chrono::Days::new(4));
        let trained = train_cold_start(&few.history(), None, &TrainOptions::default());
        assert_eq!(trained.model.forecast(1, None).mean, vec![2.0]);
    }
}
