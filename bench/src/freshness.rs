//! `herd bench freshness`: how long a sale takes to become a forecast under a live
//! stream. A generated data set's history goes through the real path (topic,
//! archive, training, promotion of every key) into a scratch lake with topics of its
//! own; then the continuous scorer runs while `herd simulate` publishes one day per
//! tick for every key. Measured per key and day: from the record's Kafka timestamp
//! to its forecast's arrival on the predictions topic, and to the forecast's Delta
//! commit. JSON lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use herd_bus::{BulkProducer, KafkaOptions, TopicSpec};
use herd_ingest::archive::{ArchiveOptions, run_archive};
use herd_ingest::simulate::{SimulateOptions, simulate};
use herd_lake::{LakeRoot, tables};
use herd_scorer::{Latency, StreamOptions, predictions_appender, predictions_table, run_stream};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use herd_config::Settings;

use crate::args::BenchFreshnessArgs;
use crate::measure::{emit, peak_rss_mb, secs};
use crate::score::train_and_promote;
use crate::scratch::scratch_lake;

/// Topics of one benchmark run.
struct Topics {
    sales: String,
    dlq: String,
    models: String,
    predictions: String,
}

pub async fn run(settings: &Settings, args: &BenchFreshnessArgs) -> anyhow::Result<()> {
    if !(args.days_per_second > 0.0 && args.days_per_second.is_finite()) {
        bail!("--days-per-second must be a positive number");
    }
    let (dir, root) = scratch_lake(&args.work_dir, "freshness")?;
    let result = bench(settings, args, &root).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

async fn bench(
    settings: &Settings,
    args: &BenchFreshnessArgs,
    root: &LakeRoot,
) -> anyhow::Result<()> {
    let kafka = settings.kafka_options();
    let run = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let topics = Topics {
        sales: format!("herd.bench.fresh.{run}.sales"),
        dlq: format!("herd.bench.fresh.{run}.dlq"),
        models: format!("herd.bench.fresh.{run}.models"),
        predictions: format!("herd.bench.fresh.{run}.predictions"),
    };
    let partitions = settings.topics.partitions;
    let specs: Vec<TopicSpec> = [
        &topics.sales,
        &topics.dlq,
        &topics.models,
        &topics.predictions,
    ]
    .iter()
    .map(|name| TopicSpec {
        name: (*name).clone(),
        partitions,
        replication_factor: 1,
    })
    .collect();
    herd_bus::ensure_topics(&kafka, &specs, Duration::from_secs(10)).await?;

    // History: published, archived, trained and promoted, as in production.
    let spec = args.spec.spec();
    let simulation = SimulateOptions {
        spec,
        history_days: args.history_days,
        start_day: 0,
        days_per_second: args.days_per_second,
        live_days: Some(0),
        topic: topics.sales.clone(),
    };
    // The live phase's producer starts now, as a producer of live sales would have
    // long before: its connection and idempotent producer id are not a forecast's
    // latency.
    let live_producer = BulkProducer::new(&kafka)?;
    let started = Instant::now();
    let history = publish(BulkProducer::new(&kafka)?, simulation.clone()).await?;
    emit(
        json!({"bench": "freshness", "stage": "publish_history", "records": history,
        "series": spec.series(), "seconds": secs(started)}),
    );

    let started = Instant::now();
    let archive = ArchiveOptions {
        lake_root: root.url().to_string(),
        group: format!("herd-bench-archive-{run}"),
        topic: topics.sales.clone(),
        dlq_topic: topics.dlq.clone(),
        stop_when_idle: Some(Duration::from_secs(3)),
        ..ArchiveOptions::default()
    };
    let archived = run_archive(&archive, &kafka, CancellationToken::new()).await?;
    if archived.committed != history {
        bail!(
            "the archive stored {} of {history} history records",
            archived.committed
        );
    }
    emit(json!({"bench": "freshness", "stage": "archive_history",
        "rows": archived.committed, "seconds": secs(started)}));

    let started = Instant::now();
    let (settings_run, models, promoted) = train_and_promote(settings, &args.model, root).await?;
    emit(json!({"bench": "freshness", "stage": "train_and_promote",
        "models": models, "promoted": promoted, "seconds": secs(started)}));

    let flush_ms = args.flush_ms.unwrap_or(settings.score.flush_ms);
    // The scorer, started before the live phase and ready once every partition's
    // starting offset is stored.
    let options = StreamOptions {
        group: format!("herd-bench-scorer-{run}"),
        topic: topics.sales.clone(),
        predictions_topic: topics.predictions.clone(),
        models_topic: topics.models.clone(),
        dlq_topic: topics.dlq.clone(),
        archive_writer: "archive".to_owned(),
        horizon: settings_run.model.horizon,
        window_days: settings.train.window_days,
        frequency: settings.frequency,
        fallback: settings.promote.fallback.clone(),
        cache_bytes: (settings.score.model_cache_mb * 1024.0 * 1024.0) as usize,
        refresh: Duration::from_secs(settings.serve.refresh_seconds.max(1)),
        flush: Duration::from_millis(flush_ms.max(1)),
        stop_when_idle: None,
        on_gap: herd_bus::GapPolicy::Fail,
        status: herd_bus::Status::new(),
    };
    let started = Instant::now();
    let stop_scoring = CancellationToken::new();
    let scorer = {
        let (root, kafka, options, cancel) = (
            root.clone(),
            kafka.clone(),
            options.clone(),
            stop_scoring.clone(),
        );
        tokio::spawn(async move { run_stream(&root, &root, &kafka, &options, cancel).await })
    };
    wait_ready(
        root,
        &topics.sales,
        &options.group,
        partitions,
        &options.status,
        &scorer,
    )
    .await?;
    emit(json!({"bench": "freshness", "stage": "scorer_ready", "seconds": secs(started)}));

    // The live phase, with a reader of the predictions topic beside it. Every live
    // record moves its key on by a day, so each is one forecast.
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let reading = {
        let (kafka, topic, target) = (
            kafka.clone(),
            topics.predictions.clone(),
            Arc::clone(&target),
        );
        let patience =
            Duration::from_secs_f64(f64::from(args.live_days) / args.days_per_second + 60.0);
        tokio::task::spawn_blocking(move || read_predictions(&kafka, &topic, &target, patience))
    };
    let live = SimulateOptions {
        start_day: args.history_days,
        live_days: Some(args.live_days),
        ..simulation
    };
    let started = Instant::now();
    let records = publish(live_producer, live).await?;
    let expected = records;
    target.store(expected, Ordering::Relaxed);
    let (received, on_topic) = reading.await.context("reading predictions")??;
    let live_seconds = secs(started);
    stop_scoring.cancel();
    let summary = scorer.await.context("the scorer stopped unexpectedly")??;

    let table = tables::open_existing(root, &predictions_table())
        .await?
        .context("the predictions table vanished")?;
    let stats = herd_lake::table_stats(&table)?;
    emit(json!({"bench": "freshness", "stage": "live",
        "series": spec.series(), "live_days": args.live_days,
        "days_per_second": args.days_per_second, "records": records,
        "forecasts_expected": expected, "forecasts_committed": summary.scored,
        "messages_received": received, "rows": summary.rows, "commits": summary.commits,
        "table_rows": stats.rows, "flush_ms": flush_ms,
        "seconds": live_seconds,
        "to_topic_ms": {"p50": on_topic.quantile(0.5), "p99": on_topic.quantile(0.99),
            "max": on_topic.max(), "count": on_topic.count()},
        "to_commit_ms": {"p50": summary.commit_latency.quantile(0.5),
            "p99": summary.commit_latency.quantile(0.99),
            "max": summary.commit_latency.max(), "count": summary.commit_latency.count()},
        "peak_rss_mb": peak_rss_mb()}));
    if summary.scored != expected {
        bail!(
            "{} forecasts committed where {expected} were expected",
            summary.scored
        );
    }
    Ok(())
}

/// Publishes what `options` says with `herd simulate`'s generator through
/// `producer`; returns the records delivered.
async fn publish(producer: BulkProducer, options: SimulateOptions) -> anyhow::Result<u64> {
    let (summary, report) = tokio::task::spawn_blocking(move || {
        simulate(&options, producer, &AtomicBool::new(false), &|_| {})
    })
    .await
    .context("the simulator stopped unexpectedly")??;
    if !report.is_complete() {
        bail!(
            "{} records were not delivered",
            report.failed + report.unacknowledged
        );
    }
    Ok(summary.history_records + summary.live_records)
}

/// Waits until the scorer stored a starting offset for every partition of `topic`
/// and says it is ready: its windows rebuilt from the lake, reading where it
/// stands.
async fn wait_ready(
    root: &LakeRoot,
    topic: &str,
    group: &str,
    partitions: u32,
    status: &herd_bus::Status,
    scorer: &tokio::task::JoinHandle<herd_scorer::Result<herd_scorer::StreamSummary>>,
) -> anyhow::Result<()> {
    let all: Vec<i32> = (0..partitions as i32).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if scorer.is_finished() {
            bail!("the scorer stopped before it was ready");
        }
        if let Some(table) = tables::open_existing(root, &predictions_table()).await? {
            let mut appender = predictions_appender(table, group);
            let stored = appender.stored_versions(topic, &all).await?;
            if stored.values().all(Option::is_some) && status.health().is_ready() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the scorer was not assigned every partition within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads `topic` from its start until `target` distinct forecasts arrived or
/// `patience` ran out; returns how many arrived and their latency from the source
/// record's timestamp to their arrival.
fn read_predictions(
    kafka: &KafkaOptions,
    topic: &str,
    target: &AtomicU64,
    patience: Duration,
) -> anyhow::Result<(u64, Latency)> {
    // Assigned every partition from its start rather than subscribed: a group join
    // would hold the first forecasts back, and its wait would count as theirs.
    let group = format!("herd-bench-reader-{}", std::process::id());
    let consumer: BaseConsumer = kafka.consumer_config(&group).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        partitions.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
    }
    if partitions.count() == 0 {
        bail!("{topic} has no partitions");
    }
    consumer.assign(&partitions)?;
    let mut seen = std::collections::HashSet::new();
    let mut latency = Latency::default();
    let deadline = Instant::now() + patience;
    while (seen.len() as u64) < target.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let arrived = chrono::Utc::now().timestamp_millis();
        let Some(payload) = message.payload() else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        let id = value["id"].as_str().unwrap_or_default().to_owned();
        if seen.insert(id)
            && let Some(source) = value["source_timestamp_ms"].as_i64()
        {
            latency.record((arrived - source).max(0) as u64);
        }
    }
    Ok((seen.len() as u64, latency))
}
