//! Retraining on drift: a key's latest model is watched on the days that arrive
//! after its data, and the key is retrained before `min_new_days` when those days
//! leave what the model expected: its error on them exceeds its holdout error by a
//! factor, or their level moves away from the forecast's.
//!
//! A watch holds the model's forecast of the days after its data (its horizon) and
//! its holdout WAPE, a few hundred bytes per key; each arriving day is compared with
//! it in the window, so nothing else is kept.

use chrono::NaiveDate;
use herd_history::Window;
use herd_models::Model;

/// When a key counts as drifting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftOptions {
    /// Drift when the live WAPE exceeds the holdout WAPE times this (at least 1).
    pub factor: f64,
    /// Drift when the mean of the days since the model differs from its forecast's by
    /// more than this share of the larger of the two (0 to 1).
    pub level_shift: f64,
    /// Observed days after the model's data needed before judging.
    pub min_days: u32,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            factor: 2.0,
            level_shift: 0.5,
            min_days: 7,
        }
    }
}

/// The holdout WAPE below which a model's expected error is taken as this, so that a
/// near-perfect holdout does not turn every small miss into drift.
const MIN_EXPECTED_WAPE: f64 = 0.05;

/// What a key's latest model expects of the days after its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// The first period after the model's data.
    pub start: NaiveDate,
    /// What one step of the forecast is.
    pub frequency: herd_models::Frequency,
    /// The model's forecast from `start`, one value a period.
    pub forecast: Vec<f32>,
    /// The model's WAPE on its holdout.
    pub expected_wape: f64,
}

/// How the days after a model compare with it, when the key drifted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub days: u32,
    pub live_wape: f64,
    pub expected_wape: f64,
    /// Mean actual over mean forecast, minus 1.
    pub level_change: f64,
}

impl Watch {
    /// The watch of `model` (its forecast over `horizon` days) with its holdout WAPE;
    /// `None` without a finite WAPE to compare with.
    pub fn of(model: &Model, horizon: usize, holdout_wape: Option<f64>) -> Option<Watch> {
        let expected_wape = holdout_wape.filter(|w| w.is_finite() && *w >= 0.0)?;
        let forecast = model.forecast(horizon, None);
        Some(Watch {
            start: forecast.start,
            frequency: forecast.frequency,
            forecast: forecast.mean.iter().map(|&v| v as f32).collect(),
            expected_wape,
        })
    }

    /// Judges the observed days of `window` from `start` through the forecast's end.
    pub fn judge(&self, window: &Window, options: &DriftOptions) -> Option<Drift> {
        let (mut days, mut actual, mut predicted, mut abs_error) = (0u32, 0.0, 0.0, 0.0);
        for (step, &forecast) in self.forecast.iter().enumerate() {
            let date = self.frequency.add(self.start, step);
            let Some(sales) = window.sales_on(date) else {
                continue;
            };
            let (a, f) = (f64::from(sales), f64::from(forecast));
            days += 1;
            actual += a;
            predicted += f;
            abs_error += (a - f).abs();
        }
        if days < options.min_days.max(1) {
            return None;
        }
        let live_wape = if actual > 0.0 {
            abs_error / actual
        } else if abs_error > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let level_change = if predicted > 0.0 {
            actual / predicted - 1.0
        } else if actual > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let larger = actual.max(predicted);
        let shifted = larger > 0.0 && (actual - predicted).abs() / larger > options.level_shift;
        let worse = live_wape > options.factor * self.expected_wape.max(MIN_EXPECTED_WAPE);
        (shifted || worse).then_some(Drift {
            days,
            live_wape,
            expected_wape: self.expected_wape,
            level_change,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_history::day_of;

    fn watch() -> Watch {
        Watch {
            frequency: Default::default(),
            start: NaiveDate::from_ymd_opt(2024, 1, 8).unwrap(),
            forecast: vec![10.0; 28],
            expected_wape: 0.2,
        }
    }

    /// A window with `days` days from the watch's start at `level`, after a week at 10.
    fn window(days: u32, level: f32) -> Window {
        let mut window = Window::new(60);
        let start = day_of(watch().start);
        for day in start - 7..start {
            window.insert(day, 10.0, None, false);
        }
        for day in start..start + days as i32 {
            window.insert(day, level, None, false);
        }
        window
    }

    #[test]
    fn a_steady_key_does_not_drift_and_a_level_shift_does_after_enough_days() {
        let options = DriftOptions::default();
        // Within its expected error: 10% off.
        assert_eq!(watch().judge(&window(10, 11.0), &options), None);
        // Tripled, but only for six days: not judged yet.
        assert_eq!(watch().judge(&window(6, 30.0), &options), None);
        let drift = watch().judge(&window(7, 30.0), &options).expect("drift");
        assert_eq!(drift.days, 7);
        assert!((drift.level_change - 2.0).abs() < 1e-9, "{drift:?}");
        // Gone to nothing: a level shift too.
        assert!(watch().judge(&window(7, 0.0), &options).is_some());
    }

    #[test]
    fn an_error_past_the_factor_is_drift_without_a_level_shift() {
        // Alternating 4 and 16 around a forecast of 10: the same level, WAPE 0.6,
        // three times the expected 0.2.
        let mut window = window(0, 0.0);
        let start = day_of(watch().start);
        for (i, day) in (start..start + 8).enumerate() {
            window.insert(day, if i % 2 == 0 { 4.0 } else { 16.0 }, None, false);
        }
        let drift = watch()
            .judge(&window, &DriftOptions::default())
            .expect("drift");
        assert!((drift.live_wape - 0.6).abs() < 1e-9, "{drift:?}");
        assert!(drift.level_change.abs() < 1e-9, "{drift:?}");
        let lenient = DriftOptions {
            factor: 4.0,
            ..DriftOptions::default()
        };
        assert_eq!(watch().judge(&window, &lenient), None);
    }
}
