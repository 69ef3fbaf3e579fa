//! The continuous scorer never drops a forecast silently: when a production model
//! cannot be read, the forecast is tried again and then recorded on the dead-letter
//! topic with its key, as-of day and reason before its offset is committed. Every
//! key and as-of day the stream advanced ends as exactly one forecast or exactly one
//! failure record, counted on the scorer's `/metrics`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use herd_tests::cli::{FINISH, line, numbers};
use herd_tests::env::Env;
use herd_tests::live::{SCORING, STARTUP, lake_with_production, scorer};
use herd_tests::predictions::PredictionsTable;
use herd_tests::simulated::{HISTORY_DAYS, KEYS, day, published, simulate, sold_since};
use herd_tests::status::{LISTEN, Probe};
use herd_tests::topic;

/// The scorer's default horizon.
const HORIZON: i64 = 28;
/// Live days streamed while the models are unreadable.
const LIVE_DAYS: u32 = 5;
/// The store whose production models lose their artifacts.
const BROKEN_STORE: &str = "S0002";

/// One failure record on the dead-letter topic.
#[derive(Debug)]
struct Failure {
    key: String,
    as_of: NaiveDate,
    reason: String,
}

/// The forecast failures on `env`'s dead-letter topic, checked for the headers the
/// dead-letter contract promises.
fn failures(env: &Env) -> Vec<Failure> {
    topic::drain(&env.dlq)
        .into_iter()
        .map(|record| {
            assert_eq!(
                record.header("herd.error.kind").as_deref(),
                Some("forecast_failed"),
                "{record:?}"
            );
            assert_eq!(
                record.header("herd.source").as_deref(),
                Some(env.sales.as_str())
            );
            assert!(record.header("herd.source.partition").is_some());
            assert!(record.header("herd.source.offset").is_some());
            let value: serde_json::Value =
                serde_json::from_slice(&record.value).expect("a failure record is JSON");
            let text = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            let failure = Failure {
                key: text("key"),
                as_of: text("as_of").parse().expect("an as-of day"),
                reason: text("reason"),
            };
            assert_eq!(record.key_text().as_deref(), Some(failure.key.as_str()));
            assert_eq!(
                record.header("herd-id"),
                Some(format!("{}/{}", failure.key, failure.as_of))
            );
            assert_eq!(
                record.header("herd.error.message").as_deref(),
                Some(failure.reason.as_str())
            );
            failure
        })
        .collect()
}

#[test]
fn an_unreadable_model_is_retried_then_recorded_never_skipped() {
    let env = Env::new("seams-score-failures", 3);
    let production = lake_with_production(&env, "true");
    assert_eq!(production.current().len(), KEYS, "every key in production");

    // Gone before the scorer starts: neither its warm-up on assignment nor a key's
    // first forecast can read them.
    let mut artifacts: BTreeMap<String, String> = BTreeMap::new();
    for row in &production.rows {
        if row.store_id == BROKEN_STORE {
            std::fs::remove_file(production.dir.join(&row.artifact))
                .unwrap_or_else(|err| panic!("removing {}: {err}", row.artifact));
            artifacts.insert(row.key.clone(), row.artifact.clone());
        }
    }
    assert_eq!(artifacts.len(), 20, "one store's 20 models made unreadable");

    let group = herd_tests::unique("seams-score-failures");
    let mut scorer = scorer(
        &env,
        &group,
        "scorer",
        &["--idle-exit", "8", LISTEN[0], LISTEN[1]],
    );
    scorer.wait_for_log(SCORING, STARTUP);
    let probe = Probe::of(&mut scorer);

    published(&simulate(&env, "live", HISTORY_DAYS, LIVE_DAYS, "2").wait_success(FINISH));
    // Counted on /metrics as they are recorded, while the scorer runs on, ready.
    let broken_advances = artifacts.len() * LIVE_DAYS as usize;
    probe.wait_for_metric(
        "herd_forecasts_failed_total",
        broken_advances as f64,
        FINISH,
    );
    assert_eq!(probe.probe("/readyz").map(|a| a.code), Some(200));
    let retries = probe.metric("herd_forecast_retries_total").unwrap_or(0.0);
    assert!(retries >= broken_advances as f64, "{retries} retries");
    let stdout = scorer.wait_success(FINISH);
    eprintln!("{stdout}");

    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(
        sold.len(),
        KEYS * LIVE_DAYS as usize,
        "every key sold every day"
    );
    let (broken, healthy): (BTreeSet<_>, BTreeSet<_>) = sold
        .into_iter()
        .partition(|(key, _)| artifacts.contains_key(key));

    // The keys with a readable model: one forecast each, as before.
    let table = PredictionsTable::read(&env.lake_root(), &[]);
    table.assert_one_row_per_step("stream", &healthy, HORIZON);

    // The others: no forecast, and exactly one failure record each, saying why.
    let failures = failures(&env);
    let recorded: BTreeSet<(String, NaiveDate)> =
        failures.iter().map(|f| (f.key.clone(), f.as_of)).collect();
    assert_eq!(
        recorded.len(),
        failures.len(),
        "a key and day recorded twice"
    );
    let missing: Vec<_> = broken.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "{} of {} failed forecasts dropped without a record, first {:?}",
        missing.len(),
        broken.len(),
        missing.first()
    );
    assert_eq!(
        recorded, broken,
        "failure records for exactly the broken keys"
    );
    for failure in &failures {
        assert!(
            failure.reason.contains(&artifacts[&failure.key]),
            "the reason names the unreadable artifact: {failure:?}"
        );
    }

    // The summary counts them, and says where they are.
    let summary = line(&stdout, "scored ");
    // "scored N key-days (B from their own baseline and C cold start …, S skipped,
    // F failed) …"
    let counts = numbers(summary);
    assert_eq!(
        (counts[0], counts[4]),
        (healthy.len() as u64, broken.len() as u64),
        "key-days scored and failed: {summary}"
    );
    let failed = line(&stdout, &format!("{} forecasts failed", broken.len()));
    assert!(failed.ends_with(&env.dlq), "{failed}");
}
