//! A fitted model: everything one series needs to forecast, with no reference back to
//! the data it was fit on — the unit the registry stores and the scorer caches.

use chrono::NaiveDate;
use herd_schemas::Frequency;
use serde::{Deserialize, Serialize};

use crate::cold_start::{self, ColdStartParams};
use crate::error::FitError;
use crate::ets::{self, EtsParams};
use crate::features::MAX_LAG;
use crate::forecast::{Covariates, Forecast, Future};
use crate::history::{History, Series, prepare};
use crate::interval::Interval;
use crate::kind::ModelKind;
use crate::naive;
use crate::ridge::{self, RidgeParams};
use crate::tsb::{self, TsbParams};

/// Fitted parameters and end-of-data state, per forecaster. Serialized with a `kind`
/// tag so the stored form names its family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Params {
    SeasonalNaive,
    Ridge(RidgeParams),
    Ets(EtsParams),
    Tsb(TsbParams),
    ColdStart(ColdStartParams),
}

impl Params {
    pub fn kind(&self) -> ModelKind {
        match self {
            Params::SeasonalNaive => ModelKind::SeasonalNaive,
            Params::Ridge(_) => ModelKind::Ridge,
            Params::Ets(_) => ModelKind::Ets,
            Params::Tsb(_) => ModelKind::Tsb,
            Params::ColdStart(_) => ModelKind::ColdStart,
        }
    }

    /// Mean path of `horizon` periods from `first`, after the sales in `recent`.
    pub fn project(
        &self,
        recent: &[f64],
        first: NaiveDate,
        frequency: Frequency,
        covariates: &Covariates,
        horizon: usize,
    ) -> Vec<f64> {
        match self {
            Params::SeasonalNaive => naive::project(recent, frequency.season(), horizon),
            Params::Ridge(p) => ridge::project(p, recent, first, frequency, covariates, horizon),
            Params::Ets(p) => ets::project(p, first, frequency, horizon),
            Params::Tsb(p) => tsb::project(p, horizon),
            Params::ColdStart(p) => cold_start::project(p, first, frequency, horizon),
        }
    }
}

/// Periods of recent sales a kind reads when it forecasts (its lags).
pub(crate) fn recent_days(kind: ModelKind, frequency: Frequency) -> usize {
    match kind {
        ModelKind::SeasonalNaive => frequency.season(),
        ModelKind::Ridge => MAX_LAG,
        ModelKind::Ets | ModelKind::Tsb | ModelKind::ColdStart => 0,
    }
}

/// A fitted model, self-contained for forecasting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Last date of the data it was fit on; forecasts start the period after.
    pub(crate) last_date: NaiveDate,
    /// What one step is: a day, a week or a month (daily for models stored before
    /// series had a frequency).
    #[serde(default, skip_serializing_if = "is_daily")]
    pub(crate) frequency: Frequency,
    pub(crate) params: Params,
    /// The last `recent_days(kind)` sales up to `last_date`, gaps filled.
    pub(crate) recent: Vec<f64>,
    /// The price assumed for future days without a planned one.
    pub(crate) last_price: f64,
    pub(crate) interval: Interval,
}

impl Model {
    pub(crate) fn new(params: Params, series: &Series, interval: Interval) -> Model {
        let keep = recent_days(params.kind(), series.frequency).min(series.len());
        Model {
            last_date: series.end(),
            frequency: series.frequency,
            recent: series.sales[series.len() - keep..].to_vec(),
            last_price: series.last_price(),
            params,
            interval,
        }
    }

    /// Widens (or narrows) the prediction interval about its centre by `factor`
    /// (see `Calibration`).
    pub fn widen_interval(&mut self, factor: f64) {
        self.interval.widen(factor);
    }

    pub fn kind(&self) -> ModelKind {
        self.params.kind()
    }

    pub fn last_date(&self) -> NaiveDate {
        self.last_date
    }

    /// The calendar its steps follow.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// Forecast `horizon` days after `last_date()`. `future` optionally plans price and
    /// promotion per day (a what-if); without it: last known price, no promotion.
    pub fn forecast(&self, horizon: usize, future: Option<&Future>) -> Forecast {
        self.forecast_after(0, horizon, future)
    }

    /// Forecast from fresher data with the same fitted parameters: the state (recent
    /// sales, smoothed levels) is rebuilt from `history`, which should reach past
    /// `last_date()`. Starts the day after the history's last day, even when its last
    /// days have no observations (the model steps over them).
    ///
    /// ETS and TSB rebuild their states by smoothing `history` from its start, so give
    /// them a long window (eight weeks or more), as training did.
    pub fn forecast_from(
        &self,
        history: &History,
        horizon: usize,
        future: Option<&Future>,
    ) -> Result<Forecast, FitError> {
        if history.frequency != self.frequency {
            return Err(FitError::FrequencyMismatch {
                model: self.frequency,
                history: history.frequency,
            });
        }
        let series = prepare(history)?;
        let needed = recent_days(self.kind(), self.frequency);
        if series.len() < needed {
            return Err(FitError::TooShort {
                days: series.len(),
                needed,
            });
        }
        let params = match &self.params {
            Params::SeasonalNaive => Params::SeasonalNaive,
            Params::Ridge(p) => Params::Ridge(p.clone()),
            Params::Ets(p) => Params::Ets(ets::refilter(
                p,
                &series.sales,
                series.start,
                series.frequency,
            )?),
            Params::Tsb(p) => Params::Tsb(tsb::refilter(p, &series.sales)?),
            Params::ColdStart(p) => Params::ColdStart(cold_start::refresh(p, &series)),
        };
        let fresh = Model::new(params, &series, self.interval.clone());
        Ok(fresh.forecast_after(series.trailing_gap, horizon, future))
    }

    /// Forecast of `skip + horizon` days from the day after `last_date`, of which the
    /// first `skip` are dropped; `future` starts after the skipped days.
    fn forecast_after(&self, skip: usize, horizon: usize, future: Option<&Future>) -> Forecast {
        let steps = skip.saturating_add(horizon);
        let first = self.frequency.add(self.last_date, 1);
        let covariates = Covariates::resolve(future, self.last_price, skip, steps);
        let mut mean = self
            .params
            .project(&self.recent, first, self.frequency, &covariates, steps);
        mean.resize(steps, 0.0);
        for v in &mut mean {
            *v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        }
        let (mut lower, mut upper) = self.interval.apply(&mean);
        for path in [&mut mean, &mut lower, &mut upper] {
            path.drain(..skip.min(path.len()));
        }
        Forecast {
            start: self.frequency.add(first, skip),
            frequency: self.frequency,
            mean,
            lower,
            upper,
        }
    }

    /// Bytes this model holds, for a scorer cache's budget.
    pub fn approx_heap_bytes(&self) -> usize {
        let params = match &self.params {
            Params::Ridge(p) => p.coef.capacity() * size_of::<f64>(),
            _ => 0,
        };
        size_of::<Model>()
            + self.recent.capacity() * size_of::<f64>()
            + params
            + self.interval.heap_bytes()
    }

    /// Checks what decoding cannot: shapes and finiteness, so a stored model that
    /// forecasts at all forecasts sensible numbers. The message names the bad part.
    pub(crate) fn check(&self) -> Result<(), String> {
        let finite = |values: &[f64]| values.iter().all(|v| v.is_finite());
        let recent = recent_days(self.kind(), self.frequency);
        if self.recent.len() < recent || !finite(&self.recent) {
            return Err(format!(
                "recent sales must be {} finite values, found {}",
                recent,
                self.recent.len()
            ));
        }
        if !(self.last_price.is_finite() && self.last_price > 0.0) {
            return Err("last_price must be finite and positive".into());
        }
        if !self.interval.is_finite() {
            return Err("interval bands must be finite".into());
        }
        let params_ok = match &self.params {
            Params::SeasonalNaive => true,
            Params::Ridge(p) => {
                p.coef.len() == p.features.len() && finite(&p.coef) && p.intercept.is_finite()
            }
            Params::Ets(p) => {
                finite(&[p.alpha, p.beta, p.gamma, p.level, p.trend])
                    && p.season.len() == self.frequency.season()
                    && finite(&p.season)
                    && (0.0..=1.0).contains(&p.phi)
            }
            Params::Tsb(p) => finite(&[p.alpha_probability, p.alpha_size, p.probability, p.size]),
            Params::ColdStart(p) => p.level.is_finite() && finite(&p.weekday),
        };
        if params_ok {
            Ok(())
        } else {
            Err(format!(
                "{} parameters are malformed or not finite",
                self.kind()
            ))
        }
    }
}

fn is_daily(frequency: &Frequency) -> bool {
    *frequency == Frequency::Daily
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSet;
    use crate::options::TrainOptions;
    use crate::testdata::{Owned, Rng, monday, trending, weekly};
    use crate::train::train;

    #[test]
    fn forecast_from_later_data_equals_training_to_that_point_for_seasonal_naive() {
        let mut data = weekly(250);
        for (t, y) in data.sales.iter_mut().enumerate().skip(180) {
            *y += (t % 5) as f32; // the last weeks differ from the first ones
        }
        let options = TrainOptions {
            candidates: vec![ModelKind::SeasonalNaive],
            ..TrainOptions::default()
        };
        let early = train(&data.head(200), &options).unwrap().model;
        for extra in [1, 10, 50] {
            let later = data.head(200 + extra);
            let retrained = train(&later, &options).unwrap().model;
            let from = early.forecast_from(&later, 28, None).unwrap();
            let direct = retrained.forecast(28, None);
            assert_eq!(from.start, direct.start);
            assert_eq!(from.mean, direct.mean);
        }
    }

    #[test]
    fn forecast_from_starts_after_the_history_even_when_it_ends_unobserved() {
        let data = trending(300, 1.0, 2);
        let model = train(&data.head(250), &TrainOptions::default())
            .unwrap()
            .model;
        let mut later = Owned::new(data.sales.clone());
        later.sales[295..].fill(f32::NAN);
        let f = model.forecast_from(&later.history(), 14, None).unwrap();
        assert_eq!(f.start, monday() + chrono::Days::new(300));
        assert_eq!(f.mean.len(), 14);
        assert!(f.mean.iter().all(|v| v.is_finite() && *v >= 0.0));
        let short = Owned::new(vec![1.0; 5]);
        let ridge = train(
            &data.history(),
            &TrainOptions {
                candidates: vec![ModelKind::Ridge],
                ..TrainOptions::default()
            },
        )
        .unwrap()
        .model;
        assert!(matches!(
            ridge.forecast_from(&short.history(), 7, None),
            Err(FitError::TooShort {
                days: 5,
                needed: 28
            })
        ));
    }

    #[test]
    fn planned_promotions_lift_a_ridge_forecast() {
        let mut rng = Rng::new(5);
        let mut data = trending(400, 1.0, 8);
        for (y, promo) in data.sales.iter_mut().zip(data.promo.iter_mut()) {
            if rng.uniform() < 0.1 {
                *promo = 1;
                *y += 12.0;
            }
        }
        let options = TrainOptions {
            candidates: vec![ModelKind::Ridge],
            features: FeatureSet::Spark,
            ..TrainOptions::default()
        };
        let model = train(&data.history(), &options).unwrap().model;
        let plain = model.forecast(7, None);
        let promo = [0, 0, 1, 0, 0, 0, 0];
        let planned = model.forecast(
            7,
            Some(&Future {
                price: &[],
                promo: &promo,
            }),
        );
        assert_eq!(plain.mean[..2], planned.mean[..2]);
        assert!(
            planned.mean[2] > plain.mean[2] + 8.0,
            "{} vs {}",
            planned.mean[2],
            plain.mean[2]
        );
        assert!(model.approx_heap_bytes() > size_of::<Model>() + 28 * 8);
    }
}
