//! A small lake built through Herd's real pipeline, for tests that read it back:
//! `generate` (3 stores × 20 items × 400 days) → `ingest` → `archive` →
//! `train --once` → `promote --once` → `score --batch`.

use crate::cli::{herd_ok, ingest, line, numbers};
use crate::env::Env;

/// Keys of the small lake: 3 stores × 20 items.
pub const KEYS: u64 = 60;

/// How to build it.
#[derive(Debug, Clone)]
pub struct SmallLakeOptions {
    /// `train --models`; `None` trains every default candidate.
    pub models: Option<String>,
    /// `promote --rule`; `None` promotes by the configured (default) rule.
    pub rule: Option<String>,
    /// Run `score --batch` at the end (it needs at least one promoted key).
    pub score: bool,
}

/// What building it did.
#[derive(Debug, Clone)]
pub struct SmallLake {
    /// The consumer group `archive` ran in; its committed offsets are lag hints.
    pub archive_group: String,
    pub archived: u64,
    /// Counts from `promote --once`'s summary.
    pub promoted: u64,
    pub rejected: u64,
    /// Rows `score --batch` wrote (0 when not run).
    pub predictions: u64,
}

/// Builds the lake under `env`'s root on `env`'s topics (created here).
pub fn build(env: &Env, options: &SmallLakeOptions) -> SmallLake {
    env.create_topics();
    herd_ok(
        env,
        "generate",
        &[
            "generate",
            "sales.parquet",
            "--stores",
            "3",
            "--items",
            "20",
            "--days",
            "400",
        ],
    );
    let delivered = ingest(env, "ingest", "sales.parquet");
    let archive_group = crate::unique("archive");
    let stdout = herd_ok(
        env,
        "archive",
        &["archive", "--group", &archive_group, "--idle-exit", "5"],
    );
    let archived = numbers(line(&stdout, "archived "))[0];
    assert_eq!(archived, delivered, "archived what was ingested");

    let mut train = vec!["train", "--once"];
    if let Some(models) = &options.models {
        train.extend(["--models", models.as_str()]);
    }
    herd_ok(env, "train", &train);

    let mut promote = vec!["promote", "--once"];
    if let Some(rule) = &options.rule {
        promote.extend(["--rule", rule.as_str()]);
    }
    let stdout = herd_ok(env, "promote", &promote);
    let (decided, promoted, rejected) = promote_counts(&stdout);
    assert_eq!(decided, KEYS, "one decision per key: {stdout}");

    let predictions = if options.score {
        let stdout = herd_ok(env, "score", &["score", "--batch"]);
        let summary = line(&stdout, "scored ");
        let rows = summary
            .split_once(": ")
            .map(|(_, rest)| numbers(rest)[0])
            .unwrap_or_else(|| panic!("unexpected score summary: {summary}"));
        assert!(rows > 0, "{summary}");
        rows
    } else {
        0
    };
    SmallLake {
        archive_group,
        archived,
        promoted,
        rejected,
        predictions,
    }
}

/// Decided, promoted and rejected from "decided N candidates (promoter RUN): P
/// promoted, R rejected, …" (the run id holds digits too, so it is cut out).
pub fn promote_counts(stdout: &str) -> (u64, u64, u64) {
    let summary = line(stdout, "decided ");
    let (head, rest) = summary.split_once(" (promoter ").expect("a promoter run");
    let (_, counts) = rest.split_once("): ").expect("counts");
    let decided = numbers(head)[0];
    let counts = numbers(counts.split(" events on ").next().unwrap_or_default());
    match counts[..] {
        [promoted, rejected, ..] => (decided, promoted, rejected),
        _ => panic!("unexpected promote summary: {summary}"),
    }
}
