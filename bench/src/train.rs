//! `herd bench train`: one model per series of a generated data set, reading
//! included, then registration into a scratch lake, beside statsforecast's AutoETS
//! on a sample of the same series; with `--unseen-days`, the same keys trained
//! without their last horizon and scored on it. JSON lines on stdout.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use herd_history::{DenseHistory, WindowLoader, Windows, item_profiles};
use herd_ingest::generate::write_file;
use herd_lake::{LakeRoot, parquet_reader};
use herd_models::Calibration;
use herd_registry::{CandidateRegistry, ModelStatus, NewModel};
use herd_schemas::SeriesKey;
use herd_trainer::{fit_all, training_pool};
use serde_json::json;

use herd_config::Settings;
use herd_config::options::{resolve_threads, run_settings};

use crate::args::BenchTrainArgs;
use crate::measure::{emit, peak_rss_mb, secs};
use crate::unseen;

pub async fn run(settings: &Settings, args: &BenchTrainArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let input = match &args.input {
        Some(path) => path.clone(),
        None => {
            let path = args.work_dir.join(format!(
                "train-{}x{}x{}-{}.parquet",
                spec.stores, spec.items, spec.days, spec.seed
            ));
            if !path.exists() {
                let (spec, target) = (spec, path.clone());
                let started = Instant::now();
                let summary =
                    tokio::task::spawn_blocking(move || write_file(&spec, &target, None, &|_| {}))
                        .await??;
                emit(
                    json!({"bench": "train", "stage": "generate", "rows": summary.rows,
                    "series": summary.series, "seconds": secs(started)}),
                );
            }
            path
        }
    };
    let run = run_settings(&settings.train, &args.model, Some("bench".into()), &[])?;
    let threads = resolve_threads(args.threads);
    let config = json!({"models": run.model.candidates.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "folds": run.model.folds, "horizon": run.model.horizon,
        "features": run.model.features.as_str(), "threads": threads, "window_days": args.window_days});

    // Read and group: the clock starts before the file is opened.
    let started = Instant::now();
    let windows = Windows::of(args.window_days, settings.frequency);
    let (rows, keys) = read_windows(&input, &windows)?;
    let histories: Vec<(SeriesKey, DenseHistory)> = windows
        .map()
        .iter()
        .map(|e| (e.key().clone(), e.value().window.dense()))
        .collect();
    let read_seconds = secs(started);
    let window_bytes = windows.memory_bytes() as f64 / keys.max(1) as f64;
    drop(windows);

    let train_started = Instant::now();
    let pool = training_pool(threads)?;
    let profiles = item_profiles(&histories, &run.model);
    let level = run.model.interval_level;
    let models = fit_all(
        &pool,
        &histories,
        &profiles,
        &run,
        chrono::Utc::now(),
        &mut Calibration::new(level),
    );
    let train_seconds = secs(train_started);
    let total_seconds = secs(started);
    emit(
        json!({"bench": "train", "stage": "train", "config": config, "series": keys, "rows": rows,
        "read_seconds": read_seconds, "train_seconds": train_seconds, "seconds": total_seconds,
        "series_per_s": keys as f64 / total_seconds, "rows_per_s": rows as f64 / total_seconds,
        "train_series_per_s": keys as f64 / train_seconds,
        "window_bytes_per_key": window_bytes, "peak_rss_mb": peak_rss_mb()}),
    );
    emit(accuracy(&models));
    // Herd's accuracy per key for the peers: on the unseen days when they are run,
    // else the registered holdout (also days the chosen model was not fit on).
    let mut herd_by_key: HashMap<String, f64> = models
        .iter()
        .filter(|m| !m.row.cold_start)
        .filter_map(|m| Some((m.row.key.to_string(), m.row.metrics?.accuracy)))
        .collect();
    let mut herd_figure = "registered_holdout";
    if args.unseen_days {
        // The same keys again, each without its last horizon, scored on those days.
        let (seen, held) = unseen::hold_back(&histories, run.model.horizon);
        let started = Instant::now();
        let profiles = item_profiles(&seen, &run.model);
        let mut calibration = Calibration::new(level);
        let held_models = fit_all(
            &pool,
            &seen,
            &profiles,
            &run,
            chrono::Utc::now(),
            &mut calibration,
        );
        let (mut line, by_key) = unseen::report(&held_models, &held, level);
        line["train_seconds"] = json!(secs(started));
        line["interval_factors"] = calibration
            .factors()
            .iter()
            .map(|(kind, factor, scores)| {
                (
                    kind.as_str().to_owned(),
                    json!({"factor": factor, "scores": scores}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        emit(line);
        herd_by_key = by_key;
        herd_figure = "unseen_days";
    }

    // A year-long window, as the continuous trainer would keep for a million keys.
    let year = Windows::of(365, settings.frequency);
    read_windows(&input, &year)?;
    emit(
        json!({"bench": "train", "stage": "window_memory", "window_days": 365,
        "keys": year.counts().keys, "bytes_per_key": year.memory_bytes() as f64 / year.counts().keys.max(1) as f64}),
    );
    drop(year);

    register(&args.work_dir, &models, settings.train.commit_every).await?;
    let herd = HerdFigures {
        by_key: &herd_by_key,
        figure: herd_figure,
    };
    if args.statsforecast_sample > 0 {
        let sample = statsforecast_sample(args, &models);
        peer(
            args,
            &input,
            "statsforecast",
            Some(&sample),
            run.model.horizon,
            settings.frequency,
            &herd,
        )?;
    }
    if args.lightgbm {
        peer(
            args,
            &input,
            "mlforecast",
            None,
            run.model.horizon,
            settings.frequency,
            &herd,
        )?;
    }
    Ok(())
}

/// Reads `input` into `windows`: one thread decodes Parquet (ids kept as
/// dictionaries), the caller's thread folds the batches into windows as they come.
fn read_windows(input: &Path, windows: &Windows) -> anyhow::Result<(u64, usize)> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let columns = WindowLoader::parquet_columns();
    let reader = parquet_reader(file, &columns)
        .map_err(|e| anyhow::anyhow!("{} is not a sales Parquet file: {e}", input.display()))?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for batch in reader {
                if sender.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut loader = WindowLoader::new(windows.capacity(), None).frequency(windows.frequency());
        for batch in receiver {
            let batch = batch.with_context(|| format!("reading {}", input.display()))?;
            loader.add(&batch)?;
        }
        Ok(loader.finish(windows))
    })
}

fn accuracy(models: &[NewModel]) -> serde_json::Value {
    let full: Vec<_> = models
        .iter()
        .filter(|m| !m.row.cold_start)
        .filter_map(|m| m.row.metrics)
        .collect();
    let n = full.len().max(1) as f64;
    let mut by_type: HashMap<&str, usize> = HashMap::new();
    for m in models {
        *by_type
            .entry(m.row.model_type.as_deref().unwrap_or("failed"))
            .or_default() += 1;
    }
    json!({"bench": "train", "stage": "accuracy", "keys_full_history": full.len(),
        "cold_start": models.iter().filter(|m| m.row.cold_start).count(),
        "failed": models.iter().filter(|m| m.row.status == ModelStatus::Failed).count(),
        "mean_accuracy": full.iter().map(|m| m.accuracy).sum::<f64>() / n,
        "mean_baseline_accuracy": full.iter().map(|m| m.baseline_accuracy).sum::<f64>() / n,
        "beat_baseline_share": full.iter().filter(|m| m.accuracy > m.baseline_accuracy).count() as f64 / n,
        "accuracy_at_least_0_8_share": full.iter().filter(|m| m.accuracy >= 0.8).count() as f64 / n,
        "models_by_type": by_type})
}

/// Registers every model into a scratch lake, `commit_every` per commit.
async fn register(work: &Path, models: &[NewModel], commit_every: usize) -> anyhow::Result<()> {
    let dir = work.join(format!("train-lake-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let root = LakeRoot::parse(&dir.to_string_lossy())?;
    let started = Instant::now();
    let mut registry = CandidateRegistry::open(&root).await?;
    let mut commits = 0;
    for chunk in models.chunks(commit_every.max(1)) {
        registry.register(chunk.to_vec()).await?;
        commits += 1;
    }
    emit(
        json!({"bench": "train", "stage": "register", "models": models.len(), "commits": commits,
        "seconds": secs(started), "models_per_s": models.len() as f64 / secs(started)}),
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// An evenly spaced sample of the full-history keys, `--statsforecast-sample` long.
fn statsforecast_sample(args: &BenchTrainArgs, models: &[NewModel]) -> Vec<String> {
    let full: Vec<&NewModel> = models
        .iter()
        .filter(|m| !m.row.cold_start && m.row.metrics.is_some())
        .collect();
    let step = (full.len() / args.statsforecast_sample.max(1)).max(1);
    full.iter()
        .step_by(step)
        .take(args.statsforecast_sample)
        .map(|m| m.row.key.to_string())
        .collect()
}

/// Herd's accuracy per key, and which figure it is.
struct HerdFigures<'a> {
    by_key: &'a HashMap<String, f64>,
    figure: &'static str,
}

/// Runs `scripts/bench_<tool>.py` (or `HERD_<TOOL>_SCRIPT`) on `keys` (every key when
/// `None`) and prints its line beside Herd's mean accuracy and share >= 0.80 over the
/// keys the peer scored. A peer that cannot run (a missing package) is reported as
/// skipped.
fn peer(
    args: &BenchTrainArgs,
    input: &Path,
    tool: &str,
    keys: Option<&[String]>,
    horizon: usize,
    frequency: herd_models::Frequency,
    herd: &HerdFigures<'_>,
) -> anyhow::Result<()> {
    let script = std::env::var(format!("HERD_{}_SCRIPT", tool.to_uppercase()))
        .unwrap_or_else(|_| format!("scripts/bench_{tool}.py"));
    let mut command = Command::new(&args.python);
    command
        .arg(&script)
        .arg("--input")
        .arg(input)
        .arg("--horizon")
        .arg(horizon.to_string())
        .arg("--frequency")
        .arg(frequency.as_str());
    let keys_file: PathBuf = args
        .work_dir
        .join(format!("{tool}-keys-{}.txt", std::process::id()));
    if let Some(keys) = keys {
        std::fs::write(&keys_file, keys.join("\n") + "\n")?;
        command.arg("--keys").arg(&keys_file);
    }
    let output = command
        .output()
        .with_context(|| format!("running {} {script}", args.python));
    std::fs::remove_file(&keys_file).ok();
    let output = output?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        emit(json!({"bench": "train", "stage": tool, "skipped": true,
            "reason": stderr.lines().last().unwrap_or("failed")}));
        return Ok(());
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let mut theirs: serde_json::Value = serde_json::from_str(line.trim())
        .with_context(|| format!("{tool} printed something other than JSON: {line}"))?;
    let ours: Vec<f64> = theirs["accuracy_by_key"]
        .as_object()
        .map(|scored| {
            scored
                .keys()
                .filter_map(|key| herd.by_key.get(key).copied())
                .collect()
        })
        .unwrap_or_default();
    let n = ours.len().max(1) as f64;
    if let Some(object) = theirs.as_object_mut() {
        object.remove("accuracy_by_key");
    }
    emit(
        json!({"bench": "train", "stage": tool, "series": ours.len(),
        "herd_figure": herd.figure,
        "herd_mean_accuracy": ours.iter().sum::<f64>() / n,
        "herd_share_at_least_0_8": ours.iter().filter(|&&a| a >= 0.8).count() as f64 / n,
        tool: theirs}),
    );
    Ok(())
}
