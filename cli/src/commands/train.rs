//! `herd train`: one model per series, once from the lake or continuously from
//! `herd.sales`, every model registered in the Delta table `models`.

use std::time::Duration;

use anyhow::Context as _;
use herd_bus::Status;
use herd_lake::LakeRoot;
use herd_registry::Trigger;
use herd_trainer::{
    Announcer, ContinuousOptions, OnceOptions, OnceSummary, RunSettings, run_continuous, train_once,
};

use crate::args::TrainArgs;
use crate::progress::Progress;
use herd_config::Settings;
use herd_config::options::{resolve_threads, run_settings};

/// How long to wait for the broker to acknowledge model events at the end.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(settings: &Settings, args: &TrainArgs) -> anyhow::Result<()> {
    let mut run = run_settings(
        &settings.train,
        &args.model,
        args.run_id.clone(),
        &args.tags,
    )?;
    let root = LakeRoot::parse(&settings.lake_root)?;
    let threads = resolve_threads(args.threads.unwrap_or(settings.train.threads));
    let window_days = args
        .window_days
        .map_or(settings.train.window_days, |d| d as usize);
    if !args.once {
        run.trigger = Trigger::NewDays;
        return continuous(settings, args, run, root, threads, window_days).await;
    }
    if args.trigger.as_deref() == Some("schedule") {
        run.trigger = Trigger::Schedule;
    }
    let options = OnceOptions {
        run,
        window_days,
        frequency: settings.frequency,
        commit_every: settings.train.commit_every.max(1),
        threads,
    };
    let mut announcer = Announcer::new(&settings.kafka_options(), &settings.topics.models)?;
    let progress = Progress::new("training", Some(0));
    let summary = train_once(&root, &options, Some(&mut announcer), &|done, total| {
        progress.set_total(total);
        progress.set(done, "");
    })
    .await?;
    progress.finish();
    let announced = tokio::task::spawn_blocking(move || announcer.finish(ANNOUNCE_TIMEOUT))
        .await
        .context("announcing models")??;
    print_summary(&summary, announced, &settings.topics.models);
    Ok(())
}

async fn continuous(
    settings: &Settings,
    args: &TrainArgs,
    run: RunSettings,
    root: LakeRoot,
    threads: usize,
    window_days: usize,
) -> anyhow::Result<()> {
    let options = ContinuousOptions {
        run,
        window_days,
        frequency: settings.frequency,
        min_new_days: args
            .min_new_days
            .unwrap_or(settings.train.min_new_days)
            .max(1),
        group: args
            .group
            .clone()
            .unwrap_or_else(|| settings.train.group.clone()),
        topic: settings.topics.sales.clone(),
        archive_writer: "archive".to_owned(),
        threads,
        batch_keys: settings.train.commit_every.max(1),
        max_due_keys: settings.train.max_due_keys.max(1),
        stop_when_idle: args.idle_exit.map(Duration::from_secs),
        drift: settings.train.drift_options().map_err(anyhow::Error::msg)?,
        status: Status::new(),
    };
    crate::status::serve(args.status_listen, &options.status).await?;
    let announcer = Announcer::new(&settings.kafka_options(), &settings.topics.models)?;
    let cancel = crate::shutdown::cancel_on_signal();
    let summary = run_continuous(
        &root,
        &settings.kafka_options(),
        &options,
        announcer,
        cancel,
    )
    .await?;
    println!(
        "followed {} records ({} malformed skipped) over {} keys; trained {} models ({} failed) in {} commits; {} rebalances",
        summary.records,
        summary.malformed,
        summary.keys,
        summary.trained + summary.failed,
        summary.failed,
        summary.commits,
        summary.rebalances,
    );
    println!(
        "drift: {} keys retrained before min_new_days because their new days left what their model expected",
        summary.drifted
    );
    println!(
        "windows: {} keys, {} observed days, digest {}",
        summary.windows.keys, summary.windows.days, summary.windows.digest
    );
    Ok(())
}

fn print_summary(summary: &OnceSummary, announced: u64, topic: &str) {
    let mut types: Vec<_> = summary.models_by_type.iter().collect();
    types.sort();
    let types: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "trained {} keys (run {}): {} registered ({} cold start), {} failed, in {} commits; {} events on {topic}",
        summary.keys,
        summary.run_id,
        summary.registered,
        summary.cold_start,
        summary.failed,
        summary.commits,
        announced,
    );
    println!("models: {}", types.join(", "));
    println!(
        "accuracy (keys with full history): mean {:.3} against seasonal naive {:.3}; {:.1}% beat naive, {:.1}% reach 0.80",
        summary.mean_accuracy,
        summary.mean_baseline_accuracy,
        100.0 * summary.beat_baseline_share,
        100.0 * summary.accuracy_at_least_0_8_share,
    );
    println!(
        "read {} rows in {:.1} s, trained in {:.1} s, registered in {:.1} s",
        summary.rows_read, summary.load_seconds, summary.train_seconds, summary.register_seconds
    );
}
