//! `herd bench promote`: how fast a whole training run's candidates are decided.
//! A scratch lake gets a generated data set's `sales`; every key is trained on all
//! but its last days and promoted (no champion yet), then trained on all its days
//! and promoted again, each champion re-scored on its challenger's newer holdout
//! from the lake's sales; a third pass finds nothing to decide. JSON lines.

use std::time::Instant;

use herd_history::DenseHistory;
use herd_ingest::generate::GeneratorSpec;
use herd_lake::LakeRoot;
use herd_promoter::{PassSummary, Promoter};
use herd_registry::CandidateRegistry;
use herd_schemas::SeriesKey;
use serde_json::json;

use herd_config::Settings;
use herd_config::options::{promote_options, resolve_threads, run_settings};

use crate::args::BenchPromoteArgs;
use crate::measure::{emit, peak_rss_mb, secs};
use crate::scratch::{lake_histories, scratch_lake, train, write_sales};

pub async fn run(settings: &Settings, args: &BenchPromoteArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    let (dir, root) = scratch_lake(&args.work_dir, "promote")?;
    let result = bench(settings, args, &spec, &root).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
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

/// `history` without its last `days` days.
fn drop_last_days(history: &DenseHistory, days: usize) -> DenseHistory {
    let keep = history.sales.len().saturating_sub(days);
    DenseHistory {
        start: history.start,
        frequency: history.frequency,
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
