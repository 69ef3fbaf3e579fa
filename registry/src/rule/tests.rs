use std::collections::BTreeMap;

use chrono::Utc;

use super::*;
use crate::table::{HoldoutMetrics, Trigger};

fn candidate(accuracy: f64, baseline: f64) -> ModelRow {
    ModelRow {
        key: "S1/I1".parse().unwrap(),
        version: 3,
        status: ModelStatus::Candidate,
        model_type: Some("ridge".into()),
        cold_start: false,
        artifact: Some("_artifacts/x/v3.json".into()),
        trained_at: Utc::now(),
        data_start: None,
        data_end: None,
        rows: 700,
        horizon: 28,
        folds: 2,
        metrics: Some(HoldoutMetrics {
            mae: 1.0,
            rmse: 2.0,
            wape: 1.0 - accuracy,
            accuracy,
            baseline_accuracy: baseline,
        }),
        backtest: "[]".into(),
        tags: BTreeMap::from([("team".into(), "fresh".into())]),
        run_id: "r".into(),
        feature_set: "full".into(),
        error: None,
        trigger: Some(Trigger::Manual),
    }
}

#[test]
fn the_default_rule_splits_by_accuracy_and_baseline_and_names_the_failed_clause() {
    let rule = PromotionRule::parse(DEFAULT_RULE).unwrap();
    assert_eq!(rule.judge(&candidate(0.85, 0.70)), Verdict::Pass);
    assert_eq!(
        rule.judge(&candidate(0.75, 0.70)),
        Verdict::Fail("accuracy >= 0.80".into())
    );
    assert_eq!(
        rule.judge(&candidate(0.85, 0.90)),
        Verdict::Fail("accuracy > baseline_accuracy".into())
    );
}

#[test]
fn tags_strings_and_integers_can_be_used() {
    let rule =
        PromotionRule::parse("tags['team'] == 'fresh' && (model_type != 'tsb' && rows > 365)")
            .unwrap();
    assert_eq!(rule.judge(&candidate(0.5, 0.4)), Verdict::Pass);
    let mut other = candidate(0.5, 0.4);
    other.model_type = Some("tsb".into());
    assert_eq!(
        rule.judge(&other),
        Verdict::Fail("(model_type != 'tsb' && rows > 365)".into())
    );
}

#[test]
fn unscored_and_failed_models_never_pass() {
    let rule = PromotionRule::parse("true").unwrap();
    let mut unscored = candidate(0.9, 0.1);
    unscored.metrics = None;
    assert!(matches!(rule.judge(&unscored), Verdict::Fail(reason) if reason.contains("metrics")));
    let mut failed = candidate(0.9, 0.1);
    failed.status = ModelStatus::Failed;
    assert!(matches!(rule.judge(&failed), Verdict::Fail(_)));
}

#[test]
fn a_rule_that_does_not_parse_points_at_the_position() {
    let error = PromotionRule::parse("accuracy >= ").unwrap_err();
    assert_eq!((error.line, error.column), (1, 13), "{error}");
    assert!(
        error.to_string().starts_with("promotion rule 1:13: "),
        "{error}"
    );
    assert!(!error.to_string().contains('\n'), "one line: {error}");
}

#[test]
fn an_unknown_metric_is_refused_where_it_is_written() {
    let error =
        PromotionRule::parse("accuracy > 0.5 &&\n  acuracy > baseline_accuracy").unwrap_err();
    assert_eq!((error.line, error.column), (2, 3), "{error}");
    assert!(error.message.contains("unknown name `acuracy`"), "{error}");
    assert!(
        error.message.contains("baseline_accuracy"),
        "lists what is known: {error}"
    );
}

#[test]
fn clauses_split_only_at_a_root_conjunction() {
    assert_eq!(
        root_conjunction("a && (b && c) && tags['x&&y'] == 'p&&q'"),
        Some(vec!["a ", " (b && c) ", " tags['x&&y'] == 'p&&q'"])
    );
    assert_eq!(root_conjunction("a || b"), None);
    assert_eq!(root_conjunction("a || b && c"), None);
    assert_eq!(root_conjunction("a ? b && c : d"), None);
    assert_eq!(
        root_conjunction("(a || b) && c"),
        Some(vec!["(a || b) ", " c"])
    );
    assert_eq!(root_conjunction("a"), None);
}

#[test]
fn the_verdict_comes_from_the_whole_expression_not_its_and_clauses() {
    // CEL binds `&&` tighter than `||`: this is `accuracy >= 0.80 || (baseline_accuracy
    // < 0.5 && rows > 10000)`, which an accurate model passes whatever its rows.
    let rule = PromotionRule::parse("accuracy >= 0.80 || baseline_accuracy < 0.5 && rows > 10000")
        .unwrap();
    assert_eq!(rule.judge(&candidate(0.85, 0.90)), Verdict::Pass);
    // Neither side holds: the root is a disjunction, so no clause is named alone.
    assert_eq!(
        rule.judge(&candidate(0.60, 0.90)),
        Verdict::Fail(rule.source().to_owned())
    );
    // A conditional is one expression too.
    let rule =
        PromotionRule::parse("cold_start ? accuracy >= 0.5 && rows > 0 : accuracy >= 0.8").unwrap();
    assert_eq!(rule.judge(&candidate(0.85, 0.2)), Verdict::Pass);
    assert!(matches!(rule.judge(&candidate(0.6, 0.2)), Verdict::Fail(_)));
}

#[test]
fn a_conjunction_names_its_first_failed_clause_even_when_a_clause_errs() {
    // CEL's `&&` is false when any side is false, even if another side errs.
    let rule = PromotionRule::parse("tags['missing'] == 'x' && accuracy >= 0.80").unwrap();
    assert_eq!(
        rule.judge(&candidate(0.5, 0.1)),
        Verdict::Fail("accuracy >= 0.80".into())
    );
}
