//! The accuracy measures of `docs/workload.md`, over observed days only: a day the series
//! has no record for is not an error of the forecast.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub mae: f64,
    pub rmse: f64,
    /// Σ|y − ŷ| / Σ|y|; 0 when both sums are 0, 1 when only Σ|y| is 0.
    pub wape: f64,
    /// max(0, 1 − WAPE): the number the promotion rule reads.
    pub accuracy: f64,
    /// The same accuracy for the weekly seasonal naive forecast on the same days.
    pub baseline_accuracy: f64,
}

/// Error totals of one forecast against the actuals, over observed days.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ErrorSums {
    pub days: usize,
    pub abs_error: f64,
    pub squared_error: f64,
    pub abs_actual: f64,
}

impl ErrorSums {
    pub fn of(actual: &[f64], observed: &[bool], forecast: &[f64]) -> Self {
        let mut sums = ErrorSums::default();
        for ((y, seen), f) in actual.iter().zip(observed).zip(forecast) {
            if *seen {
                let error = y - f;
                sums.days += 1;
                sums.abs_error += error.abs();
                sums.squared_error += error * error;
                sums.abs_actual += y.abs();
            }
        }
        sums
    }

    /// Both totals together, as one forecast over both sets of days.
    pub fn plus(&self, other: &ErrorSums) -> ErrorSums {
        ErrorSums {
            days: self.days + other.days,
            abs_error: self.abs_error + other.abs_error,
            squared_error: self.squared_error + other.squared_error,
            abs_actual: self.abs_actual + other.abs_actual,
        }
    }

    pub fn wape(&self) -> f64 {
        wape(self.abs_error, self.abs_actual)
    }

    pub fn accuracy(&self) -> f64 {
        (1.0 - self.wape()).max(0.0)
    }

    /// MAE, RMSE, WAPE and accuracy; `baseline_accuracy` is the caller's to fill.
    pub fn metrics(&self) -> Metrics {
        let days = self.days.max(1) as f64;
        Metrics {
            mae: self.abs_error / days,
            rmse: (self.squared_error / days).sqrt(),
            wape: self.wape(),
            accuracy: self.accuracy(),
            baseline_accuracy: 0.0,
        }
    }
}

/// Accuracy (max(0, 1 − WAPE)) of `forecast` against `actual` over the observed
/// days (those that are not NaN): the number the promotion rule reads, for a forecast
/// scored outside training.
pub fn accuracy(actual: &[f32], forecast: &[f64]) -> f64 {
    let values: Vec<f64> = actual.iter().map(|v| f64::from(*v)).collect();
    let observed: Vec<bool> = actual.iter().map(|v| !v.is_nan()).collect();
    ErrorSums::of(&values, &observed, forecast).accuracy()
}

pub(crate) fn wape(abs_error: f64, abs_actual: f64) -> f64 {
    if abs_actual > 0.0 {
        abs_error / abs_actual
    } else if abs_error > 0.0 {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wape_edge_cases() {
        assert_eq!(wape(0.0, 0.0), 0.0);
        assert_eq!(wape(3.0, 0.0), 1.0);
        assert_eq!(wape(1.0, 4.0), 0.25);
        let both_zero = ErrorSums::of(&[0.0, 0.0], &[true, true], &[0.0, 0.0]);
        assert_eq!(both_zero.metrics().accuracy, 1.0);
        let only_actual_zero = ErrorSums::of(&[0.0, 0.0], &[true, true], &[1.0, 0.0]);
        assert_eq!(only_actual_zero.metrics().wape, 1.0);
        assert_eq!(only_actual_zero.metrics().accuracy, 0.0);
        let poor = ErrorSums::of(&[1.0], &[true], &[5.0]);
        assert_eq!((poor.wape(), poor.accuracy()), (4.0, 0.0));
    }

    #[test]
    fn unobserved_days_do_not_count() {
        let sums = ErrorSums::of(&[2.0, 100.0, 4.0], &[true, false, true], &[3.0, 0.0, 2.0]);
        let m = sums.metrics();
        assert_eq!(sums.days, 2);
        assert_eq!(m.mae, 1.5);
        assert!((m.rmse - 2.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(m.wape, 0.5);
        assert_eq!(m.accuracy, 0.5);
    }
}
