use std::collections::HashMap;
use std::time::Instant;

use super::*;
use crate::LakeRoot;
use crate::tables::{open_or_create, sales, table_stats};
use crate::test_support::{day, sales_batch, temp_root};

const SOURCE: &str = "t";

async fn appender(root: &LakeRoot) -> ExactlyOnceAppender {
    ExactlyOnceAppender::new(open_or_create(root, &sales()).await.unwrap(), "archive")
}

fn range(partition: i32, first: i64, next: i64) -> OffsetRange {
    OffsetRange {
        partition,
        first,
        next,
    }
}

#[tokio::test]
async fn appends_store_next_offsets_per_partition() {
    let (_dir, root) = temp_root();
    let mut a = appender(&root).await;
    let none = a.stored_versions(SOURCE, &[0, 1, 2]).await.unwrap();
    assert_eq!(none, HashMap::from([(0, None), (1, None), (2, None)]));

    let batches = vec![
        sales_batch(0, 0, 10, day(2024, 1, 1)),
        sales_batch(1, 5, 8, day(2024, 1, 1)),
    ];
    let version = a
        .append(batches, SOURCE, &[range(0, 0, 10), range(1, 5, 8)])
        .await
        .unwrap();
    assert_eq!(version, 1);
    let version = a
        .append(
            vec![sales_batch(0, 10, 12, day(2024, 2, 1))],
            SOURCE,
            &[range(0, 10, 12)],
        )
        .await
        .unwrap();
    assert_eq!(version, 2);

    // A fresh handle sees what the table stores, not what the appender remembers.
    let mut b = appender(&root).await;
    let stored = b.stored_versions(SOURCE, &[0, 1, 2]).await.unwrap();
    assert_eq!(
        stored,
        HashMap::from([(0, Some(12)), (1, Some(8)), (2, None)])
    );
    assert_eq!(a.app_id(SOURCE, 0), "herd-archive-t-0");
    // Other writers and sources keep their own offsets.
    let mut other =
        ExactlyOnceAppender::new(open_or_create(&root, &sales()).await.unwrap(), "copy");
    assert_eq!(other.stored_versions(SOURCE, &[0]).await.unwrap()[&0], None);
    assert_eq!(b.stored_versions("u", &[0]).await.unwrap()[&0], None);
    assert_eq!(table_stats(b.table()).unwrap().rows, 15);
}

#[tokio::test]
async fn groups_keep_their_own_offsets_and_the_default_group_adopts_ungrouped_ones() {
    let (_dir, root) = temp_root();
    let table = || async { open_or_create(&root, &sales()).await.unwrap() };
    // Offsets stored before app ids named the group.
    let mut old = appender(&root).await;
    old.append(
        vec![sales_batch(0, 0, 4, day(2024, 1, 1))],
        SOURCE,
        &[range(0, 0, 4)],
    )
    .await
    .unwrap();

    let mut eu = ExactlyOnceAppender::new(table().await, "archive").in_group("eu");
    assert_eq!(eu.app_id(SOURCE, 0), "herd-archive-t-0@eu");
    assert_eq!(eu.stored_versions(SOURCE, &[0]).await.unwrap()[&0], None);
    // A group of its own starts from its own offsets, not another group's.
    eu.append(
        vec![sales_batch(0, 0, 4, day(2024, 1, 1))],
        SOURCE,
        &[range(0, 0, 4)],
    )
    .await
    .unwrap();
    assert_eq!(eu.stored_versions(SOURCE, &[0]).await.unwrap()[&0], Some(4));

    let mut default = ExactlyOnceAppender::new(table().await, "archive")
        .in_group("main")
        .adopting_ungrouped_offsets();
    assert_eq!(
        default.stored_versions(SOURCE, &[0]).await.unwrap()[&0],
        Some(4)
    );
    // Carrying on from the adopted offset commits under the group's own id.
    default
        .append(
            vec![sales_batch(0, 4, 6, day(2024, 1, 2))],
            SOURCE,
            &[range(0, 4, 6)],
        )
        .await
        .unwrap();
    assert_eq!(
        default.stored_versions(SOURCE, &[0]).await.unwrap()[&0],
        Some(6)
    );
    assert_eq!(
        old.stored_versions(SOURCE, &[0]).await.unwrap()[&0],
        Some(4)
    );
    assert_eq!(eu.stored_versions(SOURCE, &[0]).await.unwrap()[&0], Some(4));
}

#[tokio::test]
async fn a_stale_first_offset_is_refused_without_writing() {
    let (_dir, root) = temp_root();
    let mut a = appender(&root).await;
    a.append(
        vec![sales_batch(3, 0, 10, day(2024, 1, 1))],
        SOURCE,
        &[range(3, 0, 10)],
    )
    .await
    .unwrap();
    let before = table_stats(a.table()).unwrap();

    for first in [0, 9, 11] {
        let batch = sales_batch(3, first, first + 5, day(2024, 1, 1));
        let err = a
            .append(vec![batch], SOURCE, &[range(3, first, first + 5)])
            .await
            .unwrap_err();
        match err {
            LakeError::OffsetsMoved {
                partition,
                stored,
                expected,
            } => {
                assert_eq!((partition, stored, expected), (3, Some(10), first));
            }
            other => panic!("expected OffsetsMoved, got {other}"),
        }
    }
    let mut fresh = appender(&root).await;
    fresh.stored_versions(SOURCE, &[3]).await.unwrap();
    assert_eq!(table_stats(fresh.table()).unwrap(), before);
}

#[tokio::test]
async fn offsets_commit_even_when_every_record_was_filtered() {
    let (_dir, root) = temp_root();
    let mut a = appender(&root).await;
    let empty = sales_batch(0, 0, 0, day(2024, 1, 1));
    let version = a
        .append(vec![empty], SOURCE, &[range(0, 0, 7)])
        .await
        .unwrap();
    assert_eq!(version, 1);
    let version = a
        .append(Vec::new(), SOURCE, &[range(0, 7, 9)])
        .await
        .unwrap();
    assert_eq!(version, 2);
    let stored = appender(&root)
        .await
        .stored_versions(SOURCE, &[0])
        .await
        .unwrap();
    assert_eq!(stored[&0], Some(9));
    assert_eq!(table_stats(a.table()).unwrap().files, 0);
    // Nothing at all to commit leaves the table alone.
    assert_eq!(a.append(Vec::new(), SOURCE, &[]).await.unwrap(), 2);
}

#[tokio::test]
async fn malformed_ranges_are_rejected() {
    let (_dir, root) = temp_root();
    let mut a = appender(&root).await;
    for ranges in [
        vec![range(0, 5, 4)],
        vec![range(0, -1, 3)],
        vec![range(1, 0, 1), range(1, 1, 2)],
    ] {
        let err = a.append(Vec::new(), SOURCE, &ranges).await.unwrap_err();
        assert!(matches!(err, LakeError::InvalidRange { .. }), "{err}");
    }
    assert_eq!(a.table().version(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_different_partitions_both_commit() {
    let (_dir, root) = temp_root();
    let (mut a, mut b) = (appender(&root).await, appender(&root).await);
    const ROUNDS: i64 = 6;
    let run = |mut appender: ExactlyOnceAppender, partition: i32| async move {
        for round in 0..ROUNDS {
            let (first, next) = (round * 10, round * 10 + 10);
            let batch = sales_batch(partition, first, next, day(2024, 3, 1));
            appender
                .append(vec![batch], SOURCE, &[range(partition, first, next)])
                .await
                .unwrap();
        }
        appender
    };
    (a, b) = tokio::join!(run(a, 0), run(b, 1));

    let stored = a.stored_versions(SOURCE, &[0, 1]).await.unwrap();
    assert_eq!(
        stored,
        HashMap::from([(0, Some(ROUNDS * 10)), (1, Some(ROUNDS * 10))])
    );
    let stats = table_stats(a.table()).unwrap();
    assert_eq!(stats.version, 2 * ROUNDS as u64);
    assert_eq!(stats.rows, 2 * ROUNDS as u64 * 10);
    b.stored_versions(SOURCE, &[0]).await.unwrap();
    assert_eq!(b.table().version(), Some(2 * ROUNDS as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_racing_on_one_partition_commit_it_once() {
    let (_dir, root) = temp_root();
    let mut seed = appender(&root).await;
    seed.append(
        vec![sales_batch(0, 0, 100, day(2024, 1, 1))],
        SOURCE,
        &[range(0, 0, 100)],
    )
    .await
    .unwrap();

    for round in 0..4 {
        let first = 100 + round * 50;
        let (mut a, mut b) = (appender(&root).await, appender(&root).await);
        let batch = || vec![sales_batch(0, first, first + 50, day(2024, 6, 1))];
        let ranges = [range(0, first, first + 50)];
        let (ra, rb) = tokio::join!(
            a.append(batch(), SOURCE, &ranges),
            b.append(batch(), SOURCE, &ranges)
        );
        let (won, lost) = match (ra, rb) {
            (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
            (ra, rb) => panic!("expected one winner, got {ra:?} and {rb:?}"),
        };
        assert_eq!(won, 2 + round as u64);
        match lost {
            LakeError::OffsetsMoved {
                partition: 0,
                stored,
                expected,
            } => {
                assert_eq!((stored, expected), (Some(first + 50), first));
            }
            other => panic!("expected OffsetsMoved, got {other}"),
        }
    }
    let stored = seed.stored_versions(SOURCE, &[0]).await.unwrap();
    assert_eq!(stored[&0], Some(300));
    let stats = table_stats(seed.table()).unwrap();
    assert_eq!((stats.version, stats.rows), (5, 300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_writer_race_on_a_new_partition_has_one_winner() {
    let (_dir, root) = temp_root();
    let (mut a, mut b) = (appender(&root).await, appender(&root).await);
    let ranges = [range(5, 0, 20)];
    let (ra, rb) = tokio::join!(
        a.append(
            vec![sales_batch(5, 0, 20, day(2024, 1, 1))],
            SOURCE,
            &ranges
        ),
        b.append(
            vec![sales_batch(5, 0, 20, day(2024, 1, 1))],
            SOURCE,
            &ranges
        )
    );
    assert!(ra.is_ok() != rb.is_ok(), "{ra:?} {rb:?}");
    let lost = ra.err().or(rb.err()).unwrap();
    assert!(
        matches!(
            lost,
            LakeError::OffsetsMoved {
                partition: 5,
                stored: Some(20),
                expected: 0
            }
        ),
        "{lost}"
    );
    let mut fresh = appender(&root).await;
    assert_eq!(
        fresh.stored_versions(SOURCE, &[5]).await.unwrap()[&5],
        Some(20)
    );
    let stats = table_stats(fresh.table()).unwrap();
    assert_eq!((stats.version, stats.rows), (1, 20));
}

/// Throughput of large appends; run with
/// `cargo test -p herd-lake --release -- --ignored --nocapture append_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn append_throughput() {
    let (_dir, root) = temp_root();
    let mut a = appender(&root).await;
    const ROWS: i64 = 500_000;
    for round in 0..4 {
        let first = round * ROWS;
        let batch = sales_batch(0, first, first + ROWS, day(2021, 1, 1));
        let started = Instant::now();
        a.append(vec![batch], SOURCE, &[range(0, first, first + ROWS)])
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "append of {ROWS} rows: {secs:.3} s, {:.0} rows/s",
            ROWS as f64 / secs
        );
    }
    let stats = table_stats(a.table()).unwrap();
    println!(
        "{stats:?}; {:.1} files per million rows",
        stats.files as f64 * 1e6 / stats.rows as f64
    );

    // Small, frequent appends: the per-commit cost dominates.
    const SMALL: i64 = 5_000;
    let mut first = 4 * ROWS;
    let started = Instant::now();
    for _ in 0..50 {
        let batch = sales_batch(0, first, first + SMALL, day(2024, 1, 1));
        a.append(vec![batch], SOURCE, &[range(0, first, first + SMALL)])
            .await
            .unwrap();
        first += SMALL;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "50 appends of {SMALL} rows: {:.1} ms each, {:.0} rows/s",
        secs * 20.0,
        50.0 * SMALL as f64 / secs
    );
}
