//! The nightly pass, `herd train --once`: every key of the lake's `sales` table is
//! trained once, on a bounded CPU pool, and registered in batches of a few thousand
//! models per Delta commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use herd_history::{DenseHistory, LoadSummary, Windows, item_profiles};
use herd_lake::{LakeRoot, tables};
use herd_models::{Calibration, ItemProfile};
use herd_registry::{CandidateRegistry, ModelRow, ModelStatus, NewModel};
use herd_schemas::{SeriesId, SeriesKey};
use tracing::info;

use crate::announce::Announcer;
use crate::error::{Result, TrainError};
use crate::fit::{Outcome, RunSettings, to_row, train_key};

/// How a batch training run reads, trains and commits.
#[derive(Debug, Clone)]
pub struct OnceOptions {
    pub run: RunSettings,
    /// Days of history kept per key (the most recent ones).
    pub window_days: usize,
    /// What one period of a window is.
    pub frequency: herd_schemas::Frequency,
    /// Models per Delta commit.
    pub commit_every: usize,
    /// Training threads (at least 1).
    pub threads: usize,
}

/// What a batch run did, with the accuracy of what it registered.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OnceSummary {
    pub run_id: String,
    pub keys: usize,
    pub registered: usize,
    pub failed: usize,
    pub cold_start: usize,
    pub commits: usize,
    pub rows_read: u64,
    pub load_seconds: f64,
    pub train_seconds: f64,
    pub register_seconds: f64,
    /// Over keys trained with full history.
    pub mean_accuracy: f64,
    pub mean_baseline_accuracy: f64,
    pub beat_baseline_share: f64,
    pub accuracy_at_least_0_8_share: f64,
    pub models_by_type: HashMap<String, usize>,
}

/// Trains every key of the `sales` table under `root` once and registers the models
/// under the same root. `progress` hears (keys done, keys in all).
pub async fn train_once(
    root: &LakeRoot,
    options: &OnceOptions,
    announcer: Option<&mut Announcer>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<OnceSummary> {
    let started = Instant::now();
    let no_rows = || {
        TrainError::NoData(format!(
            "the sales table under {} has no rows (run `herd archive` after `herd ingest`)",
            root.url()
        ))
    };
    let sales = tables::open_existing(root, &tables::sales())
        .await?
        .ok_or_else(no_rows)?;
    let windows = Windows::of(options.window_days, options.frequency);
    let load: LoadSummary = herd_history::load(&windows, &sales, None).await?;
    if load.keys == 0 {
        return Err(no_rows());
    }
    let histories: Vec<(SeriesKey, DenseHistory)> = windows
        .map()
        .iter()
        .map(|entry| (entry.key().clone(), entry.value().window.dense()))
        .collect();
    drop(windows);
    let load_seconds = started.elapsed().as_secs_f64();
    info!(
        keys = histories.len(),
        rows = load.rows,
        seconds = load_seconds,
        "loaded windows from the lake"
    );

    let mut registry = CandidateRegistry::open(root).await?;
    let summary = train_histories(histories, &mut registry, options, announcer, progress).await?;
    Ok(OnceSummary {
        rows_read: load.rows,
        load_seconds,
        ..summary
    })
}

/// Trains every key of `histories` on `pool`, in order, and calibrates their
/// intervals together with the scores `calibration` holds from earlier keys.
pub fn fit_all(
    pool: &rayon::ThreadPool,
    histories: &[(SeriesKey, DenseHistory)],
    profiles: &HashMap<SeriesId, ItemProfile>,
    run: &RunSettings,
    trained_at: DateTime<Utc>,
    calibration: &mut Calibration,
) -> Vec<NewModel> {
    use rayon::prelude::*;
    pool.install(|| {
        let mut outcomes: Vec<Outcome> = histories
            .par_iter()
            .map(|(key, history)| train_key(history, profiles.get(key.item_id()), run))
            .collect();
        calibration.calibrate(outcomes.iter_mut().filter_map(|outcome| match outcome {
            Outcome::Trained { trained, .. } => Some(trained),
            Outcome::Failed { .. } => None,
        }));
        histories
            .par_iter()
            .zip(outcomes)
            .map(|((key, history), outcome)| to_row(key, history, outcome, run, trained_at))
            .collect()
    })
}

/// A pool of `threads` training threads (at least 1).
pub fn training_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("herd-train-{i}"))
        .build()
        .map_err(|e| TrainError::Invalid(format!("cannot start the training pool: {e}")))
}

/// Trains `histories` on the pool and registers them `commit_every` at a time.
pub async fn train_histories(
    histories: Vec<(SeriesKey, DenseHistory)>,
    registry: &mut CandidateRegistry,
    options: &OnceOptions,
    mut announcer: Option<&mut Announcer>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<OnceSummary> {
    let pool = Arc::new(training_pool(options.threads)?);
    let profiles = Arc::new(item_profiles(&histories, &options.run.model));
    let histories = Arc::new(histories);
    let total = histories.len();
    let chunk = options.commit_every.max(1);
    let mut summary = OnceSummary {
        run_id: options.run.run_id.clone(),
        keys: total,
        ..OnceSummary::default()
    };
    let mut accuracy = AccuracyTally::default();
    let (mut train_seconds, mut register_seconds) = (0.0, 0.0);
    let trained_at = Utc::now();
    let mut calibration = Calibration::new(options.run.model.interval_level);
    let mut start = 0;
    while start < total {
        let end = (start + chunk).min(total);
        let timer = Instant::now();
        let (pool, profiles, histories, run) = (
            Arc::clone(&pool),
            Arc::clone(&profiles),
            Arc::clone(&histories),
            options.run.clone(),
        );
        let (models, calibrated) = tokio::task::spawn_blocking(move || {
            let models = fit_all(
                &pool,
                &histories[start..end],
                &profiles,
                &run,
                trained_at,
                &mut calibration,
            );
            (models, calibration)
        })
        .await
        .map_err(|e| TrainError::Invalid(format!("the training pool failed: {e}")))?;
        calibration = calibrated;
        train_seconds += timer.elapsed().as_secs_f64();

        let timer = Instant::now();
        let rows = registry.register(models).await?;
        register_seconds += timer.elapsed().as_secs_f64();
        summary.commits += 1;
        if let Some(announcer) = announcer.as_deref_mut() {
            announcer.announce(&rows)?;
            announcer.confirm().await?;
        }
        for row in &rows {
            accuracy.add(row);
            match row.status {
                ModelStatus::Candidate => summary.registered += 1,
                ModelStatus::Failed => summary.failed += 1,
            }
            summary.cold_start += usize::from(row.cold_start);
            if let Some(model_type) = &row.model_type {
                *summary
                    .models_by_type
                    .entry(model_type.clone())
                    .or_default() += 1;
            }
        }
        progress(end as u64, total as u64);
        start = end;
    }
    info!(factors = %describe(&calibration), "interval bands calibrated across keys");
    accuracy.fill(&mut summary);
    summary.train_seconds = train_seconds;
    summary.register_seconds = register_seconds;
    Ok(summary)
}

/// Each model type's band factor and the scores behind it, e.g.
/// `ets ×1.21 (n=55,608)`.
pub(crate) fn describe(calibration: &Calibration) -> String {
    calibration
        .factors()
        .iter()
        .map(|(kind, factor, n)| format!("{} ×{factor:.2} (n={n})", kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Default)]
struct AccuracyTally {
    keys: usize,
    accuracy: f64,
    baseline: f64,
    beat: usize,
    pass: usize,
}

impl AccuracyTally {
    fn add(&mut self, row: &ModelRow) {
        let Some(m) = row.metrics.filter(|_| !row.cold_start) else {
            return;
        };
        self.keys += 1;
        self.accuracy += m.accuracy;
        self.baseline += m.baseline_accuracy;
        self.beat += usize::from(m.accuracy > m.baseline_accuracy);
        self.pass += usize::from(m.accuracy >= 0.8);
    }

    fn fill(&self, summary: &mut OnceSummary) {
        if self.keys == 0 {
            return;
        }
        let n = self.keys as f64;
        summary.mean_accuracy = self.accuracy / n;
        summary.mean_baseline_accuracy = self.baseline / n;
        summary.beat_baseline_share = self.beat as f64 / n;
        summary.accuracy_at_least_0_8_share = self.pass as f64 / n;
    }
}
