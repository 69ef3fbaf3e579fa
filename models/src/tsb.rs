//! The intermittent-demand candidate: Teunter–Syntetos–Babai. It smooths the chance of
//! a sale on a day and the size of a sale separately and forecasts their product, flat.
//! Unlike Croston it updates the chance every day, so a product that stops selling
//! decays towards zero instead of keeping its last forecast forever.

use serde::{Deserialize, Serialize};

use crate::error::FitError;

/// Smoothing constants tried for both the chance and the size: a 25-point grid is
/// cheap (25 passes) and as good as a search for a flat forecast.
const GRID: [f64; 5] = [0.02, 0.05, 0.1, 0.2, 0.3];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TsbParams {
    pub alpha_probability: f64,
    pub alpha_size: f64,
    /// Smoothed chance of a sale on a day, after the last fitted day.
    pub probability: f64,
    /// Smoothed size of a sale when there is one.
    pub size: f64,
}

/// Starting point of both filters: the window's share of selling days and its mean
/// non-zero sale.
fn initial(sales: &[f64]) -> (f64, f64) {
    let (count, total) = sales
        .iter()
        .filter(|&&y| y > 0.0)
        .fold((0usize, 0.0), |(n, s), y| (n + 1, s + y));
    let probability = count as f64 / sales.len().max(1) as f64;
    let size = if count > 0 { total / count as f64 } else { 0.0 };
    (probability, size)
}

/// One pass: the one-step SSE and the final (probability, size).
fn run(sales: &[f64], alpha_p: f64, alpha_z: f64, init: (f64, f64)) -> (f64, f64, f64) {
    let (mut p, mut z) = init;
    let mut sse = 0.0;
    for &y in sales {
        let error = y - p * z;
        sse += error * error;
        // Branch-free: whether a day has a sale is a coin flip the CPU cannot predict.
        let sold = f64::from(u8::from(y > 0.0));
        p += alpha_p * (sold - p);
        z += alpha_z * sold * (y - z);
    }
    (sse, p, z)
}

pub(crate) fn fit(sales: &[f64]) -> Result<TsbParams, FitError> {
    if sales.is_empty() {
        return Err(FitError::TooShort { days: 0, needed: 1 });
    }
    let init = initial(sales);
    let mut best: Option<(f64, TsbParams)> = None;
    for alpha_probability in GRID {
        for alpha_size in GRID {
            let (sse, probability, size) = run(sales, alpha_probability, alpha_size, init);
            // Strictly better only: ties keep the smoother (earlier) constants.
            if sse.is_finite() && best.as_ref().is_none_or(|(b, _)| sse < *b) {
                let params = TsbParams {
                    alpha_probability,
                    alpha_size,
                    probability,
                    size,
                };
                best = Some((sse, params));
            }
        }
    }
    best.map(|(_, p)| p).ok_or(FitError::NonFinite("tsb error"))
}

/// The same constants over fresher `sales`.
pub(crate) fn refilter(fitted: &TsbParams, sales: &[f64]) -> Result<TsbParams, FitError> {
    let (_, probability, size) = run(
        sales,
        fitted.alpha_probability,
        fitted.alpha_size,
        initial(sales),
    );
    if !(probability.is_finite() && size.is_finite()) {
        return Err(FitError::NonFinite("tsb state"));
    }
    Ok(TsbParams {
        probability,
        size,
        ..fitted.clone()
    })
}

pub(crate) fn project(fitted: &TsbParams, horizon: usize) -> Vec<f64> {
    let rate = fitted.probability * fitted.size;
    vec![if rate.is_finite() { rate.max(0.0) } else { 0.0 }; horizon]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intermittent_series_forecast_the_mean_demand_rate() {
        // A sale of 4–6 units on about one day in four.
        let mut state = 12345u64;
        let y: Vec<f64> = (0..600)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 33) as f64 / (1u64 << 31) as f64;
                if u < 0.25 {
                    4.0 + (state >> 20) as f64 % 3.0
                } else {
                    0.0
                }
            })
            .collect();
        let rate = y.iter().sum::<f64>() / y.len() as f64;
        let fitted = fit(&y).unwrap();
        let forecast = project(&fitted, 3);
        assert!(
            (forecast[0] - rate).abs() < 0.3 * rate,
            "{} vs {rate}",
            forecast[0]
        );
        assert!(forecast.iter().all(|v| *v == forecast[0]));
    }

    #[test]
    fn no_sales_forecast_zero() {
        let fitted = fit(&[0.0; 50]).unwrap();
        assert_eq!(project(&fitted, 2), vec![0.0, 0.0]);
        assert!(fit(&[]).is_err());
    }
}
