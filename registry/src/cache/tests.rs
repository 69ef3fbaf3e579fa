use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use herd_models::{History, TrainOptions, train};

use super::*;
use crate::artifact::{artifact_path, write as write_artifact};
use crate::production::ProductionAction;

fn model_bytes(level: f32) -> Vec<u8> {
    let days = 200;
    let sales: Vec<f32> = (0..days).map(|d| level + (d % 7) as f32).collect();
    let history = History {
        frequency: Default::default(),
        start: NaiveDate::from_ymd_opt(2023, 1, 2).unwrap(),
        sales: &sales,
        price: &vec![2.0; days],
        promo: &vec![0; days],
    };
    let options = TrainOptions {
        candidates: vec![herd_models::ModelKind::Ridge],
        ..TrainOptions::default()
    };
    train(&history, &options).unwrap().model.to_bytes()
}

fn entry(key: &SeriesKey, version: i64) -> ProductionEntry {
    ProductionEntry {
        key: key.clone(),
        store_id: key.store_id().as_str().to_owned(),
        item_id: key.item_id().as_str().to_owned(),
        entry: 1,
        version,
        action: ProductionAction::Promoted,
        artifact: artifact_path(key, version),
        model_type: Some("ridge".into()),
        cold_start: false,
        data_start: None,
        data_end: None,
        horizon: 28,
        accuracy: Some(0.9),
        baseline_accuracy: Some(0.8),
        wape: Some(0.1),
        champion_version: None,
        champion_accuracy: None,
        reason: "passed the rule; no champion".into(),
        decided_at: Utc::now(),
        decision_id: format!("d/{key}/{version}"),
        promoter: "p".into(),
        run_id: "r".into(),
        tags: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_on_demand_stays_within_its_budget_and_follows_promotions() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let keys: Vec<SeriesKey> = (1..=6)
        .map(|i| format!("S1/I{i}").parse().unwrap())
        .collect();
    let mut production = ProductionRegistry::open(&root).await.unwrap();
    let store = production.artifact_store();
    for (i, key) in keys.iter().enumerate() {
        write_artifact(
            store.as_ref(),
            &artifact_path(key, 1),
            model_bytes(10.0 + i as f32),
        )
        .await
        .unwrap();
    }
    production
        .append(keys.iter().map(|k| entry(k, 1)).collect())
        .await
        .unwrap();

    // Measure one model, then allow two and a half.
    let probe = ModelCache::open(&root, usize::MAX).await.unwrap();
    let one = probe.get(&keys[0]).await.unwrap().unwrap().bytes;
    let cache = ModelCache::open(&root, one * 5 / 2).await.unwrap();
    assert_eq!(cache.stats().production_keys, 6);
    for key in &keys {
        let model = cache.get(key).await.unwrap().expect("a production model");
        assert_eq!(model.version, 1);
        let stats = cache.stats();
        assert!(stats.bytes <= stats.budget_bytes, "{stats:?}");
    }
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.loads, stats.hits), (6, 6, 0));
    assert_eq!((stats.entries, stats.evictions), (2, 4), "{stats:?}");
    // The two most recent are held.
    cache.get(&keys[5]).await.unwrap();
    cache.get(&keys[4]).await.unwrap();
    assert_eq!(cache.stats().hits, 2);
    // A key without a production model is no error.
    assert!(
        cache
            .get(&"S9/I9".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // A promotion event makes version 2 current at once.
    write_artifact(
        store.as_ref(),
        &artifact_path(&keys[5], 2),
        model_bytes(50.0),
    )
    .await
    .unwrap();
    let event = ModelEvent {
        event: ModelEventKind::Promoted,
        key: keys[5].clone(),
        version: 2,
        model_type: Some("ridge".into()),
        accuracy: None,
        baseline_accuracy: None,
        artifact: Some(artifact_path(&keys[5], 2)),
        error: None,
        run_id: "p".into(),
        at: Utc::now(),
    };
    assert!(cache.apply(&event));
    assert!(!cache.apply(&event), "a repeated event changes nothing");
    let fresh = cache.get(&keys[5]).await.unwrap().unwrap();
    assert_eq!(fresh.version, 2);
    assert_eq!(cache.stats().loads, 7);

    // A refresh from the table (which still says version 1) puts it back.
    cache.refresh().await.unwrap();
    assert_eq!(cache.current(&keys[5]).unwrap().version, 1);
    assert_eq!(cache.get(&keys[5]).await.unwrap().unwrap().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_reads_the_table_again_when_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let keys: Vec<SeriesKey> = ["S1/I1", "S1/I2"]
        .iter()
        .map(|k| k.parse().unwrap())
        .collect();
    let mut production = ProductionRegistry::open(&root).await.unwrap();
    let store = production.artifact_store();
    for key in &keys {
        write_artifact(store.as_ref(), &artifact_path(key, 1), model_bytes(10.0))
            .await
            .unwrap();
    }
    production
        .append(keys.iter().map(|k| entry(k, 1)).collect())
        .await
        .unwrap();
    let cache = ModelCache::open(&root, usize::MAX).await.unwrap();
    assert_eq!(cache.get(&keys[0]).await.unwrap().unwrap().version, 1);

    // Nothing moved: the cached model still serves.
    assert_eq!(cache.refresh().await.unwrap(), 2);
    assert_eq!(cache.get(&keys[0]).await.unwrap().unwrap().version, 1);
    assert_eq!((cache.stats().loads, cache.stats().hits), (1, 1));

    // Another process promotes version 2, without an event: the next refresh sees it.
    write_artifact(
        store.as_ref(),
        &artifact_path(&keys[0], 2),
        model_bytes(30.0),
    )
    .await
    .unwrap();
    production
        .append(vec![ProductionEntry {
            entry: 2,
            ..entry(&keys[0], 2)
        }])
        .await
        .unwrap();
    assert_eq!(cache.current(&keys[0]).unwrap().version, 1);
    assert_eq!(cache.refresh().await.unwrap(), 2);
    assert_eq!(cache.current(&keys[0]).unwrap().version, 2);
    assert_eq!(cache.get(&keys[0]).await.unwrap().unwrap().version, 2);
    assert_eq!(cache.stats().loads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_key_load_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let key: SeriesKey = "S1/I1".parse().unwrap();
    let mut production = ProductionRegistry::open(&root).await.unwrap();
    let store = production.artifact_store();
    write_artifact(store.as_ref(), &artifact_path(&key, 1), model_bytes(10.0))
        .await
        .unwrap();
    production.append(vec![entry(&key, 1)]).await.unwrap();

    // A load takes a tenth of a millisecond, so a round may finish it before a
    // second request misses; rounds go on, each with a fresh cache, until one has
    // misses that overlapped, and every round must load once.
    let requests = 64;
    let mut overlapped = false;
    for _ in 0..50 {
        let cache = Arc::new(ModelCache::open(&root, usize::MAX).await.unwrap());
        let mut gets = tokio::task::JoinSet::new();
        let start = Arc::new(tokio::sync::Barrier::new(requests));
        for _ in 0..requests {
            let (cache, key, start) = (Arc::clone(&cache), key.clone(), Arc::clone(&start));
            gets.spawn(async move {
                start.wait().await;
                cache.get(&key).await.unwrap().unwrap().version
            });
        }
        while let Some(version) = gets.join_next().await {
            assert_eq!(version.unwrap(), 1);
        }
        let stats = cache.stats();
        assert_eq!(stats.loads, 1, "{stats:?}");
        assert_eq!(stats.hits + stats.misses, requests as u64, "{stats:?}");
        assert!(lock(&cache.loading).is_empty(), "no load is left behind");
        if stats.misses > 1 {
            overlapped = true;
            break;
        }
    }
    assert!(overlapped, "in 50 rounds, no two requests missed at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_fails_fails_each_waiter_and_is_tried_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let key: SeriesKey = "S1/I1".parse().unwrap();
    let mut production = ProductionRegistry::open(&root).await.unwrap();
    production.append(vec![entry(&key, 1)]).await.unwrap();
    let cache = Arc::new(ModelCache::open(&root, usize::MAX).await.unwrap());

    let mut gets = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (cache, key) = (Arc::clone(&cache), key.clone());
        gets.spawn(async move { cache.get(&key).await.map(|m| m.is_some()) });
    }
    while let Some(got) = gets.join_next().await {
        let error = got.unwrap().expect_err("the artifact is missing");
        assert!(
            matches!(&error, RegistryError::Artifact { path, .. } if *path == artifact_path(&key, 1)),
            "{error}"
        );
    }
    assert!(lock(&cache.loading).is_empty(), "a failed load is not kept");

    // Once the artifact is there, the next miss loads it.
    let store = production.artifact_store();
    write_artifact(store.as_ref(), &artifact_path(&key, 1), model_bytes(10.0))
        .await
        .unwrap();
    assert_eq!(cache.get(&key).await.unwrap().unwrap().version, 1);
}
