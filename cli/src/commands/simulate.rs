//! `herd simulate`: a live stream of synthetic sales until interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use herd_bus::BulkProducer;
use herd_ingest::simulate::{SimulateOptions, SimulateSummary, simulate};

use crate::args::SimulateArgs;
use crate::progress::Progress;
use herd_config::Settings;

pub async fn run(settings: &Settings, args: &SimulateArgs) -> anyhow::Result<()> {
    if !(args.days_per_second > 0.0 && args.days_per_second.is_finite()) {
        bail!("--days-per-second must be a positive number");
    }
    let options = SimulateOptions {
        spec: args.spec.spec(),
        history_days: args.history_days,
        start_day: args.start_day,
        days_per_second: args.days_per_second,
        live_days: args.live_days,
        topic: settings.topics.sales.clone(),
    };
    let producer = BulkProducer::new(&settings.kafka_options())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = Arc::clone(&stop);
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        stopper.store(true, Ordering::Relaxed);
    });
    // Days are counted from the first one published (`--start-day`).
    let start_day = args.start_day;
    let total = args
        .live_days
        .map(|live| u64::from(args.history_days.saturating_sub(start_day) + live));
    let progress = Progress::new("simulate", total);
    let (summary, report) = tokio::task::spawn_blocking(move || {
        let result = simulate(&options, producer, &stop, &|s: &SimulateSummary| {
            let day = s
                .last_day
                .map_or(0, |d| u64::from((d + 1).saturating_sub(start_day)));
            progress.set(
                day,
                &format!("{} records", s.history_records + s.live_records),
            );
        });
        progress.finish();
        result
    })
    .await
    .context("the simulator stopped unexpectedly")??;
    println!(
        "published {} history records and {} live days ({} records); delivered {}, failed {}, unacknowledged {} in {:.1} s",
        summary.history_records,
        summary.live_days,
        summary.live_records,
        summary.delivered,
        summary.failed,
        summary.unacknowledged,
        summary.seconds
    );
    if summary.failed + summary.unacknowledged > 0 {
        bail!(
            "{} records were not delivered ({} failed, {} unacknowledged): {}",
            summary.failed + summary.unacknowledged,
            summary.failed,
            summary.unacknowledged,
            report
                .first_error
                .as_deref()
                .unwrap_or("no acknowledgement in time")
        );
    }
    Ok(())
}
