//! `herd serve` against real production models: every key answers, its model loaded
//! on demand into a cache that never exceeds its budget though more models exist
//! than fit; bad ids, horizons and bodies get a 4xx with a reason while the server
//! keeps serving; a bearer token is enforced when set; a promotion reaches the
//! answers within seconds, through the event on the models topic; and batch scoring
//! run twice for one day replaces that day's predictions instead of adding to them;
//! answers start after the newest archived day, and a key without a production model
//! gets its own baseline, labelled so.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use herd_tests::cli::{herd_ok, line, numbers};
use herd_tests::env::Env;
use herd_tests::http;
use herd_tests::process::Background;
use herd_tests::small_lake::{self, SmallLakeOptions};
use serde_json::Value;

/// A small lake with one production model per key: 3 stores × 20 items × 400 days.
fn lake_with_production(env: &Env, models: &str) {
    let lake = small_lake::build(
        env,
        &SmallLakeOptions {
            models: Some(models.to_owned()),
            rule: Some("true".to_owned()),
            score: false,
        },
    );
    assert_eq!(lake.promoted, small_lake::KEYS, "every key promoted");
}

/// The counts of "decided N candidates (promoter RUN): P promoted, R rejected, …",
/// N first (the run id holds digits too).
fn decided_counts(stdout: &str) -> Vec<u64> {
    let summary = line(stdout, "decided ");
    let (head, rest) = summary.split_once(" (promoter ").expect("a promoter run");
    let (_, counts) = rest.split_once("): ").expect("counts");
    let mut all = numbers(head);
    all.extend(numbers(
        counts.split(" events on ").next().unwrap_or_default(),
    ));
    all
}

struct Server {
    base: String,
    process: Background,
    /// Reports 4xx and 5xx as answers, not as errors.
    http: ureq::Agent,
}

impl Server {
    fn start(env: &Env, name: &str, extra: &[&str]) -> Server {
        let (process, base) = env.start_serve(name, |command| {
            command.args(extra);
        });
        Server {
            base,
            process,
            http: http::agent(),
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.send(self.http.get(format!("{}{path}", self.base)).call())
    }

    fn get_with_token(&self, path: &str, token: &str) -> (u16, String) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {token}"))
                .call(),
        )
    }

    fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
        let body: Vec<u8> = body.into();
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("Content-Type", "application/json")
                .send(&body[..]),
        )
    }

    /// POSTs a JSON body of `length` bytes, sent in 1 MiB writes until the server
    /// stops taking them, and returns its answer; `None` when the server closed the
    /// connection before an answer could be read.
    fn post_oversized(&self, path: &str, length: usize) -> Option<(u16, String)> {
        let address = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("a connection");
        let timeout = Some(Duration::from_secs(30));
        stream.set_write_timeout(timeout).expect("a write timeout");
        stream.set_read_timeout(timeout).expect("a read timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        // A JSON object's start, then blanks (JSON whitespace) up to the length.
        let start = br#"{"store_id":"S0001","item_id":"I00001","price":[1"#;
        let blanks = vec![b' '; 1 << 20];
        let mut sent = 0;
        let mut send = || -> std::io::Result<()> {
            stream.write_all(head.as_bytes())?;
            stream.write_all(start)?;
            sent = start.len();
            while sent < length {
                let n = blanks.len().min(length - sent);
                stream.write_all(&blanks[..n])?;
                sent += n;
            }
            Ok(())
        };
        if let Err(e) = send() {
            eprintln!("the server stopped reading after {sent} of {length} bytes: {e}");
        }
        let mut answer = Vec::new();
        if let Err(e) = stream.read_to_end(&mut answer) {
            eprintln!("reading the answer: {e} ({} bytes read)", answer.len());
        }
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    fn send(&self, result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut response = result.unwrap_or_else(|e| panic!("no HTTP answer: {e}"));
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (status, body)
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"))
    }

    /// Prometheus samples without labels, by name.
    fn metrics(&self) -> BTreeMap<String, f64> {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.contains('{'))
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect()
    }
}

fn keys() -> Vec<(String, String)> {
    (1..=3)
        .flat_map(|s| (1..=20).map(move |i| (format!("S{s:04}"), format!("I{i:05}"))))
        .collect()
}

/// A 4xx JSON error with a reason.
fn assert_error(answer: (u16, String), status: u16, context: &str) {
    assert_eq!(answer.0, status, "{context}: {}", answer.1);
    let body: Value = serde_json::from_str(&answer.1)
        .unwrap_or_else(|e| panic!("{context}: error is not JSON ({e}): {}", answer.1));
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{context}: no reason: {body}"
    );
}

#[test]
fn serve_answers_every_key_within_its_cache_budget_and_follows_promotions() {
    let env = Env::new("serve", 3);
    lake_with_production(&env, "seasonal_naive");
    // About six models fit in 20 KB; 60 keys are asked for.
    let mut server = Server::start(&env, "serve", &["--model-cache-mb", "0.02"]);
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(server.get("/readyz").0, 200);

    for (store, item) in keys() {
        let answer = server.json(&format!("/v1/forecast/{store}/{item}?horizon=14"));
        assert_eq!(answer["store_id"], store.as_str());
        assert_eq!(answer["model_version"], 1, "{answer}");
        let points = answer["forecast"].as_array().expect("points");
        assert_eq!(points.len(), 14, "{answer}");
        for point in points {
            let (f, lo, hi) = (
                point["forecast"].as_f64().unwrap(),
                point["lower"].as_f64().unwrap(),
                point["upper"].as_f64().unwrap(),
            );
            assert!(lo <= f && f <= hi && lo >= 0.0, "{point}");
        }
        let metrics = server.metrics();
        assert!(
            metrics["herd_model_cache_bytes"] <= metrics["herd_model_cache_budget_bytes"],
            "{metrics:?}"
        );
    }
    let metrics = server.metrics();
    assert_eq!(metrics["herd_production_models"], 60.0, "{metrics:?}");
    assert!(
        metrics["herd_model_cache_misses_total"] >= 60.0,
        "{metrics:?}"
    );
    assert!(
        metrics["herd_model_cache_evictions_total"] > 0.0,
        "{metrics:?}"
    );
    assert!(metrics["herd_model_cache_models"] < 60.0, "{metrics:?}");
    // The default horizon is 28 days.
    let answer = server.json("/v1/forecast/S0001/I00001");
    assert_eq!(answer["forecast"].as_array().map(Vec::len), Some(28));

    // Bad input: a reason and a 4xx each, and the server keeps serving.
    assert_error(server.get("/v1/forecast/S0009/I00009"), 404, "unknown key");
    assert_error(server.get("/v1/forecast/%2E%2E/I00001"), 400, "..");
    assert_error(
        server.get("/v1/forecast/S0001%2FI00001/x"),
        400,
        "encoded slash",
    );
    assert_error(
        server.get("/v1/forecast/S0001/I00001?horizon=0"),
        400,
        "horizon 0",
    );
    assert_error(
        server.get("/v1/forecast/S0001/I00001?horizon=100000"),
        400,
        "horizon 100000",
    );
    assert_error(
        server.get("/v1/forecast/S0001/I00001?horizon=x"),
        400,
        "horizon x",
    );
    assert_error(
        server.post("/v1/forecast", "{not json"),
        400,
        "malformed JSON",
    );
    // A 100 MB body: the server may answer 413 before reading it all and close the
    // connection while it is still being sent; either way it keeps serving.
    match server.post_oversized("/v1/forecast", 100 << 20) {
        Some(answer) => assert_error(answer, 413, "a 100 MB body"),
        None => eprintln!("the server closed the connection of a 100 MB body"),
    }
    assert!(
        server.process.is_running(),
        "the server survives a 100 MB body"
    );
    assert_eq!(server.get("/healthz").0, 200, "still serving after 100 MB");
    assert_eq!(
        server.json("/v1/forecast/S0001/I00001")["store_id"],
        "S0001"
    );
    let what_if = server.post(
        "/v1/forecast",
        r#"{"store_id":"S0001","item_id":"I00001","horizon":7,"price":[1.5,1.5],"promo":[true,true,true]}"#,
    );
    assert_eq!(what_if.0, 200, "{}", what_if.1);
    // The answer says which of the plan's covariates its model reads.
    let answer: serde_json::Value = serde_json::from_str(&what_if.1).unwrap();
    let expected = match answer["model_type"].as_str() {
        Some("ridge") => serde_json::json!(["price", "promo"]),
        _ => serde_json::json!([]),
    };
    assert_eq!(answer["covariates_used"], expected, "{answer}");
    let openapi = server.json("/openapi.json");
    assert!(openapi["paths"]["/v1/forecast"].is_object(), "{openapi}");
    assert_eq!(server.get("/healthz").0, 200, "still serving");

    // A better model is promoted; the server answers with it within seconds.
    herd_ok(&env, "train-2", &["train", "--once"]);
    let stdout = herd_ok(&env, "promote-2", &["promote", "--once"]);
    let promoted = decided_counts(&stdout)[1];
    assert!(promoted > 0, "nothing beat seasonal naive: {stdout}");
    let production = herd_tests::production::ProductionTable::read(&env.lake_root());
    let (store, item) = production
        .rows
        .iter()
        .find(|r| r.version == 2)
        .map(|r| (r.store_id.clone(), r.item_id.clone()))
        .expect("a version 2 in production");
    let started = Instant::now();
    loop {
        let answer = server.json(&format!("/v1/forecast/{store}/{item}"));
        if answer["model_version"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still version 1 after 15 s: {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "promotion visible after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Reads `predictions` with Python's deltalake: rows, distinct (key, as_of, step)
/// and rows per as-of date.
const PREDICTIONS: &str = r#"
import collections, json, sys
from deltalake import DeltaTable

data = DeltaTable(sys.argv[1]).to_pyarrow_table(columns=["key", "as_of", "step"])
keys, days, steps = (data.column(c).to_pylist() for c in ("key", "as_of", "step"))
print(json.dumps({
    "rows": data.num_rows,
    "distinct": len(set(zip(keys, days, steps))),
    "by_day": {str(d): n for d, n in collections.Counter(days).items()},
}))
"#;

#[test]
fn batch_scoring_replaces_its_day_and_serve_requires_its_token() {
    let env = Env::new("serve-token", 3);
    lake_with_production(&env, "seasonal_naive");

    // Twice for the same day, then once for an earlier day: the second run
    // replaces the first's rows.
    for name in ["score-1", "score-2"] {
        let stdout = herd_ok(&env, name, &["score", "--batch"]);
        let summary = line(&stdout, "scored ");
        assert!(summary.starts_with("scored 60 keys as of "), "{summary}");
        assert!(summary.contains(": 1680 rows to predictions"), "{summary}");
    }
    let stdout = herd_ok(
        &env,
        "score-3",
        &[
            "score",
            "--batch",
            "--as-of",
            "2022-12-31",
            "--tag",
            "store_id=S0001",
        ],
    );
    assert!(
        line(&stdout, "scored ").starts_with("scored 20 keys as of 2022-12-31"),
        "{stdout}"
    );
    let seen =
        herd_tests::python::run_script(PREDICTIONS, &env.lake_root().join("predictions"), &[]);
    assert_eq!(seen["rows"], 1680 + 560, "{seen}");
    assert_eq!(
        seen["distinct"], seen["rows"],
        "duplicated predictions: {seen}"
    );
    assert_eq!(seen["by_day"]["2022-12-31"], 560, "{seen}");

    let server = Server::start(&env, "serve-token", &["--token", "s3cret"]);
    assert_error(server.get("/v1/forecast/S0001/I00001"), 401, "no token");
    assert_error(
        server.get_with_token("/v1/forecast/S0001/I00001", "wrong"),
        401,
        "wrong token",
    );
    let (status, body) = server.get_with_token("/v1/forecast/S0001/I00001", "s3cret");
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/healthz").0, 200, "health needs no token");
    drop(server.process);
}

/// Polls `path` until `done` holds for its answer, for at most `within`.
fn wait_for_answer(
    server: &Server,
    path: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let answer = server.json(path);
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < within,
            "{path}: still {answer} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn answers_start_after_the_newest_archived_day_and_keys_without_a_model_get_their_baseline() {
    use herd_tests::simulated::{HISTORY_DAYS, day, published, simulate, sold_history};

    let env = Env::new("serve-fresh", 3);
    // Store S0001's keys have a production model, trained through the history's
    // last day; the other stores' keys have none.
    let production = herd_tests::live::lake_with_production(&env, r#"store_id == "S0001""#);
    assert_eq!(production.current().len(), 20);
    // The lake is read again every 2 s (30 by default).
    let (process, base) = env.start_serve("serve-fresh", |command| {
        command.env("HERD_SERVE__REFRESH_SECONDS", "2");
    });
    let server = Server {
        base,
        process,
        http: http::agent(),
    };
    let last = day(HISTORY_DAYS - 1);
    let date = |answer: &Value, name: &str| -> chrono::NaiveDate {
        answer[name]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("no date `{name}` in {answer}"))
    };
    let first_day = |answer: &Value| date(&answer["forecast"][0], "date");

    let champion = server.json("/v1/forecast/S0001/I00001");
    assert_eq!(
        (
            champion["origin"].as_str(),
            champion["model_version"].as_i64()
        ),
        (Some("champion"), Some(1)),
        "{champion}"
    );
    assert_eq!(date(&champion, "as_of"), last, "{champion}");
    assert_eq!(date(&champion, "trained_through"), last, "{champion}");
    assert_eq!(
        first_day(&champion),
        last + chrono::Days::new(1),
        "{champion}"
    );

    // A key the rule turned away: its own seasonal naive, from its own last week.
    let history = sold_history(&env);
    let baseline = server.json("/v1/forecast/S0002/I00003?horizon=7");
    assert_eq!(
        (
            baseline["origin"].as_str(),
            baseline["model_type"].as_str(),
            baseline["model_version"].is_null(),
            baseline["trained_through"].is_null(),
        ),
        (Some("baseline"), Some("seasonal_naive"), true, true),
        "{baseline}"
    );
    assert_eq!(date(&baseline, "as_of"), last, "{baseline}");
    for (step, point) in baseline["forecast"]
        .as_array()
        .expect("points")
        .iter()
        .enumerate()
    {
        let week_before = date(point, "date") - chrono::Days::new(7);
        let sold = f64::from(history[&("S0002/I00003".to_owned(), week_before)] as f32);
        let forecast = point["forecast"].as_f64().expect("a number");
        assert!(
            (forecast - sold).abs() < 1e-6,
            "step {}: {point}, sold {sold}",
            step + 1
        );
    }
    // A what-if of a fallback says it reads no covariates.
    let (status, body) = server.post(
        "/v1/forecast",
        r#"{"store_id":"S0003","item_id":"I00020","horizon":3,"price":[0.5]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let what_if: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(what_if["origin"], "baseline", "{what_if}");
    assert_eq!(
        what_if["covariates_used"],
        serde_json::json!([]),
        "{what_if}"
    );
    // Neither a model nor sales: nothing to forecast from.
    assert_error(server.get("/v1/forecast/S0009/I00009"), 404, "unknown key");

    // Five more days are sold and archived; no model is retrained. Within the
    // server's refresh, answers start after the newest day.
    published(&simulate(&env, "live", HISTORY_DAYS, 5, "10").wait_success(herd_tests::cli::FINISH));
    assert_eq!(
        herd_tests::cli::archive(&env, "3"),
        5 * 60,
        "the live days archived once"
    );
    let newest = day(HISTORY_DAYS + 4);
    let started = Instant::now();
    let fresh = wait_for_answer(
        &server,
        "/v1/forecast/S0001/I00001",
        Duration::from_secs(60),
        |a| date(a, "as_of") == newest,
    );
    eprintln!(
        "newest day served after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(fresh["model_version"], 1, "{fresh}");
    assert_eq!(date(&fresh, "trained_through"), last, "{fresh}");
    assert_eq!(first_day(&fresh), newest + chrono::Days::new(1), "{fresh}");
    let baseline = server.json("/v1/forecast/S0002/I00003");
    assert_eq!(date(&baseline, "as_of"), newest, "{baseline}");
    assert_eq!(
        first_day(&baseline),
        newest + chrono::Days::new(1),
        "{baseline}"
    );

    // Batch scoring forecasts every key too, each labelled with what made it.
    let stdout = herd_ok(&env, "score", &["score", "--batch"]);
    let summary = line(&stdout, "scored ");
    assert!(
        summary.starts_with(&format!(
            "scored 60 keys as of {newest} (20 with a production model, 20 matched; 40 from \
             their own baseline, 0 cold start): 1680 rows"
        )),
        "{summary}"
    );
    let table = herd_tests::predictions::PredictionsTable::read(&env.lake_root(), &[]);
    assert_eq!(table.rows.len(), 1680);
    for row in &table.rows {
        let expected = if row.store_id == "S0001" {
            (Some("champion"), Some(1))
        } else {
            (Some("baseline"), None)
        };
        assert_eq!(
            (row.origin.as_deref(), row.model_version),
            expected,
            "{row:?}"
        );
    }
}
