//! A keyed round trip through the cluster: produce a sample, read it back in a fresh
//! consumer group, and check that every record arrived exactly once, with each key's
//! records on one partition and in order. `herd doctor --roundtrip` runs it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde::{Deserialize, Serialize};

use crate::{BulkProducer, BusError, KafkaOptions};

/// What the round trip saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoundTripReport {
    pub produced: usize,
    pub consumed: usize,
    pub duplicates: usize,
    pub missing: usize,
    pub keys: usize,
    pub partitions: usize,
    /// Keys whose records arrived on more than one partition.
    pub split_keys: usize,
    /// Records that arrived before an earlier record of the same key.
    pub out_of_order: usize,
    pub produce_seconds: f64,
    pub consume_seconds: f64,
}

impl RoundTripReport {
    /// True when every record arrived once, each key on one partition, in order.
    pub fn is_exact(&self) -> bool {
        self.consumed == self.produced
            && self.duplicates == 0
            && self.missing == 0
            && self.split_keys == 0
            && self.out_of_order == 0
    }
}

#[derive(Serialize, Deserialize)]
struct Probe {
    run: String,
    key: String,
    seq: usize,
}

/// Produces `records` keyed records to `topic` (which must exist) over `keys` keys,
/// then consumes them in a new consumer group until all arrived or `timeout` passed.
/// `progress` is called with the number of records handled so far.
pub async fn round_trip(
    options: &KafkaOptions,
    topic: &str,
    records: usize,
    keys: usize,
    timeout: Duration,
    progress: impl Fn(usize),
) -> Result<RoundTripReport, BusError> {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| format!("{}-{}", std::process::id(), d.as_nanos()))
        .unwrap_or_default();
    let consumer: StreamConsumer = options
        .consumer_config(&format!("herd-doctor-{run}"))
        .create()?;
    consumer.subscribe(&[topic])?;

    let mut producer = BulkProducer::new(options)?;
    let started = Instant::now();
    let mut next_seq = vec![0usize; keys.max(1)];
    for i in 0..records {
        let k = i % next_seq.len();
        let key = format!("store-{}/item-{}", k % 10, k);
        let probe = Probe {
            run: run.clone(),
            key: key.clone(),
            seq: next_seq[k],
        };
        next_seq[k] += 1;
        let payload = serde_json::to_vec(&probe).unwrap_or_default();
        producer.send(topic, Some(key.as_bytes()), &payload, &[])?;
        if i.is_multiple_of(1000) {
            progress(producer.delivered() as usize);
        }
    }
    let delivery = producer.finish(timeout);
    if !delivery.is_complete() {
        return Err(BusError::Undelivered {
            topic: topic.to_owned(),
            count: delivery.failed + delivery.unacknowledged,
            reason: delivery
                .first_error
                .unwrap_or_else(|| "no acknowledgement in time".into()),
        });
    }
    progress(records);
    let produce_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let deadline = started + timeout;
    let mut seen: HashSet<(String, usize)> = HashSet::new();
    let mut last_seq: HashMap<String, usize> = HashMap::new();
    let mut partitions_of: HashMap<String, HashSet<i32>> = HashMap::new();
    let mut report = RoundTripReport {
        produced: records,
        produce_seconds,
        ..Default::default()
    };
    while report.consumed < records {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, consumer.recv()).await {
            Err(_) => break,
            Ok(message) => message?,
        };
        let Some(probe) = message
            .payload()
            .and_then(|bytes| serde_json::from_slice::<Probe>(bytes).ok())
            .filter(|probe| probe.run == run)
        else {
            continue; // an earlier round trip's record
        };
        report.consumed += 1;
        if report.consumed.is_multiple_of(1000) {
            progress(records + report.consumed);
        }
        if !seen.insert((probe.key.clone(), probe.seq)) {
            report.duplicates += 1;
        }
        if let Some(last) = last_seq.insert(probe.key.clone(), probe.seq)
            && last > probe.seq
        {
            report.out_of_order += 1;
        }
        partitions_of
            .entry(probe.key)
            .or_default()
            .insert(message.partition());
    }
    report.consume_seconds = started.elapsed().as_secs_f64();
    report.missing = records.saturating_sub(seen.len());
    report.keys = partitions_of.len();
    report.split_keys = partitions_of.values().filter(|p| p.len() > 1).count();
    report.partitions = partitions_of
        .values()
        .flatten()
        .collect::<HashSet<_>>()
        .len();
    Ok(report)
}
