//! Rolling-origin backtest: each candidate is fit on the data before an origin and
//! forecasts the next `horizon` days recursively, without seeing any of their sales.

use crate::error::FitError;
use crate::ets;
use crate::forecast::Covariates;
use crate::history::Series;
use crate::kind::ModelKind;
use crate::metrics::ErrorSums;
use crate::model::Params;
use crate::options::TrainOptions;
use crate::ridge;
use crate::tsb;

/// Fold k (1-based) forecasts days `[len − k·horizon, len − (k−1)·horizon)`; fold 1 is
/// the holdout, the last `horizon` days. The folds before it choose the model, so the
/// holdout judges a choice it had no part in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Folds {
    pub len: usize,
    pub horizon: usize,
    pub count: usize,
}

impl Folds {
    /// First forecast day of fold `k`. Callers ensure `len >= count · horizon`.
    pub fn origin(&self, k: usize) -> usize {
        self.len.saturating_sub(k.saturating_mul(self.horizon))
    }

    /// Fold numbers, fold 1 first.
    pub fn numbers(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.count
    }

    /// The folds that choose the model: every fold before the holdout, or the holdout
    /// itself when it is the only fold (then its score is the choice's own, and biased).
    pub fn selection(&self) -> std::ops::RangeInclusive<usize> {
        if self.count > 1 {
            2..=self.count
        } else {
            1..=1
        }
    }
}

/// One candidate's backtest: its forecast for each fold (fold 1 first), the error
/// totals of each, and — for ridge, whose one pass yields it for free — the refit.
#[derive(Clone, Debug)]
pub(crate) struct Backtest {
    pub kind: ModelKind,
    pub forecasts: Vec<Vec<f64>>,
    pub errors: Vec<ErrorSums>,
    refit: Option<Result<Params, FitError>>,
}

impl Backtest {
    /// Error totals pooled over the selection folds: ranking by their absolute error
    /// is ranking by pooled WAPE, since every candidate is scored on the same days.
    pub fn selection_errors(&self, folds: &Folds) -> ErrorSums {
        folds
            .selection()
            .filter_map(|k| self.errors.get(k - 1))
            .fold(ErrorSums::default(), |total, fold| total.plus(fold))
    }

    /// The holdout's error totals (fold 1).
    pub fn holdout_errors(&self) -> ErrorSums {
        self.errors.first().copied().unwrap_or_default()
    }

    /// The candidate fit on all of `series`.
    pub fn refit(&self, series: &Series) -> Result<Params, FitError> {
        if let Some(refit) = &self.refit {
            return refit.clone();
        }
        fit(self.kind, series, series.len())
    }

    /// `(step, actual − forecast)` over the observed days of every fold.
    pub fn errors_by_step(&self, series: &Series, folds: &Folds) -> Vec<(usize, f64)> {
        self.errors_of(series, folds, folds.numbers())
    }

    /// `(step, actual − forecast)` over the observed days of the folds numbered
    /// `which`.
    pub fn errors_of(
        &self,
        series: &Series,
        folds: &Folds,
        which: impl IntoIterator<Item = usize>,
    ) -> Vec<(usize, f64)> {
        let mut errors = Vec::with_capacity(folds.count * folds.horizon);
        for k in which {
            let Some(forecast) = self.forecasts.get(k - 1) else {
                continue;
            };
            let origin = folds.origin(k);
            let days = series.sales[origin..]
                .iter()
                .zip(&series.observed[origin..]);
            for (step, ((y, seen), f)) in days.zip(forecast).enumerate() {
                if *seen {
                    errors.push((step, y - f));
                }
            }
        }
        errors
    }
}

/// Fits one of the kinds that are fit independently per origin on `sales[..end]`.
fn fit(kind: ModelKind, series: &Series, end: usize) -> Result<Params, FitError> {
    let sales = &series.sales[..end.min(series.len())];
    match kind {
        ModelKind::SeasonalNaive => Ok(Params::SeasonalNaive),
        ModelKind::Ets => ets::fit(sales, series.start, series.frequency).map(Params::Ets),
        ModelKind::Tsb => tsb::fit(sales).map(Params::Tsb),
        // Ridge is fit for all origins at once in `run`; cold start is not backtested.
        ModelKind::Ridge | ModelKind::ColdStart => {
            Err(FitError::InvalidOption("not a per-origin candidate"))
        }
    }
}

/// Backtests `kind` over `folds`. An error means the candidate cannot serve this series.
pub(crate) fn run(
    kind: ModelKind,
    series: &Series,
    folds: &Folds,
    options: &TrainOptions,
) -> Result<Backtest, FitError> {
    let horizon = folds.horizon;
    let mut fitted: Vec<Params> = Vec::with_capacity(folds.count);
    let mut refit = None;
    if kind == ModelKind::Ridge {
        // Ends ascending: the earliest origin first, then the full series.
        let mut ends: Vec<usize> = folds.numbers().rev().map(|k| folds.origin(k)).collect();
        ends.push(series.len());
        let mut fits = ridge::fit_prefixes(series, &ends, options.features, options.ridge_lambda);
        refit = fits.pop().map(|fit| fit.map(Params::Ridge));
        for fit in fits.into_iter().rev() {
            fitted.push(Params::Ridge(fit?));
        }
    } else {
        for k in folds.numbers() {
            fitted.push(fit(kind, series, folds.origin(k))?);
        }
    }

    let mut forecasts = Vec::with_capacity(folds.count);
    let mut errors = Vec::with_capacity(folds.count);
    for (k, params) in folds.numbers().zip(&fitted) {
        let origin = folds.origin(k);
        let end = (origin + horizon).min(series.len());
        let covariates =
            Covariates::recorded(&series.price[origin..end], &series.promo[origin..end]);
        let first = series.frequency.add(series.start, origin);
        let forecast = params.project(
            &series.sales[..origin],
            first,
            series.frequency,
            &covariates,
            horizon,
        );
        if forecast.iter().any(|v| !v.is_finite()) {
            return Err(FitError::NonFinite("backtest forecast"));
        }
        errors.push(ErrorSums::of(
            &series.sales[origin..end],
            &series.observed[origin..end],
            &forecast,
        ));
        forecasts.push(forecast);
    }
    Ok(Backtest {
        kind,
        forecasts,
        errors,
        refit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, prepare};
    use chrono::NaiveDate;

    #[test]
    fn folds_cover_the_last_days_back_to_back() {
        let folds = Folds {
            len: 100,
            horizon: 28,
            count: 2,
        };
        assert_eq!(folds.origin(1), 72);
        assert_eq!(folds.origin(2), 44);
        assert_eq!(folds.numbers().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(folds.selection().collect::<Vec<_>>(), vec![2]);
        let three = Folds { count: 3, ..folds };
        assert_eq!(three.selection().collect::<Vec<_>>(), vec![2, 3]);
        let one = Folds { count: 1, ..folds };
        assert_eq!(one.selection().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn naive_backtest_scores_the_repeated_week() {
        let sales: Vec<f32> = (0..70).map(|t| (t % 7) as f32 + (t / 49) as f32).collect();
        let price = vec![1.0; 70];
        let promo = vec![0; 70];
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let series = prepare(&History {
            start,
            frequency: herd_schemas::Frequency::Daily,
            sales: &sales,
            price: &price,
            promo: &promo,
        })
        .unwrap();
        let folds = Folds {
            len: 70,
            horizon: 14,
            count: 2,
        };
        let run = run(
            ModelKind::SeasonalNaive,
            &series,
            &folds,
            &TrainOptions::default(),
        )
        .unwrap();
        assert_eq!(run.errors[0].abs_error, 0.0); // days 56..70: last week already at level 1
        assert_eq!(run.errors[1].abs_error, 7.0); // days 42..56 cross the step at day 49
        // Fold 2 chooses, fold 1 judges.
        assert_eq!(run.selection_errors(&folds).abs_error, 7.0);
        assert_eq!(run.selection_errors(&folds).days, 14);
        assert_eq!(run.holdout_errors().abs_error, 0.0);
        assert_eq!(run.errors_by_step(&series, &folds).len(), 28);
    }
}
