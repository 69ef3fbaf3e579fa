//! `herd promote`: candidates into the production registry, by the business rule
//! and against each key's champion, once or following `herd.models`.

use std::time::Duration;

use anyhow::Context as _;
use herd_bus::{EventPublisher, Status};
use herd_lake::LakeRoot;
use herd_promoter::{FollowOptions, PassSummary, Promoter, follow};

use crate::args::PromoteArgs;
use herd_config::Settings;
use herd_config::options::{production_root, promote_options};

/// How long to wait for the broker to acknowledge decision events at the end.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(settings: &Settings, args: &PromoteArgs) -> anyhow::Result<()> {
    let options = promote_options(
        settings,
        args.rule.as_deref(),
        args.margin,
        args.run_id.clone(),
    )?;
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let production = production_root(settings)?;
    let mut promoter = if args.once {
        Promoter::open(&lake, &production, options.clone()).await?
    } else {
        Promoter::open_or_create(&lake, &production, options.clone()).await?
    };
    let mut publisher = EventPublisher::new(&settings.kafka_options(), &settings.topics.models)?;

    let (summary, queued) = if args.once {
        let summary = promoter.pass(None).await?;
        let events = promoter.take_events();
        for event in &events {
            publisher.publish(event)?;
        }
        (summary, events.len() as u64)
    } else {
        let follow_options = FollowOptions {
            kafka: settings.kafka_options(),
            topic: settings.topics.models.clone(),
            group: args
                .group
                .clone()
                .unwrap_or_else(|| settings.promote.group.clone()),
            batch_window: Duration::from_millis(settings.promote.batch_ms),
            max_batch: 50_000,
            retry_deferred: Duration::from_secs(30),
            idle_exit: args.idle_exit.map(Duration::from_secs),
            catch_up: Duration::from_secs(settings.promote.catch_up_seconds),
            status: Status::new(),
        };
        crate::status::serve(args.status_listen, &follow_options.status).await?;
        let cancel = crate::shutdown::cancel_on_signal();
        follow(&mut promoter, &follow_options, &mut publisher, &cancel).await?
    };
    let delivered = tokio::task::spawn_blocking(move || publisher.finish(PUBLISH_TIMEOUT))
        .await
        .context("publishing decisions")??;
    debug_assert!(delivered >= queued);
    print_summary(
        &summary,
        &options.run_id,
        delivered,
        &settings.topics.models,
    );
    Ok(())
}

fn print_summary(summary: &PassSummary, run_id: &str, events: u64, topic: &str) {
    println!(
        "decided {} candidates (promoter {run_id}): {} promoted, {} rejected, {} deferred; {events} events on {topic}",
        summary.decided, summary.promoted, summary.rejected, summary.deferred,
    );
    if summary.rescored + summary.repaired > 0 || summary.attempts > 1 {
        println!(
            "champions re-scored on a challenger's holdout: {}; audit rows repaired: {}; passes: {}",
            summary.rescored, summary.repaired, summary.attempts
        );
    }
}
