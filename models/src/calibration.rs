//! Calibrating prediction intervals across keys (split conformal, pooled).
//!
//! A key's band comes from its own backtest errors, a few dozen of them, and errors
//! of one fold move together (one misjudged level shifts a whole week), so bands
//! drawn from them run narrow: on the generator's data ETS and TSB keys' 80% bands
//! held 71–75% of the days they had not seen, weekly series' 73.5%. Each trained key
//! also says how its band, drawn from the folds before the holdout, fared on the
//! holdout it never saw ([`Trained::calibration`]: each holdout error's distance
//! from the band's centre in half-widths). Pooled over the keys of one model type,
//! those scores give the factor that makes such bands hold `level` of unseen days:
//! their quantile at rank ⌈(n+1)·level⌉. Every band of that type is widened (or
//! narrowed) about its centre by it.
//!
//! A training run pools the keys it trains; the continuous trainer keeps the scores
//! of the keys it has trained (the latest [`MAX_SCORES`] per type) across batches.
//! Until a type has [`MIN_SCORES`] scores its bands stay as they are.

use std::collections::{HashMap, VecDeque};

use crate::kind::ModelKind;
use crate::train::Trained;

/// Scores kept per model type: the most recent ones.
pub const MAX_SCORES: usize = 200_000;
/// Scores a model type needs before its bands are rescaled.
pub const MIN_SCORES: usize = 1_000;
/// A factor is kept within this range: a handful of odd keys must not make every
/// band useless.
const FACTOR_RANGE: (f64, f64) = (0.5, 4.0);

/// Holdout scores pooled per model type.
#[derive(Debug, Clone)]
pub struct Calibration {
    level: f64,
    scores: HashMap<ModelKind, VecDeque<f32>>,
}

impl Calibration {
    /// For bands meant to hold `level` (0.8 for 80%) of what is to come.
    pub fn new(level: f64) -> Calibration {
        Calibration {
            level,
            scores: HashMap::new(),
        }
    }

    /// Adds the scores of `trained` to the pool of its model type.
    pub fn absorb(&mut self, trained: &Trained) {
        if trained.calibration.is_empty() {
            return;
        }
        let pool = self.scores.entry(trained.model.kind()).or_default();
        pool.extend(trained.calibration.iter().copied());
        let excess = pool.len().saturating_sub(MAX_SCORES);
        pool.drain(..excess);
    }

    /// The factor bands of `kind` are widened by: 1 until the type has enough scores.
    pub fn factor(&self, kind: ModelKind) -> f64 {
        let Some(pool) = self.scores.get(&kind).filter(|p| p.len() >= MIN_SCORES) else {
            return 1.0;
        };
        let mut scores: Vec<f32> = pool.iter().copied().collect();
        let n = scores.len();
        let rank = (((n + 1) as f64) * self.level.clamp(0.0, 1.0)).ceil() as usize;
        let index = rank.clamp(1, n) - 1;
        let (_, &mut at, _) = scores.select_nth_unstable_by(index, f32::total_cmp);
        let factor = f64::from(at);
        if factor.is_nan() {
            1.0
        } else {
            factor.clamp(FACTOR_RANGE.0, FACTOR_RANGE.1)
        }
    }

    /// Pools the scores of every model in `trained`, then widens each band by its
    /// type's factor.
    pub fn calibrate<'a>(&mut self, trained: impl IntoIterator<Item = &'a mut Trained>) {
        let mut trained: Vec<&mut Trained> = trained.into_iter().collect();
        for model in &trained {
            self.absorb(model);
        }
        let mut factors: HashMap<ModelKind, f64> = HashMap::new();
        for model in &mut trained {
            let kind = model.model.kind();
            let factor = *factors.entry(kind).or_insert_with(|| self.factor(kind));
            model.model.widen_interval(factor);
        }
    }

    /// Each model type's current factor, for logs and benchmarks.
    pub fn factors(&self) -> Vec<(ModelKind, f64, usize)> {
        let mut factors: Vec<_> = self
            .scores
            .iter()
            .map(|(&kind, pool)| (kind, self.factor(kind), pool.len()))
            .collect();
        factors.sort_by_key(|(kind, _, _)| kind.as_str());
        factors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::TrainOptions;
    use crate::testdata::{Owned, Rng, WEEK, trending};
    use crate::train::train;

    fn trained(seed: u64) -> Trained {
        let series = trending(200, 2.0, seed);
        train(&series.history(), &TrainOptions::default()).unwrap()
    }

    #[test]
    fn a_type_with_enough_scores_is_rescaled_to_their_quantile() {
        let mut calibration = Calibration::new(0.8);
        let mut model = trained(1);
        // 1,999 scores 0.001 … 1.999: rank ⌈2000 · 0.8⌉ = 1600 is 1.6.
        model.calibration = (1..2000).map(|i| i as f32 / 1000.0).collect();
        calibration.absorb(&model);
        let factor = calibration.factor(model.model.kind());
        assert!((factor - 1.6).abs() < 1e-6, "{factor}");
    }

    #[test]
    fn a_type_with_few_scores_keeps_its_bands() {
        let mut calibration = Calibration::new(0.8);
        let mut model = trained(2);
        model.calibration = vec![3.0; MIN_SCORES - 1];
        let before = model.model.forecast(28, None);
        calibration.calibrate([&mut model]);
        assert_eq!(calibration.factor(model.model.kind()), 1.0);
        assert_eq!(model.model.forecast(28, None).upper, before.upper);
    }

    #[test]
    fn bands_widen_about_their_centre() {
        let mut calibration = Calibration::new(0.8);
        let mut model = trained(3);
        model.calibration = vec![2.0; MIN_SCORES];
        let before = model.model.forecast(28, None);
        calibration.calibrate([&mut model]);
        let after = model.model.forecast(28, None);
        for step in 0..28 {
            let (lower, upper) = (before.lower[step], before.upper[step]);
            let centre = (lower + upper) / 2.0;
            // Away from zero, where the lower bound is not clipped.
            if lower > 0.0 && 2.0 * lower - centre > 0.0 {
                assert!((after.upper[step] - (centre + (upper - centre) * 2.0)).abs() < 1e-6);
                assert!((after.lower[step] - (centre - (centre - lower) * 2.0)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn the_pool_keeps_the_latest_scores() {
        let mut calibration = Calibration::new(0.8);
        let mut model = trained(4);
        model.calibration = vec![1.0; MAX_SCORES];
        calibration.absorb(&model);
        model.calibration = vec![2.0; MAX_SCORES / 2];
        calibration.absorb(&model);
        let [(_, factor, kept)] = calibration.factors()[..] else {
            panic!("one type")
        };
        assert_eq!(kept, MAX_SCORES);
        // Half the pool is now 2.0: the 80% quantile is among them.
        assert_eq!(factor, 2.0);
    }

    /// Series whose level wanders, so one fold's errors move together: each key's
    /// own band runs narrow on days it has not seen, and the pooled factor brings
    /// the whole set back to its level.
    #[test]
    fn calibrated_bands_hold_their_level_on_unseen_days() {
        let (keys, days, horizon) = (300, 196, 28);
        let mut rng = Rng::new(7);
        let options = TrainOptions {
            horizon,
            ..TrainOptions::default()
        };
        let mut held = Vec::new();
        let mut models = Vec::new();
        for _ in 0..keys {
            let mut level = 20.0;
            let sales: Vec<f32> = (0..days + horizon)
                .map(|t| {
                    if rng.uniform() < 1.0 / 14.0 {
                        level += 4.0 * (2.0 * rng.uniform() - 1.0);
                    }
                    let noise = 4.0 * (2.0 * rng.uniform() - 1.0);
                    (level + f64::from(WEEK[t % 7]) + noise).max(0.0) as f32
                })
                .collect();
            let series = Owned::new(sales);
            models.push(train(&series.head(days), &options).unwrap());
            held.push(series.sales[days..].to_vec());
        }
        let coverage = |models: &[Trained]| {
            let mut inside = 0;
            for (model, actual) in models.iter().zip(&held) {
                let f = model.model.forecast(horizon, None);
                for (step, &y) in actual.iter().enumerate() {
                    let y = f64::from(y);
                    inside += usize::from(f.lower[step] <= y && y <= f.upper[step]);
                }
            }
            inside as f64 / (keys * horizon) as f64
        };
        let own = coverage(&models);
        let mut calibration = Calibration::new(0.8);
        calibration.calibrate(models.iter_mut());
        let calibrated = coverage(&models);
        eprintln!("{own} → {calibrated}: {:?}", calibration.factors());
        assert!(own < 0.75, "the keys' own bands: {own}");
        assert!((0.75..=0.85).contains(&calibrated), "{own} → {calibrated}");
    }
}
