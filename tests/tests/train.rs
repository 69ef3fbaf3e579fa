//! `herd train` against the real broker and real Delta tables: `--once` registers
//! exactly one model per key of the lake's `sales` table, with finite metrics, tags
//! to find it by, an artifact on disk and one event on the models topic; the
//! continuous trainer rebuilds the same windows whether they come from lake and
//! topic or from the topic alone; awkward series are recorded rather than fatal;
//! and mistakes on the command line are one-line errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use herd_schemas::{ModelEvent, ModelEventKind};
use herd_tests::cli::{
    FINISH, archive, close, herd_ok, ingest, line, numbers, registered_versions,
};
use herd_tests::env::Env;
use herd_tests::lake::SalesTable;
use herd_tests::process::{Background, Ran};
use herd_tests::registry::{self, ModelsRow, ModelsTable};
use herd_tests::topic;

/// Seconds without a new record after which `archive` and continuous `train` stop.
const IDLE_EXIT: &str = "5";

/// What `herd train --once` says it did.
#[derive(Debug)]
struct OnceSummary {
    keys: u64,
    run_id: String,
    registered: u64,
    cold_start: u64,
    failed: u64,
    events: u64,
}

/// Parses "trained N keys (run R): X registered (C cold start), F failed, in K
/// commits; E events on TOPIC" (the run id and topic may hold digits).
fn once_summary(stdout: &str) -> OnceSummary {
    let summary = line(stdout, "trained ");
    let parse = || {
        let rest = summary.strip_prefix("trained ")?;
        let (keys, rest) = rest.split_once(" keys (run ")?;
        let (run_id, rest) = rest.split_once("): ")?;
        let (counts, _topic) = rest.split_once(" events on ")?;
        let [registered, cold_start, failed, _commits, events] = numbers(counts)[..] else {
            return None;
        };
        Some(OnceSummary {
            keys: keys.parse().ok()?,
            run_id: run_id.to_owned(),
            registered,
            cold_start,
            failed,
            events,
        })
    };
    parse().unwrap_or_else(|| panic!("unexpected train summary: {summary}"))
}

/// Runs `herd train --once <extra>` and checks its summary's arithmetic.
fn train_once(env: &Env, extra: &[&str]) -> OnceSummary {
    let mut args = vec!["train", "--once"];
    args.extend_from_slice(extra);
    let stdout = herd_ok(env, "train-once", &args);
    eprintln!("{stdout}");
    let summary = once_summary(&stdout);
    assert_eq!(
        summary.registered + summary.failed,
        summary.keys,
        "{summary:?}"
    );
    assert_eq!(
        summary.events, summary.keys,
        "one event per model: {summary:?}"
    );
    summary
}

/// `herd models <args> --format json`, one object per line.
fn models_json(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let ran = Ran::run(
        env.herd()
            .arg("models")
            .args(args)
            .args(["--format", "json"]),
        None,
    );
    assert!(ran.success, "herd models {args:?} failed:\n{}", ran.stderr);
    ran.stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a JSON object ({err}): {line}"))
        })
        .collect()
}

fn keys_of(listed: &[serde_json::Value]) -> Vec<String> {
    listed
        .iter()
        .map(|m| m["key"].as_str().expect("a key").to_owned())
        .collect()
}

/// The rows by key, failing the test unless every key has exactly one.
fn one_row_per_key(rows: &[ModelsRow]) -> BTreeMap<String, &ModelsRow> {
    let mut by_key: BTreeMap<String, &ModelsRow> = BTreeMap::new();
    for row in rows {
        if let Some(earlier) = by_key.insert(row.key.clone(), row) {
            panic!("{} has two rows:\n{earlier:?}\n{row:?}", row.key);
        }
    }
    by_key
}

/// The row's status, metrics and artifact hang together: a candidate has a model
/// type, finite metrics, accuracies in [0, 1] and an artifact on disk in Herd's
/// model format; a failure has an error and neither metrics nor artifact.
fn assert_consistent(lake_root: &Path, row: &ModelsRow) {
    let metrics = [
        row.mae,
        row.rmse,
        row.wape,
        row.accuracy,
        row.baseline_accuracy,
    ];
    match row.status.as_str() {
        "candidate" => {
            assert!(
                row.model_type.as_deref().is_some_and(|t| !t.is_empty()),
                "{row:?}"
            );
            // A cold start with under a week of data has no holdout: no metrics.
            let unscored = row.cold_start && row.rows < 7;
            if unscored {
                assert!(metrics.iter().all(Option::is_none), "{row:?}");
            } else {
                assert!(
                    metrics.iter().all(|m| m.is_some_and(f64::is_finite)),
                    "a candidate with missing or non-finite metrics: {row:?}"
                );
            }
            assert!(
                metrics.iter().flatten().all(|m| *m >= 0.0),
                "negative metrics: {row:?}"
            );
            for accuracy in [row.accuracy, row.baseline_accuracy].into_iter().flatten() {
                assert!((0.0..=1.0).contains(&accuracy), "{row:?}");
            }
            assert_eq!(row.error, None, "{row:?}");
            let artifact = row.artifact.as_deref().expect("a candidate's artifact");
            assert!(artifact.starts_with("_artifacts/"), "{row:?}");
            let path = lake_root.join("models").join(artifact);
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|err| panic!("{}: artifact missing ({err})", path.display()));
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|err| panic!("{}: not JSON ({err})", path.display()));
            assert_eq!(json["format"], "herd-model", "{}", path.display());
        }
        "failed" => {
            assert!(
                row.error.as_deref().is_some_and(|e| !e.trim().is_empty()),
                "a failure without a reason: {row:?}"
            );
            assert_eq!(row.artifact, None, "{row:?}");
            assert!(metrics.iter().all(Option::is_none), "{row:?}");
        }
        other => panic!("unknown status {other:?}: {row:?}"),
    }
}

/// The models topic holds exactly one event per row, keyed by the series key, of
/// the kind its status says, for its version and run.
fn assert_one_event_per_row(env: &Env, rows: &BTreeMap<String, &ModelsRow>) {
    let mut seen: BTreeMap<String, ModelEvent> = BTreeMap::new();
    for record in topic::drain(&env.models) {
        let event = ModelEvent::from_json(&record.value).unwrap_or_else(|err| {
            panic!(
                "not a model event ({err}): {}",
                String::from_utf8_lossy(&record.value)
            )
        });
        let key = event.key.to_string();
        assert_eq!(
            record.key_text().as_deref(),
            Some(key.as_str()),
            "{event:?}"
        );
        if let Some(earlier) = seen.insert(key.clone(), event) {
            panic!("two events for {key}: {earlier:?} and {:?}", seen[&key]);
        }
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        rows.keys().collect::<Vec<_>>(),
        "the events' keys are not the registered keys"
    );
    for (key, event) in &seen {
        let row = rows[key];
        let kind = match row.status.as_str() {
            "candidate" => ModelEventKind::Registered,
            _ => ModelEventKind::Failed,
        };
        assert_eq!(event.event, kind, "{event:?} for {row:?}");
        assert_eq!(event.version, row.version, "{event:?}");
        assert_eq!(event.run_id, row.run_id, "{event:?}");
        assert_eq!(event.model_type, row.model_type, "{event:?}");
        assert!(close(event.accuracy, row.accuracy), "{event:?} for {row:?}");
        assert_eq!(event.artifact, row.artifact, "{event:?}");
    }
}

#[test]
fn train_once_registers_every_key_with_metrics_and_tags() {
    // Fail here, before anything runs, when the interpreter is missing.
    herd_tests::python::interpreter();
    let env = Env::new("train-once", 3);
    env.create_topics();
    herd_ok(
        &env,
        "generate",
        &["generate", "small.parquet", "--size", "small"],
    );
    let published = ingest(&env, "ingest", "small.parquet");
    assert_eq!(archive(&env, IDLE_EXIT), published);
    let sales = SalesTable::read(&env.lake_root(), &[]);
    assert_eq!(sales.rows.len() as u64, published);
    let expected: BTreeSet<String> = sales
        .rows
        .iter()
        .map(|r| format!("{}/{}", r.store_id, r.item_id))
        .collect();
    assert_eq!(expected.len(), 1000, "the small size has 1,000 series");

    let summary = train_once(&env, &["--tag", "team=fresh"]);
    assert_eq!(summary.keys, 1000, "{summary:?}");

    // The table as an outside Delta reader sees it: one row per key, version 1.
    let lake_root = env.lake_root();
    let table = ModelsTable::read(&lake_root);
    let rows = one_row_per_key(&table.rows);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let mut cold_starts = 0;
    let mut failed = 0;
    for (key, row) in &rows {
        assert_eq!(row.version, 1, "{row:?}");
        assert_eq!(*key, format!("{}/{}", row.store_id, row.item_id));
        assert_eq!(row.run_id, summary.run_id, "{row:?}");
        assert_consistent(&lake_root, row);
        cold_starts += u64::from(row.cold_start);
        failed += u64::from(row.status == "failed");
        let tags = row
            .tags
            .as_ref()
            .unwrap_or_else(|| panic!("no tags: {row:?}"));
        let tag = |name: &str| tags.get(name).map(String::as_str);
        assert_eq!(tag("store_id"), Some(row.store_id.as_str()), "{tags:?}");
        assert_eq!(tag("item_id"), Some(row.item_id.as_str()), "{tags:?}");
        assert_eq!(tag("run_id"), Some(summary.run_id.as_str()), "{tags:?}");
        assert_eq!(
            tag("feature_set"),
            Some(row.feature_set.as_str()),
            "{tags:?}"
        );
        assert_eq!(tag("team"), Some("fresh"), "{tags:?}");
        if row.status == "candidate" {
            assert_eq!(tag("model_type"), row.model_type.as_deref(), "{tags:?}");
        }
    }
    assert_eq!(cold_starts, summary.cold_start, "{summary:?}");
    assert_eq!(failed, summary.failed, "{summary:?}");
    eprintln!(
        "{} keys: {} cold starts, {failed} failed; table version {}, {} files",
        rows.len(),
        cold_starts,
        table.version,
        table.files.len()
    );

    // `herd models list` shows the same rows.
    let listed = models_json(&env, &["list", "--all-versions"]);
    assert_eq!(listed.len(), 1000);
    for model in &listed {
        let key = model["key"].as_str().expect("a key");
        let row = rows
            .get(key)
            .unwrap_or_else(|| panic!("listed but not in the table: {model}"));
        assert_eq!(model["version"], row.version, "{model}");
        assert_eq!(model["status"], row.status.as_str(), "{model}");
        assert_eq!(model["model_type"].as_str(), row.model_type.as_deref());
        assert_eq!(model["cold_start"], row.cold_start, "{model}");
        assert_eq!(model["artifact"].as_str(), row.artifact.as_deref());
        assert!(
            close(model["metrics"]["accuracy"].as_f64(), row.accuracy),
            "{model}"
        );
        let tags: BTreeMap<String, String> =
            serde_json::from_value(model["tags"].clone()).expect("tags as an object");
        assert_eq!(Some(&tags), row.tags.as_ref(), "{model}");
    }

    // Found by tag: exactly the keys of store S0003.
    let store: BTreeSet<String> = expected
        .iter()
        .filter(|key| key.starts_with("S0003/"))
        .cloned()
        .collect();
    assert_eq!(store.len(), 50, "the small size has 50 items per store");
    let by_store = keys_of(&models_json(&env, &["list", "--tag", "store_id=S0003"]));
    assert_eq!(by_store.len(), store.len(), "each key once: {by_store:?}");
    assert_eq!(by_store.into_iter().collect::<BTreeSet<_>>(), store);
    let both = models_json(
        &env,
        &["list", "--tag", "store_id=S0003", "--tag", "team=fresh"],
    );
    assert_eq!(both.len(), store.len());
    assert!(models_json(&env, &["list", "--tag", "team=stale"]).is_empty());
    let failures = models_json(&env, &["list", "--status", "failed"]);
    assert_eq!(failures.len() as u64, summary.failed);

    let shown = Ran::run(env.herd().args(["models", "show", "S0003/I00001"]), None);
    assert!(shown.success, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("key:          S0003/I00001"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("team=fresh"), "{}", shown.stdout);

    assert_one_event_per_row(&env, &rows);

    // A second Delta implementation reads the same rows, with `tags` as a map.
    let python = registry::read_with_python(&lake_root.join("models"));
    assert_eq!(python.version, table.version);
    assert_eq!(python.rows, 1000);
    assert_eq!(python.tags_type, "map<string, string>");
    for (key, row) in &rows {
        assert_eq!(
            python.tags.get(&format!("{key}@1")),
            Some(&row.tags),
            "Python's tags of {key}"
        );
    }
}

/// What one continuous `herd train` run printed.
#[derive(Debug)]
struct Continuous {
    records: u64,
    keys: u64,
    /// Models trained, failures included.
    trained: u64,
    /// The `windows:` line: keys, observed days and digest.
    windows: String,
    window_keys: u64,
    window_days: u64,
}

fn train_continuously(env: &Env, name: &str, group: &str, lake_root: Option<&Path>) -> Continuous {
    let mut args = vec![
        "train".to_owned(),
        "--group".to_owned(),
        group.to_owned(),
        "--idle-exit".to_owned(),
        IDLE_EXIT.to_owned(),
    ];
    if let Some(root) = lake_root {
        args.push("--lake-root".to_owned());
        args.push(root.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = herd_ok(env, name, &args);
    eprintln!("{name}:\n{stdout}");
    let followed = line(&stdout, "followed ");
    // "followed R records (M malformed skipped) over K keys; trained T models (F
    // failed) in C commits; B rebalances"
    let [
        records,
        malformed,
        keys,
        trained,
        _failed,
        _commits,
        _rebalances,
    ] = numbers(followed)[..]
    else {
        panic!("unexpected summary: {followed}");
    };
    assert_eq!(malformed, 0, "{followed}");
    let windows = line(&stdout, "windows: ").to_owned();
    let parts: Vec<&str> = windows
        .strip_prefix("windows: ")
        .expect("the prefix")
        .split(", ")
        .collect();
    let [window_keys, window_days, digest] = parts[..] else {
        panic!("unexpected windows line: {windows}");
    };
    let count = |text: &str, unit: &str| -> u64 {
        text.strip_suffix(unit)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected windows line: {windows}"))
    };
    let (window_keys, window_days) = (
        count(window_keys, " keys"),
        count(window_days, " observed days"),
    );
    assert!(
        digest
            .strip_prefix("digest ")
            .is_some_and(|d| !d.is_empty()),
        "{windows}"
    );
    Continuous {
        records,
        keys,
        trained,
        windows,
        window_keys,
        window_days,
    }
}

/// (key, date) of every line of a JSON-lines sales file.
fn key_days(path: &Path) -> BTreeSet<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON record");
            let text = |name: &str| record[name].as_str().expect(name).to_owned();
            (
                format!("{}/{}", text("store_id"), text("item_id")),
                text("date"),
            )
        })
        .collect()
}

#[test]
fn continuous_trainer_rebuilds_the_same_windows_from_lake_and_topic() {
    let env = Env::new("train-windows", 3);
    env.create_topics();
    let dims = ["--stores", "4", "--items", "10"];
    for (file, days) in [("first.jsonl", "150"), ("all.jsonl", "200")] {
        let mut args = vec!["generate", file, "--days", days];
        args.extend_from_slice(&dims);
        herd_ok(&env, &format!("generate-{days}"), &args);
    }
    // Days 1..150 go into the lake; then all 200 days (days 1..150 again,
    // identical) stay on the topic only.
    let first = ingest(&env, "ingest-first", "first.jsonl");
    assert_eq!(archive(&env, IDLE_EXIT), first);
    let second = ingest(&env, "ingest-all", "all.jsonl");

    let (first_days, all_days) = (
        key_days(&env.path("first.jsonl")),
        key_days(&env.path("all.jsonl")),
    );
    let keys: BTreeSet<&String> = all_days.iter().map(|(key, _)| key).collect();
    let observed: BTreeSet<&(String, String)> = first_days.union(&all_days).collect();
    eprintln!(
        "{} keys; {} + {} records; {} distinct observed days ({} only in first.jsonl)",
        keys.len(),
        first,
        second,
        observed.len(),
        first_days.difference(&all_days).count()
    );

    let group = herd_tests::unique("train-windows-group");
    let run1 = train_continuously(&env, "train-1", &group, None);
    assert_eq!(
        run1.records, second,
        "the first run reads the topic from the archive's offsets: {run1:?}"
    );
    assert_eq!(run1.keys, keys.len() as u64, "{run1:?}");
    assert_eq!(run1.window_keys, keys.len() as u64, "{run1:?}");
    assert_eq!(run1.window_days, observed.len() as u64, "{run1:?}");
    assert!(
        run1.trained >= 1 && run1.trained <= run1.keys,
        "each key is trained at most once: {run1:?}"
    );
    let versions = models_json(&env, &["list", "--all-versions"]);
    assert_eq!(versions.len() as u64, run1.trained);
    let trained_keys: BTreeSet<String> = keys_of(&versions).into_iter().collect();
    assert_eq!(trained_keys.len(), versions.len(), "a key trained twice");

    let run2 = train_continuously(&env, "train-2", &group, None);
    assert_eq!(
        run2.windows, run1.windows,
        "the restart rebuilt other windows"
    );
    assert_eq!(run2.records, second, "{run2:?}");
    assert_eq!(run2.trained, 0, "nothing new since the first run: {run2:?}");
    assert_eq!(
        models_json(&env, &["list", "--all-versions"]).len(),
        versions.len()
    );

    // The same group on an empty lake: everything comes from the topic.
    let empty = env.path("empty-lake");
    std::fs::create_dir(&empty).expect("a directory");
    let run3 = train_continuously(&env, "train-3", &group, Some(&empty));
    assert_eq!(
        run3.windows, run1.windows,
        "the topic alone rebuilt other windows"
    );
    assert_eq!(run3.records, first + second, "{run3:?}");
    assert!(run3.trained <= run3.keys, "{run3:?}");
}

/// Sales of one series, as a JSON-lines record.
fn record(item: &str, date: NaiveDate, sales: u32) -> String {
    format!(r#"{{"store_id":"SB","item_id":"{item}","date":"{date}","sales":{sales}}}"#)
}

#[test]
fn bad_keys_are_recorded_not_fatal() {
    let env = Env::new("train-bad-keys", 2);
    env.create_topics();
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");
    let day = |i: u32| start + chrono::Days::new(u64::from(i));
    let mut lines = Vec::new();
    for i in 0..200 {
        lines.push(record("ZERO", day(i), 0));
        lines.push(record("CONST", day(i), 7));
        lines.push(record(
            "NORMAL",
            day(i),
            10 + 6 * u32::from(i % 7 >= 5) + i / 20 + (i * 37) % 5,
        ));
        // Days 50..150 missing: a 100-day gap in the middle.
        if !(50..150).contains(&i) {
            lines.push(record("GAP", day(i), 4 + i % 7));
        }
    }
    lines.push(record("ONE", day(199), 3));
    std::fs::write(env.path("bad.jsonl"), lines.join("\n") + "\n").expect("written");
    let published = ingest(&env, "ingest", "bad.jsonl");
    assert_eq!(published, lines.len() as u64);
    assert_eq!(archive(&env, IDLE_EXIT), published);

    let summary = train_once(&env, &[]);
    assert_eq!(summary.keys, 5, "{summary:?}");

    let lake_root = env.lake_root();
    let table = ModelsTable::read(&lake_root);
    let rows = one_row_per_key(&table.rows);
    let expected: BTreeSet<String> = ["CONST", "GAP", "NORMAL", "ONE", "ZERO"]
        .iter()
        .map(|item| format!("SB/{item}"))
        .collect();
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for row in rows.values() {
        eprintln!(
            "{}: {} {:?}{} over {:?}..{:?} ({} days), accuracy {:?} (naive {:?}), error {:?}",
            row.key,
            row.status,
            row.model_type,
            if row.cold_start { " (cold start)" } else { "" },
            row.data_start,
            row.data_end,
            row.rows,
            row.accuracy,
            row.baseline_accuracy,
            row.error
        );
        assert_eq!(row.version, 1, "{row:?}");
        assert_consistent(&lake_root, row);
    }

    // Full, if dull, histories train normally (200 days ≥ 2 folds × 28 + 56).
    for key in ["SB/ZERO", "SB/CONST", "SB/NORMAL"] {
        let row = rows[key];
        assert_eq!(row.status, "candidate", "{row:?}");
        assert!(!row.cold_start, "{row:?}");
        assert_eq!(row.rows, 200, "{row:?}");
    }
    // A gap longer than 28 days restarts the history: the model knows only the
    // 50 days after it, too few for full training.
    let gap = rows["SB/GAP"];
    assert_eq!(gap.status, "candidate", "{gap:?}");
    assert_eq!(gap.data_start, Some(day(150)), "{gap:?}");
    assert_eq!(gap.data_end, Some(day(199)), "{gap:?}");
    assert_eq!(gap.rows, 50, "{gap:?}");
    assert!(gap.cold_start, "{gap:?}");
    // One observed day: a cold start, or a failure that says why.
    let one = rows["SB/ONE"];
    assert!(
        (one.status == "candidate" && one.cold_start)
            || (one.status == "failed" && one.error.as_deref().is_some_and(|e| !e.is_empty())),
        "{one:?}"
    );
    assert_eq!(one.data_end, Some(day(199)), "{one:?}");
    assert_eq!(one.accuracy, None, "one day cannot be scored: {one:?}");

    assert_one_event_per_row(&env, &rows);
}

#[test]
fn train_once_without_sales_is_a_clear_error() {
    let env = Env::new("train-empty", 1);
    env.create_topics();
    let ran = Ran::run(env.herd().args(["train", "--once"]), None);
    assert!(!ran.success, "{ran:?}");
    let last = ran
        .stderr
        .lines()
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.starts_with("error: nothing to train"),
        "last line {last:?} of:\n{}",
        ran.stderr
    );
    assert_eq!(ran.error_lines().len(), 1, "{}", ran.stderr);
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    let marks = topic::watermarks(&env.models);
    assert!(
        marks.iter().all(|m| m.high == m.low),
        "events on the models topic: {marks:?}"
    );
    // Reading creates nothing: no empty tables are left behind.
    for table in ["sales", "models"] {
        assert!(!env.lake_root().join(table).exists(), "{table} was created");
    }
    let listed = Ran::run(env.herd().args(["models", "list"]), None);
    assert!(!listed.success, "{listed:?}");
    assert!(
        listed.stderr.contains("no model registry under"),
        "{}",
        listed.stderr
    );
}

#[test]
fn unknown_model_and_bad_tag_are_one_line_errors() {
    let env = Env::new("train-errors", 1);
    for (args, names) in [
        (&["train", "--once", "--models", "nope"][..], "nope"),
        (&["train", "--once", "--tag", "novalue"][..], "novalue"),
        (&["models", "list", "--tag", "novalue"][..], "novalue"),
    ] {
        let ran = Ran::run(env.herd().args(args), None);
        eprintln!("herd {}: {}", args.join(" "), ran.stderr.trim());
        assert!(!ran.success, "herd {args:?} succeeded:\n{}", ran.stdout);
        let errors = ran.error_lines();
        assert_eq!(errors.len(), 1, "herd {args:?}:\n{}", ran.stderr);
        assert!(errors[0].contains(names), "herd {args:?}: {}", errors[0]);
        for noise in ["panicked", "backtrace", "RUST_BACKTRACE"] {
            assert!(
                !ran.stderr.contains(noise),
                "herd {args:?}:\n{}",
                ran.stderr
            );
        }
        assert!(
            ran.stdout.trim().is_empty(),
            "herd {args:?}:\n{}",
            ran.stdout
        );
    }
}

#[test]
fn a_second_trainer_in_the_group_does_not_retrain_what_the_first_trained() {
    let env = Env::new("train-group", 3);
    env.create_topics();
    herd_ok(
        &env,
        "generate",
        &[
            "generate",
            "sales.jsonl",
            "--stores",
            "4",
            "--items",
            "10",
            "--days",
            "150",
        ],
    );
    ingest(&env, "ingest", "sales.jsonl");
    let keys = key_days(&env.path("sales.jsonl"))
        .into_iter()
        .map(|(key, _)| key)
        .collect::<BTreeSet<_>>()
        .len();

    // Nothing is archived: the first member rebuilds every window from the topic
    // and trains every key.
    let group = herd_tests::unique("train-group");
    let mut first = env.herd();
    first.args(["train", "--group", &group, "--idle-exit", "15"]);
    let mut first = Background::spawn(first, env.dir(), "train-first");
    let started = Instant::now();
    while registered_versions(&env) < keys {
        assert!(
            first.is_running(),
            "the first trainer stopped:\n{}",
            first.stderr()
        );
        assert!(
            started.elapsed() < FINISH,
            "not every key was trained:\n{}",
            first.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // A second member joins: the group splits the partitions, the second rebuilds
    // its share and finds every key trained already.
    let second = train_continuously(&env, "train-second", &group, None);
    assert_eq!(second.trained, 0, "{second:?}");
    first.wait_success(FINISH);

    let versions = models_json(&env, &["list", "--all-versions"]);
    let distinct: BTreeSet<String> = keys_of(&versions).into_iter().collect();
    assert_eq!(distinct.len(), keys);
    assert_eq!(versions.len(), keys, "a key was trained twice");
}

#[test]
fn a_drifting_key_is_retrained_for_drift_and_a_steady_one_is_not() {
    use herd_tests::simulated::{HISTORY_DAYS, KEYS, day};

    let (env, history) = simulated_lake("train-drift");

    // The trainer trains every key once (seasonal naive, the last week repeated),
    // then would wait for 30 new days before retraining one.
    let mut trainer = slow_retrainer(&env, "train-drift");
    let started = Instant::now();
    while registered_versions(&env) < KEYS {
        assert!(
            trainer.is_running(),
            "the trainer stopped:\n{}",
            trainer.stderr()
        );
        assert!(started.elapsed() < FINISH, "not every key was trained");
        std::thread::sleep(Duration::from_millis(500));
    }

    let (steady, drifting) = publish_steady_and_drifting_days(&env, &history);
    let stdout = trainer.wait_success(FINISH);
    assert!(
        stdout.contains("drift: 1 keys retrained before min_new_days"),
        "{stdout}"
    );

    let table = ModelsTable::read(&env.lake_root());
    assert_eq!(versions(&table, steady), [(1, Some("new_days"))]);
    assert_eq!(
        versions(&table, drifting),
        [(1, Some("new_days")), (2, Some("drift"))]
    );
    assert_eq!(
        table.rows.len(),
        KEYS + 1,
        "only the drifting key was retrained"
    );
    // Retrained on the days that drifted: its data reaches the seventh of them.
    let retrained = table
        .rows
        .iter()
        .find(|r| r.key == drifting && r.version == 2)
        .expect("version 2");
    assert!(
        retrained.data_end >= Some(day(HISTORY_DAYS + 6)),
        "{retrained:?}"
    );
}

#[test]
fn weekly_totals_get_a_reason_instead_of_misleading_models_and_forecasts() {
    let env = Env::new("train-weekly", 1);
    env.create_topics();
    // Three keys, 60 weekly totals each, every Monday.
    let first = NaiveDate::from_ymd_opt(2023, 1, 2).expect("a date");
    let lines: Vec<String> = (1..=3)
        .flat_map(|item| {
            (0..60).map(move |week| {
                let date = first + chrono::Days::new(7 * week);
                format!(
                    r#"{{"store_id":"SW","item_id":"I{item}","date":"{date}","sales":{}}}"#,
                    70 + week % 5
                )
            })
        })
        .collect();
    std::fs::write(env.path("weekly.jsonl"), lines.join("\n") + "\n").expect("a file");
    assert_eq!(ingest(&env, "ingest", "weekly.jsonl"), 180);
    assert_eq!(archive(&env, IDLE_EXIT), 180);

    let summary = train_once(&env, &[]);
    assert_eq!((summary.registered, summary.failed), (0, 3), "{summary:?}");
    let table = ModelsTable::read(&env.lake_root());
    for row in &table.rows {
        let error = row.error.as_deref().unwrap_or_default();
        assert!(
            row.status == "failed" && error.contains("every 7 days") && error.contains("daily"),
            "{row:?}"
        );
    }

    // Without production models, batch scoring's fallbacks refuse them too, with the
    // reason in the log, rather than forecasting 28 invented days.
    let stdout = herd_ok(&env, "score", &["score", "--batch"]);
    let scored = line(&stdout, "scored ");
    assert!(
        scored.starts_with("scored 0 keys as of ") && scored.ends_with("0 without sales, 3 failed"),
        "{scored}"
    );
}

/// A weekly and a monthly data set go the whole way: `herd generate --frequency`,
/// ingest (a record off the calendar goes to the dead-letter topic, from the file and
/// from a producer that ignored the calendar), archive, train, promote, batch scoring
/// and `herd serve`, every forecast dated on the series' own calendar.
#[test]
fn weekly_and_monthly_series_go_end_to_end_on_their_own_calendar() {
    use herd_schemas::Frequency;
    use herd_tests::predictions::PredictionsTable;
    // (frequency, days generated, horizon): about 170 weeks and 120 months.
    for (frequency, days, horizon) in [
        (Frequency::Weekly, "1200", 13usize),
        (Frequency::Monthly, "3660", 12),
    ] {
        let name = frequency.as_str();
        let env = Env::new(&format!("train-{name}"), 2)
            .with_setting("HERD_FREQUENCY", name)
            .with_setting("HERD_TRAIN__HORIZON", &horizon.to_string());
        env.create_topics();
        let generated = herd_ok(
            &env,
            "generate",
            &[
                "generate",
                "data.csv",
                "--stores",
                "2",
                "--items",
                "4",
                "--days",
                days,
                "--frequency",
                name,
            ],
        );
        let rows = numbers(line(&generated, "wrote "))[0];
        // A record dated on a Wednesday is on neither calendar.
        let mut csv = std::fs::read_to_string(env.path("data.csv")).expect("the file");
        csv.push_str("S0001,I00001,2024-01-03,5,1.5,0\n");
        std::fs::write(env.path("data.csv"), csv).expect("the file");
        let stdout = herd_ok(&env, "ingest", &["ingest", "data.csv"]);
        // Read, accepted, rejected (sent to the dead-letter topic).
        assert_eq!(
            numbers(line(&stdout, "read "))[..3],
            [rows + 1, rows, 1],
            "{stdout}"
        );
        // A producer that knows nothing of the calendar: the archive refuses it.
        std::fs::write(
            env.path("stray.jsonl"),
            r#"{"store_id":"S0002","item_id":"I00002","date":"2024-01-10","sales":3}"#,
        )
        .expect("a file");
        let mut daily = env.herd();
        daily
            .env("HERD_FREQUENCY", "daily")
            .args(["ingest", "stray.jsonl"]);
        Background::spawn(daily, env.dir(), "ingest-daily").wait_success(FINISH);
        assert_eq!(archive(&env, IDLE_EXIT), rows);
        let rejects = topic::drain(&env.dlq);
        assert_eq!(rejects.len(), 2, "{rejects:?}");
        for reject in &rejects {
            let message = reject.header("herd.error.message").unwrap_or_default();
            assert!(
                message.contains(&format!("not on the {name} calendar")),
                "{message}"
            );
        }

        let summary = train_once(&env, &[]);
        assert_eq!(
            (
                summary.keys,
                summary.registered,
                summary.cold_start,
                summary.failed
            ),
            (8, 8, 0, 0),
            "{summary:?}"
        );
        let table = ModelsTable::read(&env.lake_root());
        for row in &table.rows {
            let end = row.data_end.expect("a trained model's last period");
            assert!(frequency.check(end).is_ok(), "{row:?}");
            assert_eq!(row.horizon, horizon as i64, "{row:?}");
            assert!(row.accuracy.is_some(), "{row:?}");
        }
        // The generator's intermittent series forecast worse, the others well.
        let accuracy: Vec<f64> = table.rows.iter().filter_map(|r| r.accuracy).collect();
        let mean = accuracy.iter().sum::<f64>() / accuracy.len() as f64;
        assert!(mean > 0.6, "{name}: mean accuracy {mean}");
        let last = table
            .rows
            .iter()
            .filter_map(|r| r.data_end)
            .max()
            .expect("ends");
        // The lake declares its calendar: a process set up for daily series refuses
        // it instead of reading weeks or months as days.
        let ran = Ran::run(
            env.herd()
                .env("HERD_FREQUENCY", "daily")
                .args(["train", "--once"]),
            None,
        );
        assert!(
            !ran.success && ran.stderr.contains(&format!("holds {name} series")),
            "{}",
            ran.stderr
        );

        herd_ok(
            &env,
            "promote",
            &["promote", "--once", "--rule", "accuracy >= 0.0"],
        );
        let stdout = herd_ok(&env, "score", &["score", "--batch"]);
        let scored = line(&stdout, "scored ");
        assert!(
            scored.starts_with(&format!(
                "scored 8 keys as of {last} (8 with a production model"
            )),
            "{scored}"
        );
        let predictions = PredictionsTable::read(&env.lake_root(), &[]);
        assert_eq!(predictions.rows.len(), 8 * horizon, "{name}");
        for row in &predictions.rows {
            assert_eq!(row.as_of, last);
            let step = usize::try_from(row.step).expect("a step");
            assert_eq!(row.target_date, frequency.add(last, step), "{row:?}");
            assert_eq!(row.origin.as_deref(), Some("champion"));
        }

        let (_server, base) = env.start_serve("serve", |_| {});
        let (status, answer) = herd_tests::http::json(
            &herd_tests::http::agent(),
            &format!("{base}/v1/forecast/S0001/I00003"),
            None,
            None,
        );
        assert_eq!(status, 200, "{answer}");
        let as_of: NaiveDate = answer["as_of"]
            .as_str()
            .expect("as_of")
            .parse()
            .expect("a date");
        let points = answer["forecast"].as_array().expect("points");
        assert_eq!(points.len(), horizon, "{answer}");
        for (step, point) in points.iter().enumerate() {
            let date: NaiveDate = point["date"]
                .as_str()
                .expect("a date")
                .parse()
                .expect("a date");
            assert_eq!(date, frequency.add(as_of, step + 1), "{answer}");
            assert!(frequency.check(date).is_ok(), "{answer}");
        }
        assert!(frequency.check(as_of).is_ok() && as_of <= last, "{answer}");
        drop(_server);

        // Three more periods arrive while a continuous scorer follows the topic: each
        // key is scored as of each new period, its forecast on the calendar.
        let group = herd_tests::unique(&format!("score-{name}"));
        let mut scoring = herd_tests::live::scorer(&env, &group, "scorer", &["--idle-exit", "5"]);
        scoring.wait_for_log(herd_tests::live::SCORING, herd_tests::live::STARTUP);
        let longer = (days.parse::<u32>().expect("days") + 100).to_string();
        herd_ok(
            &env,
            "generate-more",
            &[
                "generate",
                "more.csv",
                "--stores",
                "2",
                "--items",
                "4",
                "--days",
                &longer,
                "--frequency",
                name,
            ],
        );
        let more = std::fs::read_to_string(env.path("more.csv")).expect("the file");
        let date_of = |row: &str| -> NaiveDate {
            row.split(',')
                .nth(2)
                .expect("a date")
                .parse()
                .expect("a date")
        };
        let new_periods: Vec<NaiveDate> = more
            .lines()
            .skip(1)
            .map(date_of)
            .filter(|date| *date > last)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(3)
            .collect();
        assert_eq!(new_periods.len(), 3, "{name}: {new_periods:?}");
        let mut live = String::from("store_id,item_id,date,sales,price,promo\n");
        for row in more.lines().skip(1) {
            if new_periods.contains(&date_of(row)) {
                live.push_str(row);
                live.push('\n');
            }
        }
        std::fs::write(env.path("live.csv"), live).expect("a file");
        assert_eq!(ingest(&env, "ingest-live", "live.csv"), 8 * 3);
        let summary = herd_tests::live::scored(&env, &scoring.wait_success(FINISH));
        assert_eq!(
            (summary.key_days, summary.failed),
            (8 * 3, 0),
            "{summary:?}"
        );
        let table = PredictionsTable::read(&env.lake_root(), &[]);
        let stream: Vec<_> = table.from_source("stream");
        assert_eq!(stream.len(), 8 * 3 * horizon, "{name}");
        for row in stream {
            assert!(new_periods.contains(&row.as_of), "{row:?}");
            let step = usize::try_from(row.step).expect("a step");
            assert_eq!(row.target_date, frequency.add(row.as_of, step), "{row:?}");
            assert_eq!(row.origin.as_deref(), Some("champion"), "{row:?}");
        }
        eprintln!(
            "{name}: {rows} rows, last period {last}, answer as of {as_of}, live periods \
             {new_periods:?} scored"
        );
    }
}

/// The simulated history published and archived in a test world of its own; with
/// what the topic holds of each key and day.
fn simulated_lake(name: &str) -> (Env, std::collections::HashMap<(String, NaiveDate), f64>) {
    use herd_tests::simulated::{published, simulate, sold_history};
    let env = Env::new(name, 3);
    env.create_topics();
    published(&simulate(&env, "history", 0, 0, "1").wait_success(FINISH));
    archive(&env, "3");
    let history = sold_history(&env);
    (env, history)
}

/// A continuous trainer of seasonal naive models in a group of its own, retraining a
/// key only after 30 new days (or for drift), leaving 8 s after the last record.
fn slow_retrainer(env: &Env, name: &str) -> Background {
    let group = herd_tests::unique(name);
    let mut trainer = env.herd();
    trainer.args([
        "train",
        "--group",
        &group,
        "--models",
        "seasonal_naive",
        "--min-new-days",
        "30",
        "--idle-exit",
        "8",
    ]);
    Background::spawn(trainer, env.dir(), name)
}

/// Eight more days of two keys after the simulated history: one exactly as a seasonal
/// naive model forecast it (its last week again), one at three times that level.
/// Returns (steady, drifting).
fn publish_steady_and_drifting_days(
    env: &Env,
    history: &std::collections::HashMap<(String, NaiveDate), f64>,
) -> (&'static str, &'static str) {
    use herd_tests::simulated::{HISTORY_DAYS, day};
    let (steady, drifting) = ("S0001/I00001", "S0002/I00002");
    let mut lines = Vec::new();
    for offset in 0..8 {
        let date = day(HISTORY_DAYS + offset);
        let week_before = day(HISTORY_DAYS - 7 + offset % 7);
        for (key, scale, shift) in [(steady, 1.0, 0.0), (drifting, 3.0, 5.0)] {
            let (store, item) = key.split_once('/').expect("store/item");
            let sales = history[&(key.to_owned(), week_before)] * scale + shift;
            lines.push(format!(
                r#"{{"store_id":"{store}","item_id":"{item}","date":"{date}","sales":{sales}}}"#
            ));
        }
    }
    std::fs::write(env.path("live.jsonl"), lines.join("\n") + "\n").expect("a file");
    assert_eq!(ingest(env, "ingest-live", "live.jsonl"), 16);
    (steady, drifting)
}

/// A key's (version, trigger) pairs, oldest first.
fn versions<'a>(table: &'a ModelsTable, key: &str) -> Vec<(i64, Option<&'a str>)> {
    let mut rows: Vec<_> = table
        .rows
        .iter()
        .filter(|r| r.key == key)
        .map(|r| (r.version, r.trigger.as_deref()))
        .collect();
    rows.sort();
    rows
}

/// Models the continuous trainer did not train itself (here `train --once`'s, as
/// after a restart) are watched for drift from its start: the drifting key is
/// retrained for drift long before `--min-new-days`, the steady one is not.
#[test]
fn models_registered_before_the_trainer_started_are_watched_for_drift() {
    use herd_tests::simulated::KEYS;

    let (env, history) = simulated_lake("train-drift-start");
    let summary = train_once(&env, &["--models", "seasonal_naive"]);
    assert_eq!(summary.registered, KEYS as u64, "{summary:?}");

    let mut trainer = slow_retrainer(&env, "train-drift-start");
    trainer.wait_for_log("rebuilt windows from the lake", Duration::from_secs(60));
    let (steady, drifting) = publish_steady_and_drifting_days(&env, &history);
    let stdout = trainer.wait_success(FINISH);
    assert!(
        stdout.contains("drift: 1 keys retrained before min_new_days"),
        "{stdout}"
    );
    let table = ModelsTable::read(&env.lake_root());
    assert_eq!(versions(&table, steady), [(1, Some("manual"))]);
    assert_eq!(
        versions(&table, drifting),
        [(1, Some("manual")), (2, Some("drift"))]
    );
}
