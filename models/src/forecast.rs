//! What a forecast is given (planned prices and promotions) and what it returns.

use chrono::NaiveDate;
use herd_schemas::Frequency;
use serde::Serialize;

/// Planned price and promotion per future day, from the first forecast day on (a
/// what-if). Either slice may be shorter than the horizon: missing days use the last
/// known price and no promotion. A non-finite or non-positive price counts as missing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Future<'a> {
    pub price: &'a [f32],
    pub promo: &'a [u8],
}

/// A forecast path with its prediction interval; every value finite and >= 0, and
/// `lower[i] <= mean[i] <= upper[i]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// First target date.
    pub start: NaiveDate,
    /// The calendar of its steps.
    #[serde(skip)]
    pub frequency: Frequency,
    pub mean: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl Forecast {
    /// The date of step `step` (0 = the first).
    pub fn date(&self, step: usize) -> NaiveDate {
        self.frequency.add(self.start, step)
    }

    /// The period before the first step: the last one the forecast knew of.
    pub fn as_of(&self) -> NaiveDate {
        self.frequency.sub(self.start, 1)
    }
}

/// Price and promotion for each forecast step, resolved against the defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct Covariates {
    pub price: Vec<f64>,
    pub promo: Vec<u8>,
}

impl Covariates {
    /// `skip` leading days take the defaults (days the caller's history already
    /// covered without observations), then `future` applies, then the defaults again.
    pub fn resolve(future: Option<&Future>, last_price: f64, skip: usize, steps: usize) -> Self {
        let planned = future.copied().unwrap_or_default();
        let price = (0..steps)
            .map(|step| {
                step.checked_sub(skip)
                    .and_then(|i| planned.price.get(i))
                    .filter(|p| p.is_finite() && **p > 0.0)
                    .map_or(last_price, |&p| f64::from(p))
            })
            .collect();
        let promo = (0..steps)
            .map(|step| {
                step.checked_sub(skip)
                    .and_then(|i| planned.promo.get(i))
                    .map_or(0, |&p| p.min(1))
            })
            .collect();
        Covariates { price, promo }
    }

    /// The covariates a series recorded for held-out days: a backtest knows the prices
    /// and promotion calendar of the days it forecasts, as a planner would.
    pub fn recorded(price: &[f64], promo: &[u8]) -> Self {
        Covariates {
            price: price.to_vec(),
            promo: promo.to_vec(),
        }
    }

    /// Price and promo of `step`, with safe defaults past the end.
    pub fn at(&self, step: usize, fallback_price: f64) -> (f64, u8) {
        (
            self.price.get(step).copied().unwrap_or(fallback_price),
            self.promo.get(step).copied().unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_use_last_price_and_no_promo() {
        let future = Future {
            price: &[2.0, f32::NAN],
            promo: &[1],
        };
        let c = Covariates::resolve(Some(&future), 5.0, 1, 4);
        assert_eq!(c.price, vec![5.0, 2.0, 5.0, 5.0]);
        assert_eq!(c.promo, vec![0, 1, 0, 0]);
        let c = Covariates::resolve(None, 5.0, 0, 2);
        assert_eq!((c.price, c.promo), (vec![5.0, 5.0], vec![0, 0]));
    }
}
