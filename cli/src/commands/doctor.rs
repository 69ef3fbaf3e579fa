//! `herd doctor`: is everything Herd needs in place? Checks the broker and the lake
//! root, prints versions and the effective configuration, and can prove the keyed
//! produce/consume path with a round trip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herd_bus::{ClusterInfo, PartitionReplicas, TopicSpec};

use crate::args::DoctorArgs;
use crate::progress::Progress;
use herd_config::Loaded;

/// The scratch topic of the round trip, kept apart from the data topics.
const ROUNDTRIP_TOPIC: &str = "herd.doctor";

pub async fn run(loaded: &Loaded, args: &DoctorArgs) -> anyhow::Result<()> {
    let settings = &loaded.settings;
    println!(
        "herd {} (librdkafka {})",
        env!("CARGO_PKG_VERSION"),
        herd_bus::librdkafka_version()
    );
    match &loaded.file {
        Some(path) => println!("config     {}", path.display()),
        None => println!("config     no herd.toml; defaults, HERD_* and flags"),
    }

    let lake = lake_root_status(&settings.lake_root);
    match &lake {
        Ok(status) => println!("lake       {status}"),
        Err(problem) => println!("lake       PROBLEM: {problem}"),
    }

    let options = settings.kafka_options();
    let started = Instant::now();
    let cluster = herd_bus::probe(&options, Duration::from_secs(args.timeout)).await?;
    println!(
        "broker     ok: {} answered in {} ms; {} broker(s): {}",
        settings.bootstrap_servers,
        started.elapsed().as_millis(),
        cluster.brokers.len(),
        cluster.brokers.join(", ")
    );
    for spec in settings.topic_specs() {
        let name = &spec.name;
        match cluster.partitions_of(name) {
            Some(partitions) => {
                println!("topic      {name}: {}", replication(&cluster, partitions))
            }
            None => println!("topic      {name}: missing (run `herd topics create`)"),
        }
    }

    println!("\neffective configuration:");
    let toml = toml::to_string(settings).context("printing the configuration")?;
    for line in toml.lines() {
        println!("  {line}");
    }

    if let Some(records) = args.roundtrip {
        roundtrip(loaded, records as usize).await?;
    }
    if let Err(problem) = lake {
        bail!("lake root {problem}");
    }
    Ok(())
}

/// A topic's partitions, copies and leaders, e.g. `12 partitions × 3 copies,
/// leaders 1:4 2:4 3:4, all in sync`, with a warning for the partitions that are not.
fn replication(cluster: &ClusterInfo, partitions: &[PartitionReplicas]) -> String {
    let copies: BTreeSet<usize> = partitions.iter().map(|p| p.replicas.len()).collect();
    let copies = copies
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("/");
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for partition in partitions {
        *leaders.entry(partition.leader).or_default() += 1;
    }
    let leaders = leaders
        .iter()
        .map(|(id, count)| match id {
            -1 => format!("none:{count}"),
            id => format!("{id}:{count}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let lagging = partitions.iter().filter(|p| p.under_replicated()).count();
    let sync = if lagging == 0 {
        "all in sync".to_owned()
    } else {
        // Per broker, the partitions it should hold a copy of but does not.
        let mut behind: BTreeMap<i32, usize> = BTreeMap::new();
        for partition in partitions {
            for id in &partition.replicas {
                if !partition.in_sync.contains(id) {
                    *behind.entry(*id).or_default() += 1;
                }
            }
        }
        let behind = behind
            .iter()
            .map(|(id, count)| format!("broker {} on {count}", broker_name(cluster, *id)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WARNING: {lagging} of {} partitions under-replicated, out of sync: {behind}",
            partitions.len()
        )
    };
    format!(
        "{} partitions × {copies} copies, leaders (broker:partitions) {leaders}, {sync}",
        partitions.len()
    )
}

/// `id (host:port)` of a broker, or its id alone when the cluster does not list it
/// (it is down).
fn broker_name(cluster: &ClusterInfo, id: i32) -> String {
    match cluster.broker_ids.iter().find(|(broker, _)| *broker == id) {
        Some((_, address)) => format!("{id} ({address})"),
        None => format!("{id} (down)"),
    }
}

async fn roundtrip(loaded: &Loaded, records: usize) -> anyhow::Result<()> {
    let settings = &loaded.settings;
    let options = settings.kafka_options();
    let spec = TopicSpec {
        name: ROUNDTRIP_TOPIC.to_owned(),
        partitions: settings.topics.partitions,
        replication_factor: settings.topics.replication_factor,
    };
    herd_bus::ensure_topics(&options, &[spec], super::BROKER_TIMEOUT).await?;
    let keys = (records / 10).clamp(1, 1000);
    let progress = Progress::new("roundtrip", Some(2 * records as u64));
    let report = herd_bus::round_trip(
        &options,
        ROUNDTRIP_TOPIC,
        records,
        keys,
        Duration::from_secs(60),
        |done| progress.set(done as u64, ""),
    )
    .await?;
    progress.finish();
    println!(
        "\nroundtrip  {} records over {} keys on {} partitions of {ROUNDTRIP_TOPIC}",
        report.produced, report.keys, report.partitions
    );
    println!(
        "           produced and acknowledged in {:.2} s ({:.0} records/s)",
        report.produce_seconds,
        report.produced as f64 / report.produce_seconds.max(1e-9)
    );
    println!(
        "           consumed in {:.2} s ({:.0} records/s)",
        report.consume_seconds,
        report.consumed as f64 / report.consume_seconds.max(1e-9)
    );
    println!(
        "           consumed {}, duplicates {}, missing {}, keys split across partitions {}, out of order {}",
        report.consumed, report.duplicates, report.missing, report.split_keys, report.out_of_order
    );
    if !report.is_exact() {
        bail!("the round trip through {ROUNDTRIP_TOPIC} was not exact (see above)");
    }
    println!("           ok: every record exactly once, each key on one partition, in order");
    Ok(())
}

/// A local lake root must be (or be creatable as) a writable directory; object-store
/// roots are checked by the commands that use them.
fn lake_root_status(root: &str) -> Result<String, String> {
    if root.contains("://") && !root.starts_with("file://") {
        return Ok(format!(
            "{root} (object store; checked when a table is opened)"
        ));
    }
    let path = Path::new(root.strip_prefix("file://").unwrap_or(root));
    if path.is_dir() {
        let probe = path.join(format!(".herd-doctor-{}", std::process::id()));
        return match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(format!("{root} (exists, writable)"))
            }
            Err(err) => Err(format!("{root} is not writable: {err}")),
        };
    }
    if path.exists() {
        return Err(format!("{root} is not a directory"));
    }
    let parent = path
        .ancestors()
        .skip(1)
        .find(|p| p.as_os_str().is_empty() || p.exists())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
    match parent {
        Some(parent) if parent.metadata().is_ok_and(|m| !m.permissions().readonly()) => Ok(
            format!("{root} (will be created under {})", parent.display()),
        ),
        _ => Err(format!("{root} is missing and cannot be created")),
    }
}
