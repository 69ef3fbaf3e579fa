//! `herd ingest FILE... | -`: validated sales onto `herd.sales`, rejects onto the
//! dead-letter topic, and a summary of what the broker acknowledged.

use anyhow::{Context, bail};
use herd_bus::BulkProducer;
use herd_ingest::publish::{IngestError, IngestSummary, PublishOptions, publish};
use herd_ingest::read::{Format, Source};

use crate::args::IngestArgs;
use crate::progress::Progress;
use herd_config::Settings;

pub async fn run(settings: &Settings, args: &IngestArgs) -> anyhow::Result<()> {
    let format = match &args.format {
        Some(name) => Some(
            Format::parse(name)
                .with_context(|| format!("unknown format `{name}`; use csv, parquet or jsonl"))?,
        ),
        None => None,
    };
    let sources = args
        .inputs
        .iter()
        .map(|arg| {
            let source = Source::parse(arg);
            source.format(format).map(|format| (source, format))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = PublishOptions {
        topic: settings.topics.sales.clone(),
        dlq_topic: settings.topics.sales_dlq.clone(),
        max_rejects: args.max_rejects,
        frequency: settings.frequency,
        ..PublishOptions::default()
    };
    let producer = BulkProducer::new(&settings.kafka_options())?;

    let progress = Progress::new("ingest", None);
    let outcome = tokio::task::spawn_blocking(move || {
        let result = publish(&sources, producer, &options, &|s: &IngestSummary| {
            progress.set(
                s.read,
                &format!("accepted {} rejected {}", s.accepted, s.rejected),
            );
        });
        progress.finish();
        result
    })
    .await
    .context("the ingest worker stopped unexpectedly")?;

    let summary = match outcome {
        Ok(summary) => summary,
        Err(err) => {
            if let IngestError::TooManyRejects { summary, .. } = &err {
                print_summary(summary);
            }
            return Err(err.into());
        }
    };
    print_summary(&summary);
    if !summary.all_delivered() {
        bail!(
            "{} records were not delivered ({} failed, {} unacknowledged): {}",
            summary.failed + summary.unacknowledged,
            summary.failed,
            summary.unacknowledged,
            summary
                .first_delivery_error
                .as_deref()
                .unwrap_or("no acknowledgement in time")
        );
    }
    Ok(())
}

fn print_summary(summary: &IngestSummary) {
    println!(
        "read {}  accepted {}  rejected {}  unknown fields ignored {}  in {:.2} s ({:.0} rows/s)",
        summary.read,
        summary.accepted,
        summary.rejected,
        summary.unknown_fields,
        summary.seconds,
        summary.rows_per_second()
    );
    println!(
        "delivered {}  failed {}  unacknowledged {}",
        summary.delivered, summary.failed, summary.unacknowledged
    );
    for (kind, count) in &summary.rejects_by_kind {
        println!("rejected   {count:>8} {kind}");
    }
}
