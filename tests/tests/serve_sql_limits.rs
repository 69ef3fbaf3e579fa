//! `POST /v1/sql` cannot take `herd serve` down: each attack (a function answer of
//! gigabytes, an aggregation past the memory budget, sixteen of them at once, a
//! statement nested a million levels deep, an answer of megabytes, a value JSON
//! cannot hold) runs against a real `herd serve` process and gets the server's JSON
//! error or a cut answer; the process still answers `/healthz` afterwards, and its
//! peak resident memory (`VmHWM`) stayed under a stated budget. A limit of 0 is
//! refused at start-up.

use std::time::Duration;

use herd_tests::cli::FINISH;
use herd_tests::env::Env;
use herd_tests::http;
use herd_tests::process::Background;
use serde_json::{Value, json};

/// The SQL memory budget of the servers below, in MiB.
const MEMORY_MB: u64 = 64;
/// The peak resident memory a server may reach through every attack: its own
/// baseline (a debug build's code, the model cache, librdkafka), the SQL budget,
/// and the answers being written.
const PEAK_BUDGET_MB: u64 = 400;

struct Server {
    base: String,
    process: Background,
    http: ureq::Agent,
}

impl Server {
    /// `herd serve` on an empty lake, its `[serve]` settings overridden by `settings`.
    fn start(env: &Env, name: &str, settings: &[(&str, &str)]) -> Server {
        let (process, base) = env.start_serve(name, |command| {
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

    /// POSTs `{"sql": sql}`: the status and the JSON answer (never an empty body).
    fn sql(&self, sql: &str) -> (u16, Value) {
        let body = json!({ "sql": sql }).to_string();
        http::json(
            &self.http,
            &format!("{}/v1/sql", self.base),
            Some(&body),
            None,
        )
    }

    /// Asserts that the process runs, answers `/healthz` and a small query, and has
    /// not passed [`PEAK_BUDGET_MB`]; returns its peak in MiB.
    fn assert_healthy(&mut self, after: &str) -> u64 {
        assert!(
            self.process.is_running(),
            "after {after}: the server exited:\n{}",
            self.process.stderr()
        );
        let healthz = self.http.get(format!("{}/healthz", self.base)).call();
        assert!(
            healthz.is_ok_and(|r| r.status() == 200),
            "after {after}: /healthz does not answer"
        );
        let (status, answer) = self.sql("SELECT 41 + 1 AS n");
        assert_eq!(
            (status, &answer["rows"]),
            (200, &json!([{"n": 42}])),
            "after {after}"
        );
        // Whole MiB, as the budget is stated.
        let peak = self
            .process
            .peak_rss_mb()
            .expect("the server's peak memory") as u64;
        eprintln!("after {after}: VmHWM {peak} MiB");
        assert!(
            peak < PEAK_BUDGET_MB,
            "after {after}: the server's peak resident memory is {peak} MiB, past {PEAK_BUDGET_MB} MiB"
        );
        peak
    }
}

/// The server's JSON error with `status`, whose message holds `needle`.
fn assert_error(answer: &(u16, Value), status: u16, needle: &str, sql: &str) {
    let shown = &sql[..sql.len().min(80)];
    assert_eq!(answer.0, status, "{shown}: {}", answer.1);
    assert_eq!(answer.1["status"], status, "{shown}: {}", answer.1);
    let error = answer.1["error"].as_str().unwrap_or_default();
    assert!(error.contains(needle), "{shown}: {}", answer.1);
    assert!(!error.contains('\n'), "{shown}: {}", answer.1);
}

/// What a refusal for memory or for time must name: the budget if the answer names
/// it, else the 10 s time limit.
fn memory_or_time<'a>(answer: &(u16, Value), limit: &'a str) -> &'a str {
    let reason = answer.1["error"].as_str().unwrap_or_default();
    if reason.contains(limit) {
        limit
    } else {
        "time limit of 10 s"
    }
}

const REPEAT: &str = "SELECT repeat('x', 2000000000) FROM range(8)";
const RANGE: &str = "SELECT range(0, 4000000000)";
/// Aggregated in `range`'s order: it holds almost nothing and runs to its time limit.
const DISTINCT: &str = "SELECT count(DISTINCT value) FROM range(5000000000)";
/// The same with the values scrambled: every one is held until the end.
const SCRAMBLED: &str = "SELECT count(DISTINCT (value * 7919) % 1000000007) FROM range(5000000000)";

#[test]
fn memory_attacks_are_refused_with_503_and_the_server_stays_small() {
    let env = Env::new("sql-limits-memory", 1);
    let memory = MEMORY_MB.to_string();
    let mut server = Server::start(
        &env,
        "serve-memory",
        &[
            ("sql_memory_mb", &memory),
            ("sql_max_concurrent", "4"),
            ("sql_timeout_seconds", "10"),
        ],
    );
    let baseline = server.assert_healthy("start-up");
    let limit = format!("{MEMORY_MB} MiB");
    for sql in [REPEAT, RANGE, SCRAMBLED] {
        assert_error(&server.sql(sql), 503, &limit, sql);
        server.assert_healthy(sql);
    }
    // It runs to its time limit, unless the scrambled query's memory is still being
    // given back when it starts (its tasks are stopped asynchronously, and on a busy
    // machine that takes a moment): then the budget refuses it. Either way, 503.
    let answer = server.sql(DISTINCT);
    assert_error(&answer, 503, memory_or_time(&answer, &limit), DISTINCT);
    server.assert_healthy(DISTINCT);

    // Sixteen at once: four run and are refused for memory (or time), the rest wait
    // for no one and are told to come back. The queries that reserve their answer
    // first are always refused for memory. The counts grow their memory as they read
    // and share the budget with the others: the ordered one may meet the budget the
    // others hold, and the scrambled one, with four queries sharing the cores, its
    // time limit first.
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let server = &server;
        let handles: Vec<_> = [REPEAT, RANGE, DISTINCT, SCRAMBLED]
            .iter()
            .cycle()
            .take(16)
            .map(|sql| scope.spawn(move || (sql, server.sql(sql))))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let (sql, answer) = h.join().expect("a client thread");
                match answer.0 {
                    503 if [DISTINCT, SCRAMBLED].contains(sql) => {
                        assert_error(&answer, 503, memory_or_time(&answer, &limit), sql);
                    }
                    503 => assert_error(&answer, 503, &limit, sql),
                    _ => assert_error(&answer, 429, "sql_max_concurrent", sql),
                }
                answer
            })
            .collect()
    });
    let refused_for_memory = answers.iter().filter(|a| a.0 == 503).count();
    assert!(refused_for_memory >= 1, "{answers:?}");
    let peak = server.assert_healthy("sixteen at once");
    eprintln!("baseline {baseline} MiB, peak {peak} MiB, budget {PEAK_BUDGET_MB} MiB");
}

#[test]
fn statements_nested_a_million_levels_deep_get_400() {
    let env = Env::new("sql-limits-depth", 1);
    let mut server = Server::start(&env, "serve-depth", &[]);
    // Each body is close to the server's 1 MiB limit.
    let plus = format!("SELECT 1{}", "+1".repeat(500_000));
    let union = vec!["SELECT 1"; 50_000].join(" UNION ALL ");
    let explain = format!("{}SELECT 1", "EXPLAIN ".repeat(130_000));
    for sql in [&plus, &union, &explain] {
        assert_error(&server.sql(sql), 400, "the statement is too complex", sql);
        server.assert_healthy(&sql[..40]);
    }
}

#[test]
fn queries_past_the_concurrency_cap_get_429_with_retry_after() {
    let env = Env::new("sql-limits-concurrency", 1);
    let mut server = Server::start(
        &env,
        "serve-concurrency",
        &[("sql_max_concurrent", "1"), ("sql_timeout_seconds", "10")],
    );
    let slow = "SELECT sum(value % 7) FROM range(100000000000)";
    std::thread::scope(|scope| {
        let server = &server;
        let running = scope.spawn(move || server.sql(slow));
        // The first query holds the only slot until its time limit (10 s), longer
        // than a query waits for a slot (5 s).
        std::thread::sleep(Duration::from_millis(500));
        let answer = server
            .http
            .post(format!("{}/v1/sql", server.base))
            .header("Content-Type", "application/json")
            .send(json!({"sql": "SELECT 1"}).to_string())
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 429);
        let retry_after = answer
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        assert_eq!(retry_after.as_deref(), Some("1"));
        let mut answer = answer;
        let body: Value =
            serde_json::from_str(&answer.body_mut().read_to_string().expect("a body"))
                .expect("a JSON body");
        assert_eq!(body["status"], 429, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("sql_max_concurrent")
        );
        assert_error(
            &running.join().expect("the slow client"),
            503,
            "time limit",
            slow,
        );
    });
    // The slot is free again.
    server.assert_healthy("the concurrency cap");
}

#[test]
fn answers_are_cut_at_their_byte_cap_and_say_so() {
    let env = Env::new("sql-limits-answer", 1);
    let mut server = Server::start(
        &env,
        "serve-answer",
        &[("sql_max_answer_mb", "1"), ("sql_max_rows", "2000")],
    );
    let sql = "SELECT value AS v, repeat('x', 1000) AS s FROM range(5000)";
    let body = json!({ "sql": sql }).to_string();
    let mut answer = server
        .http
        .post(format!("{}/v1/sql", server.base))
        .header("Content-Type", "application/json")
        .send(body)
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.body_mut().read_to_string().expect("a body");
    assert!(text.len() < (1 << 20) + 1024, "{} bytes", text.len());
    let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
    assert_eq!(answer["truncated"], true);
    assert_eq!(answer["truncated_by"], "bytes");
    let rows = answer["rows"].as_array().expect("rows");
    assert_eq!(answer["row_count"], rows.len());
    assert!((900..1100).contains(&rows.len()), "{} rows", rows.len());

    // Small rows meet the row cap first.
    let (status, answer) = server.sql("SELECT value FROM range(200000)");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["truncated_by"], "rows");
    assert_eq!(answer["row_count"], 2000);
    server.assert_healthy("answers past the byte cap");
}

#[test]
fn values_json_cannot_hold_get_a_json_400() {
    let env = Env::new("sql-limits-unwritable", 1);
    let mut server = Server::start(&env, "serve-unwritable", &[]);
    let sql = "SELECT map([1], [2]) AS m";
    assert_error(&server.sql(sql), 400, "CAST the column to VARCHAR", sql);
    // Types arrow-json does write still answer.
    for sql in [
        "SELECT INTERVAL '1 day' AS i",
        "SELECT map(['a'], [1]) AS m",
        "SELECT arrow_cast([1], 'LargeList(Int64)') AS l",
        "SELECT named_struct('a', [1, 2]) AS s",
    ] {
        let (status, answer) = server.sql(sql);
        assert_eq!(status, 200, "{sql}: {answer}");
    }
    server.assert_healthy("unwritable values");
}

#[test]
fn a_limit_of_zero_is_refused_at_start_up() {
    let env = Env::new("sql-limits-zero", 1);
    for key in [
        "sql_max_rows",
        "sql_max_answer_mb",
        "sql_timeout_seconds",
        "sql_memory_mb",
        "sql_max_concurrent",
    ] {
        let mut command = env.herd();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env(format!("HERD_SERVE__{}", key.to_uppercase()), "0");
        let mut process = Background::spawn(command, env.dir(), &format!("zero-{key}"));
        let status = process.wait(FINISH);
        assert!(!status.success(), "{key} = 0 started a server");
        let stderr = process.stderr();
        let error = stderr.lines().find(|l| l.contains(key)).unwrap_or_default();
        assert!(
            error.contains(&format!("serve.{key}: 0 would switch the limit off")),
            "{key}: {stderr}"
        );
    }
}
