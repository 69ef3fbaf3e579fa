//! A continuous promoter decides every committed candidate even when its
//! `registered` event never reaches the models topic (a trainer that crashed between
//! its commit and its event): its catch-up pass finds the candidates in `models`
//! within the interval. When the events do arrive too, both paths decide each
//! candidate exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use herd_schemas::{ModelEvent, ModelEventKind};
use herd_tests::cli::{FINISH, archive, herd_ok, line, numbers};
use herd_tests::env::Env;
use herd_tests::process::Background;
use herd_tests::production::{ProductionTable, PromotionsTable};
use herd_tests::registry::ModelsTable;
use herd_tests::simulated::{KEYS, published, simulate};
use herd_tests::status::{LISTEN, Probe};
use herd_tests::topic;

/// The promoter's catch-up interval in this test.
const CATCH_UP_SECONDS: u64 = 5;
/// A pass over 60 keys in a debug build, and the table reads around it.
const PASS: Duration = Duration::from_secs(20);

/// Waits until `promotions` holds `rows` rows; returns how long that took. Fails the
/// test after `timeout`.
fn wait_for_decisions(env: &Env, rows: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let table = env.lake_root().join("promotions");
        if table.join("_delta_log").is_dir() {
            let decided = PromotionsTable::read(&env.lake_root()).rows.len();
            assert!(decided <= rows, "{decided} decisions, more than {rows}");
            if decided == rows {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < timeout,
            "fewer than {rows} decisions after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `(key, version)` of every `registered` event on `topic`.
fn registered(topic_name: &str) -> BTreeSet<(String, i64)> {
    topic::drain(topic_name)
        .iter()
        .filter_map(|record| ModelEvent::from_json(&record.value).ok())
        .filter(|event| event.event == ModelEventKind::Registered)
        .map(|event| (event.key.to_string(), event.version))
        .collect()
}

#[test]
fn candidates_whose_events_never_arrived_are_decided_once_by_the_catch_up() {
    let env = Env::new("seams-catch-up", 3);
    env.create_topics();
    let history = published(&simulate(&env, "history", 0, 0, "1").wait_success(FINISH));
    assert_eq!(archive(&env, "3"), history, "archived what was published");
    // Where the first training's events go: a topic no promoter follows.
    let elsewhere = format!("{}.elsewhere", env.models);
    let mut create = env.herd();
    create
        .env("HERD_TOPICS__MODELS", &elsewhere)
        .args(["topics", "create"]);
    Background::spawn(create, env.dir(), "topics-elsewhere").wait_success(FINISH);

    let mut command = env.herd();
    command
        .env(
            "HERD_PROMOTE__CATCH_UP_SECONDS",
            CATCH_UP_SECONDS.to_string(),
        )
        .args([
            "promote",
            "--group",
            &herd_tests::unique("seams-catch-up"),
            "--rule",
            "true",
        ])
        .args(LISTEN);
    let mut promoter = Background::spawn(command, env.dir(), "promoter");
    promoter.wait_for_log("following model events", Duration::from_secs(60));
    let probe = Probe::of(&mut promoter);

    // Round 1: 60 candidates committed, their events on a topic nobody follows.
    let mut train = env.herd();
    train.env("HERD_TOPICS__MODELS", &elsewhere).args([
        "train",
        "--once",
        "--models",
        "seasonal_naive",
    ]);
    Background::spawn(train, env.dir(), "train-1").wait_success(FINISH);
    let took = wait_for_decisions(&env, KEYS, Duration::from_secs(CATCH_UP_SECONDS) + PASS);
    eprintln!("round 1 decided {:.1} s after training", took.as_secs_f64());

    // Round 2: 60 more, announced on the followed topic while the catch-up keeps
    // running: the event path and the catch-up race for the same candidates.
    herd_ok(
        &env,
        "train-2",
        &["train", "--once", "--models", "seasonal_naive"],
    );
    wait_for_decisions(&env, 2 * KEYS, Duration::from_secs(CATCH_UP_SECONDS) + PASS);
    // One more catch-up interval: nothing is decided again.
    std::thread::sleep(Duration::from_secs(CATCH_UP_SECONDS + 1));
    // Both rounds counted once on /metrics, whichever path decided them.
    assert_eq!(
        probe.metric("herd_candidates_decided_total"),
        Some(2.0 * KEYS as f64)
    );
    assert_eq!(
        probe.metric("herd_candidates_promoted_total"),
        Some(KEYS as f64)
    );
    assert_eq!(probe.probe("/readyz").map(|a| a.code), Some(200));
    promoter.terminate();
    let stdout = promoter.wait_success(FINISH);
    let summary = line(&stdout, "decided ");
    assert_eq!(numbers(summary)[0], 2 * KEYS as u64, "{summary}");

    let models = ModelsTable::read(&env.lake_root());
    let candidates: BTreeSet<(String, i64)> = models
        .rows
        .iter()
        .map(|row| (row.key.clone(), row.version))
        .collect();
    assert_eq!(
        candidates.len(),
        models.rows.len(),
        "a version registered twice"
    );
    assert_eq!(candidates.len(), 2 * KEYS);
    assert_eq!(
        registered(&env.models)
            .iter()
            .map(|(_, version)| *version)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([2]),
        "only the second round was announced to the promoter"
    );
    assert_eq!(registered(&elsewhere).len(), KEYS);

    let promotions = PromotionsTable::read(&env.lake_root());
    let mut decisions: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for row in &promotions.rows {
        *decisions.entry((row.key.clone(), row.version)).or_default() += 1;
    }
    let twice: Vec<_> = decisions.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "decided more than once: {twice:?}");
    assert_eq!(
        decisions.keys().cloned().collect::<BTreeSet<_>>(),
        candidates,
        "one decision per candidate"
    );
    // Version 1 had no champion and was promoted; version 2, trained on the same
    // days with the same model, does not beat it.
    let production = ProductionTable::read(&env.lake_root());
    assert_eq!(production.rows.len(), KEYS, "{:?}", production.current());
    assert!(production.current().values().all(|version| *version == 1));
}
