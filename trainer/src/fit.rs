//! Training one key into a registry row: full candidate selection when the key has
//! enough history, the item's cold-start profile when it does not, and a `failed`
//! row with the reason when the data cannot be fit at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use herd_history::DenseHistory;
use herd_models::{FitError, ItemProfile, TrainOptions, Trained, min_history};
use herd_registry::{HoldoutMetrics, ModelRow, ModelStatus, NewModel, Trigger};
use herd_schemas::SeriesKey;

/// What every model of one training run shares.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub model: TrainOptions,
    /// Identifies the run in every row's tags and events.
    pub run_id: String,
    /// Extra tags from the configuration; the built-in tags win on a clash.
    pub tags: BTreeMap<String, String>,
    /// Why the run trains, recorded on every row (continuous training records
    /// `drift` on the keys it retrains for that).
    pub trigger: Trigger,
}

/// What training one key came to: a model (and whether it is a cold start), or
/// the reason the key's data cannot be fit and the days it observed.
// Nearly every key trains: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    Trained { trained: Trained, cold_start: bool },
    Failed { error: FitError, observed: usize },
}

/// Trains `key` on `history` and returns the row and artifact to register, its
/// interval as the key's own backtest draws it (a training run calibrates the
/// intervals of all its keys together: see `fit_all`).
pub fn fit_key(
    key: &SeriesKey,
    history: &DenseHistory,
    profile: Option<&ItemProfile>,
    run: &RunSettings,
    trained_at: DateTime<Utc>,
) -> NewModel {
    to_row(
        key,
        history,
        train_key(history, profile, run),
        run,
        trained_at,
    )
}

/// Trains one key: full candidate selection when it has enough history, the item's
/// cold-start profile when it does not.
pub(crate) fn train_key(
    history: &DenseHistory,
    profile: Option<&ItemProfile>,
    run: &RunSettings,
) -> Outcome {
    let view = history.view();
    let observed = history.sales.iter().filter(|v| !v.is_nan()).count();
    let cold_start = || Outcome::Trained {
        trained: herd_models::train_cold_start(&view, profile, &run.model),
        cold_start: true,
    };
    if let Err(error) = view.check_frequency() {
        Outcome::Failed { error, observed }
    } else if observed >= min_history(&run.model) {
        match herd_models::train(&view, &run.model) {
            Ok(trained) => Outcome::Trained {
                trained,
                cold_start: false,
            },
            // Gap handling may leave less than the raw count promised.
            Err(FitError::TooShort { .. }) => cold_start(),
            Err(error) => Outcome::Failed { error, observed },
        }
    } else if observed == 0 {
        Outcome::Failed {
            error: FitError::NoObservations,
            observed,
        }
    } else {
        cold_start()
    }
}

/// The row and artifact to register for `outcome`.
pub(crate) fn to_row(
    key: &SeriesKey,
    history: &DenseHistory,
    outcome: Outcome,
    run: &RunSettings,
    trained_at: DateTime<Utc>,
) -> NewModel {
    match outcome {
        Outcome::Trained {
            trained,
            cold_start,
        } => registered(key, trained, cold_start, run, trained_at),
        Outcome::Failed { error, observed } => {
            failed(key, history, observed, &error, run, trained_at)
        }
    }
}

fn tags(
    key: &SeriesKey,
    model_type: Option<&str>,
    cold_start: bool,
    run: &RunSettings,
) -> BTreeMap<String, String> {
    let mut tags = run.tags.clone();
    tags.insert("store_id".into(), key.store_id().as_str().to_owned());
    tags.insert("item_id".into(), key.item_id().as_str().to_owned());
    tags.insert("run_id".into(), run.run_id.clone());
    tags.insert("feature_set".into(), run.model.features.as_str().to_owned());
    tags.insert("cold_start".into(), cold_start.to_string());
    if let Some(model_type) = model_type {
        tags.insert("model_type".into(), model_type.to_owned());
    }
    tags
}

fn registered(
    key: &SeriesKey,
    trained: Trained,
    cold_start: bool,
    run: &RunSettings,
    trained_at: DateTime<Utc>,
) -> NewModel {
    let model_type = trained.model.kind().as_str();
    let m = trained.metrics;
    let row = ModelRow {
        key: key.clone(),
        version: 0,
        status: ModelStatus::Candidate,
        model_type: Some(model_type.to_owned()),
        cold_start,
        artifact: None,
        trained_at,
        data_start: Some(trained.data_start),
        data_end: Some(trained.data_end),
        rows: trained.observed_days as i64,
        horizon: run.model.horizon as i32,
        folds: if cold_start {
            0
        } else {
            run.model.folds as i32
        },
        // A cold start with under a week of days has no holdout to score on: its
        // metrics are unknown, not zero.
        metrics: (!cold_start || trained.observed_days >= 7).then_some(HoldoutMetrics {
            mae: m.mae,
            rmse: m.rmse,
            wape: m.wape,
            accuracy: m.accuracy,
            baseline_accuracy: m.baseline_accuracy,
        }),
        backtest: serde_json::to_string(&trained.folds).unwrap_or_else(|_| "[]".to_owned()),
        tags: tags(key, Some(model_type), cold_start, run),
        run_id: run.run_id.clone(),
        feature_set: run.model.features.as_str().to_owned(),
        error: None,
        trigger: Some(run.trigger),
    };
    NewModel {
        row,
        artifact: Some(trained.model.to_bytes()),
    }
}

fn failed(
    key: &SeriesKey,
    history: &DenseHistory,
    observed: usize,
    error: &FitError,
    run: &RunSettings,
    trained_at: DateTime<Utc>,
) -> NewModel {
    let end = (!history.sales.is_empty()).then(|| history.view().end());
    let row = ModelRow {
        key: key.clone(),
        version: 0,
        status: ModelStatus::Failed,
        model_type: None,
        cold_start: false,
        artifact: None,
        trained_at,
        data_start: (!history.sales.is_empty()).then_some(history.start),
        data_end: end,
        rows: observed as i64,
        horizon: run.model.horizon as i32,
        folds: run.model.folds as i32,
        metrics: None,
        backtest: "[]".to_owned(),
        tags: tags(key, None, false, run),
        run_id: run.run_id.clone(),
        feature_set: run.model.features.as_str().to_owned(),
        error: Some(error.to_string()),
        trigger: Some(run.trigger),
    };
    NewModel {
        row,
        artifact: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use herd_models::ModelKind;

    use super::*;

    fn run() -> RunSettings {
        RunSettings {
            model: TrainOptions::default(),
            run_id: "r1".into(),
            trigger: Trigger::Manual,
            tags: BTreeMap::from([
                ("team".into(), "fresh".into()),
                ("store_id".into(), "spoof".into()),
            ]),
        }
    }

    fn history(sales: Vec<f32>) -> DenseHistory {
        let n = sales.len();
        DenseHistory {
            frequency: Default::default(),
            start: NaiveDate::from_ymd_opt(2023, 1, 2).unwrap(),
            sales,
            price: vec![2.0; n],
            promo: vec![0; n],
        }
    }

    #[test]
    fn a_full_history_gets_a_candidate_with_metrics_and_tags() {
        let key: SeriesKey = "S1/I1".parse().unwrap();
        let sales = (0..300).map(|t| 10.0 + (t % 7) as f32).collect();
        let model = fit_key(&key, &history(sales), None, &run(), Utc::now());
        let row = &model.row;
        assert_eq!(row.status, ModelStatus::Candidate);
        assert!(!row.cold_start);
        assert!(row.metrics.unwrap().accuracy > 0.99);
        assert_eq!(
            row.tags["store_id"], "S1",
            "built-in tags win over configured ones"
        );
        assert_eq!(row.tags["team"], "fresh");
        assert_eq!(row.tags["model_type"], row.model_type.clone().unwrap());
        assert!(ModelKind::parse(row.model_type.as_deref().unwrap()).is_some());
        assert!(model.artifact.is_some());
    }

    #[test]
    fn short_histories_start_cold_and_empty_ones_fail_with_a_reason() {
        let key: SeriesKey = "S1/I1".parse().unwrap();
        let short = fit_key(&key, &history(vec![3.0; 20]), None, &run(), Utc::now());
        assert!(short.row.cold_start);
        assert_eq!(short.row.model_type.as_deref(), Some("cold_start"));
        let one_day = fit_key(&key, &history(vec![3.0]), None, &run(), Utc::now());
        assert!(one_day.row.cold_start);
        assert!(one_day.row.metrics.is_none(), "one day cannot be scored");
        let empty = fit_key(&key, &history(vec![f32::NAN; 10]), None, &run(), Utc::now());
        assert_eq!(empty.row.status, ModelStatus::Failed);
        assert!(empty.row.error.as_deref().is_some_and(|e| !e.is_empty()));
        assert!(empty.artifact.is_none());
    }
}
