use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::test_support::{day, sales_batch, temp_root};
use crate::{
    AppendOptions, ExactlyOnceAppender, OffsetRange, RowMatch, ScanOptions, replace_rows, scan,
};

#[tokio::test]
async fn sales_table_is_created_then_reopened() {
    let (_dir, root) = temp_root();
    let created = open_or_create(&root, &sales()).await.unwrap();
    assert_eq!(created.version(), Some(0));
    assert!(
        root.url()
            .to_file_path()
            .unwrap()
            .join("sales/_delta_log")
            .is_dir()
    );

    let reopened = open_or_create(&root, &sales()).await.unwrap();
    assert_eq!(reopened.version(), Some(0));
    let snapshot = reopened.snapshot().unwrap();
    assert_eq!(snapshot.metadata().partition_columns(), ["year".to_owned()]);
    let names: Vec<_> = snapshot
        .schema()
        .fields()
        .map(|f| f.name().clone())
        .collect();
    let expected: Vec<_> = sales_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, expected);

    let stats = table_stats(&reopened).unwrap();
    assert_eq!(
        stats,
        TableStats {
            version: 0,
            files: 0,
            rows: 0,
            bytes: 0
        }
    );
}

#[tokio::test]
async fn nested_table_names_get_nested_directories() {
    let (_dir, root) = temp_root();
    let spec = TableSpec {
        name: "production/models".to_owned(),
        schema: Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)])),
        partition_columns: vec![],
        properties: Vec::new(),
    };
    open_or_create(&root, &spec).await.unwrap();
    let dir = root.url().to_file_path().unwrap();
    assert!(dir.join("production/models/_delta_log").is_dir());
}

#[tokio::test]
async fn an_existing_table_with_other_columns_is_refused() {
    let (_dir, root) = temp_root();
    open_or_create(&root, &sales()).await.unwrap();
    let mut other = sales();
    other.schema = Arc::new(Schema::new(vec![Field::new(
        "store_id",
        DataType::Utf8,
        false,
    )]));
    other.partition_columns = vec![];
    let err = open_or_create(&root, &other).await.unwrap_err();
    assert!(matches!(err, LakeError::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("sales"), "{err}");
}

#[tokio::test]
async fn a_partition_column_outside_the_schema_is_refused() {
    let (_dir, root) = temp_root();
    let mut spec = sales();
    spec.partition_columns = vec!["month".to_owned()];
    let err = open_or_create(&root, &spec).await.unwrap_err();
    assert!(err.to_string().contains("month"), "{err}");
}

#[tokio::test]
async fn escaping_table_names_are_rejected() {
    let (dir, root) = temp_root();
    let mut spec = sales();
    spec.name = "../sales".to_owned();
    let err = open_or_create(&root, &spec).await.unwrap_err();
    assert!(matches!(err, LakeError::InvalidTableName { .. }), "{err}");
    assert!(!dir.path().parent().unwrap().join("sales").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creators_share_one_table() {
    let (_dir, root) = temp_root();
    let spec = sales();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (root, spec) = (root.clone(), spec.clone());
            tokio::spawn(async move { open_or_create(&root, &spec).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let table = task.await.unwrap().unwrap();
        assert_eq!(table.version(), Some(0));
        ids.push(table.snapshot().unwrap().metadata().id().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one table, created once: {ids:?}");
    // Nobody committed a second create on top of the first.
    let log = root.url().to_file_path().unwrap().join("sales/_delta_log");
    assert!(!log.join("00000000000000000001.json").exists());
}

#[tokio::test]
async fn rows_land_in_year_directories_with_stats() {
    let (_dir, root) = temp_root();
    let table = open_or_create(&root, &sales()).await.unwrap();
    let mut appender = ExactlyOnceAppender::new(table, "archive");
    // 40 daily rows from 2023-12-10 span two years.
    let batch = sales_batch(0, 0, 40, day(2023, 12, 10));
    let range = OffsetRange {
        partition: 0,
        first: 0,
        next: 40,
    };
    appender.append(vec![batch], "t", &[range]).await.unwrap();

    let dir = root.url().to_file_path().unwrap().join("sales");
    let mut years: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("year="))
        .collect();
    years.sort();
    assert_eq!(years, ["year=2023", "year=2024"]);
    for year in &years {
        let parquet = std::fs::read_dir(dir.join(year))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count();
        assert_eq!(parquet, 1, "{year}");
    }

    // Per-file min/max on `date` is what prunes inside a year.
    let commit = std::fs::read_to_string(dir.join("_delta_log/00000000000000000001.json")).unwrap();
    assert!(
        commit.contains("minValues") && commit.contains("2023-12-10"),
        "{commit}"
    );
    assert!(commit.contains("2024-01-18"), "{commit}");

    let stats = table_stats(appender.table()).unwrap();
    assert_eq!((stats.version, stats.files, stats.rows), (1, 2, 40));
    assert!(stats.bytes > 0);
}

fn spec(extra: &[Field]) -> TableSpec {
    let mut fields = vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Int64, false),
        Field::new("day", DataType::Utf8, false),
    ];
    fields.extend_from_slice(extra);
    TableSpec {
        name: "upgraded".to_owned(),
        schema: Arc::new(Schema::new(fields)),
        partition_columns: vec!["day".to_owned()],
        properties: Vec::new(),
    }
}

fn origin() -> Field {
    Field::new("origin", DataType::Utf8, true)
}

async fn write(table: &mut DeltaTable, spec: &TableSpec, keys: &[&str], origin: Option<&str>) {
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from(keys.to_vec())),
        Arc::new(Int64Array::from(vec![1; keys.len()])),
        Arc::new(StringArray::from(vec!["2024-01-01"; keys.len()])),
    ];
    if let Some(origin) = origin {
        columns.push(Arc::new(StringArray::from(vec![origin; keys.len()])));
    }
    let batch = RecordBatch::try_new(Arc::clone(&spec.schema), columns).unwrap();
    replace_rows(
        table,
        "day",
        "2024-01-01",
        &RowMatch::new().column_in("key", ["none"]),
        vec![batch],
        &AppendOptions::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_older_table_gains_the_specs_new_nullable_columns_in_place() {
    let (_dir, root) = temp_root();
    let (old, new) = (spec(&[]), spec(&[origin()]));
    let mut table = open_or_create(&root, &old).await.unwrap();
    write(&mut table, &old, &["a", "b"], None).await;

    let mut table = open_or_create(&root, &new).await.unwrap();
    let upgraded = table.version();
    write(&mut table, &new, &["c"], Some("baseline")).await;
    // Opened again, it already has them: no second upgrade.
    let again = open_or_create(&root, &new).await.unwrap();
    assert_eq!(again.version(), upgraded.map(|v| v + 1));

    let mut origins = Vec::new();
    let options = ScanOptions {
        concurrency: 1,
        ..ScanOptions::default()
    };
    scan(&again, &options, |batch| {
        let keys = batch
            .column_by_name("key")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let column = batch
            .column_by_name("origin")
            .map(|c| c.as_string::<i32>().clone());
        for i in 0..batch.num_rows() {
            let origin = column
                .as_ref()
                .and_then(|c| (!c.is_null(i)).then(|| c.value(i).to_owned()));
            origins.push((keys.value(i).to_owned(), origin));
        }
        Ok::<_, LakeError>(())
    })
    .await
    .unwrap();
    origins.sort();
    assert_eq!(
        origins,
        [
            ("a".to_owned(), None),
            ("b".to_owned(), None),
            ("c".to_owned(), Some("baseline".to_owned()))
        ]
    );
}

#[tokio::test]
async fn a_table_that_differs_otherwise_is_refused_not_changed() {
    let (_dir, root) = temp_root();
    open_or_create(&root, &spec(&[origin()])).await.unwrap();
    // Fewer columns than the table has, or a new column that cannot be null.
    let required = Field::new("channel", DataType::Utf8, false);
    for other in [spec(&[]), spec(&[origin(), required])] {
        let error = open_or_create(&root, &other).await.unwrap_err();
        assert!(matches!(error, LakeError::SchemaMismatch { .. }), "{error}");
    }
    let table = open_existing(&root, &spec(&[origin()]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(table.version(), Some(0));
}
