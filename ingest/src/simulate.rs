//! `herd simulate`: a live source for the continuous services. Publishes a generated
//! history, then one new day for every key per tick, from the same deterministic
//! series the file generator writes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herd_bus::{BulkProducer, DeliveryReport};
use serde::Serialize;

use crate::generate::{GeneratorSpec, SeriesModel};

#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub spec: GeneratorSpec,
    /// Days published at once before the live phase (day indices `0..history_days`).
    pub history_days: u32,
    /// The first history day published: a later run of the same simulation can go on
    /// where an earlier one stopped instead of publishing its days again.
    pub start_day: u32,
    /// Live days per second; each live day publishes one record per started key.
    pub days_per_second: f64,
    /// Stop after this many live days (`None`: until cancelled).
    pub live_days: Option<u32>,
    pub topic: String,
}

/// What a simulation published.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimulateSummary {
    pub history_records: u64,
    pub live_days: u32,
    pub live_records: u64,
    pub delivered: u64,
    pub failed: u64,
    pub unacknowledged: u64,
    pub seconds: f64,
    /// The last day index published.
    pub last_day: Option<u32>,
}

/// Runs until `live_days` are published or `stop` is set; blocks the calling thread.
pub fn simulate(
    options: &SimulateOptions,
    mut producer: BulkProducer,
    stop: &AtomicBool,
    progress: &dyn Fn(&SimulateSummary),
) -> Result<(SimulateSummary, DeliveryReport), herd_bus::BusError> {
    let started = Instant::now();
    let models: Vec<SeriesModel> = (0..options.spec.series() as u32)
        .map(|series| SeriesModel::new(&options.spec, series))
        .collect();
    let mut summary = SimulateSummary::default();
    let mut key = String::with_capacity(32);
    let mut payload = Vec::with_capacity(160);
    let mut publish_day =
        |day: u32, producer: &mut BulkProducer| -> Result<u64, herd_bus::BusError> {
            let mut records = 0;
            for model in &models {
                let Some(record) = model.day(day) else {
                    continue;
                };
                key.clear();
                let _ = write!(key, "{}/{}", record.store_id, record.item_id);
                payload.clear();
                let _ = serde_json::to_writer(&mut payload, &record);
                producer.send(&options.topic, Some(key.as_bytes()), &payload, &[])?;
                records += 1;
            }
            Ok(records)
        };

    for day in options.start_day..options.history_days {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        summary.history_records += publish_day(day, &mut producer)?;
        summary.last_day = Some(day);
        progress(&summary);
    }

    let period = Duration::from_secs_f64(1.0 / options.days_per_second.max(1e-6));
    let mut next_tick = Instant::now();
    let mut day = options.history_days.max(options.start_day);
    while !stop.load(Ordering::Relaxed) && options.live_days.is_none_or(|n| summary.live_days < n) {
        let now = Instant::now();
        if now < next_tick {
            std::thread::sleep((next_tick - now).min(Duration::from_millis(100)));
            continue;
        }
        next_tick += period;
        summary.live_records += publish_day(day, &mut producer)?;
        summary.live_days += 1;
        summary.last_day = Some(day);
        day += 1;
        progress(&summary);
    }
    let report = producer.finish(Duration::from_secs(60));
    summary.delivered = report.delivered;
    summary.failed = report.failed;
    summary.unacknowledged = report.unacknowledged;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((summary, report))
}
