//! Scoring an already fitted model on a holdout it is compared on: the promoter
//! re-scores a key's production model on a challenger's holdout, since the two were
//! trained on windows that ended on different days.

use crate::error::FitError;
use crate::forecast::Future;
use crate::history::{History, check_lengths};
use crate::metrics::accuracy;
use crate::model::Model;

/// Accuracy (1 − WAPE, over observed days) of `model` on the last `horizon` days of
/// `history`, ending at its last observation as a training holdout does. The model
/// forecasts them from the days before, with their recorded prices and promotions,
/// as the backtest forecasts a candidate's holdout.
///
/// The model's parameters may have been fit on some of those days (a champion
/// trained on an older window); that favours the champion, never the challenger.
pub fn holdout_accuracy(model: &Model, history: &History, horizon: usize) -> Result<f64, FitError> {
    check_lengths(history)?;
    let last = history
        .sales
        .iter()
        .rposition(|v| !v.is_nan())
        .ok_or(FitError::NoObservations)?;
    let days = last + 1;
    if horizon == 0 || days <= horizon {
        return Err(FitError::TooShort {
            days,
            needed: horizon + 1,
        });
    }
    let origin = days - horizon;
    let (price, promo) = (&history.price[..days], &history.promo[..days]);
    let before = History {
        start: history.start,
        frequency: history.frequency,
        sales: &history.sales[..origin],
        price: &price[..origin],
        promo: &promo[..origin],
    };
    let future = Future {
        price: &price[origin..],
        promo: &promo[origin..],
    };
    let forecast = model.forecast_from(&before, horizon, Some(&future))?;
    Ok(accuracy(&history.sales[origin..days], &forecast.mean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::TrainOptions;
    use crate::testdata::weekly;
    use crate::train::train;

    #[test]
    fn a_model_scores_its_own_holdout_as_training_did() {
        let data = weekly(400);
        let options = TrainOptions::default();
        let trained = train(&data.history(), &options).unwrap();
        // Refit on all data, the model has seen the holdout: a clean weekly series is
        // forecast at least as well as the backtest did.
        let accuracy = holdout_accuracy(&trained.model, &data.history(), options.horizon).unwrap();
        assert!(accuracy >= trained.metrics.accuracy - 1e-9, "{accuracy}");
        assert!((0.0..=1.0).contains(&accuracy));
    }

    #[test]
    fn a_model_from_an_older_window_scores_a_newer_holdout() {
        let data = weekly(400);
        let options = TrainOptions::default();
        let older = train(&data.head(300), &options).unwrap();
        let accuracy = holdout_accuracy(&older.model, &data.history(), options.horizon).unwrap();
        assert!(accuracy > 0.9, "{accuracy}");
    }

    #[test]
    fn too_short_or_empty_histories_are_errors() {
        let data = weekly(400);
        let options = TrainOptions::default();
        let trained = train(&data.history(), &options).unwrap();
        assert!(matches!(
            holdout_accuracy(&trained.model, &data.head(20), 28),
            Err(FitError::TooShort { days: 20, .. })
        ));
        let empty = History {
            start: data.history().start,
            frequency: herd_schemas::Frequency::Daily,
            sales: &[f32::NAN; 40],
            price: &[1.0; 40],
            promo: &[0; 40],
        };
        assert!(matches!(
            holdout_accuracy(&trained.model, &empty, 28),
            Err(FitError::NoObservations)
        ));
    }
}
