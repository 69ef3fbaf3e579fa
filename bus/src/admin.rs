//! Cluster probe and topic setup.
//!
//! Creating topics is idempotent: a topic that exists is reported as it is and never
//! changed, so running setup twice is harmless. Deleting them is too: a topic that is
//! not there is reported as absent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use tracing::{debug, info};

use crate::{BusError, KafkaOptions};

/// What a broker told us about its cluster.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// `host:port` of every broker in the cluster.
    pub brokers: Vec<String>,
    /// The broker that answered the metadata request.
    pub answered_by: String,
    /// Topics with their partition counts.
    pub topics: Vec<(String, usize)>,
    /// Broker ids with their `host:port`.
    pub broker_ids: Vec<(i32, String)>,
    /// Per topic, each partition's leader, replicas and in-sync replicas.
    pub replicas: Vec<(String, Vec<PartitionReplicas>)>,
}

/// Where one partition's copies are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReplicas {
    pub partition: i32,
    /// The leader's broker id; −1 without one.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub in_sync: Vec<i32>,
}

impl PartitionReplicas {
    /// Fewer copies in sync than assigned.
    pub fn under_replicated(&self) -> bool {
        self.in_sync.len() < self.replicas.len()
    }
}

impl ClusterInfo {
    /// The partitions of `topic`, when it exists.
    pub fn partitions_of(&self, topic: &str) -> Option<&[PartitionReplicas]> {
        self.replicas
            .iter()
            .find(|(name, _)| name == topic)
            .map(|(_, partitions)| partitions.as_slice())
    }
}

/// A topic Herd needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
}

/// What topic setup did to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created {
        name: String,
        partitions: u32,
    },
    /// The topic was already there and was left alone; `partitions` is what it has,
    /// which may differ from what was asked for.
    AlreadyExists {
        name: String,
        partitions: usize,
    },
}

/// Asks the cluster for its metadata, failing with [`BusError::Unreachable`] when no
/// broker answers within `timeout`.
pub async fn probe(options: &KafkaOptions, timeout: Duration) -> Result<ClusterInfo, BusError> {
    let admin = admin_client(options)?;
    let metadata = fetch_metadata(options, admin, timeout).await?;
    Ok(ClusterInfo {
        brokers: metadata
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect(),
        answered_by: metadata.orig_broker_name().to_owned(),
        topics: topic_partitions(&metadata),
        broker_ids: metadata
            .brokers()
            .iter()
            .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
            .collect(),
        replicas: metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let mut partitions: Vec<PartitionReplicas> = t
                    .partitions()
                    .iter()
                    .map(|p| PartitionReplicas {
                        partition: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        in_sync: p.isr().to_vec(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                (t.name().to_owned(), partitions)
            })
            .collect(),
    })
}

/// How long new topics may take to get their leaders once the cluster accepted
/// them, at least.
const LEADERS_WAIT: Duration = Duration::from_secs(60);

/// Creates every topic in `specs` that does not exist yet; existing topics are left
/// unchanged and reported as such.
pub async fn ensure_topics(
    options: &KafkaOptions,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<TopicOutcome>, BusError> {
    let admin = admin_client(options)?;
    let metadata = fetch_metadata(options, admin.clone(), timeout).await?;
    let existing = topic_partitions(&metadata);
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .filter(|spec| partitions_in(&existing, &spec.name).is_none())
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions as i32,
                TopicReplication::Fixed(spec.replication_factor as i32),
            );
            // With three copies or more, a write is acknowledged once two hold it:
            // one broker may be lost (or restarted) without losing a record or
            // stopping producers.
            if spec.replication_factor >= 3 {
                topic.set("min.insync.replicas", "2")
            } else {
                topic
            }
        })
        .collect();
    let mut created = Vec::new();
    if !new_topics.is_empty() {
        for result in admin
            .create_topics(&new_topics, &admin_options(timeout))
            .await?
        {
            match result {
                Ok(name) => created.push(name),
                // Another process created it between our look and our request.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    debug!(topic = %name, "topic appeared concurrently")
                }
                Err((topic, code)) => return Err(BusError::Topic { topic, code }),
            }
        }
    }

    // The controller has accepted the new topics; the brokers' metadata follows
    // shortly. Until it does, a consumer that subscribes is told the topic does not
    // exist, so setup returns only once every new partition has a leader. A broker
    // just restarted with thousands of partitions took over 5 s to lead new ones,
    // so this wait is not held to the answer timeout.
    if !created.is_empty() {
        wait_for_metadata(
            options,
            &admin,
            timeout,
            timeout.max(LEADERS_WAIT),
            RDKafkaErrorCode::LeaderNotAvailable,
            |metadata| created.iter().find(|name| !is_led(metadata, name)),
        )
        .await?;
    }

    // Topics we did not create are described as the cluster has them now, which also
    // covers one that appeared concurrently.
    let current = if created.len() == specs.len() {
        Vec::new()
    } else {
        topic_partitions(&fetch_metadata(options, admin, timeout).await?)
    };
    let outcomes = specs
        .iter()
        .map(|spec| {
            if created.contains(&spec.name) {
                info!(topic = %spec.name, partitions = spec.partitions, "topic created");
                TopicOutcome::Created {
                    name: spec.name.clone(),
                    partitions: spec.partitions,
                }
            } else {
                TopicOutcome::AlreadyExists {
                    name: spec.name.clone(),
                    partitions: partitions_in(&current, &spec.name).unwrap_or(0),
                }
            }
        })
        .collect();
    Ok(outcomes)
}

/// What deleting one topic did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicDeletion {
    Deleted { name: String },
    Absent { name: String },
}

/// Deletes every topic in `names` that exists, with its records, and waits until the
/// cluster no longer lists them, so they can be created again at once.
pub async fn delete_topics(
    options: &KafkaOptions,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<TopicDeletion>, BusError> {
    let admin = admin_client(options)?;
    let existing = topic_partitions(&fetch_metadata(options, admin.clone(), timeout).await?);
    let present: Vec<&str> = names
        .iter()
        .filter(|name| partitions_in(&existing, name).is_some())
        .map(String::as_str)
        .collect();
    let mut deleted = Vec::new();
    if !present.is_empty() {
        for result in admin
            .delete_topics(&present, &admin_options(timeout))
            .await?
        {
            match result {
                Ok(name) => deleted.push(name),
                // Another process deleted it between our look and our request.
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => return Err(BusError::Topic { topic, code }),
            }
        }
    }
    // The controller has accepted the deletion; the brokers' metadata follows shortly.
    wait_for_metadata(
        options,
        &admin,
        timeout,
        timeout,
        RDKafkaErrorCode::RequestTimedOut,
        |metadata| {
            let listed = topic_partitions(metadata);
            names
                .iter()
                .find(|name| partitions_in(&listed, name).is_some())
        },
    )
    .await?;
    Ok(names
        .iter()
        .map(|name| {
            let name = name.clone();
            if deleted.contains(&name) {
                info!(topic = %name, "topic deleted");
                TopicDeletion::Deleted { name }
            } else {
                TopicDeletion::Absent { name }
            }
        })
        .collect())
}

fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

fn admin_client(
    options: &KafkaOptions,
) -> Result<Arc<AdminClient<DefaultClientContext>>, BusError> {
    Ok(Arc::new(options.client_config().create()?))
}

/// librdkafka's metadata call blocks, so it runs off the async workers.
async fn fetch_metadata(
    options: &KafkaOptions,
    admin: Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> Result<Metadata, BusError> {
    let unreachable = |reason: String| BusError::Unreachable {
        servers: options.bootstrap_servers.clone(),
        seconds: timeout.as_secs().max(1),
        reason,
    };
    tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .map_err(|join| unreachable(join.to_string()))?
        .map_err(|err| unreachable(err.to_string()))
}

/// Asks for the cluster's metadata (each request answered within `timeout`) until
/// `waiting` names no topic, for up to `patience`; past it, fails with `code` for
/// the topic still waited for.
async fn wait_for_metadata<'a>(
    options: &KafkaOptions,
    admin: &Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
    patience: Duration,
    code: RDKafkaErrorCode,
    waiting: impl Fn(&Metadata) -> Option<&'a String>,
) -> Result<(), BusError> {
    let started = std::time::Instant::now();
    loop {
        let metadata = fetch_metadata(options, admin.clone(), timeout).await?;
        let Some(topic) = waiting(&metadata) else {
            return Ok(());
        };
        if started.elapsed() >= patience {
            return Err(BusError::Topic {
                topic: topic.clone(),
                code,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `metadata` lists `name` with partitions, each with a leader.
fn is_led(metadata: &Metadata, name: &str) -> bool {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == name && t.error().is_none())
        .is_some_and(|t| {
            !t.partitions().is_empty()
                && t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0)
        })
}

fn partitions_in(topics: &[(String, usize)], name: &str) -> Option<usize> {
    topics
        .iter()
        .find(|(topic, _)| topic == name)
        .map(|(_, partitions)| *partitions)
}

fn topic_partitions(metadata: &Metadata) -> Vec<(String, usize)> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

/// The high watermark (the offset the next record will get) of each of `partitions`
/// of `topic`. Blocks up to `timeout` per partition; call it from a blocking context.
pub fn high_watermarks(
    options: &KafkaOptions,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<HashMap<i32, i64>, BusError> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = options.client_config().create()?;
    partitions
        .iter()
        .map(|&partition| {
            let (_, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            Ok((partition, high))
        })
        .collect()
}
