//! Training one series: backtest every candidate, select the one with the lowest
//! error on the folds before the holdout, score that choice on the holdout it never
//! saw, refit it on all usable data and attach its prediction interval.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::backtest::{self, Backtest, Folds};
use crate::error::FitError;
use crate::history::{History, prepare};
use crate::interval::Interval;
use crate::kind::ModelKind;
use crate::metrics::Metrics;
use crate::model::Model;
use crate::options::{TrainOptions, min_history};

/// One candidate's score on one backtest fold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoldScore {
    /// First forecast date of the fold.
    pub origin: NaiveDate,
    pub model: ModelKind,
    /// `baseline_accuracy` is the seasonal naive's on the same fold.
    pub metrics: Metrics,
}

/// The outcome of [`train`].
#[derive(Clone, Debug)]
pub struct Trained {
    /// The selected candidate, refit on all usable data.
    pub model: Model,
    /// The selected candidate on the holdout (fold 1: the last `horizon` days),
    /// multi-step, fit without those days and chosen without them (unless the
    /// holdout is the only fold); `baseline_accuracy` is the seasonal naive's on the
    /// same days. The number the promotion rule reads.
    pub metrics: Metrics,
    /// The selected candidate on the folds that chose it, pooled: optimistic, since
    /// it won there.
    pub selection: Metrics,
    /// Every evaluated candidate × every fold, candidates simplest first.
    pub folds: Vec<FoldScore>,
    /// First and last date with an observation used.
    pub data_start: NaiveDate,
    pub data_end: NaiveDate,
    /// Days with an observed (non-NaN) sale used.
    pub observed_days: usize,
    /// How the band drawn from the folds before the holdout fared on the holdout:
    /// each holdout error's distance from the band's centre in half-widths (see
    /// `Calibration`). Empty without a fold before the holdout, or for a cold start.
    pub calibration: Vec<f32>,
}

/// Trains one series. Fails only when the series itself is unusable (too short after
/// gap handling, no observations, mismatched slices, infinite sales) or the options
/// are invalid; a candidate that cannot be fit is skipped, and seasonal naive always can.
pub fn train(history: &History, options: &TrainOptions) -> Result<Trained, FitError> {
    options.validate()?;
    let series = prepare(history)?;
    let needed = min_history(options);
    if series.len() < needed {
        return Err(FitError::TooShort {
            days: series.len(),
            needed,
        });
    }
    let folds = Folds {
        len: series.len(),
        horizon: options.horizon,
        count: options.folds,
    };

    let baseline = backtest::run(ModelKind::SeasonalNaive, &series, &folds, options)?;
    let mut runs: Vec<Backtest> = vec![baseline.clone()];
    for kind in ModelKind::BY_SIMPLICITY {
        if kind != ModelKind::SeasonalNaive && options.candidates.contains(&kind) {
            // A candidate that cannot serve this series is simply not in the race.
            if let Ok(run) = backtest::run(kind, &series, &folds, options) {
                runs.push(run);
            }
        }
    }

    let scores = runs
        .iter()
        .flat_map(|run| {
            folds
                .numbers()
                .zip(&run.errors)
                .zip(&baseline.errors)
                .map(|((k, sums), base)| FoldScore {
                    origin: series.frequency.add(series.start, folds.origin(k)),
                    model: run.kind,
                    metrics: Metrics {
                        baseline_accuracy: base.accuracy(),
                        ..sums.metrics()
                    },
                })
        })
        .collect();

    // Lowest error on the selection folds first; the sort is stable, so ties keep
    // the simpler model. Seasonal naive, when not listed, comes last: the fallback,
    // never a choice.
    let listed = |run: &&Backtest| options.candidates.contains(&run.kind);
    let mut ranking: Vec<&Backtest> = runs.iter().filter(listed).collect();
    let chosen_by = |run: &Backtest| run.selection_errors(&folds).abs_error;
    ranking.sort_by(|a, b| chosen_by(a).total_cmp(&chosen_by(b)));
    if !options.candidates.contains(&ModelKind::SeasonalNaive) {
        ranking.push(&baseline);
    }
    let (winner, params) = ranking
        .into_iter()
        .find_map(|run| run.refit(&series).ok().map(|params| (run, params)))
        .ok_or(FitError::Singular("every candidate"))?;

    // The band served is drawn from the most recent folds, as many as the folds
    // before the holdout: the band from those older folds, scored on the holdout,
    // is what calibrates it (see `Calibration`), so like must serve like.
    let level = options.interval_level;
    let (interval, calibration) = if folds.count > 1 {
        let served =
            Interval::from_errors(&winner.errors_of(&series, &folds, 1..folds.count), level);
        let earlier =
            Interval::from_errors(&winner.errors_of(&series, &folds, folds.selection()), level);
        let scores = earlier.scores(&winner.errors_of(&series, &folds, [1]));
        (served, scores)
    } else {
        let only = Interval::from_errors(&winner.errors_by_step(&series, &folds), level);
        (only, Vec::new())
    };
    let holdout = winner.holdout_errors();
    let selection = winner.selection_errors(&folds);
    Ok(Trained {
        model: Model::new(params, &series, interval),
        metrics: Metrics {
            baseline_accuracy: baseline.holdout_errors().accuracy(),
            ..holdout.metrics()
        },
        selection: Metrics {
            baseline_accuracy: baseline.selection_errors(&folds).accuracy(),
            ..selection.metrics()
        },
        folds: scores,
        data_start: series.start,
        data_end: series.end(),
        observed_days: series.observed_days,
        calibration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSet;
    use crate::testdata::{Owned, WEEK, monday, trending, weekly};

    fn assert_sane(trained: &Trained, horizon: usize) {
        let f = trained.model.forecast(horizon, None);
        assert_eq!(f.mean.len(), horizon);
        for ((l, m), u) in f.lower.iter().zip(&f.mean).zip(&f.upper) {
            assert!(l.is_finite() && m.is_finite() && u.is_finite());
            assert!(0.0 <= *l && l <= m && m <= u, "{l} {m} {u}");
        }
        let m = trained.metrics;
        for v in [m.mae, m.rmse, m.wape, m.accuracy, m.baseline_accuracy] {
            assert!(v.is_finite());
        }
    }

    #[test]
    fn weekly_and_monthly_series_train_and_forecast_on_their_own_calendar() {
        use crate::history::History;
        use herd_schemas::Frequency;
        let cases = [
            (Frequency::Monthly, "2005-01-01", 12),
            (Frequency::Weekly, "2016-01-04", 13),
        ];
        for (frequency, start, horizon) in cases {
            let season = frequency.season();
            let start = NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap();
            let n = 10 * season;
            let mut rng = crate::testdata::Rng::new(3);
            let sales: Vec<f32> = (0..n)
                .map(|t| {
                    let angle = std::f64::consts::TAU * (t % season) as f64 / season as f64;
                    (200.0 + 60.0 * angle.sin() + 0.3 * t as f64 + 8.0 * rng.uniform()) as f32
                })
                .collect();
            let (price, promo) = (vec![2.0; n], vec![0; n]);
            let history = History {
                start,
                frequency,
                sales: &sales,
                price: &price,
                promo: &promo,
            };
            history.check_frequency().unwrap();
            let options = TrainOptions {
                horizon,
                ..TrainOptions::default()
            };
            let trained = train(&history, &options).unwrap();
            assert_sane(&trained, horizon);
            assert!(
                trained.metrics.accuracy > 0.9,
                "{frequency}: {:?}",
                trained.metrics
            );
            // The last cycle repeated is the baseline, and the yearly shape is learnt.
            assert!(trained.metrics.baseline_accuracy > 0.85, "{frequency}");
            let model = trained.model;
            assert_eq!(model.frequency(), frequency);
            assert_eq!(model.last_date(), frequency.add(start, n - 1));
            let f = model.forecast(horizon, None);
            assert_eq!(f.start, frequency.add(start, n));
            assert!(frequency.check(f.start).is_ok(), "{frequency}: {}", f.start);
            // Next year's peak where this year's was.
            let peak = |values: &[f64]| {
                (0..values.len())
                    .max_by(|&a, &b| values[a].total_cmp(&values[b]))
                    .unwrap()
            };
            let expected = (0..horizon)
                .max_by_key(|step| {
                    let angle =
                        std::f64::consts::TAU * ((n + step) % season) as f64 / season as f64;
                    (angle.sin() * 1e6) as i64
                })
                .unwrap();
            assert!(
                peak(&f.mean).abs_diff(expected) <= 1,
                "{frequency}: {:?}",
                f.mean
            );
            // The stored form keeps the calendar; a daily model's bytes do not change.
            let again = Model::from_bytes(&model.to_bytes()).unwrap();
            assert_eq!(again, model);
            assert!(
                String::from_utf8(model.to_bytes())
                    .unwrap()
                    .contains(&format!("\"frequency\":\"{frequency}\""))
            );
            // A history of another calendar is refused, not misread.
            let daily = History {
                frequency: Frequency::Daily,
                ..history
            };
            assert!(matches!(
                model.forecast_from(&daily, 3, None),
                Err(FitError::FrequencyMismatch { .. })
            ));
        }
        let daily = train(&weekly(200).history(), &TrainOptions::default()).unwrap();
        assert!(
            !String::from_utf8(daily.model.to_bytes())
                .unwrap()
                .contains("frequency")
        );
    }

    #[test]
    fn a_pure_weekly_pattern_is_forecast_exactly_by_seasonal_naive() {
        let data = weekly(200);
        let trained = train(&data.history(), &TrainOptions::default()).unwrap();
        assert_eq!(trained.model.kind(), ModelKind::SeasonalNaive);
        assert_eq!(trained.metrics.accuracy, 1.0);
        assert_eq!(trained.metrics.baseline_accuracy, 1.0);
        let f = trained.model.forecast(10, None);
        assert_eq!(f.start, monday() + chrono::Days::new(200));
        for (step, v) in f.mean.iter().enumerate() {
            assert_eq!(*v, f64::from(WEEK[(200 + step) % 7]));
        }
        assert_eq!((f.lower.clone(), f.upper.clone()), (f.mean.clone(), f.mean));
        assert_eq!(trained.folds.len(), 4 * 2);
        assert_eq!(
            (trained.observed_days, trained.data_end),
            (200, monday() + chrono::Days::new(199))
        );
    }

    #[test]
    fn selection_picks_the_lowest_backtest_error() {
        for seed in 0..6 {
            let data = trending(500, 3.0 + seed as f64, seed);
            let options = TrainOptions {
                folds: 3,
                ..TrainOptions::default()
            };
            let trained = train(&data.history(), &options).unwrap();
            // No gaps: every fold has `horizon` scored days, so Σ MAE ranks like Σ |error|.
            // The holdout (the latest origin) has no say in the choice.
            let holdout = trained.folds.iter().map(|s| s.origin).max().unwrap();
            let total = |kind| -> f64 {
                trained
                    .folds
                    .iter()
                    .filter(|s| s.model == kind && s.origin != holdout)
                    .map(|s| s.metrics.mae)
                    .sum()
            };
            let chosen = total(trained.model.kind());
            for kind in ModelKind::CANDIDATES {
                if trained.folds.iter().any(|s| s.model == kind) {
                    assert!(
                        chosen <= total(kind) + 1e-12,
                        "seed {seed}: {kind} beats the winner"
                    );
                }
            }
            assert_ne!(
                trained.model.kind(),
                ModelKind::SeasonalNaive,
                "seed {seed}"
            );
            assert!(trained.metrics.accuracy > trained.metrics.baseline_accuracy);
            // The registered metrics are the winner's on the holdout; the selection's
            // are its own on the folds that chose it.
            let winner = |s: &&FoldScore| s.model == trained.model.kind();
            let judged = trained
                .folds
                .iter()
                .filter(winner)
                .find(|s| s.origin == holdout);
            assert_eq!(judged.unwrap().metrics, trained.metrics, "seed {seed}");
            let choosing: Vec<&FoldScore> = trained
                .folds
                .iter()
                .filter(winner)
                .filter(|s| s.origin != holdout)
                .collect();
            assert_eq!(choosing.len(), 2);
            let mae = choosing.iter().map(|s| s.metrics.mae).sum::<f64>() / 2.0;
            assert!((trained.selection.mae - mae).abs() < 1e-9, "seed {seed}");
            assert_sane(&trained, 40);
        }
    }

    #[test]
    fn the_holdout_has_no_say_in_the_choice() {
        // Two series alike up to the holdout (fold 1, days 472..500), where the
        // second jumps by 50: the same folds choose, so the same model wins with the
        // same selection score, and only the holdout's score tells them apart.
        let data = trending(500, 3.0, 4);
        let mut other = trending(500, 3.0, 4);
        for v in &mut other.sales[472..] {
            *v += 50.0;
        }
        let options = TrainOptions::default();
        let a = train(&data.history(), &options).unwrap();
        let b = train(&other.history(), &options).unwrap();
        assert_eq!(a.model.kind(), b.model.kind());
        assert_eq!(a.selection, b.selection);
        assert!(
            b.metrics.accuracy < a.metrics.accuracy,
            "{:?} {:?}",
            a.metrics,
            b.metrics
        );
    }

    #[test]
    fn spark_ridge_only_selects_ridge() {
        let data = trending(400, 2.0, 7);
        let options = TrainOptions {
            folds: 1,
            candidates: vec![ModelKind::Ridge],
            features: FeatureSet::Spark,
            ..TrainOptions::default()
        };
        let trained = train(&data.history(), &options).unwrap();
        assert_eq!(trained.model.kind(), ModelKind::Ridge);
        assert_eq!(trained.folds.len(), 2); // ridge and the naive baseline, one fold each
        assert!(trained.metrics.accuracy > 0.85, "{:?}", trained.metrics);
        assert_sane(&trained, 28);
    }

    #[test]
    fn no_listed_candidate_falls_back_to_seasonal_naive() {
        let data = trending(200, 1.0, 1);
        let options = TrainOptions {
            candidates: vec![],
            ..TrainOptions::default()
        };
        let trained = train(&data.history(), &options).unwrap();
        assert_eq!(trained.model.kind(), ModelKind::SeasonalNaive);
    }

    #[test]
    fn training_is_deterministic() {
        let data = trending(300, 4.0, 3);
        let a = train(&data.history(), &TrainOptions::default()).unwrap();
        let b = train(&data.history(), &TrainOptions::default()).unwrap();
        assert_eq!(a.model.to_bytes(), b.model.to_bytes());
        assert_eq!(a.metrics, b.metrics);
    }

    #[test]
    fn bad_input_never_panics_and_outputs_stay_finite() {
        let nan = f32::NAN;
        let mut gap = trending(400, 2.0, 9).sales;
        gap[150..250].fill(nan); // 100 days off the shelf: history restarts at day 250
        let mut nan_prices = trending(300, 2.0, 4);
        nan_prices.price.fill(nan);
        let mut spiky = trending(300, 2.0, 5);
        spiky.sales[100] = 1e30;
        let cases: Vec<(&str, Owned)> = vec![
            ("all zeros", Owned::new(vec![0.0; 300])),
            ("constant", Owned::new(vec![5.0; 300])),
            ("one day", Owned::new(vec![3.0])),
            ("three days", Owned::new(vec![3.0, 4.0, 5.0])),
            ("empty", Owned::new(vec![])),
            ("100-day gap", Owned::new(gap)),
            ("NaN everywhere", Owned::new(vec![nan; 300])),
            ("NaN prices", nan_prices),
            ("huge spike", spiky),
            (
                "every other day",
                Owned::new(
                    (0..300)
                        .map(|t| if t % 2 == 0 { nan } else { 4.0 })
                        .collect(),
                ),
            ),
            (
                "intermittent",
                Owned::new(
                    (0..300)
                        .map(|t| if t % 9 == 0 { 3.0 } else { 0.0 })
                        .collect(),
                ),
            ),
        ];
        for (name, data) in &cases {
            for options in [
                TrainOptions::default(),
                TrainOptions {
                    features: FeatureSet::Spark,
                    folds: 1,
                    ridge_lambda: 0.0,
                    ..TrainOptions::default()
                },
            ] {
                match train(&data.history(), &options) {
                    Ok(trained) => assert_sane(&trained, 60),
                    Err(e) => assert!(!e.to_string().is_empty(), "{name}"),
                }
            }
        }
        let zeros = train(&cases[0].1.history(), &TrainOptions::default()).unwrap();
        assert_eq!(zeros.model.kind(), ModelKind::SeasonalNaive);
        assert_eq!(zeros.metrics.accuracy, 1.0); // both sums 0 → WAPE 0
        let gap = train(&cases[5].1.history(), &TrainOptions::default()).unwrap();
        assert_eq!(gap.data_start, monday() + chrono::Days::new(250));
        assert!(matches!(
            train(&cases[2].1.history(), &TrainOptions::default()),
            Err(FitError::TooShort {
                days: 1,
                needed: 112
            })
        ));
        assert!(matches!(
            train(&cases[6].1.history(), &TrainOptions::default()),
            Err(FitError::NoObservations)
        ));
    }

    #[test]
    fn invalid_options_are_errors() {
        let data = weekly(200);
        for options in [
            TrainOptions {
                horizon: 0,
                ..TrainOptions::default()
            },
            TrainOptions {
                folds: 0,
                ..TrainOptions::default()
            },
            TrainOptions {
                ridge_lambda: f64::NAN,
                ..TrainOptions::default()
            },
            TrainOptions {
                interval_level: 1.0,
                ..TrainOptions::default()
            },
        ] {
            assert!(matches!(
                train(&data.history(), &options),
                Err(FitError::InvalidOption(_))
            ));
        }
    }
}
