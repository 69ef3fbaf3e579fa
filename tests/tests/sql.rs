//! `herd sql` and `POST /v1/sql` over a lake built by the real pipeline: counts, a
//! GROUP BY, distinct keys and a JOIN agree with Python's `deltalake` reading the
//! same tables, in CSV and in JSON; statements that would write, define a table or
//! read a file are refused in one line and leave no file behind; the server gives
//! the CLI's answers, cuts at its row cap, cancels at its time limit, asks for its
//! token, and keeps serving after every refusal.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use herd_tests::cli::FINISH;
use herd_tests::env::Env;
use herd_tests::http;
use herd_tests::process::Background;
use herd_tests::small_lake::{self, KEYS, SmallLakeOptions};
use serde_json::{Value, json};

/// What `herd sql` printed and how it exited.
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn herd_sql(env: &Env, name: &str, sql: &str, extra: &[&str]) -> Run {
    let mut command = env.herd();
    command.args(["sql", sql]).args(extra);
    let mut process = Background::spawn(command, env.dir(), name);
    let status = process.wait(FINISH);
    Run {
        success: status.success(),
        code: status.code(),
        stdout: process.stdout(),
        stderr: process.stderr(),
    }
}

/// The rows of a query, as JSON objects, read from `herd sql --format json`.
fn json_rows(env: &Env, name: &str, sql: &str) -> Vec<Value> {
    let run = herd_sql(env, name, sql, &["--format", "json"]);
    assert!(run.success, "{sql}: {}", run.stderr);
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// The rows of a query, as text fields under the header's names, read from
/// `herd sql --format csv`.
fn csv_rows(env: &Env, name: &str, sql: &str) -> Vec<BTreeMap<String, String>> {
    let run = herd_sql(env, name, sql, &["--format", "csv"]);
    assert!(run.success, "{sql}: {}", run.stderr);
    let mut lines = run.stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(name, value)| ((*name).to_owned(), value.to_owned()))
                .collect()
        })
        .collect()
}

/// What Python's `deltalake` counts in the lake at argv[1], with the production
/// registry under the root at argv[2].
const PYTHON_COUNTS: &str = r#"
import collections, json, sys
from deltalake import DeltaTable

lake, production = sys.argv[1], sys.argv[2]
def read(path, columns):
    return DeltaTable(path).to_pyarrow_table(columns=columns)

sales = read(lake + "/sales", ["store_id"])
models = read(lake + "/models", ["key", "version", "status"])
prod = read(production + "/production/models", ["key", "version"])
promotions = read(lake + "/promotions", ["decision"])
predictions = read(lake + "/predictions", ["key"])

status_of = {
    (k, v): s
    for k, v, s in zip(*(models.column(c).to_pylist() for c in ("key", "version", "status")))
}
joined = collections.Counter(
    status_of[(k, v)]
    for k, v in zip(prod.column("key").to_pylist(), prod.column("version").to_pylist())
    if (k, v) in status_of
)
print(json.dumps({
    "counts": {
        "sales": sales.num_rows,
        "models": models.num_rows,
        "production_models": prod.num_rows,
        "promotions": promotions.num_rows,
        "predictions": predictions.num_rows,
    },
    "statuses": dict(collections.Counter(models.column("status").to_pylist())),
    "prediction_keys": len(set(predictions.column("key").to_pylist())),
    "joined": dict(joined),
}))
"#;

const STATUSES: &str = "SELECT status, count(*) AS n FROM models GROUP BY status ORDER BY status";
const PREDICTION_KEYS: &str = "SELECT count(DISTINCT key) AS n FROM predictions";
const JOINED: &str = "SELECT m.status, count(*) AS n \
     FROM production_models p JOIN models m ON p.key = m.key AND p.version = m.version \
     GROUP BY m.status ORDER BY m.status";

/// `{status: n}` from rows of `status` and `n`.
fn by_status(rows: &[Value]) -> Value {
    rows.iter()
        .map(|row| {
            let status = row["status"].as_str().expect("a status").to_owned();
            (status, row["n"].clone())
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

struct Server {
    base: String,
    process: Background,
    http: ureq::Agent,
}

impl Server {
    /// `herd serve` with SQL, its `[serve]` settings overridden by `settings`.
    fn start(env: &Env, name: &str, settings: &[(&str, &str)], extra: &[&str]) -> Server {
        let (process, base) = env.start_serve(name, |command| {
            command.args(extra);
            for (key, value) in settings {
                command.env(format!("HERD_SERVE__{}", key.to_uppercase()), value);
            }
        });
        Server {
            base,
            process,
            http: http::agent(),
        }
    }

    /// POSTs `{"sql": sql}` and returns the status and the JSON answer.
    fn sql(&self, sql: &str, token: Option<&str>) -> (u16, Value) {
        let body = json!({ "sql": sql }).to_string();
        http::json(
            &self.http,
            &format!("{}/v1/sql", self.base),
            Some(&body),
            token,
        )
    }

    /// The rows of a query that must succeed.
    fn rows(&self, sql: &str) -> Vec<Value> {
        let (status, answer) = self.sql(sql, None);
        assert_eq!(status, 200, "{sql}: {answer}");
        assert_eq!(answer["truncated"], false, "{sql}: {answer}");
        let rows = answer["rows"].as_array().expect("rows").clone();
        assert_eq!(answer["row_count"], rows.len(), "{answer}");
        rows
    }

    fn healthy(&mut self) -> bool {
        let healthz = self.http.get(format!("{}/healthz", self.base)).call();
        self.process.is_running() && healthz.is_ok_and(|r| r.status() == 200)
    }
}

/// A refusal: status 400 and the reason, in one line.
fn assert_refused(status: u16, answer: &Value, sql: &str, reason: &str) {
    assert_eq!(status, 400, "{sql}: {answer}");
    assert_eq!(answer["status"], 400, "{sql}: {answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains(reason), "{sql}: {answer}");
    assert!(!error.contains('\n'), "{sql}: {answer}");
}

#[test]
fn sql_answers_match_python_and_writing_statements_are_refused() {
    let env = Env::new("sql", 3);
    let built = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: Some("seasonal_naive".to_owned()),
            rule: Some("true".to_owned()),
            score: true,
        },
    );
    assert_eq!(built.promoted, KEYS, "every key promoted");
    let lake = env.lake_root();
    let python =
        herd_tests::python::run_script(PYTHON_COUNTS, &lake, &[lake.display().to_string()]);
    eprintln!("Python's deltalake counts: {python}");
    assert_eq!(python["counts"]["sales"], built.archived, "{python}");
    assert_eq!(python["prediction_keys"], 60, "{python}");

    // Counts per table, in CSV and in JSON.
    for table in [
        "sales",
        "models",
        "production_models",
        "promotions",
        "predictions",
    ] {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        let expected = &python["counts"][table];
        let csv = csv_rows(&env, &format!("count-{table}-csv"), &sql);
        assert_eq!(csv.len(), 1, "{csv:?}");
        assert_eq!(csv[0]["n"], expected.to_string(), "{table}");
        let rows = json_rows(&env, &format!("count-{table}-json"), &sql);
        assert_eq!(rows, vec![json!({ "n": expected })], "{table}");
    }

    // A GROUP BY, distinct keys and a JOIN.
    let statuses = json_rows(&env, "statuses-json", STATUSES);
    assert_eq!(by_status(&statuses), python["statuses"], "{statuses:?}");
    let statuses_csv = csv_rows(&env, "statuses-csv", STATUSES);
    assert_eq!(statuses_csv.len(), statuses.len());
    for (csv, json) in statuses_csv.iter().zip(&statuses) {
        assert_eq!(csv["status"], json["status"].as_str().unwrap_or_default());
        assert_eq!(csv["n"], json["n"].to_string());
    }
    let keys = json_rows(&env, "prediction-keys", PREDICTION_KEYS);
    assert_eq!(keys, vec![json!({ "n": python["prediction_keys"] })]);
    let joined = json_rows(&env, "joined-json", JOINED);
    assert_eq!(by_status(&joined), python["joined"], "{joined:?}");
    let joined_csv = csv_rows(&env, "joined-csv", JOINED);
    assert_eq!(joined_csv.len(), joined.len(), "{joined_csv:?}");

    // JSON keeps nulls, dates and timestamps as text, numbers as numbers.
    let model = &json_rows(
        &env,
        "one-model",
        "SELECT key, version, data_end, trained_at, error, accuracy, tags \
         FROM models ORDER BY key LIMIT 1",
    )[0];
    assert_eq!(model["key"], "S0001/I00001", "{model}");
    assert!(model["version"].is_i64(), "{model}");
    assert!(model["error"].is_null(), "{model}");
    assert!(model["accuracy"].is_number(), "{model}");
    let date = model["data_end"].as_str().expect("a date");
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{model}"
    );
    let trained_at = model["trained_at"].as_str().expect("a timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(trained_at).is_ok(),
        "{model}"
    );
    assert!(model["tags"].is_object(), "{model}");

    // The row cap.
    let capped = herd_sql(
        &env,
        "capped",
        "SELECT * FROM sales",
        &["--format", "json", "--max-rows", "7"],
    );
    assert!(capped.success, "{}", capped.stderr);
    assert_eq!(capped.stdout.lines().count(), 7);
    assert!(capped.stderr.contains("more matched"), "{}", capped.stderr);

    // Refusals: one line, a non-zero exit, and no file written.
    let data = env.path("data.csv");
    std::fs::write(&data, "a,b\n1,2\n").expect("a CSV file");
    let out = env.path("out.csv");
    let tables_before = lake_entries(&lake);
    let refused = [
        (
            format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
                data.display()
            ),
            "CREATE EXTERNAL TABLE would",
        ),
        (
            format!("COPY sales TO '{}' STORED AS CSV", out.display()),
            "COPY … TO would write files",
        ),
        (
            format!("COPY (SELECT * FROM models) TO '{}'", out.display()),
            "COPY … TO would write files",
        ),
        (
            "INSERT INTO sales SELECT * FROM sales".to_owned(),
            "INSERT would write",
        ),
        ("DROP TABLE models".to_owned(), "DROP would remove"),
        (
            format!("SELECT * FROM '{}'", data.display()),
            "would read a file",
        ),
        ("SELECT * FROM 'out.csv'".to_owned(), "would read a file"),
    ];
    for (index, (sql, reason)) in refused.iter().enumerate() {
        let run = herd_sql(&env, &format!("refused-{index}"), sql, &[]);
        assert!(!run.success, "{sql} ran: {}", run.stdout);
        assert_eq!(run.code, Some(1), "{sql}: {}", run.stderr);
        let stderr = run.stderr.trim();
        assert_eq!(stderr.lines().count(), 1, "{sql}: {stderr}");
        assert!(
            stderr.starts_with("error: only SELECT queries are allowed: "),
            "{sql}: {stderr}"
        );
        assert!(stderr.contains(reason), "{sql}: {stderr}");
        assert!(run.stdout.is_empty(), "{sql}: {}", run.stdout);
    }
    assert!(!out.exists(), "a refused COPY wrote {}", out.display());
    assert_eq!(lake_entries(&lake), tables_before, "the lake changed");
    assert_eq!(
        json_rows(&env, "count-after", "SELECT count(*) AS n FROM models"),
        vec![json!({ "n": python["counts"]["models"] })]
    );
    let invalid = herd_sql(&env, "invalid", "SELEC 1", &[]);
    assert_eq!(invalid.code, Some(1), "{}", invalid.stderr);
    assert_eq!(
        invalid.stderr.trim().lines().count(),
        1,
        "{}",
        invalid.stderr
    );

    // The server gives the CLI's answers.
    let mut server = Server::start(&env, "serve", &[], &[]);
    assert_eq!(server.rows(STATUSES), statuses);
    assert_eq!(server.rows(JOINED), joined);
    assert_eq!(server.rows(PREDICTION_KEYS), keys);
    let (status, answer) = server.sql("SELECT count(*) AS n, max(date) AS last FROM sales", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["columns"],
        json!([{"name": "n", "type": "Int64"}, {"name": "last", "type": "Date32"}]),
        "{answer}"
    );
    assert_eq!(
        answer["rows"][0]["n"], python["counts"]["sales"],
        "{answer}"
    );
    assert!(answer["elapsed_ms"].is_number(), "{answer}");

    // The default cap, 10,000 rows, cuts the ~24,000 rows of sales.
    let (status, answer) = server.sql("SELECT * FROM sales", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["truncated"], true, "{}", answer["row_count"]);
    assert_eq!(answer["row_count"], 10_000);
    assert_eq!(answer["rows"].as_array().map(Vec::len), Some(10_000));

    // Refused and invalid statements: 400 with a reason; the server keeps serving.
    for (sql, reason) in &refused {
        let (status, answer) = server.sql(sql, None);
        assert_refused(status, &answer, sql, reason);
        assert!(server.healthy(), "the server stopped after {sql}");
    }
    let (status, answer) = server.sql("SELECT nope FROM sales", None);
    assert_eq!(status, 400, "{answer}");
    assert!(!out.exists(), "a refused COPY wrote {}", out.display());
    assert_eq!(lake_entries(&lake), tables_before, "the lake changed");
    assert_eq!(server.rows(STATUSES), statuses, "still answering");
    let forecast = server
        .http
        .get(format!("{}/v1/forecast/S0001/I00001", server.base))
        .call()
        .map(|r| r.status().as_u16());
    assert_eq!(forecast.ok(), Some(200), "forecasts still served");
    drop(server);

    // A server with a small cap, a one-second limit and a token.
    let mut server = Server::start(
        &env,
        "serve-limits",
        &[("sql_max_rows", "5"), ("sql_timeout_seconds", "1")],
        &["--token", "s3cret"],
    );
    let (status, answer) = server.sql(STATUSES, None);
    assert_eq!(status, 401, "no token: {answer}");
    let (status, answer) = server.sql("SELECT key FROM predictions", Some("s3cret"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["row_count"].clone(), answer["truncated"].clone()),
        (json!(5), json!(true)),
        "{answer}"
    );
    let slow = "SELECT sum(value % 7) AS s FROM range(100000000000)";
    let started = std::time::Instant::now();
    let (status, answer) = server.sql(slow, Some("s3cret"));
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("time limit")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled after {:?}",
        started.elapsed()
    );
    assert!(
        server.healthy(),
        "the server stopped after a cancelled query"
    );
    let (status, answer) = server.sql(PREDICTION_KEYS, Some("s3cret"));
    assert_eq!((status, answer["rows"].clone()), (200, json!(keys)));
}

/// The lake root's entries (its tables), sorted.
fn lake_entries(lake: &Path) -> Vec<String> {
    let mut entries: Vec<String> = std::fs::read_dir(lake)
        .expect("the lake")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    entries.sort();
    entries
}
