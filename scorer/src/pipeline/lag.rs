//! Consumer lag: each group's committed offsets on the partitions of the topic it
//! reads, against the partitions' watermarks, read with librdkafka's blocking calls
//! on a blocking thread, each bounded by the configured timeout.
//!
//! The clients are created on first use and kept: each librdkafka client runs
//! threads of its own, so a client per request would cost threads per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use herd_bus::KafkaOptions;
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;
use serde::Serialize;

use super::{ConsumerGroup, PipelineOptions};

/// Offsets and lag, or why the broker could not tell.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum KafkaReport {
    Read {
        topics: Vec<TopicReport>,
        groups: Vec<GroupReport>,
    },
    Unreachable {
        error: String,
    },
}

/// A topic the groups read: its partitions' watermarks.
#[derive(Debug, Serialize)]
pub struct TopicReport {
    pub topic: String,
    /// Sum over partitions of the next offset to be written.
    pub high_watermark: i64,
    /// Records the topic holds now (high minus low watermarks).
    pub records: i64,
    pub partitions: Vec<PartitionMarks>,
    /// Why the topic could not be read (e.g. it does not exist).
    pub error: Option<String>,
}

/// One partition's low and high watermarks.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PartitionMarks {
    pub partition: i32,
    pub low_watermark: i64,
    pub high_watermark: i64,
}

/// One consumer group: how far it has read its topic.
#[derive(Debug, Serialize)]
pub struct GroupReport {
    pub service: String,
    pub group: String,
    pub topic: String,
    /// Records behind the high watermarks, over the partitions with a committed
    /// offset; `null` when the group has committed none.
    pub lag: Option<i64>,
    /// Records read, over the same partitions (committed minus low watermark).
    pub consumed: Option<i64>,
    pub committed_partitions: usize,
    pub partitions: Vec<GroupPartition>,
    pub error: Option<String>,
}

/// One partition of a group's topic: its committed offset and lag.
#[derive(Debug, Serialize)]
pub struct GroupPartition {
    pub partition: i32,
    pub committed: Option<i64>,
    pub high_watermark: i64,
    pub lag: Option<i64>,
}

/// The clients that read offsets: one for metadata and watermarks, one per group
/// for its committed offsets (a client asks for its own group's), created on first
/// use. One reading at a time uses them.
pub(super) struct KafkaClients {
    kafka: KafkaOptions,
    groups: Vec<ConsumerGroup>,
    timeout: Duration,
    created: Mutex<Option<Clients>>,
}

struct Clients {
    metadata: BaseConsumer,
    /// In the order of the groups.
    groups: Vec<BaseConsumer>,
}

impl KafkaClients {
    pub(super) fn new(options: &PipelineOptions) -> Self {
        Self {
            kafka: options.kafka.clone(),
            groups: options.groups.clone(),
            timeout: options.kafka_timeout,
            created: Mutex::new(None),
        }
    }

    /// Reads every offset with the shared clients, creating them the first time.
    /// Blocking. Should an earlier reading still wait on a slow broker, this one
    /// says so at once rather than queue a thread behind it.
    fn read(&self) -> Result<KafkaReport, KafkaError> {
        let mut created = match self.created.try_lock() {
            Ok(created) => created,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Ok(KafkaReport::Unreachable {
                    error: format!(
                        "an earlier request to Kafka at {} has not been answered yet",
                        self.kafka.bootstrap_servers
                    ),
                });
            }
        };
        let clients = match created.take() {
            Some(clients) => clients,
            None => self.create()?,
        };
        let read = read_offsets(&clients, &self.groups, self.timeout);
        *created = Some(clients);
        read
    }

    fn create(&self) -> Result<Clients, KafkaError> {
        Ok(Clients {
            metadata: self.kafka.client_config().create()?,
            groups: self
                .groups
                .iter()
                .map(|group| self.kafka.consumer_config(&group.group).create())
                .collect::<Result<_, _>>()?,
        })
    }
}

pub(super) async fn kafka_report(
    options: &PipelineOptions,
    clients: &Arc<KafkaClients>,
) -> KafkaReport {
    let timeout = options.kafka_timeout;
    let clients = Arc::clone(clients);
    let task = tokio::task::spawn_blocking(move || clients.read());
    // Each request is bounded; this bounds them all, should a broker answer slowly.
    match tokio::time::timeout(timeout * 4, task).await {
        Ok(Ok(Ok(report))) => report,
        Ok(Ok(Err(e))) => KafkaReport::Unreachable {
            error: format!(
                "Kafka at {} did not answer: {e}",
                options.kafka.bootstrap_servers
            ),
        },
        Ok(Err(e)) => KafkaReport::Unreachable {
            error: format!("reading offsets failed: {e}"),
        },
        Err(_) => KafkaReport::Unreachable {
            error: format!(
                "Kafka at {} did not answer within {:?}",
                options.kafka.bootstrap_servers,
                timeout * 4
            ),
        },
    }
}

/// Watermarks of every topic the groups read, then each group's committed offsets.
/// Blocking: librdkafka's calls wait up to `timeout` each.
fn read_offsets(
    clients: &Clients,
    groups: &[ConsumerGroup],
    timeout: Duration,
) -> Result<KafkaReport, KafkaError> {
    let mut topics: Vec<TopicReport> = Vec::new();
    for group in groups {
        if topics.iter().any(|t| t.topic == group.topic) {
            continue;
        }
        topics.push(topic_marks(&clients.metadata, &group.topic, timeout)?);
    }
    // The broker answered the metadata requests: each group's takes one round trip.
    let reports = groups
        .iter()
        .zip(&clients.groups)
        .map(|(group, client)| {
            let topic = topics.iter().find(|t| t.topic == group.topic);
            group_report(client, group, topic, timeout)
        })
        .collect();
    Ok(KafkaReport::Read {
        topics,
        groups: reports,
    })
}

/// A topic's partitions and their watermarks. Fails only when the broker cannot be
/// reached; a topic it does not know is reported with its error.
fn topic_marks(
    client: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<TopicReport, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let mut report = TopicReport {
        topic: topic.to_owned(),
        high_watermark: 0,
        records: 0,
        partitions: Vec::new(),
        error: None,
    };
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        report.error = Some("not in the cluster's metadata".to_owned());
        return Ok(report);
    };
    if let Some(error) = found.error() {
        report.error = Some(format!(
            "{:?}",
            rdkafka::error::RDKafkaErrorCode::from(error)
        ));
        return Ok(report);
    }
    for partition in found.partitions() {
        let id = partition.id();
        match client.fetch_watermarks(topic, id, timeout) {
            Ok((low, high)) => report.partitions.push(PartitionMarks {
                partition: id,
                low_watermark: low,
                high_watermark: high,
            }),
            Err(e) => {
                report.error = Some(format!("partition {id}: {e}"));
            }
        }
    }
    report.partitions.sort_by_key(|p| p.partition);
    report.high_watermark = report.partitions.iter().map(|p| p.high_watermark).sum();
    report.records = report
        .partitions
        .iter()
        .map(|p| p.high_watermark - p.low_watermark)
        .sum();
    Ok(report)
}

fn empty_group(group: &ConsumerGroup) -> GroupReport {
    GroupReport {
        service: group.service.clone(),
        group: group.group.clone(),
        topic: group.topic.clone(),
        lag: None,
        consumed: None,
        committed_partitions: 0,
        partitions: Vec::new(),
        error: None,
    }
}

/// `group`'s committed offsets on `topic`'s partitions against their watermarks.
fn group_report(
    client: &BaseConsumer,
    group: &ConsumerGroup,
    topic: Option<&TopicReport>,
    timeout: Duration,
) -> GroupReport {
    let mut report = empty_group(group);
    let Some(topic) = topic.filter(|t| !t.partitions.is_empty()) else {
        report.error = Some(format!("topic {} has no readable partitions", group.topic));
        return report;
    };
    let committed = committed_offsets(client, group, &topic.partitions, timeout);
    let committed = match committed {
        Ok(committed) => committed,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let (mut lag, mut consumed) = (0, 0);
    for marks in &topic.partitions {
        let offset = committed.get(&marks.partition).copied();
        let behind = offset.map(|o| (marks.high_watermark - o.max(marks.low_watermark)).max(0));
        if let (Some(o), Some(b)) = (offset, behind) {
            report.committed_partitions += 1;
            lag += b;
            consumed += (o.min(marks.high_watermark) - marks.low_watermark).max(0);
        }
        report.partitions.push(GroupPartition {
            partition: marks.partition,
            committed: offset,
            high_watermark: marks.high_watermark,
            lag: behind,
        });
    }
    if report.committed_partitions > 0 {
        report.lag = Some(lag);
        report.consumed = Some(consumed);
    }
    report
}

/// The offsets `group` committed on `partitions` (none for a partition it never
/// committed). `client` carries the group's id and never joins the group: it only
/// asks the coordinator.
fn committed_offsets(
    client: &BaseConsumer,
    group: &ConsumerGroup,
    partitions: &[PartitionMarks],
    timeout: Duration,
) -> Result<HashMap<i32, i64>, KafkaError> {
    let mut wanted = TopicPartitionList::new();
    for marks in partitions {
        wanted.add_partition(&group.topic, marks.partition);
    }
    let committed = client.committed_offsets(wanted, timeout)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}
