//! Reading a topic back as it is on the broker: every record of every partition from
//! the start, with its key, value and headers, and the partitions' watermarks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use herd_bus::KafkaOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// How long a drain waits for the broker before giving up.
const DEADLINE: Duration = Duration::from_secs(60);
/// After the high watermarks are reached, how long to keep listening for records
/// beyond them (which would mean something was still being published).
const SETTLE: Duration = Duration::from_millis(500);

/// One record as consumed.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Consumed {
    /// The key as text (`store/item` on the sales topic).
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }

    /// The value of header `name` as text, if present (the last one if repeated).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// The low and high watermark of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    KafkaOptions::new(bootstrap.to_owned())
        .consumer_config(&crate::unique("reader"))
        .create()
        .expect("a consumer")
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Vec<i32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), DEADLINE)
        .unwrap_or_else(|err| panic!("no metadata for {topic}: {err}"));
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} does not exist");
    partitions
}

/// The watermarks of every partition of `topic`, by partition.
pub fn watermarks(topic: &str) -> Vec<Watermark> {
    watermarks_on(&crate::bootstrap_servers(), topic)
}

/// [`watermarks`] on the broker at `bootstrap`.
pub fn watermarks_on(bootstrap: &str, topic: &str) -> Vec<Watermark> {
    let consumer = consumer(bootstrap);
    let mut marks: Vec<Watermark> = partitions(&consumer, topic)
        .into_iter()
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, DEADLINE)
                .unwrap_or_else(|err| panic!("no watermarks for {topic}/{partition}: {err}"));
            Watermark {
                partition,
                low,
                high,
            }
        })
        .collect();
    marks.sort_by_key(|m| m.partition);
    marks
}

/// Every record on `topic`, partition by partition in offset order. Reads up to the
/// high watermarks taken at the start, then listens a little longer so that a
/// record published after them shows up too.
pub fn drain(topic: &str) -> Vec<Consumed> {
    drain_on(&crate::bootstrap_servers(), topic)
}

/// [`drain`] on the broker at `bootstrap`.
pub fn drain_on(bootstrap: &str, topic: &str) -> Vec<Consumed> {
    let marks = watermarks_on(bootstrap, topic);
    let consumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    for mark in &marks {
        assignment
            .add_partition_offset(topic, mark.partition, Offset::Beginning)
            .expect("a valid partition");
    }
    consumer.assign(&assignment).expect("assigned");
    let mut missing: HashMap<i32, i64> = marks
        .iter()
        .filter(|m| m.high > m.low)
        .map(|m| (m.partition, m.high))
        .collect();
    let mut records = Vec::new();
    let started = Instant::now();
    let mut settled_at: Option<Instant> = None;
    loop {
        if missing.is_empty() {
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                break;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{topic}: still waiting for offsets {missing:?} after {DEADLINE:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap_or_else(|err| panic!("consuming {topic}: {err}"));
        if missing
            .get(&message.partition())
            .is_some_and(|high| message.offset() + 1 >= *high)
        {
            missing.remove(&message.partition());
        }
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        records.push(Consumed {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}
