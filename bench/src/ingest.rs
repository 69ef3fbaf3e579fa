//! `herd bench ingest`: how fast records get into Kafka and from Kafka into Delta,
//! measured on this machine and printed as JSON lines, with Kafka's own
//! `ProducerPerformance` run beside it on the same broker for scale.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herd_bus::{BulkProducer, FlushPolicy, KafkaOptions, TopicSpec};
use herd_ingest::archive::{ArchiveOptions, run_archive};
use herd_ingest::generate::{GeneratorSpec, SeriesModel, write_file};
use herd_ingest::publish::{PublishOptions, publish};
use herd_ingest::read::Source;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use herd_config::Settings;

use crate::args::BenchIngestArgs;
use crate::measure::{emit, peak_rss_mb, secs};

pub async fn run(settings: &Settings, args: &BenchIngestArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    let work = tempdir(&args.work_dir)?;
    let kafka = settings.kafka_options();
    let run = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();

    let input = input_file("ingest", &spec, args.input.as_deref(), &work).await?;

    // Herd's ingest into a fresh topic.
    let topic = format!("herd.bench.ingest.{run}");
    let dlq = format!("herd.bench.dlq.{run}");
    create_topics(&kafka, &[&topic, &dlq], args.partitions).await?;
    let options = PublishOptions {
        topic: topic.clone(),
        dlq_topic: dlq,
        ..PublishOptions::default()
    };
    let producer = BulkProducer::new(&kafka)?;
    let format = Source::File(input.clone()).format(None)?;
    let sources = vec![(Source::File(input.clone()), format)];
    let summary =
        tokio::task::spawn_blocking(move || publish(&sources, producer, &options, &|_| {}))
            .await??;
    if !summary.all_delivered() {
        bail!(
            "{} records were not delivered",
            summary.failed + summary.unacknowledged
        );
    }
    let herd_rate = summary.delivered as f64 / summary.seconds.max(1e-9);
    emit(json!({
        "bench": "ingest", "stage": "herd_ingest", "input": input.display().to_string(),
        "rows": summary.read, "accepted": summary.accepted, "delivered": summary.delivered,
        "seconds": summary.seconds, "rows_per_s": herd_rate, "partitions": args.partitions,
        "peak_rss_mb": peak_rss_mb(),
    }));

    // Kafka's ProducerPerformance: the same count, the same value size, the same
    // producer guarantees, into another fresh topic.
    if !args.skip_producer_performance {
        let record_size = mean_value_size(&spec);
        let perf_topic = format!("herd.bench.perf.{run}");
        create_topics(&kafka, &[&perf_topic], args.partitions).await?;
        match producer_performance(&kafka, &perf_topic, summary.delivered, record_size) {
            Ok((rate_java, line)) => emit(json!({
                "bench": "ingest", "stage": "kafka_producer_performance", "records": summary.delivered,
                "record_size": record_size, "rows_per_s": rate_java,
                "herd_to_kafka_ratio": herd_rate / rate_java.max(1e-9), "summary": line,
            })),
            Err(err) => emit(json!({
                "bench": "ingest", "stage": "kafka_producer_performance", "skipped": format!("{err:#}"),
            })),
        }
    }

    // The archive of that topic into a fresh Delta table.
    if !args.skip_archive {
        let lake = work.join(format!("lake-{run}"));
        let idle = Duration::from_secs(3);
        let options = ArchiveOptions {
            lake_root: lake.display().to_string(),
            group: format!("herd-bench-archive-{run}"),
            topic: topic.clone(),
            flush: FlushPolicy {
                max_records: args.flush_records,
                ..FlushPolicy::default()
            },
            stop_when_idle: Some(idle),
            ..ArchiveOptions::default()
        };
        let started = Instant::now();
        let archived = run_archive(&options, &kafka, CancellationToken::new()).await?;
        // The loop waits `idle` after the last record before it stops.
        let seconds = (started.elapsed().saturating_sub(idle)).as_secs_f64();
        let files = archived.table.map_or(0, |t| t.files);
        emit(json!({
            "bench": "ingest", "stage": "archive", "rows": archived.committed, "commits": archived.stats.flushes,
            "seconds": seconds, "rows_per_s": archived.committed as f64 / seconds.max(1e-9),
            "files": files, "files_per_million_rows": files as f64 * 1e6 / (archived.committed.max(1) as f64),
            "table_bytes": archived.table.map_or(0, |t| t.bytes), "peak_rss_mb": peak_rss_mb(),
        }));
        if !args.keep {
            let _ = std::fs::remove_dir_all(&lake);
        }
    }
    if args.input.is_none() && !args.keep {
        let _ = std::fs::remove_file(&input);
    }
    Ok(())
}

/// The given file, or a file of `spec` generated into `work` (its stage printed).
pub(crate) async fn input_file(
    bench: &str,
    spec: &GeneratorSpec,
    given: Option<&Path>,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    // Named by the benchmark, the data set and the process, so that two benchmarks
    // running at once never write or delete each other's file.
    let path = work.join(format!(
        "bench-{bench}-{}x{}-{}.parquet",
        spec.series(),
        spec.days,
        std::process::id()
    ));
    let started = Instant::now();
    let (spec, target) = (*spec, path.clone());
    let summary =
        tokio::task::spawn_blocking(move || write_file(&spec, &target, None, &|_| {})).await??;
    emit(json!({
        "bench": bench, "stage": "generate", "rows": summary.rows, "series": summary.series,
        "seconds": secs(started), "rows_per_s": rate(summary.rows, started),
        "bytes": summary.bytes, "path": path,
    }));
    Ok(path)
}

pub(crate) async fn create_topics(
    kafka: &KafkaOptions,
    names: &[&str],
    partitions: u32,
) -> anyhow::Result<()> {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|name| TopicSpec {
            name: (*name).to_owned(),
            partitions,
            replication_factor: 1,
        })
        .collect();
    herd_bus::ensure_topics(kafka, &specs, Duration::from_secs(10)).await?;
    Ok(())
}

/// Runs `org.apache.kafka.tools.ProducerPerformance` through `scripts/kafka.sh tool`
/// and returns its records/s and its summary line.
fn producer_performance(
    kafka: &KafkaOptions,
    topic: &str,
    records: u64,
    record_size: usize,
) -> anyhow::Result<(f64, String)> {
    let script = std::env::var_os("HERD_KAFKA_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("scripts/kafka.sh"));
    if !script.exists() {
        bail!(
            "{} not found (run from the repository root or set HERD_KAFKA_SCRIPT)",
            script.display()
        );
    }
    let output = Command::new(&script)
        .args([
            "tool",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
        ])
        .args([
            "--num-records",
            &records.to_string(),
            "--record-size",
            &record_size.to_string(),
        ])
        .args(["--throughput", "-1", "--producer-props"])
        .arg(format!("bootstrap.servers={}", kafka.bootstrap_servers))
        .args([
            "acks=all",
            "enable.idempotence=true",
            "compression.type=lz4",
            "linger.ms=20",
            "batch.size=1000000",
        ])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The last line: "N records sent, R records/sec (M MB/sec), ... latency ...".
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records/sec"))
        .with_context(|| {
            format!(
                "no summary from ProducerPerformance: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?
        .trim()
        .to_owned();
    let rate = line
        .split(',')
        .nth(1)
        .and_then(|part| part.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("cannot read the rate in: {line}"))?;
    Ok((rate, line))
}

/// The mean size of a record's JSON value on `herd.sales`, from a sample.
fn mean_value_size(spec: &herd_ingest::generate::GeneratorSpec) -> usize {
    let sample: Vec<usize> = (0..spec.series().min(200) as u32)
        .filter_map(|series| SeriesModel::new(spec, series).day(spec.days.saturating_sub(1)))
        .filter_map(|record| serde_json::to_vec(&record).ok().map(|v| v.len()))
        .collect();
    (sample.iter().sum::<usize>() / sample.len().max(1)).max(1)
}

fn tempdir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

fn rate(rows: u64, started: Instant) -> f64 {
    rows as f64 / secs(started).max(1e-9)
}
