//! What the archive does when Kafka is not there as it left it. Records deleted
//! (retention) before they were archived: `herd archive` stops with a line naming
//! the topic, partition, stored offset and low watermark, or with `--on-gap skip`
//! says how many offsets were lost and goes on, storing the rest once. A broker
//! restart while records stream in: the archive waits it out and stores every
//! record exactly once.
//! The restart test restarts a broker of its own, so the tests beside it never
//! notice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use herd_bus::KafkaOptions;
use herd_tests::broker::OwnBroker;
use herd_tests::cli::{FINISH, herd_ok, ingest, line, numbers};
use herd_tests::env::Env;
use herd_tests::lake::{SalesTable, archive_app_id};
use herd_tests::process::{Background, Ran};
use herd_tests::simulated::published;
use herd_tests::topic;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};

/// Deletes every record of `topic`'s partition 0 below `before`, as retention would.
fn delete_records_before(topic: &str, before: i64) {
    let admin: AdminClient<DefaultClientContext> =
        KafkaOptions::new(herd_tests::bootstrap_servers())
            .client_config()
            .create()
            .expect("an admin client");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(before))
        .expect("a partition offset");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let deleted = runtime
        .block_on(admin.delete_records(&offsets, &options))
        .expect("records deleted");
    for element in deleted.elements() {
        assert!(element.error().is_ok(), "{element:?}");
    }
}

/// `herd archive` in `group` with `extra` flags, stopping 3 s after the last record.
fn archive_run(env: &Env, group: &str, extra: &[&str]) -> Ran {
    let mut command = env.herd();
    command
        .args(["archive", "--group", group, "--idle-exit", "3"])
        .args(extra);
    Ran::run(&mut command, None)
}

/// The archived rows' offsets, per partition, each checked to be there once.
fn archived_offsets(env: &Env, partitions: i32) -> BTreeMap<i32, BTreeSet<i64>> {
    let app_ids: Vec<String> = (0..partitions)
        .map(|p| archive_app_id(&env.sales, p))
        .collect();
    let table = SalesTable::read(&env.lake_root(), &app_ids);
    let mut offsets: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for row in &table.rows {
        assert!(
            offsets
                .entry(row.kafka_partition)
                .or_default()
                .insert(row.kafka_offset),
            "archived twice: {row:?}"
        );
    }
    offsets
}

#[test]
fn records_deleted_before_they_were_archived_stop_the_archive_or_are_skipped_once() {
    let env = Env::new("seams-gap", 1);
    env.create_topics();
    herd_ok(
        &env,
        "generate",
        &[
            "generate",
            "sales.csv",
            "--stores",
            "1",
            "--items",
            "2",
            "--days",
            "50",
        ],
    );
    let first = ingest(&env, "ingest-1", "sales.csv");
    assert_eq!(first, 100);
    let group = herd_tests::unique("seams-gap");
    let ran = archive_run(&env, &group, &[]);
    assert!(ran.success, "{}", ran.stderr);
    assert_eq!(numbers(line(&ran.stdout, "archived "))[0], first);

    // 100 more records, of which retention deletes the first 10 before the archive
    // reads them: offsets 100..110 are gone.
    assert_eq!(ingest(&env, "ingest-2", "sales.csv"), 100);
    let low = first as i64 + 10;
    delete_records_before(&env.sales, low);
    let marks = topic::watermarks(&env.sales);
    assert_eq!((marks[0].low, marks[0].high), (low, 200));

    // The default policy stops, naming what was lost, and stores nothing.
    let ran = archive_run(&env, &group, &[]);
    eprintln!("fail: {}", ran.stderr);
    assert!(
        !ran.success,
        "the archive went on over a gap:\n{}",
        ran.stdout
    );
    let errors = ran.error_lines();
    assert_eq!(errors.len(), 1, "{}", ran.stderr);
    for part in [
        env.sales.as_str(),
        "partition 0",
        "stored offset 100",
        "low watermark 110",
        "10 records were deleted",
    ] {
        assert!(errors[0].contains(part), "{part:?} not in {}", errors[0]);
    }
    assert_eq!(archived_offsets(&env, 1)[&0].len(), 100, "nothing archived");

    // `--on-gap skip` says how many offsets were lost and archives the rest once.
    let ran = archive_run(&env, &group, &["--on-gap", "skip"]);
    eprintln!("skip: {}\n{}", ran.stdout, ran.stderr);
    assert!(ran.success, "{}", ran.stderr);
    assert_eq!(numbers(line(&ran.stdout, "archived "))[0], 90);
    assert_eq!(
        line(&ran.stdout, "10 offsets"),
        format!(
            "10 offsets of {} were deleted before they were archived and are lost (--on-gap skip)",
            env.sales
        )
    );
    assert!(ran.stderr.contains("lost=10"), "{}", ran.stderr);

    // The gap is passed over for good: the default policy finds nothing more to do.
    let ran = archive_run(&env, &group, &[]);
    assert!(ran.success, "{}", ran.stderr);
    assert_eq!(numbers(line(&ran.stdout, "archived "))[0], 0);
    let offsets = archived_offsets(&env, 1);
    let expected: BTreeSet<i64> = (0..100).chain(110..200).collect();
    assert_eq!(offsets[&0], expected);
    let table = SalesTable::read(&env.lake_root(), &[archive_app_id(&env.sales, 0)]);
    assert_eq!(
        table.stored_offsets[&archive_app_id(&env.sales, 0)],
        Some(200)
    );
}

#[test]
fn broker_restart_the_archive_waits_it_out_and_stores_every_record_once() {
    let broker = OwnBroker::start();
    let env = Env::new("seams-broker-restart", 3).on_broker(&broker.bootstrap());
    env.create_topics();
    let mut command = env.herd();
    command.args([
        "archive",
        "--group",
        &herd_tests::unique("seams-broker-restart"),
        "--flush-latency-ms",
        "500",
    ]);
    let mut archive = Background::spawn(command, env.dir(), "archive");
    archive.wait_for_log(
        "assigned; resuming from stored offsets",
        Duration::from_secs(60),
    );

    // History at once, then 30 live days over 15 s.
    let mut command = env.herd();
    command
        .args([
            "simulate", "--stores", "3", "--items", "20", "--days", "200",
        ])
        .args([
            "--history-days",
            "200",
            "--live-days",
            "30",
            "--days-per-second",
            "2",
        ]);
    // The producer's own view of the restart is kept in live.stderr: librdkafka's
    // broker, metadata and idempotence events, for when a record is not delivered.
    command
        .env("HERD_KAFKA__DEBUG", "broker,topic,metadata,eos")
        .env("RUST_LOG", "info,librdkafka=debug,rdkafka=debug");
    let mut live = Background::spawn(command, env.dir(), "live");
    std::thread::sleep(Duration::from_secs(3));
    assert!(live.is_running(), "the stream ended before the restart");
    let started = Instant::now();
    broker.restart();
    eprintln!(
        "broker restarted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let delivered = live.wait(FINISH);
    let published = if delivered.success() {
        published(&live.stdout())
    } else {
        // This test is the archive's: a record the simulator could not deliver
        // across the restart may or may not be on the topic, so the topic itself
        // is the measure of what the archive must store.
        let stderr = live.stderr();
        let why = herd_tests::process::error_lines(&stderr).join("\n");
        eprintln!(
            "the simulator did not deliver every record across the restart ({delivered}); \
             judging the archive by the topic's watermarks:\n{}{why}",
            live.stdout()
        );
        topic::watermarks_on(&env.bootstrap_servers(), &env.sales)
            .iter()
            .map(|m| u64::try_from(m.high - m.low).expect("high >= low"))
            .sum()
    };
    assert!(
        archive.is_running(),
        "the archive did not survive the restart:\n{}",
        archive.stderr()
    );

    // Everything published reaches the table, once.
    let started = Instant::now();
    loop {
        let archived: usize = archived_offsets(&env, 3).values().map(BTreeSet::len).sum();
        if archived as u64 == published {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{archived} of {published} records archived"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    archive.terminate();
    let stdout = archive.wait_success(FINISH);
    eprintln!("{stdout}");
    let log = archive.stderr();
    assert!(
        log.contains("Kafka is unavailable; waiting for it")
            && log.contains("Kafka is reachable again"),
        "the archive never saw the broker go and come back:\n{log}"
    );
    let app_ids: Vec<String> = (0..3).map(|p| archive_app_id(&env.sales, p)).collect();
    let table = SalesTable::read(&env.lake_root(), &app_ids);
    table.assert_exactly_once(
        &env.sales,
        &topic::watermarks_on(&env.bootstrap_servers(), &env.sales),
    );
}
