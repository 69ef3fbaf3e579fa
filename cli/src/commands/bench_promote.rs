//! `herd bench promote`: how fast a whole training run's candidates are decided.
//! A scratch lake gets a generated data set's `sales`; every key is trained on all
//! but its last days and promoted (no champion yet), then trained on all its days
//! and promoted again, each champion re-scored on its challenger's newer holdout
//! from the lake's sales; a third pass finds nothing to decide. JSON lines.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use herd_history::{DenseHistory, Windows, item_profiles};
use herd_ingest::generate::{GeneratorSpec, SeriesModel};
use herd_lake::{ExactlyOnceAppender, LakeRoot, SalesRows, tables};
use herd_promoter::{PassSummary, Promoter};
use herd_registry::{CandidateRegistry, NewModel};
use herd_schemas::SeriesKey;
use herd_trainer::{RunSettings, fit_all, training_pool};
use serde_json::json;

use crate::args::BenchPromoteArgs;
use crate::commands::bench::{emit, peak_rss_mb, secs};
use crate::commands::promote::promote_options;
use crate::commands::train::{resolve_threads, run_settings};
use crate::config::Settings;

/// Rows per Delta commit while the scratch `sales` table is written.
const SALES_BATCH: usize = 1_000_000;

pub async fn run(settings: &Settings, args: &BenchPromoteArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    let (dir, root) = scratch_lake(&args.work_dir, "promote")?;
    let result = bench(settings, args, &spec, &root).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

/// A fresh lake directory for one benchmark run under `work_dir`.
pub fn scratch_lake(work_dir: &Path, bench: &str) -> anyhow::Result<(PathBuf, LakeRoot)> {
    let dir = work_dir.join(format!("{bench}-lake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = LakeRoot::parse(&dir.to_string_lossy())?;
    Ok((dir, root))
}

/// Every key's last `window_days` days from the scratch lake's `sales`.
pub async fn lake_histories(
    root: &LakeRoot,
    window_days: usize,
) -> anyhow::Result<Vec<(SeriesKey, DenseHistory)>> {
    let sales = tables::open_existing(root, &tables::sales())
        .await?
        .context("the scratch sales table vanished")?;
    let windows = Windows::new(window_days);
    herd_history::load(&windows, &sales, None).await?;
    Ok(windows
        .map()
        .iter()
        .map(|e| (e.key().clone(), e.value().window.dense()))
        .collect())
}

async fn bench(
    settings: &Settings,
    args: &BenchPromoteArgs,
    spec: &GeneratorSpec,
    root: &LakeRoot,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let rows = write_sales(root, spec).await?;
    emit(json!({"bench": "promote", "stage": "sales", "rows": rows,
        "series": spec.series(), "seconds": secs(started)}));

    let full = lake_histories(root, settings.train.window_days).await?;
    let shifted: Vec<(SeriesKey, DenseHistory)> = full
        .iter()
        .map(|(key, h)| (key.clone(), drop_last_days(h, args.shift_days)))
        .collect();

    let threads = resolve_threads(args.threads);
    let mut registry = CandidateRegistry::open(root).await?;
    let options = promote_options(settings, args.rule.as_deref(), None, Some("bench".into()))?;
    let mut promoter = None;
    for (stage, histories) in [("first", &shifted), ("challenge", &full)] {
        let run = run_settings(
            &settings.train,
            &args.model,
            Some(format!("bench-{stage}")),
            &[],
        )?;
        let trained = Instant::now();
        let models = train(histories, &run, threads)?;
        for chunk in models.chunks(settings.train.commit_every.max(1)) {
            registry.register(chunk.to_vec()).await?;
        }
        emit(
            json!({"bench": "promote", "stage": format!("train_{stage}"),
            "models": models.len(), "seconds": secs(trained)}),
        );

        let promoter = match &mut promoter {
            Some(p) => p,
            None => promoter.insert(Promoter::open(root, root, options.clone()).await?),
        };
        let summary = promoter.pass(None).await?;
        promoter.take_events();
        emit(pass_line(stage, &summary));
    }
    if let Some(promoter) = &mut promoter {
        let summary = promoter.pass(None).await?;
        emit(pass_line("nothing_pending", &summary));
    }
    Ok(())
}

/// The generated data set's rows as the `sales` table, written directly (no
/// broker), in commits of a million rows.
pub async fn write_sales(root: &LakeRoot, spec: &GeneratorSpec) -> anyhow::Result<u64> {
    let table = tables::open_or_create(root, &tables::sales()).await?;
    let mut appender = ExactlyOnceAppender::new(table, "bench");
    let mut rows = SalesRows::with_capacity(SALES_BATCH);
    let mut written = 0u64;
    for series in 0..u32::try_from(spec.series())? {
        let model = SeriesModel::new(spec, series);
        for day in 0..spec.days {
            if let Some(record) = model.day(day) {
                rows.push(&record, 0, written as i64);
                written += 1;
            }
        }
        if rows.len() >= SALES_BATCH {
            appender.append(vec![rows.finish()], "bench", &[]).await?;
        }
    }
    if !rows.is_empty() {
        appender.append(vec![rows.finish()], "bench", &[]).await?;
    }
    Ok(written)
}

pub fn train(
    histories: &[(SeriesKey, DenseHistory)],
    run: &RunSettings,
    threads: usize,
) -> anyhow::Result<Vec<NewModel>> {
    let pool = training_pool(threads)?;
    let profiles = item_profiles(histories, &run.model);
    Ok(fit_all(
        &pool,
        histories,
        &profiles,
        run,
        chrono::Utc::now(),
    ))
}

/// `history` without its last `days` days.
fn drop_last_days(history: &DenseHistory, days: usize) -> DenseHistory {
    let keep = history.sales.len().saturating_sub(days);
    DenseHistory {
        start: history.start,
        sales: history.sales[..keep].to_vec(),
        price: history.price[..keep].to_vec(),
        promo: history.promo[..keep].to_vec(),
    }
}

fn pass_line(stage: &str, summary: &PassSummary) -> serde_json::Value {
    json!({"bench": "promote", "stage": format!("{stage}_pass"),
        "decided": summary.decided, "promoted": summary.promoted,
        "rejected": summary.rejected, "deferred": summary.deferred,
        "champions_rescored": summary.rescored, "seconds": summary.seconds,
        "decisions_per_s": summary.decided as f64 / summary.seconds.max(1e-9),
        "peak_rss_mb": peak_rss_mb()})
}
