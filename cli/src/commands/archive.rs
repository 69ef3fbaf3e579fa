//! `herd archive`: `herd.sales` into the Delta table `sales`, exactly once.

use std::time::Duration;

use herd_bus::{FlushPolicy, Status};
use herd_ingest::archive::{ArchiveOptions, run_archive};

use crate::args::ArchiveArgs;
use herd_config::Settings;

pub async fn run(settings: &Settings, args: &ArchiveArgs) -> anyhow::Result<()> {
    let options = ArchiveOptions {
        lake_root: settings.lake_root.clone(),
        group: args
            .group
            .clone()
            .unwrap_or_else(|| settings.archive.group.clone()),
        topic: settings.topics.sales.clone(),
        dlq_topic: settings.topics.sales_dlq.clone(),
        flush: FlushPolicy {
            max_records: args.flush_records as usize,
            max_bytes: (args.flush_mb as usize) << 20,
            max_latency: Duration::from_millis(args.flush_latency_ms),
        },
        stop_when_idle: args.idle_exit.map(Duration::from_secs),
        on_gap: args.on_gap.unwrap_or(settings.archive.on_gap).into(),
        status: Status::new(),
        frequency: settings.frequency,
    };
    crate::status::serve(args.status_listen, &options.status).await?;
    let cancel = crate::shutdown::cancel_on_signal();
    let summary = run_archive(&options, &settings.kafka_options(), cancel).await?;
    println!(
        "archived {} rows to {}/sales in {} commits; {} rejected to the dead-letter topic; {} re-read records skipped",
        summary.committed,
        settings.lake_root.trim_end_matches('/'),
        summary.stats.flushes,
        summary.rejected,
        summary.stats.skipped
    );
    if summary.stats.lost > 0 {
        println!(
            "{} offsets of {} were deleted before they were archived and are lost (--on-gap skip)",
            summary.stats.lost, options.topic
        );
    }
    Ok(())
}
