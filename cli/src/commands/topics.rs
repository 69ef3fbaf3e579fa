//! `herd topics create`: Herd's topics, created once and never changed afterwards;
//! `herd topics delete --yes`: gone again, records and all.

use anyhow::{Context, bail};
use herd_bus::{TopicDeletion, TopicOutcome};

use crate::args::{TopicsCreateArgs, TopicsDeleteArgs};
use crate::commands::BROKER_TIMEOUT;
use herd_config::Settings;

pub async fn create(settings: &Settings, args: &TopicsCreateArgs) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    if let Some(partitions) = args.partitions {
        settings.topics.partitions = partitions;
    }
    if let Some(replication_factor) = args.replication_factor {
        settings.topics.replication_factor = replication_factor;
    }
    let outcomes = herd_bus::ensure_topics(
        &settings.kafka_options(),
        &settings.topic_specs(),
        BROKER_TIMEOUT,
    )
    .await
    .context("creating topics")?;

    let mut created = 0;
    for outcome in &outcomes {
        match outcome {
            TopicOutcome::Created { name, partitions } => {
                created += 1;
                println!(
                    "created    {name} ({partitions} partitions, replication factor {})",
                    settings.topics.replication_factor
                );
            }
            TopicOutcome::AlreadyExists { name, partitions } => {
                let note = if *partitions != settings.topics.partitions as usize {
                    format!(
                        "; {} requested, existing topics are never changed",
                        settings.topics.partitions
                    )
                } else {
                    String::new()
                };
                println!("unchanged  {name} (exists, {partitions} partitions{note})");
            }
        }
    }
    if created == 0 {
        println!(
            "all {} topics already exist; nothing changed",
            outcomes.len()
        );
    } else {
        println!("{created} of {} topics created", outcomes.len());
    }
    Ok(())
}

pub async fn delete(settings: &Settings, args: &TopicsDeleteArgs) -> anyhow::Result<()> {
    let names: Vec<String> = settings
        .topic_specs()
        .into_iter()
        .map(|spec| spec.name)
        .collect();
    if !args.yes {
        bail!(
            "this deletes {} and every record in them; add --yes to go ahead",
            names.join(", ")
        );
    }
    let outcomes = herd_bus::delete_topics(&settings.kafka_options(), &names, BROKER_TIMEOUT)
        .await
        .context("deleting topics")?;
    let mut deleted = 0;
    for outcome in &outcomes {
        match outcome {
            TopicDeletion::Deleted { name } => {
                deleted += 1;
                println!("deleted    {name}");
            }
            TopicDeletion::Absent { name } => println!("absent     {name} (nothing to delete)"),
        }
    }
    println!("{deleted} of {} topics deleted", outcomes.len());
    Ok(())
}
