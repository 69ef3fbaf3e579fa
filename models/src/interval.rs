//! Prediction intervals. A model's own backtest errors say how wrong it tends to be at
//! each distance from the origin, so the interval is their order statistics per week
//! of horizon — no distribution assumed, and wider where the model is worse. With n
//! errors, the bounds sit at ranks (n+1)·α/2 and (n+1)·(1−α/2) (α = 1 − level),
//! interpolated between neighbours: a new error as exchangeable as those falls between
//! them with probability `level` on average, where the sample's own quantiles (ranks
//! 1 + (n−1)·q) promise that and, from two weeks of errors, cover about 70%.

use serde::{Deserialize, Serialize};

/// Forecast steps per bucket: errors grow with the horizon, about week by week.
pub(crate) const BUCKET_DAYS: usize = 7;
/// A bucket with fewer errors than this uses the pooled errors: an 80% interval from a
/// handful of points is just their extremes.
const MIN_BUCKET_ERRORS: usize = 14;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub(crate) enum Interval {
    /// Quantiles of backtest errors (actual − forecast), added to the mean; one band per
    /// bucket of `BUCKET_DAYS` steps, the last band serving all later steps.
    Empirical { level: f64, bands: Vec<Band> },
    /// mean ± z·√mean: with no errors to learn from (a cold start), sales counts are
    /// treated as roughly Poisson.
    Poisson { level: f64, z: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Band {
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    /// From `(step, actual − forecast)` pairs, step 0 being the first forecast day.
    pub fn from_errors(errors: &[(usize, f64)], level: f64) -> Interval {
        let band = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            coverage_band(values, level)
        };
        let mut pooled: Vec<f64> = errors
            .iter()
            .map(|&(_, e)| e)
            .filter(|e| e.is_finite())
            .collect();
        let pooled_band = band(&mut pooled);
        let buckets = errors
            .iter()
            .map(|&(step, _)| step / BUCKET_DAYS + 1)
            .max()
            .unwrap_or(1);
        let bands = (0..buckets)
            .map(|bucket| {
                let mut values: Vec<f64> = errors
                    .iter()
                    .filter(|&&(step, e)| step / BUCKET_DAYS == bucket && e.is_finite())
                    .map(|&(_, e)| e)
                    .collect();
                if values.len() >= MIN_BUCKET_ERRORS {
                    band(&mut values)
                } else {
                    pooled_band
                }
            })
            .collect();
        Interval::Empirical { level, bands }
    }

    /// How far outside its band each `(step, error)` falls, in half-widths of the
    /// band from its centre: an error is inside the band widened by `f` (see
    /// [`Interval::widen`]) when its score is at most `f`. Empty for a Poisson band,
    /// which has no errors behind it.
    pub fn scores(&self, errors: &[(usize, f64)]) -> Vec<f32> {
        let Interval::Empirical { bands, .. } = self else {
            return Vec::new();
        };
        errors
            .iter()
            .filter(|(_, e)| e.is_finite())
            .filter_map(|&(step, e)| {
                let band = bands.get(step / BUCKET_DAYS).or(bands.last())?;
                Some(band.score(e) as f32)
            })
            .collect()
    }

    /// Widens (or narrows) every band about its centre by `factor`; a Poisson band
    /// is left as it is.
    pub fn widen(&mut self, factor: f64) {
        if let Interval::Empirical { bands, .. } = self {
            for band in bands {
                let (centre, half) = band.centre_and_half_width();
                band.lower = centre - factor * half;
                band.upper = centre + factor * half;
            }
        }
    }

    pub fn poisson(level: f64) -> Interval {
        Interval::Poisson {
            level,
            z: normal_quantile((1.0 + level) / 2.0),
        }
    }

    /// Lower and upper bounds around `mean`: finite, lower >= 0, lower <= mean <= upper.
    pub fn apply(&self, mean: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let bounds = mean.iter().enumerate().map(|(step, &m)| {
            let (lower, upper) = match self {
                Interval::Empirical { bands, .. } => {
                    let band = bands.get(step / BUCKET_DAYS).or(bands.last());
                    band.map_or((m, m), |b| (m + b.lower, m + b.upper))
                }
                Interval::Poisson { z, .. } => {
                    let spread = z * m.max(0.0).sqrt();
                    (m - spread, m + spread)
                }
            };
            let lower = if lower.is_finite() {
                lower.clamp(0.0, m)
            } else {
                0.0
            };
            let upper = if upper.is_finite() { upper.max(m) } else { m };
            (lower, upper)
        });
        bounds.unzip()
    }

    /// Errors or bands that are not finite make a model unusable; see `Model` decoding.
    pub fn is_finite(&self) -> bool {
        match self {
            Interval::Empirical { level, bands } => {
                level.is_finite()
                    && bands
                        .iter()
                        .all(|b| b.lower.is_finite() && b.upper.is_finite())
            }
            Interval::Poisson { level, z } => level.is_finite() && z.is_finite(),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Interval::Empirical { bands, .. } => bands.capacity() * size_of::<Band>(),
            Interval::Poisson { .. } => 0,
        }
    }
}

impl Band {
    fn centre_and_half_width(&self) -> (f64, f64) {
        (
            (self.lower + self.upper) / 2.0,
            (self.upper - self.lower) / 2.0,
        )
    }

    /// `error`'s distance from the band's centre in half-widths; infinite for an
    /// error off a band of no width.
    fn score(&self, error: f64) -> f64 {
        let (centre, half) = self.centre_and_half_width();
        let off = (error - centre).abs();
        if half > f64::EPSILON {
            off / half
        } else if off <= f64::EPSILON {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

/// The bounds of `sorted` errors at `level`: the order statistics at ranks
/// (n+1)·α/2 and (n+1)·(1−α/2), 1-based, interpolated between neighbours (Hyndman and
/// Fan's type 6) and kept within the sample; 0 when there are none.
fn coverage_band(sorted: &[f64], level: f64) -> Band {
    if sorted.is_empty() {
        return Band {
            lower: 0.0,
            upper: 0.0,
        };
    }
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    let ranks = (sorted.len() + 1) as f64;
    Band {
        lower: at_rank(sorted, ranks * tail),
        upper: at_rank(sorted, ranks * (1.0 - tail)),
    }
}

/// The value at 1-based `rank` of `sorted` (not empty), interpolated between the two
/// order statistics around it; the extremes outside 1..=n.
fn at_rank(sorted: &[f64], rank: f64) -> f64 {
    let last = sorted.len() - 1;
    let position = (rank - 1.0).clamp(0.0, last as f64);
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let (a, b) = (sorted[below], sorted[above]);
    a + (b - a) * (position - below as f64)
}

/// The standard normal quantile, Acklam's rational approximation (relative error
/// below 1.2e-9), for the Poisson interval's z.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_order_statistics_at_ranks_n_plus_one_apart() {
        let near = |band: Band, lower: f64, upper: f64| {
            assert!(
                (band.lower - lower).abs() < 1e-9 && (band.upper - upper).abs() < 1e-9,
                "{band:?}, expected {lower} and {upper}"
            );
        };
        let v: Vec<f64> = (1..=19).map(f64::from).collect();
        // n = 19, level 0.8: ranks 20·0.1 = 2 and 20·0.9 = 18.
        near(coverage_band(&v, 0.8), 2.0, 18.0);
        // n = 14: ranks 1.5 and 13.5, between neighbours.
        let two_weeks: Vec<f64> = (1..=14).map(f64::from).collect();
        near(coverage_band(&two_weeks, 0.8), 1.5, 13.5);
        // n = 5: ranks 0.6 and 5.4, past the sample: its extremes.
        near(coverage_band(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.8), 1.0, 5.0);
        near(coverage_band(&[], 0.8), 0.0, 0.0);
        assert!((normal_quantile(0.9) - 1.2815515655).abs() < 1e-8);
        assert!((normal_quantile(0.01) + 2.3263478740).abs() < 1e-8);
    }

    #[test]
    fn two_weeks_of_errors_give_an_interval_that_covers_its_level() {
        // 14 errors per bucket, as two folds give each week of the horizon; a new
        // error drawn alike must fall inside 80% of the time on average (the sample's
        // own 10% and 90% quantiles would cover about 69%).
        let mut rng = crate::testdata::Rng::new(11);
        let (trials, draws) = (2_000, 50);
        let mut inside = 0;
        for _ in 0..trials {
            let errors: Vec<(usize, f64)> = (0..14).map(|i| (i % 7, rng.uniform())).collect();
            let interval = Interval::from_errors(&errors, 0.8);
            let Interval::Empirical { bands, .. } = &interval else {
                panic!("empirical")
            };
            for _ in 0..draws {
                let e = rng.uniform();
                inside += usize::from(bands[0].lower <= e && e <= bands[0].upper);
            }
        }
        let coverage = inside as f64 / (trials * draws) as f64;
        assert!((0.78..0.82).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn buckets_fall_back_to_pooled_and_bounds_hold() {
        // Week 1: 20 errors in [-2, 2]; week 2: only 3 errors → pooled.
        let mut errors: Vec<(usize, f64)> =
            (0..20).map(|i| (i % 7, i as f64 / 5.0 - 2.0)).collect();
        errors.extend([(8, 50.0), (9, 60.0), (10, 70.0)]);
        let interval = Interval::from_errors(&errors, 0.8);
        let Interval::Empirical { bands, .. } = &interval else {
            panic!("empirical")
        };
        assert_eq!(bands.len(), 2);
        assert!(bands[0].upper < 2.0 && bands[1].upper > bands[0].upper);
        let (lower, upper) = interval.apply(&[1.0; 20]);
        for ((l, u), m) in lower.iter().zip(&upper).zip([1.0; 20]) {
            assert!(*l >= 0.0 && *l <= m && m <= *u);
        }
        let (lower, upper) = Interval::poisson(0.8).apply(&[4.0, 0.0]);
        assert!((upper[0] - (4.0 + 2.0 * 1.2815515655)).abs() < 1e-6);
        assert_eq!((lower[1], upper[1]), (0.0, 0.0));
    }
}
