//! `herd bench train --unseen-days`: how the registered accuracy holds on days no
//! part of training saw. Every key is trained on all but its last horizon, exactly
//! as `herd train` would (backtest, choice, holdout, refit); the refit model then
//! forecasts the days held back, with their recorded prices and promotions as known
//! future covariates, and is scored on them.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use herd_history::DenseHistory;
use herd_models::{FoldScore, Future, Model, accuracy};
use herd_registry::NewModel;
use herd_schemas::SeriesKey;
use serde_json::json;

/// The days held back from one key.
pub struct HeldBack {
    first: NaiveDate,
    sales: Vec<f32>,
    price: Vec<f32>,
    promo: Vec<u8>,
}

/// Each key's history without its last `horizon` days, and those days; a key with
/// no more than `horizon` days is left out.
pub fn hold_back(
    histories: &[(SeriesKey, DenseHistory)],
    horizon: usize,
) -> (Vec<(SeriesKey, DenseHistory)>, Vec<HeldBack>) {
    histories
        .iter()
        .filter(|(_, h)| h.sales.len() > horizon)
        .map(|(key, h)| {
            let cut = h.sales.len() - horizon;
            let seen = DenseHistory {
                start: h.start,
                frequency: h.frequency,
                sales: h.sales[..cut].to_vec(),
                price: h.price[..cut].to_vec(),
                promo: h.promo[..cut].to_vec(),
            };
            let held = HeldBack {
                first: h.frequency.add(h.start, cut),
                sales: h.sales[cut..].to_vec(),
                price: h.price[cut..].to_vec(),
                promo: h.promo[cut..].to_vec(),
            };
            ((key.clone(), seen), held)
        })
        .unzip()
}

/// One key's score on its held-back days.
struct Scored {
    key: String,
    model_type: String,
    cold_start: bool,
    /// What the registry would hold: the holdout accuracy, and the winner's mean
    /// over the folds that chose it.
    registered: Option<f64>,
    selection: Option<f64>,
    unseen: f64,
    /// Observed held-back days, and those inside the interval.
    days: usize,
    covered: usize,
}

/// Scores every trained key on its held-back days and reports, overall and per model
/// type: the registered accuracy next to the unseen days' accuracy, the share at or
/// above 0.80 and the interval's coverage; and each key's unseen accuracy.
pub fn report(
    models: &[NewModel],
    held: &[HeldBack],
    interval_level: f64,
) -> (serde_json::Value, HashMap<String, f64>) {
    let scored: Vec<Scored> = models
        .iter()
        .zip(held)
        .filter_map(|(model, held)| score(model, held))
        .collect();
    let mut by_type: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
    for s in &scored {
        let label = if s.cold_start {
            "cold_start".to_owned()
        } else {
            s.model_type.clone()
        };
        by_type.entry(label).or_default().push(s);
    }
    let full: Vec<&Scored> = scored.iter().filter(|s| !s.cold_start).collect();
    let per_type: BTreeMap<String, serde_json::Value> = by_type
        .into_iter()
        .map(|(label, group)| (label, summary(&group)))
        .collect();
    let by_key = scored.iter().map(|s| (s.key.clone(), s.unseen)).collect();
    let line = json!({"bench": "train", "stage": "unseen_days", "keys": scored.len(),
        "interval_level": interval_level, "full_history": summary(&full),
        "all_keys": summary(&scored.iter().collect::<Vec<_>>()), "by_type": per_type});
    (line, by_key)
}

fn summary(group: &[&Scored]) -> serde_json::Value {
    let mean = |values: Vec<f64>| -> Option<f64> {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let days: usize = group.iter().map(|s| s.days).sum();
    let covered: usize = group.iter().map(|s| s.covered).sum();
    json!({
        "keys": group.len(),
        "mean_registered_accuracy": mean(group.iter().filter_map(|s| s.registered).collect()),
        "mean_selection_accuracy": mean(group.iter().filter_map(|s| s.selection).collect()),
        "mean_unseen_accuracy": mean(group.iter().map(|s| s.unseen).collect()),
        "unseen_accuracy_at_least_0_8_share":
            mean(group.iter().map(|s| f64::from(u8::from(s.unseen >= 0.8))).collect()),
        "interval_coverage": (days > 0).then(|| covered as f64 / days as f64),
    })
}

fn score(model: &NewModel, held: &HeldBack) -> Option<Scored> {
    let bytes = model.artifact.as_ref()?;
    let fitted = Model::from_bytes(bytes).ok()?;
    // The model's data may end before the cut (days without a sale at its end): it
    // forecasts from its own last day, and the days up to the cut are dropped.
    let skip = fitted
        .frequency()
        .between(fitted.last_date(), held.first)
        .max(1) as usize
        - 1;
    let steps = skip + held.sales.len();
    let mut price = vec![f32::NAN; skip];
    price.extend(&held.price);
    let mut promo = vec![0; skip];
    promo.extend(&held.promo);
    let future = Future {
        price: &price,
        promo: &promo,
    };
    let forecast = fitted.forecast(steps, Some(&future));
    let (mut days, mut covered) = (0, 0);
    for (i, actual) in held.sales.iter().enumerate() {
        if !actual.is_nan() {
            let (y, step) = (f64::from(*actual), skip + i);
            days += 1;
            covered += usize::from(forecast.lower[step] <= y && y <= forecast.upper[step]);
        }
    }
    if days == 0 {
        return None;
    }
    let row = &model.row;
    Some(Scored {
        key: row.key.to_string(),
        model_type: row.model_type.clone().unwrap_or_default(),
        cold_start: row.cold_start,
        registered: row.metrics.map(|m| m.accuracy),
        selection: selection_accuracy(row.model_type.as_deref(), &row.backtest),
        unseen: accuracy(&held.sales, &forecast.mean[skip..]),
        days,
        covered,
    })
}

/// The chosen model's mean accuracy over the folds that chose it (every fold but
/// the latest, the holdout; the holdout itself when it is the only one).
fn selection_accuracy(model_type: Option<&str>, backtest: &str) -> Option<f64> {
    let folds: Vec<FoldScore> = serde_json::from_str(backtest).ok()?;
    let chosen: Vec<&FoldScore> = folds
        .iter()
        .filter(|f| Some(f.model.as_str()) == model_type)
        .collect();
    let holdout = chosen.iter().map(|f| f.origin).max()?;
    let choosing: Vec<f64> = chosen
        .iter()
        .filter(|f| f.origin != holdout || chosen.len() == 1)
        .map(|f| f.metrics.accuracy)
        .collect();
    (!choosing.is_empty()).then(|| choosing.iter().sum::<f64>() / choosing.len() as f64)
}
