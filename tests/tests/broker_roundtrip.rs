//! Proof that the broker is real and keyed records behave as Herd relies on: 10,000
//! sales records produced by key arrive in a consumer group exactly once, every key on
//! one partition — the one Java's murmur2 partitioner picks — and in order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herd_bus::{KafkaOptions, TopicSpec};
use herd_schemas::SalesRecord;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::future_producer::FutureProducer;
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;

const RECORDS: usize = 10_000;
const PARTITIONS: i32 = 12;
const STORES: usize = 10;
const ITEMS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keyed_records_arrive_exactly_once_in_key_order() {
    let options = KafkaOptions::new(herd_tests::bootstrap_servers());
    let topic = herd_tests::unique("roundtrip");
    let created = herd_bus::ensure_topics(
        &options,
        &[TopicSpec {
            name: topic.clone(),
            partitions: PARTITIONS as u32,
            replication_factor: 1,
        }],
        Duration::from_secs(10),
    )
    .await
    .expect("the broker creates the topic");
    assert!(matches!(created[0], herd_bus::TopicOutcome::Created { .. }));

    // Produce with rdkafka directly, configured as Herd's producer is.
    let producer: FutureProducer = options.producer_config().create().expect("producer");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
    let mut deliveries = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let series = i % (STORES * ITEMS);
        let day = (i / (STORES * ITEMS)) as u64;
        let json = format!(
            r#"{{"store_id":"s{}","item_id":"i{}","date":"{}","sales":{}}}"#,
            series % STORES,
            series / STORES,
            start + chrono::Days::new(day),
            i
        );
        let record = SalesRecord::from_json(json.as_bytes())
            .expect("sample records are valid")
            .record;
        let key = record.key().to_string();
        let payload = serde_json::to_vec(&record).expect("serializes");
        let delivery = producer
            .send_result(FutureRecord::to(&topic).key(&key).payload(&payload))
            .map_err(|(err, _)| err)
            .expect("enqueued");
        deliveries.push((key, delivery));
    }
    let mut produced_partition: HashMap<String, i32> = HashMap::new();
    for (key, delivery) in deliveries {
        let delivered = delivery
            .await
            .expect("not cancelled")
            .map_err(|(err, _)| err)
            .expect("acknowledged by the broker");
        let expected = java_partition(key.as_bytes(), PARTITIONS);
        assert_eq!(
            delivered.partition, expected,
            "{key} is not on the partition Java's murmur2 partitioner picks"
        );
        produced_partition.insert(key, delivered.partition);
    }

    let consumer: StreamConsumer = options
        .consumer_config(&herd_tests::unique("group"))
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribed");
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut last_date: HashMap<String, String> = HashMap::new();
    let mut partitions_of: HashMap<String, HashSet<i32>> = HashMap::new();
    let mut consumed = 0;
    while consumed < RECORDS {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {consumed} of {RECORDS} records arrived"))
            .expect("consumed");
        consumed += 1;
        let record = SalesRecord::from_json(message.payload().expect("has a value"))
            .expect("the record survives the trip")
            .record;
        let key = std::str::from_utf8(message.key().expect("keyed")).expect("utf-8");
        assert_eq!(key, record.key().to_string());
        let date = record.date.to_string();
        assert!(
            seen.insert((key.to_owned(), date.clone())),
            "{key} {date} arrived twice"
        );
        if let Some(previous) = last_date.insert(key.to_owned(), date.clone()) {
            assert!(previous < date, "{key}: {date} arrived after {previous}");
        }
        partitions_of
            .entry(key.to_owned())
            .or_default()
            .insert(message.partition());
    }
    assert_eq!(seen.len(), RECORDS);
    assert_eq!(partitions_of.len(), STORES * ITEMS);
    for (key, partitions) in &partitions_of {
        assert_eq!(partitions.len(), 1, "{key} arrived on {partitions:?}");
        assert!(partitions.contains(&produced_partition[key]));
    }
    let used: HashSet<i32> = partitions_of.values().flatten().copied().collect();
    assert!(used.len() > 1, "500 keys should spread over partitions");

    // Nothing more arrives: exactly once, not at least once.
    let extra = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await;
    assert!(extra.is_err(), "a record arrived after all {RECORDS}");
    drop(consumer);
    producer.flush(Timeout::After(Duration::from_secs(5))).ok();
}

/// Kafka's Java client: `toPositive(murmur2(key)) % partitions`.
fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions
}

/// Kafka's murmur2 (seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[test]
fn murmur2_matches_kafka_test_vectors() {
    // From Kafka's UtilsTest.testMurmur2.
    let cases: [(&[u8], i32); 3] = [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
    ];
    for (input, expected) in cases {
        assert_eq!(murmur2(input) as i32, expected, "{input:?}");
    }
}

/// `herd topics create` followed at once by a consumer (as a script or a test does)
/// must find the topics there: setup returns only once a fresh client sees every new
/// topic with a leader for each partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_topics_have_a_leader_for_every_partition_when_setup_returns() {
    use rdkafka::consumer::BaseConsumer;
    let options = KafkaOptions::new(herd_tests::bootstrap_servers());
    for round in 0..20 {
        let names: Vec<String> = (0..4)
            .map(|i| herd_tests::unique(&format!("ready-{round}-{i}")))
            .collect();
        let specs: Vec<TopicSpec> = names
            .iter()
            .map(|name| TopicSpec {
                name: name.clone(),
                partitions: PARTITIONS as u32,
                replication_factor: 1,
            })
            .collect();
        herd_bus::ensure_topics(&options, &specs, Duration::from_secs(10))
            .await
            .expect("the broker creates the topics");
        let names_seen = names.clone();
        let config = options.client_config();
        let seen = tokio::task::spawn_blocking(move || {
            let client: BaseConsumer = config.create().expect("a client");
            names_seen
                .iter()
                .map(|name| {
                    let metadata = client
                        .fetch_metadata(Some(name), Duration::from_secs(10))
                        .expect("metadata");
                    let topic = &metadata.topics()[0];
                    let led = topic
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_none() && p.leader() >= 0)
                        .count();
                    (name.clone(), topic.error(), led)
                })
                .collect::<Vec<_>>()
        })
        .await
        .expect("the metadata task");
        for (name, error, led) in seen {
            assert!(
                error.is_none() && led == PARTITIONS as usize,
                "round {round}: {name} right after setup: error {error:?}, {led} of {PARTITIONS} partitions with a leader"
            );
        }
    }
}
