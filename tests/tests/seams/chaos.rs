//! The chaos run: while `herd simulate` streams live days, every consumer group
//! (archive, train, promote, score) runs two members, one member of each is
//! SIGKILLed at a random moment and started again, and the broker restarts once.
//! At the end `sales` holds every published record once, `models` no duplicate
//! version, production one current entry per key, each key's newest candidate is
//! decided once, and `predictions` holds one forecast per key and as-of day.
//!
//! The test runs a broker of its own, so restarting it disturbs no other test.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use herd_tests::broker::OwnBroker;
use herd_tests::cli::FINISH;
use herd_tests::env::Env;
use herd_tests::lake::{SalesTable, archive_app_id};
use herd_tests::live::{
    HORIZON, SCORING, STARTUP, app_ids, assert_offsets_at_end, lake_with_production,
};
use herd_tests::predictions::PredictionsTable;
use herd_tests::process::{Background, Jitter};
use herd_tests::production::{ProductionTable, PromotionsTable};
use herd_tests::registry::ModelsTable;
use herd_tests::simulated::{HISTORY_DAYS, KEYS, day, published, simulate, sold_since};
use herd_tests::topic;

const LIVE_DAYS: u32 = 16;
/// Members stop this long after the last record.
const IDLE_EXIT: &str = "20";

/// One service's consumer group: its command and its two members.
struct Group {
    name: &'static str,
    args: Vec<String>,
    members: Vec<Background>,
    restarts: usize,
}

impl Group {
    fn start(env: &Env, name: &'static str, args: &[&str]) -> Group {
        let mut group = Group {
            name,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            members: Vec::new(),
            restarts: 0,
        };
        for _ in 0..2 {
            group.spawn(env);
        }
        group
    }

    fn spawn(&mut self, env: &Env) {
        let mut command = env.herd();
        command
            .args(&self.args)
            // Each member's group protocol in its log, for a member that fails to
            // rejoin after the broker restart.
            .env("HERD_KAFKA__DEBUG", "cgrp")
            .env("RUST_LOG", "info,librdkafka=debug");
        let name = format!("{}-{}", self.name, self.members.len() + self.restarts);
        self.members
            .push(Background::spawn(command, env.dir(), &name));
    }

    /// SIGKILLs member `index` and starts a new member in its place.
    fn kill_and_replace(&mut self, env: &Env, index: usize) {
        let mut victim = self.members.remove(index);
        victim.kill();
        eprintln!("chaos: killed a member of {}", self.name);
        self.restarts += 1;
        self.spawn(env);
    }

    /// Waits for every member to stop on its own, each successfully.
    fn finish(self) {
        for mut member in self.members {
            member.wait_success(FINISH);
        }
    }
}

#[test]
fn kills_and_a_broker_restart_lose_and_duplicate_nothing() {
    let broker = OwnBroker::start();
    let env = Env::new("seams-chaos", 3).on_broker(&broker.bootstrap());
    lake_with_production(&env, "true");
    let mut jitter = Jitter::from_env("kills_and_a_broker_restart_lose_and_duplicate_nothing");
    let unique = |name: &str| herd_tests::unique(&format!("chaos-{name}"));
    let (archivers, trainers, promoters, scorers) = (
        unique("archive"),
        unique("train"),
        unique("promote"),
        unique("score"),
    );
    let mut groups = vec![
        Group::start(
            &env,
            "archive",
            &["archive", "--group", &archivers, "--idle-exit", IDLE_EXIT],
        ),
        Group::start(
            &env,
            "train",
            &[
                "train",
                "--group",
                &trainers,
                "--models",
                "seasonal_naive",
                "--idle-exit",
                IDLE_EXIT,
            ],
        ),
        Group::start(
            &env,
            "promote",
            &[
                "promote",
                "--group",
                &promoters,
                "--rule",
                "true",
                "--idle-exit",
                IDLE_EXIT,
            ],
        ),
        Group::start(
            &env,
            "score",
            &["score", "--group", &scorers, "--idle-exit", IDLE_EXIT],
        ),
    ];
    // Scorers that never scored start at the partitions' end: the live days must
    // come after they stored where they start.
    for member in &mut groups[3].members {
        member.wait_for_log(SCORING, STARTUP);
    }
    std::thread::sleep(Duration::from_secs(2));

    let started = Instant::now();
    let mut live = simulate(&env, "live", HISTORY_DAYS, LIVE_DAYS, "1");
    // One kill per group and one broker restart, in a random order, while the
    // live days go out.
    let mut moments: Vec<(Duration, Option<usize>)> = (0..groups.len())
        .map(|group| {
            let at = jitter.between(Duration::from_secs(1), Duration::from_secs(12));
            (at, Some(group))
        })
        .collect();
    moments.push((
        jitter.between(Duration::from_secs(3), Duration::from_secs(10)),
        None,
    ));
    moments.sort();
    for (at, what) in moments {
        if let Some(wait) = at.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        match what {
            Some(group) => {
                let member =
                    (jitter.between(Duration::ZERO, Duration::from_millis(2))).as_millis() as usize;
                groups[group].kill_and_replace(&env, member);
            }
            None => {
                eprintln!("chaos: restarting the broker");
                broker.restart();
            }
        }
    }
    published(&live.wait_success(FINISH));
    for group in groups {
        group.finish();
    }

    // `sales`: every published record once.
    let marks = topic::watermarks_on(&env.bootstrap_servers(), &env.sales);
    let archive_ids: Vec<String> = marks
        .iter()
        .map(|m| archive_app_id(&env.sales, m.partition))
        .collect();
    let sales = SalesTable::read(&env.lake_root(), &archive_ids);
    sales.assert_exactly_once(&env.sales, &marks);
    sales.assert_rows_match(&topic::drain_on(&env.bootstrap_servers(), &env.sales));

    // `models`: no key has one version twice.
    let models = ModelsTable::read(&env.lake_root());
    let mut versions = BTreeSet::new();
    for row in &models.rows {
        assert!(
            versions.insert((row.key.clone(), row.version)),
            "({}, v{}) registered twice",
            row.key,
            row.version
        );
    }
    assert_eq!(
        models
            .rows
            .iter()
            .map(|r| &r.key)
            .collect::<BTreeSet<_>>()
            .len(),
        KEYS
    );

    // Production: entries numbered once per key, each key with a current model;
    // every candidate decided exactly once.
    let production = ProductionTable::read(&env.lake_root());
    let by_key = production.by_key();
    assert_eq!(by_key.len(), KEYS, "every key has a production model");
    for (key, rows) in &by_key {
        let entries: BTreeSet<i64> = rows.iter().map(|r| r.entry).collect();
        assert_eq!(entries.len(), rows.len(), "{key}: an entry made twice");
    }
    let promotions = PromotionsTable::read(&env.lake_root());
    let mut decided: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for row in promotions
        .rows
        .iter()
        .filter(|r| r.decision != "rolled_back")
    {
        *decided.entry((row.key.clone(), row.version)).or_default() += 1;
    }
    for ((key, version), times) in &decided {
        assert_eq!(*times, 1, "({key}, v{version}) decided {times} times");
    }
    // A pass judges each key's newest candidate; one it overtook needs no decision.
    let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
    for row in &models.rows {
        let version = newest.entry(row.key.as_str()).or_default();
        *version = (*version).max(row.version);
    }
    for (key, version) in newest {
        assert!(
            decided.contains_key(&(key.to_owned(), version)),
            "{key}'s newest candidate v{version} was never decided"
        );
    }

    // `predictions`: one forecast per key and live day.
    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * LIVE_DAYS as usize);
    let table = PredictionsTable::read(&env.lake_root(), &app_ids(&env, &scorers));
    table.assert_one_row_per_step("stream", &sold, HORIZON);
    assert_offsets_at_end(&env, &scorers, &table);
    drop(broker);
}
