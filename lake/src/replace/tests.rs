use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::{Date32Array, Int64Array};
use deltalake::arrow::datatypes::{Field, Schema};

use super::*;
use crate::tables::{TableSpec, open_or_create};
use crate::test_support::temp_root;

/// Rows (key, source, value) of a table partitioned by `day`.
fn spec() -> TableSpec {
    TableSpec {
        name: "rows".to_owned(),
        schema: Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("value", DataType::Int64, false),
            Field::new("day", DataType::Date32, false),
        ])),
        partition_columns: vec!["day".to_owned()],
        properties: Vec::new(),
    }
}

fn rows(day: i32, rows: &[(&str, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        spec().schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|_| day))),
        ],
    )
    .unwrap()
}

/// 2024-01-31 and 2024-02-01 as days since the epoch, and as Delta writes them.
const JAN_31: i32 = 19_753;
const FEB_1: i32 = 19_754;
const JAN_31_TEXT: &str = "2024-01-31";

async fn append(table: &mut DeltaTable, batch: RecordBatch) {
    let mut writer = RecordBatchWriter::for_table(table).unwrap();
    writer.write(batch).await.unwrap();
    writer.flush_and_commit(table).await.unwrap();
}

/// (key, source, value) → how many rows, of the live files' rows with day `day`
/// (partition columns are not in the files: a file's rows are all of one day).
async fn contents(table: &mut DeltaTable, day: &str) -> BTreeMap<(String, String, i64), usize> {
    table.update_incremental(None).await.unwrap();
    let mut counts = BTreeMap::new();
    let snapshot = table.snapshot().unwrap();
    let paths: Vec<object_store::path::Path> = snapshot
        .log_data()
        .iter()
        .filter(|f| f.partition_values_map().get("day") == Some(&Some(day.to_owned())))
        .map(|f| f.object_store_path())
        .collect();
    let store = table.object_store();
    for path in paths {
        for batch in read_file(&store, &path, &ReadColumns::default(), "rows")
            .await
            .unwrap()
        {
            let key = batch.column_by_name("key").unwrap().as_string::<i32>();
            let source = batch.column_by_name("source").unwrap().as_string::<i32>();
            let value = batch
                .column_by_name("value")
                .unwrap()
                .as_primitive::<deltalake::arrow::datatypes::Int64Type>();
            for i in 0..batch.num_rows() {
                *counts
                    .entry((
                        key.value(i).to_owned(),
                        source.value(i).to_owned(),
                        value.value(i),
                    ))
                    .or_default() += 1;
            }
        }
    }
    counts
}

fn expect(rows: &[(&str, &str, i64)]) -> BTreeMap<(String, String, i64), usize> {
    rows.iter()
        .map(|(k, s, v)| ((k.to_string(), s.to_string(), *v), 1))
        .collect()
}

fn batch_rows_of(keys: &[&str]) -> RowMatch {
    RowMatch::new()
        .column_in("key", keys.iter().copied())
        .column_in("source", ["batch"])
}

#[tokio::test]
async fn only_the_named_rows_are_replaced_and_untouched_files_stay() {
    let (_dir, root) = temp_root();
    let mut table = open_or_create(&root, &spec()).await.unwrap();
    // A batch run for keys a, b, c; a stream file for a and b; another day.
    append(
        &mut table,
        rows(
            JAN_31,
            &[("a", "batch", 1), ("b", "batch", 2), ("c", "batch", 3)],
        ),
    )
    .await;
    append(
        &mut table,
        rows(JAN_31, &[("a", "stream", 10), ("b", "stream", 20)]),
    )
    .await;
    append(&mut table, rows(FEB_1, &[("a", "batch", 100)])).await;
    let live = |table: &DeltaTable| -> HashSet<String> {
        table
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|f| f.path().to_string())
            .collect()
    };
    let before = live(&table);
    assert_eq!(before.len(), 3);

    // A second batch run for key b only.
    let replaced = replace_rows(
        &mut table,
        "day",
        JAN_31_TEXT,
        &batch_rows_of(&["b"]),
        vec![rows(JAN_31, &[("b", "batch", 5)])],
        &AppendOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            replaced.files_read,
            replaced.files_removed,
            replaced.rows_removed,
            replaced.rows_kept,
            replaced.attempts
        ),
        (1, 1, 1, 2, 1),
        "{replaced:?}"
    );
    assert_eq!(
        contents(&mut table, JAN_31_TEXT).await,
        expect(&[
            ("a", "batch", 1),
            ("c", "batch", 3),
            ("b", "batch", 5),
            ("a", "stream", 10),
            ("b", "stream", 20),
        ])
    );
    assert_eq!(
        contents(&mut table, "2024-02-01").await,
        expect(&[("a", "batch", 100)])
    );
    // Only the file with b's batch row was read (the stream file's statistics rule
    // it out, the other day is another partition) and replaced.
    let after = live(&table);
    assert_eq!(before.difference(&after).count(), 1);
    assert_eq!(after.difference(&before).count(), 1, "one new file");

    // Run again: the same rows, once.
    replace_rows(
        &mut table,
        "day",
        JAN_31_TEXT,
        &batch_rows_of(&["b"]),
        vec![rows(JAN_31, &[("b", "batch", 5)])],
        &AppendOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(contents(&mut table, JAN_31_TEXT).await.len(), 5);
    let stored = table
        .snapshot()
        .unwrap()
        .transaction_version(
            table.log_store().as_ref(),
            replace_app_id("day", JAN_31_TEXT),
        )
        .await
        .unwrap();
    assert_eq!(stored, Some(2), "each replacement counted");
}

#[tokio::test]
async fn concurrent_replacements_and_appends_keep_one_set_and_every_append() {
    let (_dir, root) = temp_root();
    let mut first = open_or_create(&root, &spec()).await.unwrap();
    append(
        &mut first,
        rows(JAN_31, &[("a", "batch", 1), ("b", "batch", 1)]),
    )
    .await;
    let mut second = open_or_create(&root, &spec()).await.unwrap();
    let appender = open_or_create(&root, &spec()).await.unwrap();

    async fn run(table: &mut DeltaTable, value: i64) -> Replaced {
        let options = AppendOptions {
            max_attempts: 50,
            ..AppendOptions::default()
        };
        replace_rows(
            table,
            "day",
            JAN_31_TEXT,
            &batch_rows_of(&["a", "b"]),
            vec![rows(
                JAN_31,
                &[("a", "batch", value), ("b", "batch", value)],
            )],
            &options,
        )
        .await
        .unwrap()
    }
    // A continuous writer's exactly-once appends, as the stream scorer makes them: a
    // replacement's removes fail their conflict check, and they commit again.
    let mut stream =
        crate::ExactlyOnceAppender::new(appender, "stream").with_options(AppendOptions {
            max_attempts: 50,
            ..AppendOptions::default()
        });
    let appends = async {
        for i in 0..5 {
            let range = crate::OffsetRange {
                partition: 0,
                first: i,
                next: i + 1,
            };
            stream
                .append(vec![rows(JAN_31, &[("s", "stream", i)])], "t", &[range])
                .await
                .unwrap();
        }
    };
    let (a, b, ()) = tokio::join!(run(&mut first, 2), run(&mut second, 3), appends);
    eprintln!("{a:?}\n{b:?}");

    let contents = contents(&mut first, JAN_31_TEXT).await;
    let batch: Vec<_> = contents.keys().filter(|(_, s, _)| s == "batch").collect();
    assert_eq!(batch.len(), 2, "one set of batch rows: {contents:?}");
    assert!(
        batch.iter().all(|(_, _, v)| v == &batch[0].2),
        "{contents:?}"
    );
    assert!(contents.values().all(|&n| n == 1), "{contents:?}");
    let stream = contents.keys().filter(|(_, s, _)| s == "stream").count();
    assert_eq!(stream, 5, "every concurrent append kept: {contents:?}");
    second.update_incremental(None).await.unwrap();
    let stored = second
        .snapshot()
        .unwrap()
        .transaction_version(
            second.log_store().as_ref(),
            replace_app_id("day", JAN_31_TEXT),
        )
        .await
        .unwrap();
    assert_eq!(stored, Some(2));
}

#[test]
fn statistics_rule_out_files_only_when_every_value_is_outside() {
    let m = batch_rows_of(&["S0001/I00002"]);
    let stats = |min_key: &str, max_key: &str, min_source: &str, max_source: &str| {
        format!(
            r#"{{"numRecords":3,"minValues":{{"key":"{min_key}","source":"{min_source}"}},"maxValues":{{"key":"{max_key}","source":"{max_source}"}}}}"#
        )
    };
    assert!(m.may_match(Some(&stats(
        "S0001/I00001",
        "S0001/I00003",
        "batch",
        "batch"
    ))));
    assert!(!m.may_match(Some(&stats(
        "S0001/I00001",
        "S0001/I00003",
        "stream",
        "stream"
    ))));
    assert!(!m.may_match(Some(&stats(
        "S0002/I00001",
        "S0002/I00003",
        "batch",
        "batch"
    ))));
    assert!(m.may_match(None));
    assert!(m.may_match(Some("not json")));
    let long = "x".repeat(40);
    assert!(m.may_match(Some(&stats(&long, &long, "batch", "batch"))));
    assert!(!RowMatch::new().may_match(None));
    assert!(!batch_rows_of(&[]).may_match(None));
}
