//! `herd archive` keeps the Delta `sales` table exactly in step with the sales topic:
//! SIGKILLed at random moments and restarted, or losing one of two archivers in a
//! group while records stream in, every offset of every partition ends up in the
//! table exactly once, and the table's `txn` actions hold the high watermarks. A
//! second Delta implementation (Python's `deltalake`) reads the same table.

use std::time::Duration;

use herd_tests::env::Env;
use herd_tests::lake::{SalesTable, archive_app_id};
use herd_tests::process::{Background, Jitter};
use herd_tests::topic::{self, Watermark};

/// Logged by an archiver each time it has its partitions and has sought to the
/// offsets the table stores.
const ASSIGNED: &str = "resuming from stored offsets";
/// How long a SIGKILLed archiver stays in its consumer group: the session timeout
/// `Env` configures (6 s), plus room for the broker to notice.
const SESSION_EXPIRY: Duration = Duration::from_secs(8);
const STARTUP: Duration = Duration::from_secs(30);
const FINISH: Duration = Duration::from_secs(120);

/// 5 stores × 20 items: a history of 200 days, then 60 live days at 10 a second.
fn simulate(env: &Env) -> Background {
    let mut command = env.herd();
    command.args([
        "simulate",
        "--stores",
        "5",
        "--items",
        "20",
        "--history-days",
        "200",
        "--live-days",
        "60",
        "--days-per-second",
        "10",
    ]);
    Background::spawn(command, env.dir(), "simulate")
}

fn archiver(env: &Env, group: &str, name: &str, idle_exit: Option<u64>) -> Background {
    let mut command = env.herd();
    command.args([
        "archive",
        "--group",
        group,
        "--flush-records",
        "2000",
        "--flush-latency-ms",
        "300",
    ]);
    if let Some(seconds) = idle_exit {
        command.args(["--idle-exit", &seconds.to_string()]);
    }
    Background::spawn(command, env.dir(), name)
}

/// The records a finished `herd simulate` says the broker acknowledged, checked
/// against its own history and live counts.
fn published(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("published "))
        .unwrap_or_else(|| panic!("no summary from simulate:\n{stdout}"));
    // "published H history records and D live days (L records); delivered N,
    // failed F, unacknowledged U in S s"
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().expect("digits"))
        .collect();
    let [history, _, live, delivered, failed, unacknowledged, ..] = numbers[..] else {
        panic!("unexpected summary: {line}");
    };
    assert_eq!((failed, unacknowledged), (0, 0), "{line}");
    assert_eq!(delivered, history + live, "{line}");
    delivered
}

/// The high watermarks, checked against what simulate published.
fn watermarks(env: &Env, published: u64) -> Vec<Watermark> {
    let marks = topic::watermarks(&env.sales);
    assert_eq!(marks.len(), env.partitions as usize);
    let on_topic: i64 = marks.iter().map(|m| m.high - m.low).sum();
    assert_eq!(
        on_topic as u64, published,
        "the topic holds other records than simulate's: {marks:?}"
    );
    marks
}

fn app_ids(env: &Env, marks: &[Watermark]) -> Vec<String> {
    marks
        .iter()
        .map(|m| archive_app_id(&env.sales, m.partition))
        .collect()
}

/// The whole invariant: no duplicate and no gap per partition, the stored offsets
/// at the high watermarks, one row per published record, each row the record at
/// its position.
fn assert_archived_exactly_once(env: &Env, published: u64) -> SalesTable {
    let marks = watermarks(env, published);
    let table = SalesTable::read(&env.lake_root(), &app_ids(env, &marks));
    table.assert_exactly_once(&env.sales, &marks);
    assert_eq!(table.rows.len() as u64, published);
    table.assert_rows_match(&topic::drain(&env.sales));
    table
}

#[test]
fn archive_is_exactly_once_across_sigkills() {
    let env = Env::new("archive-crash", 4);
    env.create_topics();
    let group = herd_tests::unique("archive-crash-group");
    let mut jitter = Jitter::from_env("archive_is_exactly_once_across_sigkills");

    let mut simulate = simulate(&env);
    for round in 1..=3 {
        let mut archiver = archiver(&env, &group, &format!("archiver-{round}"), None);
        // A restarted archiver waits for its predecessor's session to expire
        // before it gets partitions; the random moment counts from then.
        archiver.wait_for_log(ASSIGNED, STARTUP);
        std::thread::sleep(jitter.between(Duration::from_secs(1), Duration::from_secs(4)));
        archiver.kill();
    }
    let published = published(&simulate.wait_success(FINISH));
    assert!(published > 20_000, "simulate published only {published}");

    // Started while the last killed archiver still holds the group, the final one
    // could spend its whole idle allowance waiting for partitions.
    std::thread::sleep(SESSION_EXPIRY);
    let mut last = archiver(&env, &group, "archiver-final", Some(5));
    let summary = last.wait_success(FINISH);
    assert!(summary.contains("archived "), "{summary}");

    assert_archived_exactly_once(&env, published);
}

#[test]
fn archive_is_exactly_once_when_one_of_two_archivers_dies() {
    let env = Env::new("archive-pair", 4);
    env.create_topics();
    let group = herd_tests::unique("archive-pair-group");
    let mut jitter = Jitter::from_env("archive_is_exactly_once_when_one_of_two_archivers_dies");

    // The survivor takes the dead one's partitions over only once its session has
    // expired, possibly after the stream ended: its idle allowance covers that.
    let mut survivor = archiver(&env, &group, "archiver-survivor", Some(15));
    survivor.wait_for_log(ASSIGNED, STARTUP);
    let mut victim = archiver(&env, &group, "archiver-victim", None);
    victim.wait_for_log(ASSIGNED, STARTUP);

    let mut simulate = simulate(&env);
    std::thread::sleep(jitter.between(Duration::from_secs(1), Duration::from_secs(4)));
    assert!(
        simulate.is_running(),
        "simulate finished before the archiver was killed:\n{}",
        simulate.stdout()
    );
    victim.kill();
    assert!(survivor.is_running(), "{}", survivor.stderr());

    let published = published(&simulate.wait_success(FINISH));
    let summary = survivor.wait_success(FINISH);
    assert!(summary.contains("archived "), "{summary}");

    assert_archived_exactly_once(&env, published);
}

#[test]
fn python_deltalake_reads_the_archived_table() {
    // Fail here, before anything runs, when the interpreter is missing.
    herd_tests::python::interpreter();
    let env = Env::new("archive-python", 3);
    env.create_topics();

    let mut history = env.herd();
    history.args([
        "simulate",
        "--stores",
        "3",
        "--items",
        "4",
        "--start-date",
        "2023-11-01",
        "--history-days",
        "100",
        "--live-days",
        "0",
    ]);
    let published =
        published(&Background::spawn(history, env.dir(), "simulate").wait_success(FINISH));

    // Small commits, so that the log is long enough for a checkpoint, and dates
    // across a new year, so that there are two `year` partitions.
    let mut command = env.herd();
    command.args([
        "archive",
        "--group",
        &herd_tests::unique("archive-python-group"),
        "--flush-records",
        "10",
        "--flush-latency-ms",
        "300",
        "--idle-exit",
        "3",
    ]);
    let summary = Background::spawn(command, env.dir(), "archiver").wait_success(FINISH);
    assert!(
        summary.contains(&format!("archived {published} rows")),
        "{summary}"
    );

    let table = assert_archived_exactly_once(&env, published);
    let marks = watermarks(&env, published);
    let years: std::collections::BTreeSet<i32> = table.rows.iter().map(|r| r.year).collect();
    assert_eq!(years.len(), 2, "{years:?}");

    let ids = app_ids(&env, &marks);
    let python = herd_tests::python::read_delta(&env.sales_table(), &ids);
    assert_eq!(python.version, table.version);
    assert_eq!(python.rows, published);
    assert_eq!(python.distinct_positions, published);
    assert_eq!(python.rows_in_wrong_year, 0);
    for (id, mark) in ids.iter().zip(&marks) {
        assert_eq!(
            python.transaction_versions.get(id).copied().flatten(),
            Some(mark.high),
            "Python's transaction_version({id})"
        );
    }
}
