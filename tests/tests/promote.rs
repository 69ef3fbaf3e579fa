//! `herd promote` and `herd models rollback|history` against the real broker and
//! real Delta tables: the rule splits the candidates exactly as their metrics say,
//! with the failing clause as the reason, one production entry per promotion, one
//! audit row and one event per decision, and nothing decided twice; a stricter rule
//! in `herd.toml` promotes fewer, into a production root of its own that training
//! never touches; a challenger must beat the champion, and a rollback makes an
//! earlier version current again and shows in the key's history; two promoters at
//! once never make two champions; and the continuous promoter decides what the
//! trainer announces on the models topic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use herd_schemas::{ModelEvent, ModelEventKind};
use herd_tests::cli::{FINISH, archive, close, herd_ok, ingest, line, numbers};
use herd_tests::env::Env;
use herd_tests::process::{Background, Ran};
use herd_tests::production::{self, ProductionRow, ProductionTable, PromotionsTable};
use herd_tests::registry::{ModelsRow, ModelsTable};
use herd_tests::topic;

/// Seconds without a new record after which `archive` stops.
const IDLE_EXIT: &str = "5";

/// Creates the test's topics and puts the `small` data set (1,000 series) into
/// the lake: generate, ingest, archive.
fn small_lake(env: &Env) {
    env.create_topics();
    herd_ok(
        env,
        "generate",
        &["generate", "small.parquet", "--size", "small"],
    );
    let delivered = ingest(env, "ingest", "small.parquet");
    assert_eq!(
        archive(env, IDLE_EXIT),
        delivered,
        "archived what was ingested"
    );
}

/// Runs `herd train --once <extra>`; returns its run id.
fn train_once(env: &Env, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["train", "--once"];
    args.extend_from_slice(extra);
    let stdout = herd_ok(env, name, &args);
    // "trained N keys (run R): X registered (C cold start), F failed, …"
    let summary = line(&stdout, "trained ");
    summary
        .split_once(" (run ")
        .and_then(|(_, rest)| rest.split_once("): "))
        .map(|(run, _)| run.to_owned())
        .unwrap_or_else(|| panic!("unexpected train summary: {summary}"))
}

/// What a promoter says it did.
#[derive(Debug, Clone)]
struct Decided {
    candidates: u64,
    promoter: String,
    promoted: u64,
    rejected: u64,
    deferred: u64,
    events: u64,
}

/// Parses "decided N candidates (promoter RUN): P promoted, R rejected, D deferred;
/// E events on TOPIC" (the run id and topic may hold digits) and checks it is
/// exactly that, on `env`'s models topic.
fn decided(env: &Env, stdout: &str) -> Decided {
    let summary = line(stdout, "decided ");
    let parse = || {
        let rest = summary.strip_prefix("decided ")?;
        let (candidates, rest) = rest.split_once(" candidates (promoter ")?;
        let (promoter, rest) = rest.split_once("): ")?;
        let (counts, _topic) = rest.split_once(" events on ")?;
        let [promoted, rejected, deferred, events] = numbers(counts)[..] else {
            return None;
        };
        Some(Decided {
            candidates: candidates.parse().ok()?,
            promoter: promoter.to_owned(),
            promoted,
            rejected,
            deferred,
            events,
        })
    };
    let d = parse().unwrap_or_else(|| panic!("unexpected promote summary: {summary}"));
    assert_eq!(
        summary,
        format!(
            "decided {} candidates (promoter {}): {} promoted, {} rejected, {} deferred; \
             {} events on {}",
            d.candidates, d.promoter, d.promoted, d.rejected, d.deferred, d.events, env.models
        )
    );
    assert!(!d.promoter.trim().is_empty(), "{summary}");
    d
}

/// Runs `herd promote --once <extra>` and parses its summary.
fn promote_once(env: &Env, name: &str, extra: &[&str]) -> Decided {
    let mut args = vec!["promote", "--once"];
    args.extend_from_slice(extra);
    let stdout = herd_ok(env, name, &args);
    eprintln!("{name}: {}", stdout.trim());
    decided(env, &stdout)
}

/// A rule of the form `accuracy >= T` or `accuracy >= T && accuracy >
/// baseline_accuracy`, judged here independently of Herd.
struct Rule {
    source: &'static str,
    /// `T` as written in the rule.
    threshold: &'static str,
    beat_baseline: bool,
}

/// The default rule.
const DEFAULT_RULE: Rule = Rule {
    source: "accuracy >= 0.80 && accuracy > baseline_accuracy",
    threshold: "0.80",
    beat_baseline: true,
};

const STRICT_RULE: Rule = Rule {
    source: "accuracy >= 0.90 && accuracy > baseline_accuracy",
    threshold: "0.90",
    beat_baseline: true,
};

/// Anything scored passes.
const ANY_RULE: Rule = Rule {
    source: "accuracy >= 0.0",
    threshold: "0.0",
    beat_baseline: false,
};

/// What a rule says of one model.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Pass,
    /// The first clause it failed, as written in the rule.
    Clause(String),
    /// A failed training or a candidate without metrics.
    Unscored,
}

impl Rule {
    fn judge(&self, row: &ModelsRow) -> Verdict {
        let threshold: f64 = self.threshold.parse().expect("a number");
        match (row.status.as_str(), row.accuracy, row.baseline_accuracy) {
            ("candidate", Some(accuracy), Some(baseline)) => {
                if accuracy < threshold {
                    Verdict::Clause(format!("accuracy >= {}", self.threshold))
                } else if self.beat_baseline && accuracy <= baseline {
                    Verdict::Clause("accuracy > baseline_accuracy".to_owned())
                } else {
                    Verdict::Pass
                }
            }
            _ => Verdict::Unscored,
        }
    }

    /// The keys of `candidates` (newest version per key) that pass.
    fn passing(&self, candidates: &BTreeMap<String, &ModelsRow>) -> BTreeSet<String> {
        candidates
            .iter()
            .filter(|(_, row)| self.judge(row) == Verdict::Pass)
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// Fails the test unless `reason` is the one the rule's verdict calls for.
fn assert_rule_reason(reason: &str, verdict: &Verdict, row: &ModelsRow) {
    match verdict {
        Verdict::Pass => assert!(reason.starts_with("passed the rule"), "{reason:?}: {row:?}"),
        Verdict::Clause(clause) => assert_eq!(
            reason,
            format!("rule not met: {clause}"),
            "the wrong clause for {row:?}"
        ),
        Verdict::Unscored => {
            let sentence = reason.strip_prefix("rule not met: ").unwrap_or_default();
            assert!(
                !sentence.trim().is_empty() && !sentence.starts_with("accuracy "),
                "{reason:?}: {row:?}"
            );
        }
    }
}

/// Each key's newest version in the candidate registry.
fn newest(models: &ModelsTable) -> BTreeMap<String, &ModelsRow> {
    let mut newest: BTreeMap<String, &ModelsRow> = BTreeMap::new();
    for row in &models.rows {
        let slot = newest.entry(row.key.clone()).or_insert(row);
        assert!(
            row.version != slot.version || std::ptr::eq(row, *slot),
            "{} has two rows for version {}",
            row.key,
            row.version
        );
        if row.version > slot.version {
            *slot = row;
        }
    }
    newest
}

/// The rows of `production` by key in entry order, failing the test unless each
/// key's entries are exactly 1, 2, … n.
fn entries_by_key(production: &ProductionTable) -> BTreeMap<String, Vec<&ProductionRow>> {
    let by_key = production.by_key();
    for (key, rows) in &by_key {
        let entries: Vec<i64> = rows.iter().map(|row| row.entry).collect();
        let expected: Vec<i64> = (1..=rows.len() as i64).collect();
        assert_eq!(entries, expected, "{key}'s production entries: {rows:#?}");
        for row in rows {
            assert_eq!(row.key, format!("{}/{}", row.store_id, row.item_id));
        }
    }
    by_key
}

/// The artifact of a production row is a file under the production table, in
/// Herd's model format.
fn assert_artifact(production: &ProductionTable, row: &ProductionRow) {
    assert!(row.artifact.starts_with("_artifacts/"), "{row:?}");
    let path = production.dir.join(&row.artifact);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("{}: artifact missing ({err})", path.display()));
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|err| panic!("{}: not JSON ({err})", path.display()));
    assert_eq!(json["format"], "herd-model", "{}", path.display());
}

/// A production row made from candidate `model` carries its lineage and metrics.
fn assert_from_candidate(row: &ProductionRow, model: &ModelsRow) {
    assert_eq!(row.version, model.version, "{row:?}");
    assert_eq!(row.model_type, model.model_type, "{row:?} from {model:?}");
    assert_eq!(row.cold_start, model.cold_start, "{row:?} from {model:?}");
    assert_eq!(row.data_start, model.data_start, "{row:?} from {model:?}");
    assert_eq!(row.data_end, model.data_end, "{row:?} from {model:?}");
    assert_eq!(row.horizon, model.horizon, "{row:?} from {model:?}");
    assert!(
        close(row.accuracy, model.accuracy),
        "{row:?} from {model:?}"
    );
    assert!(
        close(row.baseline_accuracy, model.baseline_accuracy),
        "{row:?}"
    );
    assert!(close(row.wape, model.wape), "{row:?} from {model:?}");
    assert_eq!(row.run_id, model.run_id, "{row:?} from {model:?}");
}

/// Every event on the models topic, parsed, each checked to be keyed by its key.
fn model_events(env: &Env) -> Vec<ModelEvent> {
    topic::drain(&env.models)
        .into_iter()
        .map(|record| {
            let event = ModelEvent::from_json(&record.value).unwrap_or_else(|err| {
                panic!(
                    "not a model event ({err}): {}",
                    String::from_utf8_lossy(&record.value)
                )
            });
            assert_eq!(record.key_text(), Some(event.key.to_string()), "{event:?}");
            event
        })
        .collect()
}

/// The events of the given kinds, by (key, version); fails the test on a repeat.
fn events_of(
    events: &[ModelEvent],
    kinds: &[ModelEventKind],
) -> BTreeMap<(String, i64), ModelEvent> {
    let mut by: BTreeMap<(String, i64), ModelEvent> = BTreeMap::new();
    for event in events.iter().filter(|e| kinds.contains(&e.event)) {
        let id = (event.key.to_string(), event.version);
        if let Some(earlier) = by.insert(id.clone(), event.clone()) {
            panic!("two events for {id:?}: {earlier:?} and {event:?}");
        }
    }
    by
}

/// `herd models history KEY --format json`, one object per line.
fn history(env: &Env, key: &str) -> Vec<serde_json::Value> {
    let ran = Ran::run(
        env.herd()
            .args(["models", "history", key, "--format", "json"]),
        None,
    );
    assert!(
        ran.success,
        "herd models history {key} failed:\n{}",
        ran.stderr
    );
    ran.stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a JSON object ({err}): {line}"))
        })
        .collect()
}

/// Checks a history against `(event, version, entry)` in order, with reasons
/// exactly where decisions are and time stamps that never go back.
fn assert_history(key: &str, history: &[serde_json::Value], expected: &[(&str, i64, Option<i64>)]) {
    let seen: Vec<(&str, i64, Option<i64>)> = history
        .iter()
        .map(|h| {
            (
                h["event"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no event: {h}")),
                h["version"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no version: {h}")),
                h["entry"].as_i64(),
            )
        })
        .collect();
    assert_eq!(seen, expected, "{key}'s history:\n{history:#?}");
    let mut last = None;
    for h in history {
        let at = h["at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .unwrap_or_else(|| panic!("`at` is not RFC 3339: {h}"));
        assert!(last.is_none_or(|last| last <= at), "time went back: {h}");
        last = Some(at);
        for field in ["model_type", "accuracy"] {
            assert!(h.get(field).is_some(), "no {field}: {h}");
        }
        match h["event"].as_str() {
            Some("registered") => assert!(h["reason"].is_null(), "{h}"),
            _ => assert!(
                h["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "a decision without its reason: {h}"
            ),
        }
    }
}

/// Runs `herd models rollback <args>`, expected to fail with one `error:` line
/// containing `needle` (any text when empty) and to print nothing on stdout.
fn rollback_fails(env: &Env, args: &[&str], needle: &str) {
    let ran = Ran::run(env.herd().args(["models", "rollback"]).args(args), None);
    eprintln!(
        "herd models rollback {}: {}",
        args.join(" "),
        ran.stderr.trim()
    );
    assert!(!ran.success, "rollback {args:?} succeeded:\n{}", ran.stdout);
    let errors = ran.error_lines();
    assert_eq!(errors.len(), 1, "rollback {args:?}:\n{}", ran.stderr);
    assert!(
        errors[0].contains(needle),
        "rollback {args:?}: {}",
        errors[0]
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    assert!(ran.stdout.trim().is_empty(), "{}", ran.stdout);
}

/// Every file under `root` with its contents, by path relative to `root`.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
                let relative = path.strip_prefix(root).expect("under the root").to_owned();
                into.insert(relative, bytes);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn the_rule_splits_keys_as_their_metrics_say() {
    // Fail here, before anything runs, when the interpreter is missing.
    herd_tests::python::interpreter();
    let env = Env::new("promote-rule", 3);
    small_lake(&env);
    let run_id = train_once(&env, "train-once", &[]);
    let lake_root = env.lake_root();
    let models = ModelsTable::read(&lake_root);
    let candidates = newest(&models);
    assert_eq!(candidates.len(), 1000, "the small size has 1,000 series");
    let verdicts: BTreeMap<&String, Verdict> = candidates
        .iter()
        .map(|(key, row)| (key, DEFAULT_RULE.judge(row)))
        .collect();
    let passing = DEFAULT_RULE.passing(&candidates);
    let count = |wanted: fn(&Verdict) -> bool| verdicts.values().filter(|v| wanted(v)).count();
    let too_inaccurate = count(|v| matches!(v, Verdict::Clause(c) if c.starts_with("accuracy >=")));
    let below_baseline = count(|v| matches!(v, Verdict::Clause(c) if c.contains("baseline")));
    eprintln!(
        "{} pass, {too_inaccurate} below 0.80, {below_baseline} not above the baseline, {} unscored",
        passing.len(),
        count(|v| *v == Verdict::Unscored)
    );
    assert!(
        !passing.is_empty() && too_inaccurate > 0,
        "the data no longer splits the keys"
    );

    let promoter = herd_tests::unique("promoter");
    let summary = promote_once(&env, "promote", &["--run-id", &promoter]);
    assert_eq!(summary.promoter, promoter, "{summary:?}");
    assert_eq!(summary.candidates, 1000, "{summary:?}");
    assert_eq!(summary.promoted, passing.len() as u64, "{summary:?}");
    assert_eq!(summary.rejected, 1000 - passing.len() as u64, "{summary:?}");
    assert_eq!(summary.deferred, 0, "{summary:?}");
    assert_eq!(summary.events, 1000, "one event per decision: {summary:?}");

    // Production: one entry per passing key, none for the others.
    let table = ProductionTable::read(&lake_root);
    let production = entries_by_key(&table);
    assert_eq!(
        production.keys().cloned().collect::<BTreeSet<_>>(),
        passing,
        "the promoted keys are not those that pass the rule"
    );
    for (key, rows) in &production {
        let [row] = rows[..] else {
            panic!("{key} has {} production entries: {rows:#?}", rows.len());
        };
        assert_eq!((row.entry, row.version), (1, 1), "{row:?}");
        assert_eq!(row.action, "promoted", "{row:?}");
        assert_from_candidate(row, candidates[key]);
        assert_eq!(row.run_id, run_id, "{row:?}");
        assert_artifact(&table, row);
        assert_eq!((row.champion_version, row.champion_accuracy), (None, None));
        assert!(row.reason.starts_with("passed the rule"), "{row:?}");
        assert_eq!(row.promoter, promoter, "{row:?}");
    }

    // The audit trail: one row per key, the decision and reason the rule calls for.
    let promotions = PromotionsTable::read(&lake_root);
    assert_eq!(promotions.rows.len(), 1000, "one decision per key");
    let decision_ids: BTreeSet<&String> = promotions.rows.iter().map(|r| &r.decision_id).collect();
    assert_eq!(decision_ids.len(), 1000, "decision ids repeat");
    for decision in &promotions.rows {
        let model = candidates
            .get(&decision.key)
            .unwrap_or_else(|| panic!("a decision on an unknown key: {decision:?}"));
        let verdict = &verdicts[&decision.key];
        assert_eq!(decision.version, 1, "{decision:?}");
        assert_eq!(
            decision.key,
            format!("{}/{}", decision.store_id, decision.item_id)
        );
        let promoted = *verdict == Verdict::Pass;
        let expected = if promoted { "promoted" } else { "rejected" };
        assert_eq!(decision.decision, expected, "{decision:?} for {model:?}");
        assert_rule_reason(&decision.reason, verdict, model);
        assert_eq!(decision.rule, DEFAULT_RULE.source, "{decision:?}");
        assert_eq!(decision.margin, 0.0, "{decision:?}");
        assert!(close(decision.accuracy, model.accuracy), "{decision:?}");
        assert!(close(decision.baseline_accuracy, model.baseline_accuracy));
        assert_eq!(decision.champion_version, None, "{decision:?}");
        assert_eq!(decision.champion_accuracy, None, "{decision:?}");
        assert_eq!(decision.promoter, promoter, "{decision:?}");
        if promoted {
            let row = production[&decision.key][0];
            assert_eq!(decision.production_entry, Some(1), "{decision:?}");
            assert_eq!(row.decision_id, decision.decision_id, "{row:?}");
            assert_eq!(row.reason, decision.reason, "{row:?}");
        } else {
            assert_eq!(decision.production_entry, None, "{decision:?}");
        }
    }

    // The topic: the trainer's 1,000 events, then one decision event per key.
    let events = model_events(&env);
    let registered = events_of(
        &events,
        &[ModelEventKind::Registered, ModelEventKind::Failed],
    );
    assert_eq!(registered.len(), 1000);
    let decisions = events_of(
        &events,
        &[ModelEventKind::Promoted, ModelEventKind::Rejected],
    );
    assert_eq!(
        events.len(),
        registered.len() + decisions.len(),
        "other events"
    );
    assert_eq!(decisions.len(), 1000, "one decision event per key");
    let by_key: BTreeMap<&String, _> = promotions.rows.iter().map(|r| (&r.key, r)).collect();
    for ((key, version), event) in &decisions {
        assert_eq!(*version, 1, "{event:?}");
        let decision = by_key[key];
        match event.event {
            ModelEventKind::Promoted => {
                assert_eq!(decision.decision, "promoted", "{event:?}");
                assert_eq!(
                    event.artifact.as_deref(),
                    Some(production[key][0].artifact.as_str()),
                    "{event:?}"
                );
            }
            _ => {
                assert_eq!(decision.decision, "rejected", "{event:?}");
                assert_eq!(event.error.as_deref(), Some(decision.reason.as_str()));
            }
        }
    }

    // History and rollback of one key of each kind.
    let promoted_key = passing.first().expect("a passing key");
    let rejected_key = candidates
        .keys()
        .find(|key| !passing.contains(*key))
        .expect("a rejected key");
    assert_history(
        promoted_key,
        &history(&env, promoted_key),
        &[("registered", 1, None), ("promoted", 1, Some(1))],
    );
    let rejected_history = history(&env, rejected_key);
    assert_history(
        rejected_key,
        &rejected_history,
        &[("registered", 1, None), ("rejected", 1, None)],
    );
    assert_eq!(
        rejected_history[1]["reason"].as_str(),
        Some(by_key[rejected_key].reason.as_str())
    );
    let (production_version, promotions_version) = (table.version, promotions.version);
    rollback_fails(&env, &[rejected_key], "no production model");
    rollback_fails(&env, &[promoted_key, "--to", "7"], "never in production");
    // Only one version was ever in production: nothing earlier to go back to.
    rollback_fails(&env, &[promoted_key], "");
    assert_eq!(
        ProductionTable::read(&lake_root).version,
        production_version,
        "a failed rollback wrote production"
    );
    assert_eq!(
        PromotionsTable::read(&lake_root).version,
        promotions_version,
        "a failed rollback wrote promotions"
    );

    // Everything is decided: a second pass decides nothing and writes nothing.
    let again = promote_once(&env, "promote-again", &[]);
    assert_eq!(
        (
            again.candidates,
            again.promoted,
            again.rejected,
            again.events
        ),
        (0, 0, 0, 0),
        "{again:?}"
    );
    assert_eq!(
        ProductionTable::read(&lake_root).version,
        production_version
    );
    assert_eq!(
        PromotionsTable::read(&lake_root).version,
        promotions_version
    );
    assert_eq!(model_events(&env).len(), events.len(), "new events");

    // A second Delta implementation reads the same audit trail.
    let python = production::read_promotions_with_python(&lake_root.join("promotions"));
    assert_eq!(python.version, promotions_version);
    assert_eq!(python.rows, 1000);
    let expected: BTreeMap<String, u64> = [
        ("promoted".to_owned(), passing.len() as u64),
        ("rejected".to_owned(), 1000 - passing.len() as u64),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(python.decisions, expected);
    assert!(
        python.decided_at_type.starts_with("timestamp[us, tz="),
        "{}",
        python.decided_at_type
    );
}

#[test]
fn a_stricter_rule_in_config_promotes_fewer() {
    let env = Env::new("promote-config", 3);
    small_lake(&env);
    train_once(&env, "train-once", &[]);
    let lake_root = env.lake_root();
    let models = ModelsTable::read(&lake_root);
    let candidates = newest(&models);
    let (strict, default) = (
        STRICT_RULE.passing(&candidates),
        DEFAULT_RULE.passing(&candidates),
    );
    eprintln!(
        "{} keys pass at 0.90, {} at 0.80",
        strict.len(),
        default.len()
    );
    assert!(
        strict.is_subset(&default) && strict.len() < default.len(),
        "0.90 does not pass fewer keys than 0.80 here"
    );

    // The rule and a production root of its own, from the file alone.
    let production_root = env.path("prod");
    std::fs::write(
        env.path("herd.toml"),
        format!(
            "[promote]\nrule = \"{}\"\nproduction_root = \"{}\"\n",
            STRICT_RULE.source,
            production_root.display()
        ),
    )
    .expect("herd.toml written");
    let summary = promote_once(&env, "promote", &[]);
    assert_eq!(summary.candidates, candidates.len() as u64, "{summary:?}");
    assert_eq!(summary.promoted, strict.len() as u64, "{summary:?}");

    assert!(
        !lake_root.join("production").exists(),
        "production/models was written under the lake root"
    );
    let table = ProductionTable::read(&production_root);
    let production = entries_by_key(&table);
    assert_eq!(
        production.keys().cloned().collect::<BTreeSet<_>>(),
        strict,
        "the promoted keys are not those that pass the stricter rule"
    );
    for (key, rows) in &production {
        assert_eq!(rows.len(), 1, "{key}: {rows:#?}");
        assert_from_candidate(rows[0], candidates[key]);
        assert_artifact(&table, rows[0]);
    }
    // The audit trail stays in the lake, and names the rule the file set.
    let promotions = PromotionsTable::read(&lake_root);
    assert_eq!(promotions.rows.len(), candidates.len());
    for decision in &promotions.rows {
        assert_eq!(decision.rule, STRICT_RULE.source, "{decision:?}");
        let verdict = STRICT_RULE.judge(candidates[&decision.key]);
        assert_rule_reason(&decision.reason, &verdict, candidates[&decision.key]);
    }

    // Training registers new candidates and leaves production alone, to the byte.
    let before = snapshot(&production_root);
    train_once(&env, "train-again", &[]);
    let after = snapshot(&production_root);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "train added or removed files under the production root"
    );
    let changed: Vec<&PathBuf> = before
        .iter()
        .filter(|(path, bytes)| after[*path] != **bytes)
        .map(|(path, _)| path)
        .collect();
    assert!(changed.is_empty(), "train changed {changed:?}");
    assert!(!lake_root.join("production").exists());
    assert!(
        ModelsTable::read(&lake_root).rows.len() > models.rows.len(),
        "the second training registered nothing"
    );
}

#[test]
fn a_worse_challenger_is_rejected_and_rollback_shows_in_history() {
    let env = Env::new("promote-champion", 3);
    small_lake(&env);
    train_once(&env, "train-1", &[]);
    let lake_root = env.lake_root();
    let first = promote_once(&env, "promote-1", &["--rule", ANY_RULE.source]);
    let v1 = ModelsTable::read(&lake_root);
    let v1 = newest(&v1);
    let champions = ANY_RULE.passing(&v1);
    assert_eq!(first.promoted, champions.len() as u64, "{first:?}");

    // Seasonal naive alone on the same data: a v2 of every key, on the same holdout.
    train_once(&env, "train-2", &["--models", "seasonal_naive"]);
    let models = ModelsTable::read(&lake_root);
    let v2 = newest(&models);
    assert_eq!(v2.len(), v1.len());
    for (key, row) in &v2 {
        assert_eq!(row.version, 2, "{key} was not trained again: {row:?}");
    }
    let second = promote_once(&env, "promote-2", &["--rule", ANY_RULE.source]);
    assert_eq!(second.candidates, v2.len() as u64, "{second:?}");

    // A challenger is promoted only when it beats the champion (by more than a
    // margin of 0); a key without a champion takes any candidate the rule passes.
    let promotions = PromotionsTable::read(&lake_root);
    let decisions: BTreeMap<&String, _> = promotions
        .rows
        .iter()
        .filter(|r| r.version == 2)
        .map(|r| (&r.key, r))
        .collect();
    assert_eq!(decisions.len(), v2.len(), "one decision per v2");
    let mut over_champion = Vec::new();
    let mut kept_champion = 0;
    for (key, challenger) in &v2 {
        let decision = decisions[key];
        let verdict = ANY_RULE.judge(challenger);
        let champion = champions.contains(key).then(|| v1[key]);
        let promoted = match (&verdict, champion) {
            (Verdict::Pass, Some(champion)) => {
                let better = challenger.accuracy > champion.accuracy;
                if better {
                    over_champion.push(key.clone());
                    assert!(
                        decision.reason.starts_with("passed the rule"),
                        "{decision:?}"
                    );
                } else {
                    kept_champion += 1;
                    assert!(
                        decision.reason.starts_with("champion v1 "),
                        "{decision:?}\nchampion {champion:?}\nchallenger {challenger:?}"
                    );
                }
                assert_eq!(decision.champion_version, Some(1), "{decision:?}");
                assert!(close(decision.champion_accuracy, champion.accuracy));
                better
            }
            (Verdict::Pass, None) => true,
            _ => {
                assert_rule_reason(&decision.reason, &verdict, challenger);
                false
            }
        };
        let expected = if promoted { "promoted" } else { "rejected" };
        assert_eq!(
            decision.decision, expected,
            "{decision:?}\nchallenger {challenger:?}\nchampion {champion:?}"
        );
        assert_eq!(decision.margin, 0.0, "{decision:?}");
    }
    eprintln!(
        "{} challengers beat their champion, {kept_champion} champions kept",
        over_champion.len()
    );
    // Keys whose selected model was seasonal naive already tie, and a tie keeps
    // the champion; ridge and ETS lose to seasonal naive on some holdouts.
    assert!(kept_champion > 0, "no champion was kept");
    assert!(!over_champion.is_empty(), "no challenger beat its champion");
    assert_eq!(
        second.promoted,
        decisions
            .values()
            .filter(|d| d.decision == "promoted")
            .count() as u64
    );

    let table = ProductionTable::read(&lake_root);
    let production = entries_by_key(&table);
    for key in &over_champion {
        let rows = &production[key];
        let versions: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| (r.version, r.action.as_str()))
            .collect();
        assert_eq!(versions, [(1, "promoted"), (2, "promoted")], "{key}");
        assert_eq!(rows[1].champion_version, Some(1), "{:?}", rows[1]);
        assert_from_candidate(rows[1], v2[key]);
        assert_artifact(&table, rows[1]);
    }

    // Roll one key back to its first model.
    let key = &over_champion[0];
    let why = "forecasts far too high after the store refit";
    let stdout = herd_ok(
        &env,
        "rollback",
        &["models", "rollback", key, "--reason", why],
    );
    assert_eq!(
        stdout.trim(),
        format!("rolled back {key} from v2 to v1 (production entry 3)")
    );
    let table = ProductionTable::read(&lake_root);
    let rows = &entries_by_key(&table)[key];
    let versions: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| (r.version, r.action.as_str()))
        .collect();
    assert_eq!(
        versions,
        [(1, "promoted"), (2, "promoted"), (1, "rolled_back")],
        "{rows:#?}"
    );
    let back = rows[2];
    assert_eq!(back.champion_version, Some(2), "{back:?}");
    assert!(back.reason.starts_with("rolled back from v2"), "{back:?}");
    assert!(back.reason.contains(why), "{back:?}");
    assert_eq!(back.artifact, rows[0].artifact, "{back:?}");
    assert_artifact(&table, back);
    assert_from_candidate(back, v1[key.as_str()]);
    assert_eq!(table.current()[key], 1);
    let audit = PromotionsTable::read(&lake_root);
    let rollbacks: Vec<_> = audit
        .rows
        .iter()
        .filter(|r| r.decision == "rolled_back")
        .collect();
    let [rollback] = rollbacks[..] else {
        panic!("not one rollback in promotions: {rollbacks:#?}");
    };
    assert_eq!(
        (
            rollback.key.as_str(),
            rollback.version,
            rollback.production_entry
        ),
        (key.as_str(), 1, Some(3)),
        "{rollback:?}"
    );
    assert_eq!(rollback.decision_id, back.decision_id);
    let events = model_events(&env);
    let rolled = events_of(&events, &[ModelEventKind::RolledBack]);
    assert_eq!(rolled.len(), 1, "{rolled:#?}");
    let event = &rolled[&(key.clone(), 1)];
    assert!(
        event.error.as_deref().is_some_and(|e| e.contains(why)),
        "{event:?}"
    );

    let told = history(&env, key);
    assert_history(
        key,
        &told,
        &[
            ("registered", 1, None),
            ("promoted", 1, Some(1)),
            ("registered", 2, None),
            ("promoted", 2, Some(2)),
            ("rolled_back", 1, Some(3)),
        ],
    );
    assert_eq!(told[2]["model_type"], "seasonal_naive", "{:#?}", told[2]);

    rollback_fails(&env, &[key, "--to", "7"], "never in production");
    // Forward again: v2 was in production, so it may be made current again.
    let stdout = herd_ok(
        &env,
        "rollback-to-2",
        &["models", "rollback", key, "--to", "2"],
    );
    assert_eq!(
        stdout.trim(),
        format!("rolled back {key} from v1 to v2 (production entry 4)")
    );
    assert_eq!(ProductionTable::read(&lake_root).current()[key], 2);
    // Every key has a production model here (the rule passes anything scored), so
    // "no production model" is checked in `the_rule_splits_keys_as_their_metrics_say`.
}

#[test]
fn two_promoters_at_once_never_make_two_champions() {
    let env = Env::new("promote-race", 3);
    small_lake(&env);
    train_once(&env, "train-once", &[]);
    let lake_root = env.lake_root();
    let models = ModelsTable::read(&lake_root);
    let candidates = newest(&models);
    let passing = DEFAULT_RULE.passing(&candidates);

    // Each names its run: default run ids are made from the start time, which two
    // processes started together can share.
    let spawn = |name: &str| {
        let mut command = env.herd();
        command.args(["promote", "--once", "--run-id", &herd_tests::unique(name)]);
        Background::spawn(command, env.dir(), name)
    };
    let (mut a, mut b) = (spawn("promote-a"), spawn("promote-b"));
    let (a, b) = (
        decided(&env, &a.wait_success(FINISH)),
        decided(&env, &b.wait_success(FINISH)),
    );
    eprintln!("{a:?}\n{b:?}");
    assert_ne!(a.promoter, b.promoter);
    assert_eq!(
        a.promoted + b.promoted,
        passing.len() as u64,
        "promotions counted twice or not at all"
    );
    assert_eq!(
        a.rejected + b.rejected,
        (candidates.len() - passing.len()) as u64
    );

    let table = ProductionTable::read(&lake_root);
    let production = entries_by_key(&table);
    let mut promoted: BTreeSet<(&String, i64)> = BTreeSet::new();
    for row in &table.rows {
        if row.action == "promoted" {
            assert!(
                promoted.insert((&row.key, row.version)),
                "{} v{} promoted twice: {:#?}",
                row.key,
                row.version,
                production[&row.key]
            );
        }
        assert!(
            [&a.promoter, &b.promoter].contains(&&row.promoter),
            "{row:?}"
        );
    }
    assert_eq!(production.keys().cloned().collect::<BTreeSet<_>>(), passing);
    for (key, rows) in &production {
        assert_eq!(rows.len(), 1, "{key}: {rows:#?}");
    }

    let promotions = PromotionsTable::read(&lake_root);
    let mut decided_once: BTreeMap<(&String, i64), &str> = BTreeMap::new();
    for row in &promotions.rows {
        if let Some(earlier) = decided_once.insert((&row.key, row.version), &row.decision) {
            panic!(
                "{} v{} decided twice: {earlier} and {row:?}",
                row.key, row.version
            );
        }
    }
    assert_eq!(
        decided_once.len(),
        candidates.len(),
        "not every key decided"
    );
    for ((key, _), decision) in &decided_once {
        let expected = if passing.contains(*key) {
            "promoted"
        } else {
            "rejected"
        };
        assert_eq!(*decision, expected, "{key}");
    }
}

#[test]
fn continuous_promoter_follows_the_models_topic() {
    let env = Env::new("promote-follow", 3);
    small_lake(&env);

    // The promoter starts before anything is registered. Its idle limit must
    // outlast `train --once`, which announces its models only after training
    // every key (a few seconds in a debug build).
    let group = herd_tests::unique("promote-follow");
    let mut command = env.herd();
    command.args(["promote", "--group", &group, "--idle-exit", "20"]);
    let mut promoter = Background::spawn(command, env.dir(), "promote-follow");
    let run_id = train_once(&env, "train-once", &[]);
    assert!(
        promoter.is_running(),
        "the promoter stopped before the trainer's events:\n{}",
        promoter.stderr()
    );
    let summary = decided(&env, &promoter.wait_success(FINISH));
    eprintln!("{summary:?}");

    let lake_root = env.lake_root();
    let models = ModelsTable::read(&lake_root);
    let candidates = newest(&models);
    let passing = DEFAULT_RULE.passing(&candidates);
    assert!(!passing.is_empty(), "nothing to promote in this data");
    assert_eq!(summary.candidates, candidates.len() as u64, "{summary:?}");
    assert_eq!(summary.promoted, passing.len() as u64, "{summary:?}");

    let table = ProductionTable::read(&lake_root);
    let production = entries_by_key(&table);
    assert_eq!(production.keys().cloned().collect::<BTreeSet<_>>(), passing);
    for (key, rows) in &production {
        assert_eq!(rows.len(), 1, "{key}: {rows:#?}");
        assert_eq!(rows[0].run_id, run_id, "{:?}", rows[0]);
        assert_eq!(rows[0].promoter, summary.promoter, "{:?}", rows[0]);
    }
    let promotions = PromotionsTable::read(&lake_root);
    let keys: BTreeSet<&String> = promotions.rows.iter().map(|r| &r.key).collect();
    assert_eq!(promotions.rows.len(), candidates.len(), "one row per key");
    assert_eq!(keys.len(), candidates.len(), "a key decided twice");
    for decision in &promotions.rows {
        let model = candidates[&decision.key];
        let verdict = DEFAULT_RULE.judge(model);
        assert_rule_reason(&decision.reason, &verdict, model);
    }
}
