use std::sync::Arc;
use std::time::{Duration, Instant};

use deltalake::arrow::array::{
    Array, AsArray, Date32Array, Float64Array, Int64Array, MapBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};

use super::*;
use crate::tables::{TableSpec, open_or_create, sales};
use crate::test_support::{day, sales_batch, temp_root};
use crate::{ExactlyOnceAppender, OffsetRange};

/// Appends `batch` to table `name` under `root`, creating the table first.
async fn write(root: &LakeRoot, name: &str, batch: RecordBatch, partitions: &[&str]) {
    let spec = TableSpec {
        name: name.to_owned(),
        schema: batch.schema(),
        partition_columns: partitions.iter().map(|p| (*p).to_owned()).collect(),
        properties: Vec::new(),
    };
    let mut table = open_or_create(root, &spec).await.unwrap();
    let mut writer = RecordBatchWriter::for_table(&table).unwrap();
    writer.write(batch).await.unwrap();
    writer.flush_and_commit(&mut table).await.unwrap();
}

/// Appends sales rows for offsets `first..next` of partition 0.
async fn append_sales(root: &LakeRoot, first: i64, next: i64) {
    let table = open_or_create(root, &sales()).await.unwrap();
    let mut appender = ExactlyOnceAppender::new(table, "test");
    appender.stored_versions("topic", &[0]).await.unwrap();
    let batch = sales_batch(0, first, next, day(2024, 1, 1));
    let range = OffsetRange {
        partition: 0,
        first,
        next,
    };
    appender
        .append(vec![batch], "topic", &[range])
        .await
        .unwrap();
}

/// Three models: one without an accuracy or end date.
fn models_batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("accuracy", DataType::Float64, true),
        Field::new(
            "trained_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("data_end", DataType::Date32, true),
    ]);
    let end = Date32Array::from(vec![Some(19_753), None, Some(19_753)]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec!["S1/I1", "S1/I2", "S2/I1"])),
            Arc::new(StringArray::from(vec!["candidate", "failed", "candidate"])),
            Arc::new(Float64Array::from(vec![Some(0.91), None, Some(0.75)])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_706_781_600_000_000; 3])
                    .with_timezone("UTC"),
            ),
            Arc::new(end),
        ],
    )
    .unwrap()
}

fn production_batch(keys: &[&str]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(Int64Array::from(vec![1; keys.len()])),
        ],
    )
    .unwrap()
}

/// The memory budget of the tests' engines.
const MEMORY: usize = 256 << 20;

fn no_limits() -> QueryLimits {
    QueryLimits::default()
}

/// The single Int64 of a one-row, one-column answer.
async fn count(engine: &SqlEngine, sql: &str) -> i64 {
    let answer = engine.query(sql, &no_limits()).await.unwrap();
    assert_eq!(answer.row_count, 1, "{sql}");
    answer.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[tokio::test]
async fn queries_read_the_tables_latest_commits() {
    let (_dir, root) = temp_root();
    append_sales(&root, 0, 100).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    assert_eq!(count(&engine, "SELECT count(*) FROM sales").await, 100);
    assert_eq!(
        count(
            &engine,
            "SELECT count(DISTINCT store_id) FROM sales WHERE item_id = '7'"
        )
        .await,
        1
    );

    append_sales(&root, 100, 250).await;
    assert_eq!(count(&engine, "SELECT count(*) FROM sales").await, 250);
}

#[tokio::test]
async fn production_models_live_under_their_own_root() {
    let (_lake_dir, lake) = temp_root();
    let (_production_dir, production) = temp_root();
    write(&lake, "models", models_batch(), &[]).await;
    write(
        &production,
        "production/models",
        production_batch(&["S1/I1", "S2/I1"]),
        &[],
    )
    .await;
    let engine = SqlEngine::new(&lake, &production, MEMORY).unwrap();
    let joined = count(
        &engine,
        "SELECT count(*) FROM production_models p JOIN models m ON p.key = m.key \
         WHERE m.status = 'candidate'",
    )
    .await;
    assert_eq!(joined, 2);
    let statuses = engine
        .query(
            "SELECT status, count(*) AS n FROM models GROUP BY status ORDER BY status",
            &no_limits(),
        )
        .await
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&json_rows(&statuses.batches).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"status": "candidate", "n": 2}, {"status": "failed", "n": 1}])
    );
}

#[tokio::test]
async fn absent_tables_are_absent() {
    let (_dir, root) = temp_root();
    write(&root, "models", models_batch(), &[]).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let err = engine
        .query("SELECT * FROM predictions", &no_limits())
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("`predictions` does not exist yet"),
        "{err}"
    );

    let tables = engine
        .query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
            &no_limits(),
        )
        .await
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&json_rows(&tables.batches).unwrap()).unwrap();
    assert_eq!(json, serde_json::json!([{"table_name": "models"}]));

    let err = engine
        .query("SELECT * FROM customers", &no_limits())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no table `customers`"), "{err}");
}

#[tokio::test]
async fn every_writing_or_file_reading_statement_is_refused() {
    let (dir, root) = temp_root();
    append_sales(&root, 0, 10).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let file = dir.path().join("x.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let file = file.display().to_string();
    let out = dir.path().join("out.csv").display().to_string();
    let statements = [
        (
            format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{file}'"),
            "CREATE EXTERNAL TABLE would",
        ),
        (
            format!("COPY sales TO '{out}' STORED AS CSV"),
            "COPY … TO would write files",
        ),
        (
            format!("COPY (SELECT 1) TO '{out}'"),
            "COPY … TO would write files",
        ),
        (
            format!("EXPLAIN COPY sales TO '{out}'"),
            "COPY … TO would write files",
        ),
        (
            "INSERT INTO sales SELECT * FROM sales".to_owned(),
            "INSERT would write",
        ),
        ("DROP TABLE sales".to_owned(), "DROP would remove"),
        (
            "SET datafusion.execution.batch_size = 1".to_owned(),
            "SET would change",
        ),
        (
            "RESET datafusion.execution.batch_size".to_owned(),
            "RESET would change",
        ),
        (
            "CREATE TABLE t AS SELECT 1".to_owned(),
            "CREATE TABLE would",
        ),
        ("CREATE VIEW v AS SELECT 1".to_owned(), "CREATE VIEW would"),
        ("SELECT 1 INTO t".to_owned(), "SELECT INTO would"),
        ("DELETE FROM sales".to_owned(), "DELETE would"),
        (format!("SELECT * FROM '{file}'"), "would read a file"),
        ("SELECT * FROM 'x.csv'".to_owned(), "would read a file"),
        (
            "SELECT * FROM 'https://example.com/x.parquet'".to_owned(),
            "would read a file",
        ),
        (format!("DESCRIBE '{file}'"), "would read a file"),
        (
            format!("SELECT count(*) FROM sales WHERE store_id IN (SELECT a FROM '{file}')"),
            "would read a file",
        ),
        ("BEGIN".to_owned(), "is not a query"),
    ];
    for (sql, reason) in &statements {
        let err = engine.query(sql, &no_limits()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SqlError::Refused(_)), "{sql}: {text}");
        assert!(
            text.starts_with("only SELECT queries are allowed: "),
            "{sql}: {text}"
        );
        assert!(text.contains(reason), "{sql}: {text}");
        assert!(!text.contains('\n'), "{sql}: {text}");
    }
    assert!(!dir.path().join("out.csv").exists(), "COPY wrote a file");
    // The table is untouched and still answers.
    assert_eq!(count(&engine, "SELECT count(*) FROM sales").await, 10);
}

#[tokio::test]
async fn read_only_statements_other_than_select_answer() {
    let (_dir, root) = temp_root();
    append_sales(&root, 0, 10).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    for sql in [
        "EXPLAIN SELECT count(*) FROM sales",
        "DESCRIBE sales",
        "SHOW TABLES",
        "SHOW COLUMNS FROM sales",
        "WITH s AS (SELECT * FROM sales) SELECT count(*) FROM s",
        "SELECT sum(value) FROM range(10)",
    ] {
        let answer = engine.query(sql, &no_limits()).await.unwrap();
        assert!(answer.row_count > 0, "{sql}");
    }
}

#[tokio::test]
async fn bad_statements_are_invalid_in_one_line() {
    let (_dir, root) = temp_root();
    append_sales(&root, 0, 10).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    for sql in [
        "SELEC 1",
        "SELECT nope FROM sales",
        "SELECT 1; SELECT 2",
        "SELECT CAST('x' AS INT)",
    ] {
        let err = engine.query(sql, &no_limits()).await.unwrap_err();
        assert!(matches!(err, SqlError::Invalid(_)), "{sql}: {err}");
        assert!(err.is_user_error());
        assert!(!err.to_string().contains('\n'), "{sql}: {err}");
    }
}

#[tokio::test]
async fn the_row_cap_cuts_and_says_so() {
    let (_dir, root) = temp_root();
    append_sales(&root, 0, 100).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let capped = |max_rows| QueryLimits {
        max_rows: Some(max_rows),
        timeout: None,
    };
    let answer = engine
        .query("SELECT * FROM sales", &capped(7))
        .await
        .unwrap();
    assert_eq!((answer.row_count, answer.truncated), (7, true));
    assert_eq!(
        answer
            .batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        7
    );
    let answer = engine
        .query("SELECT * FROM sales", &capped(100))
        .await
        .unwrap();
    assert_eq!((answer.row_count, answer.truncated), (100, false));
    let answer = engine
        .query("SELECT * FROM sales WHERE sales < 0", &capped(0))
        .await
        .unwrap();
    assert_eq!((answer.row_count, answer.truncated), (0, false));
    assert_eq!(answer.schema.fields().len(), sales().schema.fields().len());
}

#[tokio::test]
async fn a_query_past_its_time_limit_is_cancelled() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let limits = QueryLimits {
        max_rows: None,
        timeout: Some(Duration::from_millis(300)),
    };
    let started = Instant::now();
    let err = engine
        .query("SELECT sum(value % 7) FROM range(100000000000)", &limits)
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("time limit of 0.3 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancelled after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn json_keeps_nulls_dates_and_utc_timestamps() {
    let (_dir, root) = temp_root();
    write(&root, "models", models_batch(), &[]).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let answer = engine
        .query("SELECT * FROM models ORDER BY key", &no_limits())
        .await
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&json_rows(&answer.batches).unwrap()).unwrap();
    assert_eq!(
        json[1],
        serde_json::json!({
            "key": "S1/I2",
            "status": "failed",
            "accuracy": null,
            "trained_at": "2024-02-01T10:00:00Z",
            "data_end": null,
        })
    );
    assert_eq!(json[0]["data_end"], "2024-01-31");
    assert_eq!(json[0]["accuracy"], 0.91);
    let types: Vec<_> = columns(&answer.schema)
        .into_iter()
        .map(|c| (c.name, c.data_type))
        .collect();
    assert_eq!(types[0], ("key".to_owned(), "Utf8".to_owned()));
    assert_eq!(types[4], ("data_end".to_owned(), "Date32".to_owned()));

    let empty = json_rows(&[]).unwrap();
    assert_eq!(empty, b"[]");
}

#[tokio::test]
async fn partition_columns_read_back_as_values() {
    let (_dir, root) = temp_root();
    append_sales(&root, 0, 20).await;
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let answer = engine
        .query(
            "SELECT year, count(*) AS n FROM sales GROUP BY year",
            &no_limits(),
        )
        .await
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&json_rows(&answer.batches).unwrap()).unwrap();
    assert_eq!(json, serde_json::json!([{"year": 2024, "n": 20}]));
}

#[test]
fn csv_writes_a_header_even_without_rows_and_flattens_maps() {
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    tags.keys().append_value("team");
    tags.values().append_value("fresh");
    tags.append(true).unwrap();
    tags.append(false).unwrap();
    let tags = tags.finish();
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("tags", tags.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(vec!["a", "b"])), Arc::new(tags)],
    )
    .unwrap();

    let mut writer = RowWriter::new(Vec::new(), RowFormat::Csv);
    writer.write(&batch).unwrap();
    let text = String::from_utf8(writer.finish(&schema).unwrap()).unwrap();
    assert_eq!(text, "key,tags\na,{team: fresh}\nb,\n");

    let writer = RowWriter::new(Vec::new(), RowFormat::Csv);
    let text = String::from_utf8(writer.finish(&schema).unwrap()).unwrap();
    assert_eq!(text, "key,tags\n");

    let mut writer = RowWriter::new(Vec::new(), RowFormat::JsonLines);
    writer.write(&batch).unwrap();
    let text = String::from_utf8(writer.finish(&schema).unwrap()).unwrap();
    assert_eq!(
        text,
        "{\"key\":\"a\",\"tags\":{\"team\":\"fresh\"}}\n{\"key\":\"b\",\"tags\":null}\n"
    );

    let table = format_table(&schema, &[batch]).unwrap();
    assert!(table.contains("| a   | {team: fresh} |"), "{table}");
}

/// The error of a query that must fail.
async fn refusal(engine: &SqlEngine, sql: &str) -> SqlError {
    let limits = QueryLimits {
        max_rows: Some(10),
        timeout: Some(Duration::from_secs(60)),
    };
    match engine.query(sql, &limits).await {
        Ok(answer) => panic!(
            "{} answered {} rows",
            &sql[..sql.len().min(80)],
            answer.row_count
        ),
        Err(e) => e,
    }
}

#[tokio::test]
async fn functions_that_grow_are_refused_before_they_allocate_past_the_budget() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, 64 << 20).unwrap();
    for sql in [
        "SELECT repeat('x', 2000000000) FROM range(8)",
        "SELECT length(repeat('ab', 40000000)) FROM range(1)",
        "SELECT range(0, 4000000000)",
        "SELECT generate_series(1, 4000000000)",
        "SELECT range(TIMESTAMP '1970-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
        "SELECT lpad('x', 2000000000)",
        "SELECT array_repeat(1, 2000000000)",
        "SELECT replace(repeat('a', 10000), 'a', repeat('b', 10000))",
    ] {
        let error = refusal(&engine, sql).await;
        assert!(
            matches!(&error, SqlError::OutOfMemory { limit_mb: 64, .. }),
            "{sql}: {error}"
        );
        assert!(error.to_string().contains("64 MiB"), "{error}");
    }
    // Within the budget the same functions answer.
    assert_eq!(
        count(
            &engine,
            "SELECT CAST(length(repeat('x', 1000000)) AS BIGINT)"
        )
        .await,
        1_000_000
    );
    assert_eq!(
        count(
            &engine,
            "SELECT CAST(cardinality(range(0, 100000)) AS BIGINT)"
        )
        .await,
        100_000
    );
    assert_eq!(
        count(
            &engine,
            "SELECT CAST(length(concat('a', lpad('b', 10))) AS BIGINT)"
        )
        .await,
        11
    );
}

#[tokio::test]
async fn text_joined_with_the_operator_is_refused_past_the_budget() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, 64 << 20).unwrap();
    for sql in [
        // Each `||` alone stays under the budget; the chain does not.
        "WITH t AS (SELECT repeat('x', 20000000) AS s) \
         SELECT length(s || s || s || s) FROM t",
        // Doubled in CTEs, as a recursive growth would.
        "WITH a AS (SELECT repeat('x', 30000000) AS s), b AS (SELECT s || s AS s FROM a), \
         c AS (SELECT s || s AS s FROM b) SELECT length(s) FROM c",
        // Over the rows of a table, in a subquery.
        "SELECT count(*) FROM (SELECT repeat('y', 1000) || repeat('z', 1000) AS s \
         FROM range(100000)) WHERE s IN (SELECT repeat('x', 40000000) || repeat('x', 40000000))",
    ] {
        let error = refusal(&engine, sql).await;
        assert!(
            matches!(&error, SqlError::OutOfMemory { limit_mb: 64, .. }),
            "{sql}: {error}"
        );
        assert!(error.to_string().contains("||"), "{error}");
    }
    // Within the budget the operator answers as before: NULL with a NULL side, a
    // number joined as text, lists joined by their own function, and the
    // column named after the operator.
    let answer = engine
        .query(
            "SELECT 'a' || 'b', 'a' || NULL, 'n' || 1, \
             CAST(length(repeat('x', 1000) || repeat('y', 1000)) AS BIGINT) AS n, \
             [1, 2] || [3] AS l",
            &no_limits(),
        )
        .await
        .unwrap();
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&json_rows(&answer.batches).unwrap()).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["Utf8(\"a\") || Utf8(\"b\")"], "ab", "{row:?}");
    assert!(row["Utf8(\"a\") || NULL"].is_null(), "{row:?}");
    assert_eq!(row["Utf8(\"n\") || Int64(1)"], "n1", "{row:?}");
    assert_eq!(row["n"], 2000, "{row:?}");
    assert_eq!(row["l"], serde_json::json!([1, 2, 3]), "{row:?}");
    assert_eq!(
        count(
            &engine,
            "SELECT count(*) FROM (SELECT CAST(value AS VARCHAR) || '-' || 'x' AS s \
             FROM range(1000)) WHERE s LIKE '%-x'"
        )
        .await,
        1000
    );
}

#[tokio::test]
async fn operators_past_the_memory_budget_are_refused() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, 16 << 20).unwrap();
    // `count(DISTINCT value)` over `range` aggregates in order and holds almost
    // nothing; scrambled values must be held until the end.
    let sql = "SELECT count(DISTINCT (value * 7919) % 1000000007) FROM range(5000000000)";
    let error = refusal(&engine, sql).await;
    assert!(
        matches!(&error, SqlError::OutOfMemory { limit_mb: 16, .. }),
        "{error}"
    );
    // The memory is given back: a small query still answers.
    assert_eq!(
        count(&engine, "SELECT count(*) FROM range(1000)").await,
        1000
    );
}

#[tokio::test]
async fn statements_too_long_or_too_deep_are_refused_without_overflowing() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    // 1 MiB statements: refused before they are parsed.
    let plus = format!("SELECT 1{}", "+1".repeat(500_000));
    let union = vec!["SELECT 1"; 50_000].join(" UNION ALL ");
    let explain = format!("{}SELECT 1", "EXPLAIN ".repeat(131_000));
    // Within the token cap, but nested past a depth: parsed, refused and dropped.
    let chain = format!("SELECT 1{}", "+1".repeat(20_000));
    let cast = format!("SELECT 1{}", "::BIGINT".repeat(10_000));
    let in_call = format!("SELECT abs(1{})", "+1".repeat(20_000));
    let unions = vec!["SELECT 1"; 5_000].join(" UNION ALL ");
    let joins = format!(
        "SELECT 1 FROM range(1) a{}",
        " JOIN range(1) b ON true".repeat(3_000)
    );
    let copy = format!("COPY (SELECT 1{}) TO 'out.csv'", "+1".repeat(20_000));
    let explained = format!("EXPLAIN SELECT 1{}", "+1".repeat(20_000));
    let cases = [
        (&plus, "words and symbols"),
        (&union, "words and symbols"),
        (&explain, "EXPLAIN takes a query"),
        (&chain, "expressions nest more than 256 levels"),
        (&cast, "expressions nest more than 256 levels"),
        (&in_call, "expressions nest more than 256 levels"),
        (&unions, "chains 4999 set operations"),
        (&joins, "more than 256 tables"),
        (&copy, "expressions nest more than 256 levels"),
        (&explained, "expressions nest more than 256 levels"),
    ];
    for (sql, reason) in cases {
        let error = refusal(&engine, sql).await;
        assert!(matches!(error, SqlError::TooComplex(_)), "{error}");
        assert!(error.to_string().contains(reason), "{error}");
        assert!(error.is_user_error());
    }
    // A long but reasonable chain answers.
    let terms = MAX_EXPRESSION_DEPTH / 2;
    let sql = format!("SELECT CAST(1{} AS BIGINT)", "+1".repeat(terms - 1));
    assert_eq!(count(&engine, &sql).await, terms as i64);
    let sql = format!(
        "SELECT count(*) FROM ({})",
        vec!["SELECT 1"; MAX_SET_OPERATIONS / 2].join(" UNION ALL ")
    );
    assert_eq!(count(&engine, &sql).await, (MAX_SET_OPERATIONS / 2) as i64);
    // EXPLAIN answers under a row cap (the cap is not put above its plan).
    let limits = QueryLimits {
        max_rows: Some(100),
        timeout: None,
    };
    let answer = engine.query("EXPLAIN SELECT 1", &limits).await.unwrap();
    assert!(answer.row_count >= 1);
}

#[tokio::test]
async fn a_value_json_cannot_hold_is_the_statements_error() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let answer = engine
        .query("SELECT map([1], [2]) AS m", &no_limits())
        .await
        .unwrap();
    let mut rows = JsonRows::new(1 << 20);
    let error = rows.push(&answer.batches[0]).unwrap_err();
    assert!(matches!(error, SqlError::Unwritable(_)), "{error}");
    assert!(error.is_user_error());
    assert!(error.to_string().contains("CAST"), "{error}");
}

#[tokio::test]
async fn json_rows_stop_at_their_byte_budget_on_a_row_boundary() {
    let (_dir, root) = temp_root();
    let engine = SqlEngine::new(&root, &root, MEMORY).unwrap();
    let answer = engine
        .query("SELECT value AS v FROM range(1000)", &no_limits())
        .await
        .unwrap();
    // `[{"v":0},{"v":1},…`: 7 or 8 bytes a row below 10.
    let mut rows = JsonRows::new(40);
    assert!(!rows.push(&answer.batches[0]).unwrap());
    assert_eq!(rows.rows(), 4);
    let text = rows.finish();
    assert!(text.len() <= 40, "{}", String::from_utf8_lossy(&text));
    let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!([{"v": 0}, {"v": 1}, {"v": 2}, {"v": 3}])
    );

    let mut rows = JsonRows::new(1 << 20);
    for batch in &answer.batches {
        assert!(rows.push(batch).unwrap());
    }
    assert_eq!(rows.rows(), 1000);
    assert_eq!(json_rows(&answer.batches).unwrap(), rows.finish());
}
