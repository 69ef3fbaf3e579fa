//! `herd score`: forecasts into the Delta table `predictions`, continuously as sales
//! arrive, or with `--batch` every production model's forecast as of one day.

use std::time::Duration;

use anyhow::bail;
use herd_bus::Status;
use herd_lake::LakeRoot;
use herd_registry::ModelFilter;
use herd_scorer::{BatchOptions, StreamOptions, run_stream, score_batch};

use crate::args::ScoreArgs;
use herd_config::Settings;
use herd_config::options::production_root;

pub async fn run(settings: &Settings, args: &ScoreArgs) -> anyhow::Result<()> {
    if !args.batch {
        return stream(settings, args).await;
    }
    let mut tags = Vec::new();
    for tag in &args.tags {
        tags.push(ModelFilter::parse_tag(tag)?);
    }
    let options = BatchOptions {
        as_of: args.as_of,
        horizon: args.horizon.map_or(settings.train.horizon, |h| h as usize),
        window_days: settings.train.window_days,
        frequency: settings.frequency,
        tags,
        fallback: fallback(settings, args),
    };
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let summary = score_batch(&lake, &production_root(settings)?, &options).await?;
    println!(
        "scored {} keys as of {} ({} with a production model, {} matched; {} from their own baseline, {} cold start): {} rows to predictions (table version {}, replacing {} earlier batch rows in {} files); {} without sales, {} failed",
        summary.scored,
        summary
            .as_of
            .map_or_else(|| "-".to_owned(), |d| d.to_string()),
        summary.production_keys,
        summary.matched,
        summary.baseline,
        summary.cold_start,
        summary.rows,
        summary.table_version,
        summary.rows_replaced,
        summary.files_replaced,
        summary.no_sales,
        summary.failed,
    );
    println!(
        "read models and sales in {:.2} s, forecast in {:.2} s, wrote in {:.2} s; {:.2} s in all",
        summary.read_seconds, summary.score_seconds, summary.write_seconds, summary.seconds
    );
    Ok(())
}

/// The fallback chain: `--fallback`, else `promote.fallback`.
fn fallback(settings: &Settings, args: &ScoreArgs) -> Vec<herd_scorer::Fallback> {
    args.fallback.as_ref().map_or_else(
        || settings.promote.fallback.clone(),
        |chain| chain.0.clone(),
    )
}

/// Continuous scoring until Ctrl-C, SIGTERM or `--idle-exit`.
async fn stream(settings: &Settings, args: &ScoreArgs) -> anyhow::Result<()> {
    if !args.tags.is_empty() || args.as_of.is_some() {
        bail!("--tag and --as-of are for --batch; continuous scoring follows every key");
    }
    let megabytes = args.model_cache_mb.unwrap_or(settings.score.model_cache_mb);
    if !(megabytes.is_finite() && megabytes > 0.0) {
        bail!("--model-cache-mb: {megabytes} is not a positive size");
    }
    let options = StreamOptions {
        group: args
            .group
            .clone()
            .unwrap_or_else(|| settings.score.group.clone()),
        topic: settings.topics.sales.clone(),
        predictions_topic: settings.topics.predictions.clone(),
        models_topic: settings.topics.models.clone(),
        dlq_topic: settings.topics.sales_dlq.clone(),
        archive_writer: "archive".to_owned(),
        horizon: args.horizon.map_or(settings.train.horizon, |h| h as usize),
        window_days: settings.train.window_days,
        frequency: settings.frequency,
        fallback: fallback(settings, args),
        cache_bytes: (megabytes * 1024.0 * 1024.0) as usize,
        refresh: Duration::from_secs(settings.serve.refresh_seconds.max(1)),
        flush: Duration::from_millis(settings.score.flush_ms.max(1)),
        stop_when_idle: args.idle_exit.map(Duration::from_secs),
        on_gap: args.on_gap.unwrap_or(settings.score.on_gap).into(),
        status: Status::new(),
    };
    crate::status::serve(args.status_listen, &options.status).await?;
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let cancel = crate::shutdown::cancel_on_signal();
    let summary = run_stream(
        &lake,
        &production_root(settings)?,
        &settings.kafka_options(),
        &options,
        cancel,
    )
    .await?;
    println!(
        "scored {} key-days ({} from their own baseline and {} cold start without a production model, {} skipped, {} failed) from {} records, replayed {}; {} rows in {} commits to predictions; {} messages on {}",
        summary.scored,
        summary.baseline,
        summary.cold_start,
        summary.skipped,
        summary.failed,
        summary.records,
        summary.replayed,
        summary.rows,
        summary.commits,
        summary.messages,
        options.predictions_topic,
    );
    if summary.failed > 0 {
        println!(
            "{} forecasts failed after {} retries in all; each is recorded with its reason on {}",
            summary.failed, summary.retried, options.dlq_topic
        );
    }
    if summary.lost > 0 {
        println!(
            "{} offsets of {} were deleted before they were scored and are lost (--on-gap skip)",
            summary.lost, options.topic
        );
    }
    if summary.malformed > 0 {
        println!(
            "{} malformed records skipped (the archive sends them to the dead-letter topic)",
            summary.malformed
        );
    }
    Ok(())
}
