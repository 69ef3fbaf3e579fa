//! `herd bench serve`: `herd serve` under load. A scratch production registry gets
//! `--models` real production models (the medium data set's 10,000 keys trained,
//! each model registered under as many stores as it takes), `herd serve` runs as a
//! child process on a loopback port, and this process drives it over keep-alive
//! HTTP/1.1 connections: cold then hot keys one at a time, then a mix of cached
//! keys, a uniform and a Zipf mix over every key in closed loops. JSON lines.

mod load;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use herd_ingest::generate::{DEFAULT_SEED, GeneratorSpec, SeriesModel, Size};
use herd_lake::LakeRoot;
use herd_registry::{NewModel, ProductionEntry, ProductionRegistry, write_artifact};
use herd_schemas::SeriesKey;
use serde_json::json;
use tokio::task::JoinSet;

use self::load::{KeyMix, Pass, Targets, closed_loop, sequential};
use self::server::{ServeProcess, Snapshot};
use herd_config::Settings;
use herd_config::flags::ModelArgs;
use herd_config::options::{resolve_threads, run_settings};

use crate::args::BenchServeArgs;
use crate::measure::{emit, peak_rss_mb, secs};
use crate::scratch::{lake_histories, scratch_lake, train, write_sales};

/// Answers that may fail before the benchmark fails: none is expected.
const MAX_ERROR_SHARE: f64 = 0.001;
/// Artifacts written at once while the registry is set up.
const ARTIFACT_WRITES: usize = 64;
/// Production entries per Delta commit.
const ENTRIES_PER_COMMIT: usize = 25_000;
/// Seeds the key mixes, so that two runs ask for the same keys.
const SEED: u64 = 42;

pub async fn run(settings: &Settings, args: &BenchServeArgs) -> anyhow::Result<()> {
    ensure!(args.models > 0, "--models: at least one model");
    ensure!(
        args.model_cache_mb.is_finite() && args.model_cache_mb > 0.0,
        "--model-cache-mb: {} is not a positive size",
        args.model_cache_mb
    );
    ensure!(
        args.seconds > 0.0 && args.warmup_seconds >= 0.0,
        "--seconds must be positive and --warmup-seconds not negative"
    );
    let (dir, root) = scratch_lake(&args.work_dir, "serve")?;
    let result = bench(settings, args, &dir, &root).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

async fn bench(
    settings: &Settings,
    args: &BenchServeArgs,
    dir: &Path,
    root: &LakeRoot,
) -> anyhow::Result<()> {
    let keys = production_registry(settings, root, args.models).await?;

    let started = Instant::now();
    let mut server = ServeProcess::start(settings, dir, args.model_cache_mb).await?;
    let metrics = server.metrics().await?;
    emit(
        json!({"bench": "serve", "stage": "server_start", "seconds": secs(started),
        "production_models": metrics.get("herd_production_models"),
        "server_peak_rss_mb": server.memory_mb().0}),
    );

    let horizon = settings.train.horizon;
    let targets = Arc::new(Targets {
        paths: keys
            .iter()
            .map(|k| {
                format!(
                    "/v1/forecast/{}/{}?horizon={horizon}",
                    k.store_id(),
                    k.item_id()
                )
            })
            .collect(),
        horizon,
    });
    let base = json!({"bench": "serve", "models": keys.len(),
        "model_cache_mb": args.model_cache_mb});

    // Keys spread over the registry, asked for once each: none is cached yet, so
    // each answer loads its model. Then the same keys again, all cached.
    let sample: Vec<usize> = spread(keys.len(), args.cold_keys);
    for stage in ["cold", "hot"] {
        let before = server.snapshot().await?;
        let pass = sequential(server.address, &targets, &sample).await?;
        let after = server.snapshot().await?;
        report(&base, stage, 1, pass, &before, &after, &mut server)?;
    }

    // The cached mix asks for the sample's keys only, which the hot pass left
    // cached; the others for every key.
    let cached = Arc::new(Targets {
        paths: sample.iter().map(|&k| targets.paths[k].clone()).collect(),
        horizon,
    });
    let mixes = [
        ("cached", cached, KeyMix::uniform(sample.len())?),
        (
            "uniform",
            Arc::clone(&targets),
            KeyMix::uniform(keys.len())?,
        ),
        (
            "zipf",
            Arc::clone(&targets),
            KeyMix::zipf(keys.len(), args.zipf_exponent, SEED)?,
        ),
    ];
    let connections = args.connections as usize;
    for (stage, targets, mix) in mixes {
        let mix = Arc::new(mix);
        let address = server.address;
        // The warm-up draws other keys than the measured pass: the same draws would
        // have loaded exactly the models about to be asked for.
        let run = |seconds: f64, seed: u64| {
            closed_loop(
                address,
                Arc::clone(&targets),
                Arc::clone(&mix),
                connections,
                Duration::from_secs_f64(seconds),
                seed,
            )
        };
        let warmup = run(args.warmup_seconds, SEED + 1).await?;
        ensure!(
            warmup.error_share() <= MAX_ERROR_SHARE,
            "{stage} warm-up: {} errors, the first: {:?}",
            warmup.errors,
            warmup.first_error
        );
        let before = server.snapshot().await?;
        let pass = run(args.seconds, SEED).await?;
        let after = server.snapshot().await?;
        report(
            &base,
            stage,
            connections,
            pass,
            &before,
            &after,
            &mut server,
        )?;
    }
    server.stop()
}

/// Prints a pass's line and fails when too many of its answers failed.
fn report(
    base: &serde_json::Value,
    stage: &str,
    connections: usize,
    mut pass: Pass,
    before: &Snapshot,
    after: &Snapshot,
    server: &mut ServeProcess,
) -> anyhow::Result<()> {
    server.check_running()?;
    let grew = |name: &str| after.grew(before, name);
    let (hits, misses) = (
        grew("herd_model_cache_hits_total"),
        grew("herd_model_cache_misses_total"),
    );
    let seconds = pass.seconds.max(1e-9);
    let cores = |a: Option<f64>, b: Option<f64>| {
        a.zip(b)
            .map(|(a, b)| ((a - b) / seconds * 100.0).round() / 100.0)
    };
    let gauge = |name: &str| after.metrics.get(name).copied();
    let (peak, now) = server.memory_mb();
    let mut line = base.clone();
    merge(&mut line, pass.summary());
    merge(
        &mut line,
        json!({
            "stage": stage, "connections": connections,
            "cache_hits": hits, "cache_misses": misses,
            "cache_hit_ratio": (hits / (hits + misses).max(1.0) * 1000.0).round() / 1000.0,
            "cache_evictions": grew("herd_model_cache_evictions_total"),
            "cache_load_errors": grew("herd_model_cache_load_errors_total"),
            "mean_load_ms": grew("herd_model_cache_load_seconds_total") * 1e3
                / grew("herd_model_cache_loads_total").max(1.0),
            "cache_models": gauge("herd_model_cache_models"),
            "cache_bytes": gauge("herd_model_cache_bytes"),
            "cache_budget_bytes": gauge("herd_model_cache_budget_bytes"),
            "server_cpu_cores": cores(after.server_cpu, before.server_cpu),
            "bench_cpu_cores": cores(after.bench_cpu, before.bench_cpu),
            "server_peak_rss_mb": peak, "server_rss_mb": now,
            "bench_peak_rss_mb": peak_rss_mb(),
        }),
    );
    emit(line);
    if pass.error_share() > MAX_ERROR_SHARE {
        bail!(
            "{stage}: {} of {} requests failed; the first: {}",
            pass.errors,
            pass.answered + pass.errors,
            pass.first_error.as_deref().unwrap_or("?")
        );
    }
    ensure!(
        gauge("herd_model_cache_bytes") <= gauge("herd_model_cache_budget_bytes"),
        "{stage}: the model cache is over its budget"
    );
    Ok(())
}

/// Adds `more`'s fields to `line`'s.
fn merge(line: &mut serde_json::Value, more: serde_json::Value) {
    if let (serde_json::Value::Object(fields), serde_json::Value::Object(more)) = (line, more) {
        fields.extend(more);
    }
}

/// `count` indices evenly spread over `0..len`.
fn spread(len: usize, count: usize) -> Vec<usize> {
    let count = count.min(len);
    (0..count).map(|i| i * len / count.max(1)).collect()
}

/// Fills the production registry under `root` with `models` production models and
/// returns their keys. The medium data set's keys are trained from its sales in the
/// lake; production key `j` is series `j` of the same data set widened to as many
/// stores as it takes, and gets the model of the trained series with its item and
/// its store modulo the data set's stores.
async fn production_registry(
    settings: &Settings,
    root: &LakeRoot,
    models: usize,
) -> anyhow::Result<Vec<SeriesKey>> {
    let started = Instant::now();
    let spec = GeneratorSpec::sized(Size::Medium, DEFAULT_SEED);
    let sales_rows = write_sales(root, &spec).await?;
    let histories = lake_histories(root, settings.train.window_days).await?;
    let all_candidates = ModelArgs {
        models: None,
        folds: None,
        horizon: None,
        features: None,
    };
    let run = run_settings(
        &settings.train,
        &all_candidates,
        Some("bench-serve".into()),
        &[],
    )?;
    let trained_at = Instant::now();
    let trained = train(&histories, &run, resolve_threads(settings.train.threads))?;
    let train_seconds = secs(trained_at);
    drop(histories);
    let trained: HashMap<SeriesKey, NewModel> = trained
        .into_iter()
        .filter(|m| m.artifact.is_some())
        .map(|m| (m.row.key.clone(), m))
        .collect();

    let written_at = Instant::now();
    let series = usize::try_from(spec.series())?;
    let wide = GeneratorSpec {
        stores: spec.stores * u32::try_from(models.div_ceil(series))?,
        ..spec
    };
    let mut registry = ProductionRegistry::open(root).await?;
    let store = registry.artifact_store();
    let now = chrono::Utc::now();
    let mut writes: JoinSet<herd_registry::Result<()>> = JoinSet::new();
    let mut entries = Vec::with_capacity(models);
    let mut model_types: BTreeMap<String, usize> = BTreeMap::new();
    let mut artifact_bytes = 0usize;
    for j in 0..models {
        let source = SeriesModel::new(&spec, u32::try_from(j % series)?);
        let source = SeriesKey::new(source.store_id().clone(), source.item_id().clone());
        let Some(NewModel {
            row,
            artifact: Some(bytes),
        }) = trained.get(&source)
        else {
            continue;
        };
        let target = SeriesModel::new(&wide, u32::try_from(j)?);
        let key = SeriesKey::new(target.store_id().clone(), target.item_id().clone());
        let entry = ProductionEntry {
            reason: "bench serve".to_owned(),
            decision_id: format!("bench-serve/{key}/v1"),
            promoter: "bench-serve".to_owned(),
            tags: BTreeMap::new(),
            ..ProductionEntry::promotion(&key, 1, 1, row, now)
        };
        if writes.len() >= ARTIFACT_WRITES
            && let Some(done) = writes.join_next().await
        {
            done??;
        }
        let (store, path, bytes) = (Arc::clone(&store), entry.artifact.clone(), bytes.clone());
        artifact_bytes += bytes.len();
        writes.spawn(async move { write_artifact(store.as_ref(), &path, bytes).await });
        *model_types
            .entry(row.model_type.clone().unwrap_or_default())
            .or_default() += 1;
        entries.push(entry);
    }
    while let Some(done) = writes.join_next().await {
        done??;
    }
    let keys: Vec<SeriesKey> = entries.iter().map(|e| e.key.clone()).collect();
    for chunk in entries.chunks(ENTRIES_PER_COMMIT) {
        registry.append(chunk.to_vec()).await?;
    }
    if keys.len() < models {
        bail!(
            "only {} of {models} production models: {} keys failed to train",
            keys.len(),
            series - trained.len()
        );
    }
    emit(
        json!({"bench": "serve", "stage": "setup", "sales_rows": sales_rows,
        "trained": trained.len(), "models": keys.len(), "model_types": model_types,
        "artifact_bytes": artifact_bytes, "mean_artifact_bytes": artifact_bytes / keys.len(),
        "train_seconds": train_seconds, "registry_seconds": secs(written_at),
        "seconds": secs(started), "peak_rss_mb": peak_rss_mb()}),
    );
    Ok(keys)
}
