//! Three brokers, topics with three copies and `min.insync.replicas=2`: one broker
//! SIGKILLed while records are published and archived loses none and doubles none,
//! `herd doctor` names the under-replicated partitions while it is down, and all is
//! in sync again once it is back. The cluster is the test's own.

use std::time::{Duration, Instant};

use herd_tests::broker::OwnCluster;
use herd_tests::cli::{FINISH, herd_ok, ingest};
use herd_tests::env::Env;
use herd_tests::lake::{SalesTable, archive_app_id};
use herd_tests::process::Background;
use herd_tests::topic;

/// `herd doctor`'s line about `topic`.
fn doctor_line(env: &Env, topic: &str) -> String {
    let stdout = herd_ok(env, "doctor", &["doctor"]);
    stdout
        .lines()
        .find(|line| line.starts_with(&format!("topic      {topic}:")))
        .unwrap_or_else(|| panic!("no line about {topic}:\n{stdout}"))
        .to_owned()
}

#[test]
fn a_broker_lost_from_three_loses_no_record_and_doctor_says_so() {
    let cluster = OwnCluster::start();
    let env = Env::new("seams-cluster", 3)
        .on_broker(&cluster.bootstrap())
        .with_setting("HERD_TOPICS__REPLICATION_FACTOR", "3");
    env.create_topics();
    let line = doctor_line(&env, &env.sales);
    assert!(
        line.contains("3 partitions × 3 copies") && line.ends_with("all in sync"),
        "{line}"
    );
    for (file, days) in [("first.jsonl", "20"), ("second.jsonl", "21")] {
        herd_ok(
            &env,
            &format!("generate-{days}"),
            &[
                "generate", file, "--days", days, "--stores", "3", "--items", "4",
            ],
        );
    }

    let mut archive = env.herd();
    archive.args([
        "archive",
        "--group",
        &herd_tests::unique("cluster-archive"),
        "--idle-exit",
        "15",
    ]);
    let mut archive = Background::spawn(archive, env.dir(), "archive");
    let first = ingest(&env, "ingest-first", "first.jsonl");

    cluster.kill_node(2);
    let killed = Instant::now();
    // Two copies of three still take writes.
    let second = ingest(&env, "ingest-second", "second.jsonl");
    eprintln!(
        "published {second} records {:.1} s after a broker was killed",
        killed.elapsed().as_secs_f64()
    );
    let line = doctor_line(&env, &env.sales);
    assert!(
        line.contains("WARNING") && line.contains("under-replicated") && line.contains("broker 2"),
        "{line}"
    );

    cluster.start_node(2);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = doctor_line(&env, &env.sales);
        if line.ends_with("all in sync") {
            break;
        }
        assert!(Instant::now() < deadline, "never in sync again: {line}");
        std::thread::sleep(Duration::from_secs(2));
    }

    let stdout = archive.wait_success(FINISH);
    assert!(
        stdout.contains(&format!("archived {} rows", first + second)),
        "{stdout}"
    );
    let marks = topic::watermarks_on(&env.bootstrap_servers(), &env.sales);
    assert_eq!(
        marks.iter().map(|m| m.high - m.low).sum::<i64>() as u64,
        first + second,
        "every record once on the topic"
    );
    let ids: Vec<String> = marks
        .iter()
        .map(|m| archive_app_id(&env.sales, m.partition))
        .collect();
    let sales = SalesTable::read(&env.lake_root(), &ids);
    sales.assert_exactly_once(&env.sales, &marks);
}
