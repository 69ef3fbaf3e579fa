//! Trainers that overlap on one lake: two nightly `herd train --once` runs at once,
//! then a nightly run beside a continuous `herd train`. Every key's versions are
//! 1, 2, … once each, every row has an artifact of its own that holds the model the
//! row describes, and no artifact's bytes change after its row was committed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use herd_tests::cli::{FINISH, archive, herd_ok, ingest};
use herd_tests::env::Env;
use herd_tests::process::Background;
use herd_tests::registry::{ModelsRow, ModelsTable};

/// 4 stores × 15 items.
const KEYS: usize = 60;
/// Models per Delta commit: small, so that the racing runs' commits interleave.
const COMMIT_EVERY: &str = "10";

/// `herd train <args>` for this test, committing every [`COMMIT_EVERY`] models.
fn train(env: &Env, args: &[&str]) -> Command {
    let mut command = env.herd();
    command
        .arg("train")
        .args(args)
        .env("HERD_TRAIN__COMMIT_EVERY", COMMIT_EVERY);
    command
}

/// Starts every command at once and waits for each to succeed.
fn race(env: &Env, commands: Vec<(&str, Command)>) {
    let mut running: Vec<Background> = commands
        .into_iter()
        .map(|(name, command)| Background::spawn(command, env.dir(), name))
        .collect();
    for process in &mut running {
        let stdout = process.wait_success(FINISH);
        eprintln!("{}", stdout.trim());
    }
}

/// The rows by (key, version), failing the test on a repeated pair.
fn by_version(rows: &[ModelsRow]) -> BTreeMap<(String, i64), &ModelsRow> {
    let mut seen: BTreeMap<(String, i64), &ModelsRow> = BTreeMap::new();
    let mut repeated = Vec::new();
    for row in rows {
        if let Some(earlier) = seen.insert((row.key.clone(), row.version), row) {
            repeated.push(format!(
                "{} v{}: runs {} and {}, artifacts {:?} and {:?}",
                row.key, row.version, earlier.run_id, row.run_id, earlier.artifact, row.artifact
            ));
        }
    }
    assert!(
        repeated.is_empty(),
        "{} repeated (key, version) pairs, e.g.\n{}",
        repeated.len(),
        repeated[..repeated.len().min(5)].join("\n")
    );
    seen
}

/// Checks the registry after `runs` runs that each trained every key: versions
/// 1..=runs once per key, one row per key from each run, an artifact of its own
/// per row holding the model type the row names; returns every artifact's bytes.
fn check_registry(lake: &Path, runs: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let table = ModelsTable::read(lake);
    let rows = by_version(&table.rows);
    assert_eq!(rows.len(), KEYS * runs.len(), "rows of {runs:?}");
    let mut versions: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut run_rows: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for ((key, version), row) in &rows {
        versions.entry(key).or_default().push(*version);
        *run_rows.entry((key, row.run_id.as_str())).or_default() += 1;
    }
    assert_eq!(versions.len(), KEYS);
    let expected: Vec<i64> = (1..=runs.len() as i64).collect();
    for (key, found) in &versions {
        assert_eq!(found, &expected, "{key}'s versions");
        for run in runs {
            assert_eq!(run_rows.get(&(*key, *run)), Some(&1), "{key} in run {run}");
        }
    }
    let mut artifacts = BTreeMap::new();
    for row in rows.values() {
        assert_eq!(row.status, "candidate", "{row:?}");
        let path = row.artifact.clone().expect("a candidate's artifact");
        let bytes = std::fs::read(lake.join("models").join(&path))
            .unwrap_or_else(|err| panic!("{path}: {err}"));
        let model: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            model["model"]["params"]["kind"].as_str(),
            row.model_type.as_deref(),
            "{path} does not hold {} v{}'s model",
            row.key,
            row.version
        );
        assert!(
            artifacts.insert(path.clone(), bytes).is_none(),
            "{path} is the artifact of two rows"
        );
    }
    artifacts
}

#[test]
fn overlapping_trainers_never_repeat_a_version_or_overwrite_an_artifact() {
    let env = Env::new("seams-versions", 2);
    env.create_topics();
    let dims = ["--stores", "4", "--items", "15"];
    for (file, days) in [("first.jsonl", "120"), ("all.jsonl", "130")] {
        let mut args = vec!["generate", file, "--days", days];
        args.extend_from_slice(&dims);
        herd_ok(&env, &format!("generate-{days}"), &args);
    }
    let first = ingest(&env, "ingest-first", "first.jsonl");
    assert_eq!(archive(&env, "5"), first);
    let lake = env.lake_root();

    // Two nightly runs at once, with different models so that their artifacts
    // differ: each numbers its versions from an empty registry.
    race(
        &env,
        vec![
            (
                "once-ridge",
                train(&env, &["--once", "--models", "ridge", "--run-id", "ridge"]),
            ),
            (
                "once-naive",
                train(
                    &env,
                    &["--once", "--models", "seasonal_naive", "--run-id", "naive"],
                ),
            ),
        ],
    );
    let committed = check_registry(&lake, &["ridge", "naive"]);

    // Ten more days reach the topic only: a continuous trainer retrains every key
    // while another nightly run trains them from the lake.
    ingest(&env, "ingest-all", "all.jsonl");
    let group = herd_tests::unique("seams-versions-trainer");
    race(
        &env,
        vec![
            (
                "continuous",
                train(
                    &env,
                    &[
                        "--group",
                        &group,
                        "--idle-exit",
                        "5",
                        "--models",
                        "ridge",
                        "--run-id",
                        "continuous",
                    ],
                ),
            ),
            (
                "once-again",
                train(&env, &["--once", "--models", "ridge", "--run-id", "again"]),
            ),
        ],
    );
    let now = check_registry(&lake, &["ridge", "naive", "continuous", "again"]);
    let changed: Vec<&String> = committed
        .iter()
        .filter(|(path, bytes)| now.get(*path) != Some(*bytes))
        .map(|(path, _)| path)
        .collect();
    assert!(
        changed.is_empty(),
        "{} artifacts changed after their rows were committed, e.g. {:?}",
        changed.len(),
        &changed[..changed.len().min(3)]
    );
    let paths: BTreeSet<&String> = now.keys().collect();
    assert_eq!(paths.len(), 4 * KEYS);
}
