//! `herd score --batch`: every key with a production model (those whose tags match,
//! when tags are given) forecasts the horizon after an as-of date from its sales in
//! the lake; without tags, every other key with sales gets the fallback chain's
//! forecast (its own baseline, else a cold start), labelled. The rows replace, in one commit, the earlier batch rows of the keys
//! it scored for that as-of date — a second run for the same day replaces, never
//! duplicates, and rows of other keys or of the continuous scorer stay.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use herd_history::{DenseHistory, Windows};
use herd_lake::{AppendOptions, LakeRoot, RowMatch, tables};
use herd_models::{Model, ModelKind, TrainOptions};
use herd_registry::{ProductionEntry, ProductionRegistry, read_artifact};
use herd_schemas::SeriesKey;
use tokio::task::JoinSet;
use tracing::info;

use crate::error::{Result, ScoreError};
use crate::fallback::{self, Fallback, Origin};
use crate::predictions::{PredictionRows, Scored, predictions_table};

/// The `source` of the rows a batch run writes.
const BATCH_SOURCE: &str = "batch";

/// Artifacts read at once.
const READS: usize = 32;

/// What to score.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Forecasts start the day after; default: the last day in the lake's sales.
    pub as_of: Option<NaiveDate>,
    pub horizon: usize,
    /// Days of sales read per key (the models' state is rebuilt from them).
    pub window_days: usize,
    /// What one period of a window is.
    pub frequency: herd_schemas::Frequency,
    /// Only production models with all these tags (and then no fallbacks).
    pub tags: Vec<(String, String)>,
    /// What forecasts a key without a production model; empty: nothing.
    pub fallback: Vec<Fallback>,
}

/// What a batch run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BatchSummary {
    pub as_of: Option<NaiveDate>,
    /// Keys with a production model, and those whose tags matched.
    pub production_keys: usize,
    pub matched: usize,
    /// Keys forecast, with or without a production model.
    pub scored: usize,
    /// Of those, keys without a production model forecast by their own baseline, and
    /// by the cold start.
    pub baseline: usize,
    pub cold_start: usize,
    /// Matched keys without any sales on or before the as-of date.
    pub no_sales: usize,
    /// Keys whose model could not be read or could not forecast.
    pub failed: usize,
    pub rows: usize,
    /// Files that held earlier batch rows of the scored keys: rewritten without them.
    pub files_replaced: usize,
    /// Earlier batch rows of the scored keys that this run replaced.
    pub rows_replaced: usize,
    pub table_version: u64,
    pub read_seconds: f64,
    pub score_seconds: f64,
    pub write_seconds: f64,
    pub seconds: f64,
}

/// Scores every matching production model as of one day.
pub async fn score_batch(
    lake: &LakeRoot,
    production_root: &LakeRoot,
    options: &BatchOptions,
) -> Result<BatchSummary> {
    let started = Instant::now();
    // Fallbacks forecast keys the registry does not name, so only an untagged run
    // with a chain can go on without a registry.
    let fallback: &[Fallback] = if options.tags.is_empty() {
        &options.fallback
    } else {
        &[]
    };
    let production = match ProductionRegistry::open_existing(production_root).await? {
        Some(production) => Some(production),
        None if !fallback.is_empty() => None,
        None => return Err(ScoreError::NoProduction(production_root.url().to_string())),
    };
    let sales = tables::open_existing(lake, &tables::sales())
        .await?
        .ok_or_else(|| ScoreError::NoSales(lake.url().to_string()))?;
    let current: Vec<&ProductionEntry> = production
        .iter()
        .flat_map(ProductionRegistry::all_current)
        .collect();
    let mut summary = BatchSummary {
        production_keys: current.len(),
        ..BatchSummary::default()
    };
    let entries: Vec<ProductionEntry> = current
        .iter()
        .filter(|e| {
            options
                .tags
                .iter()
                .all(|(k, v)| e.tags.get(k).is_some_and(|t| t == v))
        })
        .map(|e| (*e).clone())
        .collect();
    summary.matched = entries.len();

    let windows = Windows::of(options.window_days, options.frequency);
    herd_history::load(&windows, &sales, None).await?;
    // Keys with sales and no production model, forecast by the fallback chain.
    let unmodelled: Vec<SeriesKey> = if fallback.is_empty() {
        Vec::new()
    } else {
        let modelled: HashSet<&SeriesKey> = current.iter().map(|e| &e.key).collect();
        let mut keys: Vec<SeriesKey> = windows
            .map()
            .iter()
            .map(|w| w.key().clone())
            .filter(|key| !modelled.contains(key))
            .collect();
        keys.sort();
        keys
    };
    let as_of = match options.as_of {
        // The date that names the period holding the day asked for.
        Some(day) => options.frequency.date_of(options.frequency.period_of(day)),
        None => entries
            .iter()
            .map(|e| &e.key)
            .chain(&unmodelled)
            .filter_map(|key| windows.map().get(key)?.window.last_day())
            .max()
            .ok_or_else(|| ScoreError::NoSales(lake.url().to_string()))?,
    };
    summary.as_of = Some(as_of);

    // Models, read concurrently from the production registry (entries are empty
    // without one).
    let mut reads: JoinSet<(usize, Result<Model>)> = JoinSet::new();
    let mut models: Vec<Option<Model>> = vec![None; entries.len()];
    let store = production.as_ref().map(ProductionRegistry::artifact_store);
    for (i, entry) in entries.iter().enumerate() {
        let Some(store) = &store else { break };
        if reads.len() >= READS
            && let Some(done) = reads.join_next().await
        {
            let (i, model) = done.map_err(|e| ScoreError::Task(e.to_string()))?;
            models[i] = model.ok();
        }
        let (store, path) = (Arc::clone(store), entry.artifact.clone());
        reads.spawn(async move {
            let model = async {
                let bytes = read_artifact(store.as_ref(), &path).await?;
                Model::from_bytes(&bytes).map_err(|e| ScoreError::Model {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            .await;
            (i, model)
        });
    }
    while let Some(done) = reads.join_next().await {
        let (i, model) = done.map_err(|e| ScoreError::Task(e.to_string()))?;
        models[i] = model.ok();
    }
    summary.read_seconds = started.elapsed().as_secs_f64();

    let scoring = Instant::now();
    // A key's sales up to the as-of day, padded to end on it.
    let history_through = |key: &SeriesKey| {
        windows
            .map()
            .get(key)
            .and_then(|w| through(&w.window.dense(), as_of))
    };
    let keys = entries.len() + unmodelled.len();
    let mut rows = PredictionRows::with_capacity(keys * options.horizon);
    let mut scored_keys: Vec<String> = Vec::with_capacity(keys);
    let now = Utc::now();
    for (entry, model) in entries.iter().zip(&models) {
        let Some(model) = model else {
            summary.failed += 1;
            continue;
        };
        let Some(history) = history_through(&entry.key) else {
            summary.no_sales += 1;
            continue;
        };
        let view = history.view();
        match model.forecast_from(&view, options.horizon, None) {
            Ok(forecast) => {
                rows.push(
                    &Scored {
                        key: entry.key.clone(),
                        as_of,
                        forecast,
                        model_version: Some(entry.version),
                        model_type: entry.model_type.clone(),
                        cold_start: entry.cold_start,
                        origin: Origin::Champion,
                    },
                    BATCH_SOURCE,
                    now,
                );
                scored_keys.push(entry.key.to_string());
                summary.scored += 1;
            }
            Err(e) => {
                info!(key = %entry.key, error = %e, "could not forecast");
                summary.failed += 1;
            }
        }
    }
    let train_options = TrainOptions {
        horizon: options.horizon,
        ..TrainOptions::default()
    };
    let profiles = if fallback.contains(&Fallback::ColdStart) && !unmodelled.is_empty() {
        herd_history::window_profiles(&windows, &train_options)
    } else {
        HashMap::new()
    };
    for key in unmodelled {
        let Some(history) = history_through(&key) else {
            summary.no_sales += 1;
            continue;
        };
        let view = history.view();
        let profile = profiles.get(key.item_id());
        let f = match fallback::forecast(fallback, &view, profile, &train_options, None) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                info!(%key, error = %e, "could not forecast");
                summary.failed += 1;
                continue;
            }
        };
        match f.origin {
            Origin::Baseline => summary.baseline += 1,
            _ => summary.cold_start += 1,
        }
        rows.push(
            &Scored {
                key: key.clone(),
                as_of,
                model_type: Some(f.kind.as_str().to_owned()),
                cold_start: f.kind == ModelKind::ColdStart,
                forecast: f.forecast,
                model_version: None,
                origin: f.origin,
            },
            BATCH_SOURCE,
            now,
        );
        scored_keys.push(key.to_string());
        summary.scored += 1;
    }
    summary.rows = rows.len();
    summary.score_seconds = scoring.elapsed().as_secs_f64();

    let writing = Instant::now();
    let mut table = tables::open_or_create(lake, &predictions_table()).await?;
    // Only this run's own kind of rows for the keys it scored: other stores' batch
    // rows and the continuous scorer's rows (whose offsets are committed, so they
    // would never be written again) are not this run's to replace.
    let replacing = RowMatch::new()
        .column_in("key", scored_keys)
        .column_in("source", [BATCH_SOURCE]);
    let replaced = herd_lake::replace_rows(
        &mut table,
        "as_of",
        &as_of.to_string(),
        &replacing,
        vec![rows.finish()?],
        &AppendOptions::default(),
    )
    .await?;
    summary.files_replaced = replaced.files_removed;
    summary.rows_replaced = replaced.rows_removed;
    summary.table_version = replaced.version;
    summary.write_seconds = writing.elapsed().as_secs_f64();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// `history` cut or padded (with unobserved periods) to end exactly on the period that
/// holds `as_of`, so a forecast from it starts the next period; `None` without an
/// observation by then.
pub fn through(history: &DenseHistory, as_of: NaiveDate) -> Option<DenseHistory> {
    let frequency = history.frequency;
    let days = usize::try_from(frequency.between(history.start, as_of) + 1).ok()?;
    let keep = days.min(history.sales.len());
    if !history.sales[..keep].iter().any(|v| !v.is_nan()) {
        return None;
    }
    let mut out = DenseHistory {
        start: history.start,
        frequency,
        sales: history.sales[..keep].to_vec(),
        price: history.price[..keep].to_vec(),
        promo: history.promo[..keep].to_vec(),
    };
    out.sales.resize(days, f32::NAN);
    out.price.resize(days, f32::NAN);
    out.promo.resize(days, 0);
    debug_assert_eq!(
        frequency.add(history.start, days - 1),
        frequency.date_of(frequency.period_of(as_of))
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_models::Frequency;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_history_is_cut_or_padded_to_the_period_that_holds_the_day_asked_for() {
        // Ten weeks from Monday 2024-01-01, the fourth unobserved.
        let mut sales: Vec<f32> = (0..10).map(|w| w as f32).collect();
        sales[3] = f32::NAN;
        let weekly = DenseHistory {
            start: date("2024-01-01"),
            frequency: Frequency::Weekly,
            price: vec![1.0; 10],
            promo: vec![0; 10],
            sales,
        };
        // A Wednesday names its week: the history ends with that week.
        let cut = through(&weekly, date("2024-01-17")).unwrap();
        assert_eq!((cut.sales.len(), cut.frequency), (3, Frequency::Weekly));
        assert_eq!(cut.view().end(), date("2024-01-15"));
        // Past the data: padded with unobserved weeks, so a forecast starts after it.
        let padded = through(&weekly, date("2024-03-20")).unwrap();
        assert_eq!(padded.sales.len(), 12);
        assert!(padded.sales[10..].iter().all(|v| v.is_nan()));
        assert_eq!(padded.view().end(), date("2024-03-18"));
        // Before the first week: nothing to forecast from.
        assert!(through(&weekly, date("2023-12-31")).is_none());

        let monthly = DenseHistory {
            start: date("2020-01-01"),
            frequency: Frequency::Monthly,
            sales: vec![5.0; 24],
            price: vec![1.0; 24],
            promo: vec![0; 24],
        };
        let cut = through(&monthly, date("2021-03-31")).unwrap();
        assert_eq!(cut.sales.len(), 15);
        assert_eq!(cut.view().end(), date("2021-03-01"));
    }
}
