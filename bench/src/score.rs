//! `herd bench score`: batch scoring of a generated data set. A scratch lake gets
//! the data set's `sales` (no broker), every key is trained and promoted (rule
//! `true`, so every key has a production model), then `score_batch` runs twice for
//! the same as-of date: the second run replaces the first's rows. JSON lines.

use std::sync::Arc;
use std::time::Instant;

use herd_lake::LakeRoot;
use herd_promoter::{PromoteOptions, Promoter};
use herd_registry::{CandidateRegistry, PromotionRule};
use herd_scorer::{BatchOptions, BatchSummary, score_batch};
use herd_trainer::RunSettings;
use serde_json::json;

use herd_config::Settings;
use herd_config::flags::ModelArgs;
use herd_config::options::{resolve_threads, run_settings};

use crate::args::BenchScoreArgs;
use crate::measure::{emit, peak_rss_mb, secs};
use crate::scratch::{lake_histories, scratch_lake, train, write_sales};

pub async fn run(settings: &Settings, args: &BenchScoreArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    let (dir, root) = scratch_lake(&args.work_dir, "score")?;
    let result = bench(settings, args, &spec, &root).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

async fn bench(
    settings: &Settings,
    args: &BenchScoreArgs,
    spec: &herd_ingest::generate::GeneratorSpec,
    root: &LakeRoot,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let rows = write_sales(root, spec).await?;
    emit(json!({"bench": "score", "stage": "sales", "rows": rows,
        "series": spec.series(), "seconds": secs(started)}));

    let setup = Instant::now();
    let (run, models, promoted) = train_and_promote(settings, &args.model, root).await?;
    emit(
        json!({"bench": "score", "stage": "train_and_promote", "models": models,
        "promoted": promoted, "seconds": secs(setup)}),
    );

    let options = BatchOptions {
        as_of: None,
        horizon: run.model.horizon,
        window_days: settings.train.window_days,
        frequency: settings.frequency,
        tags: Vec::new(),
        fallback: settings.promote.fallback.clone(),
    };
    for stage in ["first_run", "replacing_run"] {
        let summary = score_batch(root, root, &options).await?;
        emit(line(stage, &summary));
    }
    Ok(())
}

/// Trains every key of the scratch lake's `sales` and promotes every candidate
/// (rule `true`); returns the run's settings, the models trained and those promoted.
pub async fn train_and_promote(
    settings: &Settings,
    model: &ModelArgs,
    root: &LakeRoot,
) -> anyhow::Result<(RunSettings, usize, usize)> {
    let histories = lake_histories(root, settings.train.window_days).await?;
    let run = run_settings(&settings.train, model, Some("bench".into()), &[])?;
    let models = train(&histories, &run, resolve_threads(0))?;
    drop(histories);
    let mut registry = CandidateRegistry::open(root).await?;
    for chunk in models.chunks(settings.train.commit_every.max(1)) {
        registry.register(chunk.to_vec()).await?;
    }
    let options = PromoteOptions {
        rule: Arc::new(PromotionRule::parse("true")?),
        margin: 0.0,
        run_id: "bench".into(),
        window_days: settings.train.window_days,
        frequency: settings.frequency,
    };
    let promoted = Promoter::open(root, root, options)
        .await?
        .pass(None)
        .await?
        .promoted;
    Ok((run, models.len(), promoted))
}

fn line(stage: &str, s: &BatchSummary) -> serde_json::Value {
    json!({"bench": "score", "stage": stage, "as_of": s.as_of, "keys": s.scored,
        "rows": s.rows, "files_replaced": s.files_replaced, "rows_replaced": s.rows_replaced, "read_seconds": s.read_seconds,
        "score_seconds": s.score_seconds, "write_seconds": s.write_seconds,
        "seconds": s.seconds, "keys_per_s": s.scored as f64 / s.seconds.max(1e-9),
        "rows_per_s": s.rows as f64 / s.seconds.max(1e-9), "peak_rss_mb": peak_rss_mb()})
}
