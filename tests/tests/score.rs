//! `herd score`, the continuous scorer, against the real broker and real Delta
//! tables: every key forecast as of every live day it sold, one row per step in
//! `predictions` and one message on the predictions topic, exactly once though the
//! scorer is SIGKILLed three times or hands its partitions to a second member; a
//! promotion switches later forecasts to the new version within seconds; and a key
//! without a production model gets a flagged cold-start forecast, or none with
//! `--cold-start skip`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use herd_tests::cli::{FINISH, archive, herd_ok, line, numbers};
use herd_tests::env::Env;
use herd_tests::predictions::{self, PredictionsTable, score_app_id};
use herd_tests::process::{Background, Jitter};
use herd_tests::production::ProductionTable;
use herd_tests::topic;

/// Logged by a scorer once it has partitions and knows where to start in each.
const SCORING: &str = "scoring partitions";
/// A restarted scorer gets partitions only once its SIGKILLed predecessor's session
/// (6 s, see `Env`) has expired.
const STARTUP: Duration = Duration::from_secs(60);
/// The scorer's default horizon.
const HORIZON: i64 = 28;
/// 3 stores × 20 items.
const KEYS: usize = 60;
/// Day indices `0..HISTORY_DAYS` are history; live days follow.
const HISTORY_DAYS: u32 = 200;

/// The date of day index `day` (simulate starts at 2022-01-01).
fn day(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 1).expect("a date") + chrono::Days::new(u64::from(day))
}

/// `herd simulate` for this file's 60 keys from day index `first`: history up to
/// day 199, then `live_days` live days. `--days 200` makes every late-starting key
/// start within the history, so that every key sells on every live day.
fn simulate(env: &Env, name: &str, first: u32, live_days: u32, per_second: &str) -> Background {
    let mut command = env.herd();
    command.args([
        "simulate", "--stores", "3", "--items", "20", "--days", "200",
    ]);
    command.args(["--history-days", &HISTORY_DAYS.to_string()]);
    command.args(["--start-day", &first.to_string()]);
    command.args(["--live-days", &live_days.to_string()]);
    command.args(["--days-per-second", per_second]);
    Background::spawn(command, env.dir(), name)
}

/// The records a finished simulate delivered, failing the test on any loss.
fn published(stdout: &str) -> u64 {
    // "published H history records and D live days (L records); delivered N,
    // failed F, unacknowledged U in S s"
    let summary = line(stdout, "published ");
    let [history, _, live, delivered, failed, unacknowledged, ..] = numbers(summary)[..] else {
        panic!("unexpected simulate summary: {summary}");
    };
    assert_eq!((failed, unacknowledged), (0, 0), "{summary}");
    assert_eq!(delivered, history + live, "{summary}");
    delivered
}

/// The history archived, trained with seasonal naive (every key at version 1) and
/// promoted where `rule` says; returns the production table.
fn lake_with_production(env: &Env, rule: &str) -> ProductionTable {
    env.create_topics();
    let history = simulate(env, "history", 0, 0, "1").wait_success(FINISH);
    let published = published(&history);
    assert_eq!(archive(env, "3"), published, "archived what was published");
    herd_ok(
        env,
        "train",
        &["train", "--once", "--models", "seasonal_naive"],
    );
    let stdout = herd_ok(env, "promote", &["promote", "--once", "--rule", rule]);
    eprintln!("promote: {}", line(&stdout, "decided "));
    let production = ProductionTable::read(&env.lake_root());
    assert!(
        production.current().values().all(|version| *version == 1),
        "{:?}",
        production.current()
    );
    production
}

/// A scorer in `group`.
fn scorer(env: &Env, group: &str, name: &str, extra: &[&str]) -> Background {
    let mut herd = env.herd();
    herd.args(["score", "--group", group]).args(extra);
    Background::spawn(herd, env.dir(), name)
}

/// What a scorer says it did when it stops.
#[derive(Debug, Clone, Copy)]
struct Scored {
    key_days: u64,
    cold_start: u64,
    skipped: u64,
    failed: u64,
    rows: u64,
    messages: u64,
}

/// Parses "scored N key-days (C cold start, S skipped without a production model, F
/// failed) from R records, replayed P; W rows in K commits to predictions; M
/// messages on TOPIC" and checks it is exactly that, on `env`'s predictions topic.
fn scored(env: &Env, stdout: &str) -> Scored {
    let summary = line(stdout, "scored ");
    let counts = summary
        .strip_suffix(&format!(" messages on {}", env.predictions))
        .unwrap_or_else(|| panic!("not about {}: {summary}", env.predictions));
    let [n, c, s, f, r, p, w, k, m] = numbers(counts)[..] else {
        panic!("unexpected score summary: {summary}");
    };
    assert_eq!(
        summary,
        format!(
            "scored {n} key-days ({c} cold start, {s} skipped without a production model, \
             {f} failed) from {r} records, replayed {p}; {w} rows in {k} commits to \
             predictions; {m} messages on {}",
            env.predictions
        )
    );
    Scored {
        key_days: n,
        cold_start: c,
        skipped: s,
        failed: f,
        rows: w,
        messages: m,
    }
}

/// (key, day) of every record on the sales topic dated `from` or later: what a
/// scorer running since before them must forecast. Each exactly once.
fn sold_since(env: &Env, from: NaiveDate) -> BTreeSet<(String, NaiveDate)> {
    let mut sold = BTreeSet::new();
    for record in topic::drain(&env.sales) {
        let json: serde_json::Value =
            serde_json::from_slice(&record.value).expect("sales records are JSON");
        let text = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
        let date: NaiveDate = text("date")
            .parse()
            .unwrap_or_else(|err| panic!("a sales record without a date ({err}): {json}"));
        if date >= from {
            let key = format!("{}/{}", text("store_id"), text("item_id"));
            assert!(sold.insert((key, date)), "published twice: {json}");
        }
    }
    sold
}

fn app_ids(env: &Env) -> Vec<String> {
    (0..env.partitions as i32)
        .map(|partition| score_app_id(&env.sales, partition))
        .collect()
}

/// The table stores every partition's high watermark as the next offset to read:
/// the scorers committed everything they read.
fn assert_offsets_at_end(env: &Env, table: &PredictionsTable) {
    for mark in topic::watermarks(&env.sales) {
        let app_id = score_app_id(&env.sales, mark.partition);
        assert_eq!(
            table.stored_offsets.get(&app_id).copied().flatten(),
            Some(mark.high),
            "the txn of {app_id} is not the high watermark"
        );
    }
}

/// Waits until every partition's offset is in the table: from then on a restarted
/// scorer resumes where the table ends instead of at the partitions' end.
fn wait_until_every_partition_scored(env: &Env, timeout: Duration) {
    let started = Instant::now();
    loop {
        if predictions::row_count(&env.lake_root()) > 0 {
            let table = PredictionsTable::read(&env.lake_root(), &app_ids(env));
            if table.stored_offsets.values().all(Option::is_some) {
                return;
            }
        }
        assert!(
            started.elapsed() < timeout,
            "not every partition scored within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn sigkill_three_times_loses_and_duplicates_nothing() {
    let env = Env::new("score-crash", 3);
    lake_with_production(&env, "true");
    let group = herd_tests::unique("score-crash-group");
    let mut jitter = Jitter::from_env("sigkill_three_times_loses_and_duplicates_nothing");

    let mut scorer_1 = scorer(&env, &group, "scorer-1", &[]);
    scorer_1.wait_for_log(SCORING, STARTUP);
    // 80 live days at 2 a second: 40 s, room for three restarts of about 10 s.
    let mut live = simulate(&env, "live", HISTORY_DAYS, 80, "2");
    wait_until_every_partition_scored(&env, STARTUP);
    let mut current = scorer_1;
    for round in 1..=3 {
        if round > 1 {
            current = scorer(&env, &group, &format!("scorer-{round}"), &[]);
            current.wait_for_log(SCORING, STARTUP);
        }
        std::thread::sleep(jitter.between(Duration::from_millis(300), Duration::from_secs(3)));
        assert!(
            live.is_running(),
            "the live days ended before kill {round}:\n{}",
            live.stdout()
        );
        current.kill();
        eprintln!("killed scorer-{round}");
    }
    // Started while the stream still runs; once it has its partitions it catches up
    // and stops 10 s after the last record.
    let mut last = scorer(&env, &group, "scorer-4", &["--idle-exit", "10"]);
    published(&live.wait_success(FINISH));
    let summary = scored(&env, &last.wait_success(FINISH));
    eprintln!("scorer-4: {summary:?}");
    assert_eq!((summary.skipped, summary.failed), (0, 0), "{summary:?}");

    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 80, "every key sold on every live day");
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_eq!(table.rows.len(), sold.len() * HORIZON as usize);
    assert_offsets_at_end(&env, &table);
    table.assert_published("stream", &predictions::messages(&env.predictions), false);
}

#[test]
fn a_second_scorer_takes_over_on_rebalance() {
    let env = Env::new("score-rebalance", 3);
    lake_with_production(&env, "true");
    let group = herd_tests::unique("score-rebalance-group");

    let mut first = scorer(&env, &group, "scorer-a", &[]);
    first.wait_for_log(SCORING, STARTUP);
    // 40 live days at 2 a second: 20 s.
    let mut live = simulate(&env, "live", HISTORY_DAYS, 40, "2");
    std::thread::sleep(Duration::from_secs(4));
    let mut second = scorer(&env, &group, "scorer-b", &["--idle-exit", "8"]);
    second.wait_for_log(SCORING, STARTUP);
    assert!(
        live.is_running(),
        "the live days ended before the rebalance"
    );
    first.terminate();
    let first = scored(&env, &first.wait_success(Duration::from_secs(60)));
    assert!(
        live.is_running(),
        "the live days ended before the second scorer was alone"
    );
    published(&live.wait_success(FINISH));
    let second = scored(&env, &second.wait_success(FINISH));
    eprintln!("scorer-a: {first:?}\nscorer-b: {second:?}");
    for summary in [first, second] {
        assert!(summary.key_days > 0, "{summary:?}");
        assert_eq!((summary.skipped, summary.failed), (0, 0), "{summary:?}");
    }

    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 40, "every key sold on every live day");
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_offsets_at_end(&env, &table);
    assert_eq!(
        first.rows + second.rows,
        table.rows.len() as u64,
        "the rows both scorers committed are the table's"
    );
    let messages = predictions::messages(&env.predictions);
    assert_eq!(
        messages.len() as u64,
        first.messages + second.messages,
        "the messages both scorers published are the topic's"
    );
    table.assert_published("stream", &messages, false);
}

#[test]
fn a_promotion_during_streaming_switches_the_version() {
    let env = Env::new("score-promotion", 3);
    lake_with_production(&env, "true");
    let group = herd_tests::unique("score-promotion-group");

    let mut scorer = scorer(&env, &group, "scorer", &["--idle-exit", "8"]);
    scorer.wait_for_log(SCORING, STARTUP);
    // 20 live days at 1 a second; the promotion comes after about 5 of them.
    let mut live = simulate(&env, "live", HISTORY_DAYS, 20, "1");
    std::thread::sleep(Duration::from_secs(5));
    let promotion_started = Utc::now();
    herd_ok(
        &env,
        "train-ridge",
        &["train", "--once", "--models", "ridge"],
    );
    herd_ok(
        &env,
        "promote-ridge",
        &["promote", "--once", "--rule", "true"],
    );
    let promoted_at = Utc::now();
    assert!(
        live.is_running(),
        "the live days ended before the promotion"
    );
    let production = ProductionTable::read(&env.lake_root());
    let current = production.current();
    let changed: BTreeMap<&String, i64> = current
        .iter()
        .filter(|(_, version)| **version != 1)
        .map(|(key, version)| (key, *version))
        .collect();
    assert!(
        !changed.is_empty(),
        "ridge beat seasonal naive for no key: {current:?}"
    );
    let model_types: BTreeMap<&str, Option<&str>> = production
        .rows
        .iter()
        .filter(|row| changed.get(&row.key) == Some(&row.version))
        .map(|row| (row.key.as_str(), row.model_type.as_deref()))
        .collect();
    published(&live.wait_success(FINISH));
    let summary = scored(&env, &scorer.wait_success(FINISH));
    eprintln!("scorer: {summary:?}");

    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 20, "every key sold on every live day");
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_offsets_at_end(&env, &table);

    // Promotions reach the scorer through the models topic within seconds.
    let settled = promoted_at + chrono::Duration::seconds(5);
    let (mut before, mut after) = (0, 0);
    for row in &table.rows {
        match changed.get(&row.key) {
            None => assert_eq!(row.model_version, Some(1), "{row:?}"),
            Some(_) if row.scored_at < promotion_started => {
                assert_eq!(
                    row.model_version,
                    Some(1),
                    "scored before the promotion: {row:?}"
                );
                before += 1;
            }
            Some(version) if row.scored_at > settled => {
                assert_eq!(
                    row.model_version,
                    Some(*version),
                    "scored 5 s after the promotion: {row:?}"
                );
                assert_eq!(
                    row.model_type.as_deref(),
                    model_types[row.key.as_str()],
                    "{row:?}"
                );
                after += 1;
            }
            Some(_) => {}
        }
    }
    eprintln!("promoted keys' rows: {before} before the promotion, {after} after it settled");
    assert!(
        before > 0 && after > 0,
        "{before} rows before, {after} after"
    );

    // One scorer, no crash, no rebalance: one message per key and day.
    assert_eq!(
        (
            summary.key_days,
            summary.cold_start,
            summary.skipped,
            summary.failed
        ),
        (sold.len() as u64, 0, 0, 0),
        "{summary:?}"
    );
    assert_eq!(summary.rows, table.rows.len() as u64, "{summary:?}");
    let messages = predictions::messages(&env.predictions);
    assert_eq!(messages.len(), sold.len());
    assert_eq!(summary.messages, sold.len() as u64, "{summary:?}");
    table.assert_published("stream", &messages, true);
}

#[test]
fn a_key_without_a_production_model_gets_a_flagged_cold_start_or_is_skipped() {
    let env = Env::new("score-cold-start", 3);
    let production = lake_with_production(&env, r#"store_id == "S0001""#);
    let current = production.current();
    assert!(
        current.len() == 20 && current.keys().all(|key| key.starts_with("S0001/")),
        "only store S0001 promoted: {current:?}"
    );
    let warm: BTreeSet<&String> = production
        .rows
        .iter()
        .filter(|row| !row.cold_start)
        .map(|row| &row.key)
        .collect();

    // Five live days with cold-start forecasts, then five with cold starts skipped,
    // each by a scorer in a group of its own.
    let mut forecasting = scorer(
        &env,
        &herd_tests::unique("score-forecast-group"),
        "scorer-forecast",
        &["--idle-exit", "5"],
    );
    forecasting.wait_for_log(SCORING, STARTUP);
    published(&simulate(&env, "live-1", HISTORY_DAYS, 5, "5").wait_success(FINISH));
    let first = scored(&env, &forecasting.wait_success(FINISH));

    let mut skipping = scorer(
        &env,
        &herd_tests::unique("score-skip-group"),
        "scorer-skip",
        &["--cold-start", "skip", "--idle-exit", "5"],
    );
    skipping.wait_for_log(SCORING, STARTUP);
    published(&simulate(&env, "live-2", HISTORY_DAYS + 5, 5, "5").wait_success(FINISH));
    let second = scored(&env, &skipping.wait_success(FINISH));
    eprintln!("forecasting: {first:?}\nskipping: {second:?}");

    let phase_2 = day(HISTORY_DAYS + 5);
    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 10, "every key sold on every live day");
    let expected: BTreeSet<(String, NaiveDate)> = sold
        .iter()
        .filter(|(key, as_of)| *as_of < phase_2 || current.contains_key(key))
        .cloned()
        .collect();
    let table = PredictionsTable::read(&env.lake_root(), &[]);
    table.assert_one_row_per_step("stream", &expected, HORIZON);
    for row in &table.rows {
        match current.get(&row.key) {
            Some(version) => {
                assert_eq!(row.model_version, Some(*version), "{row:?}");
                if warm.contains(&row.key) {
                    assert!(!row.cold_start, "a key with a model flagged: {row:?}");
                }
            }
            None => assert!(
                row.cold_start && row.model_version.is_none(),
                "a key without a production model: {row:?}"
            ),
        }
    }

    let unpromoted = (KEYS - current.len()) as u64;
    assert_eq!(
        (
            first.key_days,
            first.cold_start,
            first.skipped,
            first.failed
        ),
        (KEYS as u64 * 5, unpromoted * 5, 0, 0),
        "{first:?}"
    );
    assert_eq!(
        (
            second.key_days,
            second.cold_start,
            second.skipped,
            second.failed
        ),
        (current.len() as u64 * 5, 0, unpromoted * 5, 0),
        "{second:?}"
    );
    assert_eq!(
        second.rows,
        current.len() as u64 * 5 * HORIZON as u64,
        "{second:?}"
    );
    assert_eq!(
        first.rows + second.rows,
        table.rows.len() as u64,
        "{first:?} {second:?}"
    );
}
