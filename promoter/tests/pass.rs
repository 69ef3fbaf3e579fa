//! Promotion passes over real Delta tables in a scratch lake (no broker: passes do
//! not publish; their events are taken by the caller): a champion is re-scored on a
//! newer challenger's holdout from the lake's sales, or the decision waits for
//! those sales; and an audit row lost to a crash is written by the next pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate, Utc};
use herd_history::DenseHistory;
use herd_lake::{ExactlyOnceAppender, LakeRoot, SalesRows, tables};
use herd_models::TrainOptions;
use herd_promoter::{PromoteOptions, Promoter};
use herd_registry::{
    CandidateRegistry, DecisionKind, DecisionLog, ProductionAction, ProductionRegistry,
    PromotionRule,
};
use herd_schemas::{SalesRecord, SeriesKey};
use herd_trainer::{RunSettings, fit_key};

const DAYS: usize = 400;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 2).unwrap()
}

/// A weekly pattern with a little noise: easy to forecast well.
fn history(days: usize) -> DenseHistory {
    let sales = (0..days)
        .map(|d| (20 + 5 * (d % 7) + (d * 7919 % 3)) as f32)
        .collect();
    DenseHistory {
        start: start(),
        frequency: Default::default(),
        sales,
        price: vec![2.0; days],
        promo: vec![0; days],
    }
}

fn key() -> SeriesKey {
    "S1/I1".parse().unwrap()
}

fn options(rule: &str) -> PromoteOptions {
    PromoteOptions {
        rule: Arc::new(PromotionRule::parse(rule).unwrap()),
        margin: 0.0,
        run_id: "test".into(),
        window_days: 730,
        frequency: Default::default(),
    }
}

async fn register(root: &LakeRoot, days: usize) {
    let run = RunSettings {
        model: TrainOptions::default(),
        run_id: format!("train-{days}"),
        tags: BTreeMap::new(),
        trigger: herd_registry::Trigger::Manual,
    };
    let model = fit_key(&key(), &history(days), None, &run, Utc::now());
    assert!(model.artifact.is_some(), "{:?}", model.row.error);
    let mut registry = CandidateRegistry::open(root).await.unwrap();
    registry.register(vec![model]).await.unwrap();
}

async fn write_sales(root: &LakeRoot, days: usize) {
    let table = tables::open_or_create(root, &tables::sales())
        .await
        .unwrap();
    let mut rows = SalesRows::new();
    let h = history(days);
    for (d, sales) in h.sales.iter().enumerate() {
        let record = SalesRecord {
            store_id: key().store_id().clone(),
            item_id: key().item_id().clone(),
            date: start() + Days::new(d as u64),
            sales: f64::from(*sales),
            price: Some(2.0),
            promo: Some(false),
        };
        rows.push(&record, 0, d as i64);
    }
    ExactlyOnceAppender::new(table, "test")
        .append(vec![rows.finish()], "test", &[])
        .await
        .unwrap();
}

fn root(dir: &tempfile::TempDir) -> LakeRoot {
    LakeRoot::parse(&dir.path().to_string_lossy()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_challenger_waits_for_sales_then_meets_the_rescored_champion() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    register(&root, DAYS - 14).await;
    let mut promoter = Promoter::open(&root, &root, options("accuracy >= 0.5"))
        .await
        .unwrap();
    let first = promoter.pass(None).await.unwrap();
    assert_eq!((first.promoted, first.rejected), (1, 0), "{first:?}");

    // v2 saw 14 more days. Without sales in the lake the champion cannot be scored
    // on v2's holdout: the decision waits.
    register(&root, DAYS).await;
    let waiting = promoter.pass(None).await.unwrap();
    assert_eq!((waiting.decided, waiting.deferred), (0, 1), "{waiting:?}");

    // With the lake's sales only up to the champion's last day, it still waits.
    write_sales(&root, DAYS - 14).await;
    let still = promoter.pass(None).await.unwrap();
    assert_eq!((still.decided, still.deferred), (0, 1), "{still:?}");

    std::fs::remove_dir_all(dir.path().join("sales")).unwrap();
    write_sales(&root, DAYS).await;
    let decided = promoter.pass(None).await.unwrap();
    assert_eq!((decided.decided, decided.rescored), (1, 1), "{decided:?}");
    let log = DecisionLog::open_existing(&root).await.unwrap().unwrap();
    let last = log.rows().last().unwrap();
    assert_eq!(last.version, 2);
    assert_eq!(last.champion_version, Some(1));
    let champion = last.champion_accuracy.expect("the champion was scored");
    assert!((0.0..=1.0).contains(&champion), "{last:?}");
    let accuracy = last.accuracy.unwrap();
    match last.decision {
        DecisionKind::Promoted => assert!(accuracy > champion, "{last:?}"),
        DecisionKind::Rejected => {
            assert!(accuracy <= champion, "{last:?}");
            assert!(last.reason.starts_with("champion v1 "), "{last:?}");
        }
        DecisionKind::RolledBack => panic!("{last:?}"),
    }
    let events = promoter.take_events();
    assert_eq!(events.len(), 2, "one event per decision: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_entry_without_its_audit_row_is_repaired_by_the_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    register(&root, DAYS).await;
    let mut promoter = Promoter::open(&root, &root, options("accuracy >= 0.5"))
        .await
        .unwrap();
    promoter.pass(None).await.unwrap();

    // As if a promoter crashed after its production commit, before its audit row:
    // an entry whose decision id `promotions` does not hold.
    let mut production = ProductionRegistry::open(&root).await.unwrap();
    let mut orphan = production.current(&key()).unwrap().clone();
    orphan.entry += 1;
    orphan.action = ProductionAction::RolledBack;
    orphan.decision_id = "crashed/S1/I1/entry-2".into();
    production.append(vec![orphan]).await.unwrap();

    let summary = promoter.pass(None).await.unwrap();
    assert_eq!((summary.decided, summary.repaired), (0, 1), "{summary:?}");
    let log = DecisionLog::open_existing(&root).await.unwrap().unwrap();
    let repaired: Vec<_> = log
        .rows()
        .iter()
        .filter(|d| d.decision_id == "crashed/S1/I1/entry-2")
        .collect();
    assert_eq!(repaired.len(), 1, "{:?}", log.rows());
    assert_eq!(repaired[0].decision, DecisionKind::RolledBack);
    assert_eq!(repaired[0].production_entry, Some(2));
    // Nothing more to repair or decide.
    let again = promoter.pass(None).await.unwrap();
    assert_eq!((again.decided, again.repaired), (0, 0), "{again:?}");
}
