//! How a series is trained: horizon, folds, candidates and their settings.

use crate::error::FitError;
use crate::features::{FeatureSet, MAX_LAG};
use crate::kind::ModelKind;

/// Settings of [`crate::train`]. `Default` is the promotion setting of `docs/workload.md`.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Days forecast, and the length of each backtest fold.
    pub horizon: usize,
    /// Rolling-origin folds of `horizon` days each; at least 1. Fold 1 is the holdout.
    pub folds: usize,
    /// Candidates that may be selected. Seasonal naive is always evaluated as the
    /// baseline; when it is not listed it only serves if every listed candidate fails.
    pub candidates: Vec<ModelKind>,
    /// Ridge penalty (scikit-learn's `alpha`); raised automatically if the system is singular.
    pub ridge_lambda: f64,
    /// Coverage of the prediction interval, in (0, 1).
    pub interval_level: f64,
    /// Ridge features.
    pub features: FeatureSet,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            horizon: 28,
            folds: 2,
            candidates: ModelKind::CANDIDATES.to_vec(),
            ridge_lambda: 1.0,
            interval_level: 0.8,
            features: FeatureSet::Full,
        }
    }
}

impl TrainOptions {
    pub(crate) fn validate(&self) -> Result<(), FitError> {
        if self.horizon == 0 {
            return Err(FitError::InvalidOption("horizon must be at least 1 day"));
        }
        if self.folds == 0 {
            return Err(FitError::InvalidOption("folds must be at least 1"));
        }
        if !(self.ridge_lambda.is_finite() && self.ridge_lambda >= 0.0) {
            return Err(FitError::InvalidOption(
                "ridge_lambda must be finite and >= 0",
            ));
        }
        if !(self.interval_level > 0.0 && self.interval_level < 1.0) {
            return Err(FitError::InvalidOption(
                "interval_level must lie strictly between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Days of history (after gap handling) needed for full training: every fold plus
/// eight weeks before the earliest origin — 28 days to fill the longest lag and 28
/// rows to fit on.
pub fn min_history(options: &TrainOptions) -> usize {
    options
        .folds
        .saturating_mul(options.horizon)
        .saturating_add(2 * MAX_LAG)
}
