//! The continuous-scoring tests' world on top of [`crate::simulated`]'s stream: its
//! history archived, trained and promoted, continuous scorers in consumer groups of
//! their own, and readers of what the scorers say and write.

use std::time::{Duration, Instant};

use crate::cli::{FINISH, archive, herd_ok, line, numbers};
use crate::env::Env;
use crate::predictions::{self, PredictionsTable, score_app_id};
use crate::process::Background;
use crate::production::ProductionTable;
use crate::simulated::{published, simulate};
use crate::topic;

/// Logged by a scorer once it has partitions and knows where to start in each.
pub const SCORING: &str = "scoring partitions";
/// A restarted scorer gets partitions only once its SIGKILLed predecessor's session
/// (6 s, see `Env`) has expired.
pub const STARTUP: Duration = Duration::from_secs(60);
/// The scorer's default horizon.
pub const HORIZON: i64 = 28;

/// The history archived, trained with seasonal naive (every key at version 1) and
/// promoted where `rule` says; returns the production table.
pub fn lake_with_production(env: &Env, rule: &str) -> ProductionTable {
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
pub fn scorer(env: &Env, group: &str, name: &str, extra: &[&str]) -> Background {
    let mut herd = env.herd();
    herd.args(["score", "--group", group]).args(extra);
    Background::spawn(herd, env.dir(), name)
}

/// What a scorer says it did when it stops.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub key_days: u64,
    pub baseline: u64,
    pub cold_start: u64,
    pub skipped: u64,
    pub failed: u64,
    pub rows: u64,
    pub messages: u64,
}

/// Parses "scored N key-days (B from their own baseline and C cold start without a
/// production model, S skipped, F failed) from R records, replayed P; W rows in K
/// commits to predictions; M messages on TOPIC" and checks it is exactly that, on
/// `env`'s predictions topic.
pub fn scored(env: &Env, stdout: &str) -> Scored {
    let summary = line(stdout, "scored ");
    let counts = summary
        .strip_suffix(&format!(" messages on {}", env.predictions))
        .unwrap_or_else(|| panic!("not about {}: {summary}", env.predictions));
    let [n, b, c, s, f, r, p, w, k, m] = numbers(counts)[..] else {
        panic!("unexpected score summary: {summary}");
    };
    assert_eq!(
        summary,
        format!(
            "scored {n} key-days ({b} from their own baseline and {c} cold start without a \
             production model, {s} skipped, {f} failed) from {r} records, replayed {p}; {w} \
             rows in {k} commits to predictions; {m} messages on {}",
            env.predictions
        )
    );
    Scored {
        key_days: n,
        baseline: b,
        cold_start: c,
        skipped: s,
        failed: f,
        rows: w,
        messages: m,
    }
}

pub fn app_ids(env: &Env, group: &str) -> Vec<String> {
    (0..env.partitions as i32)
        .map(|partition| score_app_id(&env.sales, partition, group))
        .collect()
}

/// The table stores every partition's high watermark as the next offset to read:
/// the scorers committed everything they read.
pub fn assert_offsets_at_end(env: &Env, group: &str, table: &PredictionsTable) {
    for mark in topic::watermarks_on(&env.bootstrap_servers(), &env.sales) {
        let app_id = score_app_id(&env.sales, mark.partition, group);
        assert_eq!(
            table.stored_offsets.get(&app_id).copied().flatten(),
            Some(mark.high),
            "the txn of {app_id} is not the high watermark"
        );
    }
}

/// Waits until every partition's offset is in the table: from then on a restarted
/// scorer resumes where the table ends instead of at the partitions' end.
pub fn wait_until_every_partition_scored(env: &Env, group: &str, timeout: Duration) {
    let started = Instant::now();
    loop {
        if predictions::row_count(&env.lake_root()) > 0 {
            let table = PredictionsTable::read(&env.lake_root(), &app_ids(env, group));
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
