//! The ridge candidate: a linear model of the `features` regressors, fitted in closed
//! form and forecast recursively (later steps read earlier forecasts as their lags).

use chrono::NaiveDate;
use herd_schemas::Frequency;
use serde::{Deserialize, Serialize};

use crate::calendar::ordinal;
use crate::error::FitError;
use crate::features::{FeatureSet, MAX_DENSE, MAX_LAG, dense_row, weekday_column};
use crate::forecast::Covariates;
use crate::gram::Gram;
use crate::history::Series;

/// A recursive forecast may never exceed this multiple of the largest of its last 28
/// inputs: an unstable fitted recursion would otherwise feed on itself and, over a long
/// horizon, overflow to infinity.
const GROWTH_CAP: f64 = 10.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RidgeParams {
    pub features: FeatureSet,
    /// The penalty used; larger than asked when the asked one left the system singular.
    pub lambda: f64,
    pub intercept: f64,
    /// Dense columns in `features::dense_row` order, then the Tuesday … Sunday dummies.
    pub coef: Vec<f64>,
}

/// Fits one regression per entry of `ends` on the rows `[MAX_LAG, end)`, in a single
/// pass: the statistics grow row by row and are solved as each end is reached, so all
/// backtest folds and the final refit cost one pass over the series.
pub(crate) fn fit_prefixes(
    series: &Series,
    ends: &[usize],
    features: FeatureSet,
    lambda: f64,
) -> Vec<Result<RidgeParams, FitError>> {
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by_key(|&i| ends[i]);
    let mut results: Vec<Result<RidgeParams, FitError>> = ends
        .iter()
        .map(|&end| {
            Err(FitError::TooShort {
                days: end,
                needed: MAX_LAG + 1,
            })
        })
        .collect();
    let mut pending = order.into_iter().peekable();

    let q = features.dense_len();
    let mut gram = Gram::new(q);
    let clock = Clock::new(series.frequency, series.start);
    let mut dense = [0.0; MAX_DENSE];
    let mut z = [0.0; MAX_DENSE + 1];
    let rows = series
        .sales
        .windows(MAX_LAG + 1)
        .zip(series.price.iter().skip(MAX_LAG))
        .zip(series.promo.iter().skip(MAX_LAG));
    // Row t is only added once every end <= t has been solved; the trailing `None`
    // solves the ends at the series' length.
    for (offset, row) in rows.map(Some).chain([None]).enumerate() {
        let t = MAX_LAG + offset;
        while let Some(&i) = pending.peek() {
            if ends[i] > t && row.is_some() {
                break;
            }
            pending.next();
            if ends[i] > MAX_LAG && gram.rows() > 0 {
                results[i] = gram.solve(lambda).map(|fit| RidgeParams {
                    features,
                    lambda: fit.lambda,
                    intercept: fit.intercept,
                    coef: fit.coef,
                });
            }
        }
        let Some(((window, &price), &promo)) = row else {
            break;
        };
        let (Some(lags), Some(&target)) = (window.first_chunk::<MAX_LAG>(), window.last()) else {
            break;
        };
        if pending.peek().is_none() {
            break;
        }
        dense_row(
            features,
            lags,
            clock.far_lag(),
            clock.ordinal(t),
            price,
            promo,
            &mut dense,
        );
        z[..q].copy_from_slice(&dense[..q]);
        z[q] = target;
        gram.add(&z, clock.weekday(t));
    }
    results
}

/// Recursive forecast of `horizon` days from `first`, after the sales in `recent`
/// (only the last 28 are read; fewer are padded with zeros in front).
pub(crate) fn project(
    params: &RidgeParams,
    recent: &[f64],
    first: NaiveDate,
    frequency: Frequency,
    covariates: &Covariates,
    horizon: usize,
) -> Vec<f64> {
    let features = params.features;
    let q = features.dense_len();
    let kept = recent.len().min(MAX_LAG);
    let mut path = Vec::with_capacity(MAX_LAG + horizon);
    path.resize(MAX_LAG - kept, 0.0);
    path.extend_from_slice(&recent[recent.len() - kept..]);

    let clock = Clock::new(frequency, first);
    let fallback_price = covariates.price.last().copied().unwrap_or(1.0);
    let mut dense = [0.0; MAX_DENSE];
    for step in 0..horizon {
        let Some(lags) = path.last_chunk::<MAX_LAG>() else {
            break;
        };
        let cap = GROWTH_CAP * lags.iter().copied().fold(1.0, f64::max);
        let (price, promo) = covariates.at(step, fallback_price);
        dense_row(
            features,
            lags,
            clock.far_lag(),
            clock.ordinal(step),
            price,
            promo,
            &mut dense,
        );
        let mut y = params.intercept
            + dense[..q]
                .iter()
                .zip(&params.coef)
                .map(|(x, w)| x * w)
                .sum::<f64>();
        if let Some(w) =
            weekday_column(features, clock.weekday(step)).and_then(|column| params.coef.get(column))
        {
            y += w;
        }
        path.push(if y.is_finite() {
            y.clamp(0.0, cap)
        } else {
            0.0
        });
    }
    path.drain(..MAX_LAG);
    path
}

/// The calendar of row `t` after `start`: the day ordinal of its date (for the yearly
/// terms) and its weekday dummy, which only daily series have (Monday, the reference
/// level, for the others).
struct Clock {
    frequency: Frequency,
    start: NaiveDate,
    first_ordinal: i64,
    first_weekday: usize,
}

impl Clock {
    fn new(frequency: Frequency, start: NaiveDate) -> Self {
        Clock {
            frequency,
            start,
            first_ordinal: ordinal(start),
            first_weekday: Frequency::Daily.position(start),
        }
    }

    fn ordinal(&self, t: usize) -> i64 {
        match self.frequency {
            Frequency::Daily => self.first_ordinal + t as i64,
            Frequency::Weekly => self.first_ordinal + 7 * t as i64,
            Frequency::Monthly => ordinal(self.frequency.add(self.start, t)),
        }
    }

    /// The lag of the far column: the same month last year for monthly series, two
    /// periods of a week otherwise.
    fn far_lag(&self) -> usize {
        match self.frequency {
            Frequency::Monthly => 12,
            Frequency::Daily | Frequency::Weekly => 14,
        }
    }

    fn weekday(&self, t: usize) -> usize {
        match self.frequency {
            Frequency::Daily => (self.first_weekday + t) % 7,
            Frequency::Weekly | Frequency::Monthly => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, prepare};

    fn series(sales: &[f32]) -> Series {
        let price: Vec<f32> = (0..sales.len())
            .map(|t| 2.0 + (t % 3) as f32 * 0.1)
            .collect();
        let promo = vec![0; sales.len()];
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(); // a Monday
        prepare(&History {
            start,
            frequency: Frequency::Daily,
            sales,
            price: &price,
            promo: &promo,
        })
        .unwrap()
    }

    #[test]
    fn trend_plus_weekday_pattern_is_forecast_closely() {
        let pattern = [10.0, 12.0, 11.0, 14.0, 18.0, 25.0, 9.0];
        let sales: Vec<f32> = (0..400).map(|t| pattern[t % 7] + 0.05 * t as f32).collect();
        let s = series(&sales);
        let train_end = 372;
        for features in [FeatureSet::Spark, FeatureSet::Full] {
            let fit = fit_prefixes(&s, &[train_end], features, 1e-6)
                .remove(0)
                .unwrap();
            let cov = Covariates::recorded(&s.price[train_end..], &s.promo[train_end..]);
            let first = s.start + chrono::Days::new(train_end as u64);
            let forecast = project(
                &fit,
                &s.sales[..train_end],
                first,
                Frequency::Daily,
                &cov,
                28,
            );
            for (got, want) in forecast.iter().zip(&s.sales[train_end..]) {
                assert!((got - want).abs() < 0.05, "{features:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn one_pass_equals_separate_fits() {
        let sales: Vec<f32> = (0..200).map(|t| ((t * 7919) % 13) as f32).collect();
        let s = series(&sales);
        let together = fit_prefixes(&s, &[200, 100, 28, 150], FeatureSet::Full, 1.0);
        for (i, end) in [200, 100, 28, 150].into_iter().enumerate() {
            let alone = fit_prefixes(&s, &[end], FeatureSet::Full, 1.0).remove(0);
            assert_eq!(together[i], alone);
        }
        assert!(together[2].is_err());
        assert!(together[0].is_ok());
    }

    #[test]
    fn forecasts_stay_finite_and_bounded_when_the_recursion_is_unstable() {
        let mut coef = vec![0.0; FeatureSet::Spark.len()];
        coef[0] = 3.0; // y(t) = 3·y(t−1): explodes without the cap
        let params = RidgeParams {
            features: FeatureSet::Spark,
            lambda: 0.0,
            intercept: 1.0,
            coef,
        };
        let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let path = project(
            &params,
            &[1.0; 5],
            first,
            Frequency::Daily,
            &Covariates::default(),
            2000,
        );
        assert!(path.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}
