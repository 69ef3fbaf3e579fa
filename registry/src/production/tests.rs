use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone as _, Utc};
use herd_lake::LakeRoot;

use super::*;
use crate::decisions::{Decision, DecisionKind, DecisionLog};
use crate::error::RegistryError;
use crate::striped::stripe_of;

fn entry(key: &str, entry: i64, version: i64) -> ProductionEntry {
    let key: SeriesKey = key.parse().unwrap();
    ProductionEntry {
        store_id: key.store_id().as_str().to_owned(),
        item_id: key.item_id().as_str().to_owned(),
        artifact: crate::artifact_path(&key, version),
        key,
        entry,
        version,
        action: ProductionAction::Promoted,
        model_type: Some("ridge".into()),
        cold_start: false,
        data_start: NaiveDate::from_ymd_opt(2022, 1, 1),
        data_end: NaiveDate::from_ymd_opt(2023, 12, 31),
        horizon: 28,
        accuracy: Some(0.85),
        baseline_accuracy: Some(0.7),
        wape: Some(0.15),
        champion_version: None,
        champion_accuracy: None,
        reason: "passed the rule; no champion".into(),
        decided_at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        decision_id: format!("d-{entry}-{version}"),
        promoter: "p1".into(),
        run_id: "r1".into(),
        tags: BTreeMap::from([("team".to_owned(), "fresh".to_owned())]),
    }
}

fn root(dir: &tempfile::TempDir) -> LakeRoot {
    LakeRoot::parse(&dir.path().to_string_lossy()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_and_decisions_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut production = ProductionRegistry::open(&root(&dir)).await.unwrap();
    let mut second = entry("S1/I1", 2, 3);
    second.action = ProductionAction::RolledBack;
    second.champion_version = Some(1);
    second.champion_accuracy = Some(0.8);
    second.tags.clear();
    production
        .append(vec![entry("S1/I1", 1, 1), second.clone()])
        .await
        .unwrap();
    assert!(dir.path().join("production/models/_delta_log").is_dir());

    let reopened = ProductionRegistry::open_existing(&root(&dir))
        .await
        .unwrap()
        .unwrap();
    let key: SeriesKey = "S1/I1".parse().unwrap();
    assert_eq!(
        reopened.entries(&key),
        [entry("S1/I1", 1, 1), second.clone()]
    );
    assert_eq!(reopened.current(&key), Some(&second));

    let mut log = DecisionLog::open(&root(&dir)).await.unwrap();
    let decision = Decision {
        decision_id: "d1".into(),
        decided_at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        store_id: "S1".into(),
        item_id: "I1".into(),
        key: key.clone(),
        version: 4,
        decision: DecisionKind::Rejected,
        reason: "rule not met: accuracy >= 0.80".into(),
        rule: "accuracy >= 0.80".into(),
        margin: 0.0,
        accuracy: Some(0.5),
        baseline_accuracy: None,
        champion_version: None,
        champion_accuracy: None,
        production_entry: None,
        promoter: "p1".into(),
    };
    log.append(vec![decision.clone()]).await.unwrap();
    let reread = DecisionLog::open_existing(&root(&dir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reread.rows(), [decision]);
    assert_eq!(reread.decided(&key), Some(4));
    assert!(reread.contains("d1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_read_before_another_committed_the_same_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = ProductionRegistry::open(&root(&dir)).await.unwrap();
    let mut second = ProductionRegistry::open(&root(&dir)).await.unwrap();
    first.append(vec![entry("S1/I1", 1, 1)]).await.unwrap();

    // Both believed S1/I1 had no entry; the second must not add another entry 1.
    let refused = second.append(vec![entry("S1/I1", 1, 2)]).await;
    assert!(
        matches!(refused, Err(RegistryError::Moved(_))),
        "{refused:?}"
    );

    // A key in another stripe goes through; after a reload the key does too.
    let other = (2..200)
        .map(|i| format!("S1/I{i}"))
        .find(|k| stripe_of(&k.parse().unwrap()) != stripe_of(&"S1/I1".parse().unwrap()))
        .unwrap();
    second.append(vec![entry(&other, 1, 1)]).await.unwrap();
    second.reload().await.unwrap();
    let key: SeriesKey = "S1/I1".parse().unwrap();
    assert_eq!(second.current(&key).map(|e| e.entry), Some(1));
    second.append(vec![entry("S1/I1", 2, 2)]).await.unwrap();
    first.reload().await.unwrap();
    assert_eq!(first.current(&key).map(|e| e.version), Some(2));
    assert_eq!(first.all_entries().count(), 3);
}
