use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone as _, Utc};

use super::*;
use crate::table::{HoldoutMetrics, ModelStatus, Trigger};

fn row(key: &str, accuracy: Option<f64>) -> ModelRow {
    let key: SeriesKey = key.parse().unwrap();
    let tags = BTreeMap::from([
        ("store_id".to_owned(), key.store_id().as_str().to_owned()),
        ("item_id".to_owned(), key.item_id().as_str().to_owned()),
    ]);
    ModelRow {
        key,
        version: 0,
        status: if accuracy.is_some() {
            ModelStatus::Candidate
        } else {
            ModelStatus::Failed
        },
        model_type: accuracy.map(|_| "ridge".to_owned()),
        cold_start: false,
        artifact: None,
        trained_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        data_start: NaiveDate::from_ymd_opt(2022, 1, 1),
        data_end: NaiveDate::from_ymd_opt(2023, 12, 31),
        rows: 730,
        horizon: 28,
        folds: 2,
        metrics: accuracy.map(|accuracy| HoldoutMetrics {
            mae: 1.0,
            rmse: 1.5,
            wape: 1.0 - accuracy,
            accuracy,
            baseline_accuracy: 0.5,
        }),
        backtest: "[]".to_owned(),
        tags,
        run_id: "run-1".to_owned(),
        feature_set: "full".to_owned(),
        error: accuracy.is_none().then(|| "too short".to_owned()),
        trigger: Some(Trigger::NewDays),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_versions_per_key_and_reads_them_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let mut registry = CandidateRegistry::open(&root).await.unwrap();
    let first = registry
        .register(vec![
            NewModel {
                row: row("S1/I1", Some(0.9)),
                artifact: Some(b"one".to_vec()),
            },
            NewModel {
                row: row("S1/I2", None),
                artifact: None,
            },
            NewModel {
                row: row("S1/I1", Some(0.8)),
                artifact: Some(b"two".to_vec()),
            },
        ])
        .await
        .unwrap();
    let versions: Vec<i64> = first.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 1, 2]);
    assert!(first[1].artifact.is_none());

    let mut reopened = CandidateRegistry::open(&root).await.unwrap();
    let key: SeriesKey = "S1/I1".parse().unwrap();
    assert_eq!(reopened.latest_version(&key), Some(2));
    let more = reopened
        .register(vec![NewModel {
            row: row("S1/I1", Some(0.7)),
            artifact: Some(b"three".to_vec()),
        }])
        .await
        .unwrap();
    assert_eq!(more[0].version, 3);

    let mut rows = reopened.rows().await.unwrap();
    rows.sort_by_key(|r| (r.key.clone(), r.version));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0], first[0]);
    assert_eq!(rows[0].tags.get("store_id").map(String::as_str), Some("S1"));
    assert_eq!(rows[3], first[1]);
    let latest = reopened.find(&key, None).await.unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(&reopened.artifact(&latest).await.unwrap()[..], b"three");
    let second = reopened.find(&key, Some(2)).await.unwrap();
    assert_eq!(&reopened.artifact(&second).await.unwrap()[..], b"two");
    assert!(matches!(
        reopened.find(&key, Some(9)).await,
        Err(RegistryError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_read_stale_versions_numbers_again_instead_of_repeating_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = LakeRoot::parse(&dir.path().to_string_lossy()).unwrap();
    // Both read the table before either registered anything.
    let mut first = CandidateRegistry::open(&root).await.unwrap();
    let mut second = CandidateRegistry::open(&root).await.unwrap();
    let model = |key: &str, bytes: &[u8]| NewModel {
        row: row(key, Some(0.9)),
        artifact: Some(bytes.to_vec()),
    };
    let won = first
        .register(vec![model("S1/I1", b"first"), model("S1/I2", b"first")])
        .await
        .unwrap();
    assert_eq!(won.iter().map(|r| r.version).collect::<Vec<_>>(), [1, 1]);
    let renumbered = second
        .register(vec![model("S1/I1", b"second"), model("S1/I3", b"second")])
        .await
        .unwrap();
    assert_eq!(
        renumbered.iter().map(|r| r.version).collect::<Vec<_>>(),
        [2, 1]
    );
    let key: SeriesKey = "S1/I1".parse().unwrap();
    assert_eq!(second.latest_version(&key), Some(2));
    assert_eq!(second.latest_version(&"S1/I2".parse().unwrap()), Some(1));

    let mut rows = second.rows().await.unwrap();
    rows.sort_by_key(|r| (r.key.clone(), r.version));
    let versions: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.key.to_string(), r.version))
        .collect();
    assert_eq!(
        versions,
        [
            ("S1/I1".to_owned(), 1),
            ("S1/I1".to_owned(), 2),
            ("S1/I2".to_owned(), 1),
            ("S1/I3".to_owned(), 1),
        ]
    );
    let paths: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r.artifact.as_deref()).collect();
    assert_eq!(paths.len(), 4, "every version has its own artifact");
    assert_eq!(&second.artifact(&rows[0]).await.unwrap()[..], b"first");
    assert_eq!(&second.artifact(&rows[1]).await.unwrap()[..], b"second");

    // The first registry's next version of S1/I1 is 3, though it never read 2.
    let third = first
        .register(vec![model("S1/I1", b"third")])
        .await
        .unwrap();
    assert_eq!(third[0].version, 3);
}
