//! `herd score`, the continuous scorer, against the real broker and real Delta
//! tables: every key forecast as of every live day it sold, one row per step in
//! `predictions` and one message on the predictions topic, exactly once though the
//! scorer is SIGKILLed three times or hands its partitions to a second member; a
//! promotion switches later forecasts to the new version within seconds; and a key
//! without a production model gets its own baseline, a cold start or nothing, as its
//! fallback chain says, labelled with its `origin`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use herd_tests::cli::{FINISH, herd_ok};
use herd_tests::env::Env;
use herd_tests::live::{
    HORIZON, SCORING, STARTUP, app_ids, assert_offsets_at_end, lake_with_production, scored,
    scorer, wait_until_every_partition_scored,
};
use herd_tests::predictions::{self, PredictionsTable};
use herd_tests::process::Jitter;
use herd_tests::production::ProductionTable;
use herd_tests::simulated::{
    HISTORY_DAYS, KEYS, day, published, simulate, sold_history, sold_since,
};

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
    wait_until_every_partition_scored(&env, &group, STARTUP);
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
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env, &group));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_eq!(table.rows.len(), sold.len() * HORIZON as usize);
    assert_offsets_at_end(&env, &group, &table);
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
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env, &group));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_offsets_at_end(&env, &group, &table);
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
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env, &group));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_offsets_at_end(&env, &group, &table);

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
fn a_key_without_a_production_model_gets_its_own_baseline_a_cold_start_or_nothing() {
    let env = Env::new("score-fallback", 3);
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

    // Five live days under each fallback chain, each scored by a group of its own:
    // the default (every key has 200 days of its own, enough for its baseline), the
    // cold start alone, and none.
    let chains: [(&str, &[&str]); 3] = [
        ("default", &[]),
        ("cold-start", &["--fallback", "cold_start"]),
        ("none", &["--fallback", "none"]),
    ];
    let mut summaries = Vec::new();
    for (phase, (name, flags)) in chains.iter().enumerate() {
        let group = herd_tests::unique(&format!("score-{name}-group"));
        let mut args = flags.to_vec();
        args.extend(["--idle-exit", "5"]);
        let mut scoring = scorer(&env, &group, &format!("scorer-{name}"), &args);
        scoring.wait_for_log(SCORING, STARTUP);
        let first_day = HISTORY_DAYS + 5 * phase as u32;
        published(&simulate(&env, &format!("live-{name}"), first_day, 5, "5").wait_success(FINISH));
        summaries.push(scored(&env, &scoring.wait_success(FINISH)));
    }
    eprintln!("{summaries:?}");

    let phase_of = |as_of: NaiveDate| (as_of - day(HISTORY_DAYS)).num_days() / 5;
    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 15, "every key sold on every live day");
    let expected: BTreeSet<(String, NaiveDate)> = sold
        .iter()
        .filter(|(key, as_of)| phase_of(*as_of) < 2 || current.contains_key(key))
        .cloned()
        .collect();
    let table = PredictionsTable::read(&env.lake_root(), &[]);
    table.assert_one_row_per_step("stream", &expected, HORIZON);
    for row in &table.rows {
        let labels = (
            row.model_version,
            row.model_type.as_deref(),
            row.cold_start,
            row.origin.as_deref(),
        );
        match current.get(&row.key) {
            Some(version) => {
                assert_eq!(row.model_version, Some(*version), "{row:?}");
                assert_eq!(row.origin.as_deref(), Some("champion"), "{row:?}");
                if warm.contains(&row.key) {
                    assert!(!row.cold_start, "a key with a model flagged: {row:?}");
                }
            }
            None if phase_of(row.as_of) == 0 => assert_eq!(
                labels,
                (None, Some("seasonal_naive"), false, Some("baseline")),
                "a key with its own history and no production model: {row:?}"
            ),
            None => assert_eq!(
                labels,
                (None, Some("cold_start"), true, Some("cold_start")),
                "a key under --fallback cold_start: {row:?}"
            ),
        }
    }
    // The baseline is the key's own last week, repeated.
    let history = sold_history(&env);
    for row in table
        .rows
        .iter()
        .filter(|r| r.origin.as_deref() == Some("baseline"))
    {
        let week_before = row.target_date - chrono::Days::new(7 * ((row.step as u64 - 1) / 7 + 1));
        // Windows keep sales as 32-bit floats.
        let expected = f64::from(history[&(row.key.clone(), week_before)] as f32);
        assert!(
            (row.forecast - expected).abs() < 1e-6,
            "{row:?}: the key's sales on {week_before} were {expected}"
        );
    }

    let unpromoted = (KEYS - current.len()) as u64;
    let promoted = current.len() as u64;
    let counts: Vec<_> = summaries
        .iter()
        .map(|s| (s.key_days, s.baseline, s.cold_start, s.skipped, s.failed))
        .collect();
    assert_eq!(
        counts,
        [
            (KEYS as u64 * 5, unpromoted * 5, 0, 0, 0),
            (KEYS as u64 * 5, 0, unpromoted * 5, 0, 0),
            (promoted * 5, 0, 0, unpromoted * 5, 0),
        ],
        "{summaries:?}"
    );
    assert_eq!(summaries[2].rows, promoted * 5 * HORIZON as u64);
    assert_eq!(
        summaries.iter().map(|s| s.rows).sum::<u64>(),
        table.rows.len() as u64,
        "{summaries:?}"
    );
    let messages = predictions::messages(&env.predictions);
    table.assert_published("stream", &messages, true);
}
