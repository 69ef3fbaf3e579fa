//! `herd serve` against slow, careless and hostile clients, each attack made on a
//! real server process: connections that send half a header are cut off at the
//! header deadline while others are answered; connections past the cap get 503 at
//! once; requests past the concurrency limit are shed (`/healthz` still answers)
//! and a request that outlives its deadline gets 503; the token guards the API, its
//! data and the metrics but not the probes or the page; a `Host` that names another
//! server gets 421; a client's mistakes get a JSON error with their status; a model
//! that cannot be loaded answers 500 without the server's file paths; a burst on
//! `/v1/pipeline` costs one computation and no threads per request; a lake that
//! does not answer leaves the view answering within its deadline and the server
//! stoppable. After each attack the server still answers `/healthz`.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use herd_tests::env::Env;
use herd_tests::process::Background;
use herd_tests::small_lake::{self, SmallLakeOptions};
use serde_json::Value;

/// An HTTP answer read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The status line and headers, header names lower-cased.
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.eq_ignore_ascii_case(name)).then(|| value.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head, self.body))
    }

    /// A JSON error with a reason and the status it was answered with.
    fn assert_error(&self, status: u16, context: &str) -> String {
        assert_eq!(
            self.status, status,
            "{context}: {}\n{}",
            self.head, self.body
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{context}: {body}");
        let reason = body["error"].as_str().unwrap_or_default().to_owned();
        assert!(!reason.is_empty(), "{context}: no reason: {body}");
        reason
    }
}

/// Reads an answer to its end (the requests here close the connection).
fn read_answer(stream: &mut TcpStream, context: &str) -> Answer {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        assert!(!bytes.is_empty(), "{context}: no answer: {e}");
    }
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{context}: no HTTP answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{context}: no status: {head}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("a connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a read timeout");
    stream
}

/// One request on a connection of its own: `method path`, the `Host` header
/// `host`, more header lines and a body.
fn request(
    address: &str,
    method: &str,
    path: &str,
    host: &str,
    headers: &str,
    body: &str,
) -> Answer {
    let mut stream = connect(address);
    let length = if body.is_empty() && method == "GET" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}{length}Connection: close\r\n\r\n{body}"
    );
    stream
        .write_all(raw.as_bytes())
        .expect("the request is sent");
    read_answer(&mut stream, &format!("{method} {path}"))
}

fn get(address: &str, path: &str) -> Answer {
    request(address, "GET", path, address, "", "")
}

fn get_with(address: &str, path: &str, headers: &str) -> Answer {
    request(address, "GET", path, address, headers, "")
}

fn assert_healthy(address: &str, context: &str) {
    let answer = get(address, "/healthz");
    assert_eq!(answer.status, 200, "{context}: /healthz: {answer:?}");
}

/// Whether the server closed `stream` (end of file or a reset) within its read
/// timeout, rather than keeping it open.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn address_of(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

fn start(env: &Env, name: &str, vars: &[(&str, &str)], args: &[&str]) -> (Background, String) {
    let (server, base) = env.start_serve(name, |command| {
        command.envs(vars.iter().copied()).args(args);
    });
    (server, address_of(&base))
}

/// `herd serve` with `args` and `vars`, which must refuse to start: its exit
/// status and what it printed.
fn refused_start(
    env: &Env,
    name: &str,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (ExitStatus, String) {
    let mut command = env.herd();
    command.arg("serve").args(args).envs(vars.iter().copied());
    let mut server = Background::spawn(command, env.dir(), name);
    let status = server.wait(Duration::from_secs(60));
    (status, server.stderr())
}

#[test]
fn slow_clients_are_cut_off_at_the_header_deadline_while_others_are_answered() {
    let env = Env::new("hardening-slow", 1);
    let (server, address) = start(
        &env,
        "serve-slow",
        &[("HERD_SERVE__HEADER_READ_TIMEOUT_SECONDS", "2")],
        &[],
    );
    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = connect(&address);
            stream
                .set_read_timeout(Some(Duration::from_secs(8)))
                .expect("a read timeout");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .expect("half a header");
            stream
        })
        .collect();
    // One more sends its header a byte at a time, never finishing it.
    let dribbler = {
        let address = address.clone();
        std::thread::spawn(move || {
            let mut stream = connect(&address);
            let started = Instant::now();
            let mut sent = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
                .is_ok();
            while sent && started.elapsed() < Duration::from_secs(15) {
                std::thread::sleep(Duration::from_millis(300));
                sent = stream.write_all(b"a").is_ok();
            }
            started.elapsed()
        })
    };

    let answering = Instant::now();
    for _ in 0..20 {
        assert_healthy(&address, "while 65 clients hold half a header");
    }
    assert!(
        answering.elapsed() < Duration::from_secs(5),
        "other clients waited {:?}",
        answering.elapsed()
    );

    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream),
            "slow connection {i} still open {:?} after it opened",
            opened.elapsed()
        );
    }
    assert!(
        opened.elapsed() < Duration::from_secs(8),
        "cut off only after {:?}",
        opened.elapsed()
    );
    let dribbled = dribbler.join().expect("the dribbling client");
    assert!(
        dribbled < Duration::from_secs(8),
        "a header sent a byte at a time was cut off only after {dribbled:?}"
    );
    assert_healthy(&address, "after the slow clients");
    drop(server);
}

#[test]
fn connections_past_the_cap_get_503_at_once_and_the_server_recovers() {
    let env = Env::new("hardening-connections", 1);
    let (server, address) = start(
        &env,
        "serve-connections",
        &[
            ("HERD_SERVE__MAX_CONNECTIONS", "4"),
            ("HERD_SERVE__HEADER_READ_TIMEOUT_SECONDS", "3"),
        ],
        &[],
    );
    assert_healthy(&address, "before");
    let idle: Vec<TcpStream> = (0..4).map(|_| connect(&address)).collect();
    std::thread::sleep(Duration::from_millis(300));

    // The server speaks first: no request is needed to learn it is full.
    let mut extra = connect(&address);
    let answer = read_answer(&mut extra, "a connection past the cap");
    let reason = answer.assert_error(503, "a connection past the cap");
    assert!(reason.contains("4 connections"), "{reason}");
    assert_eq!(answer.header("retry-after"), Some("1"), "{}", answer.head);

    // The idle connections are closed at the header deadline; then all is well.
    std::thread::sleep(Duration::from_millis(3500));
    assert_healthy(&address, "once the idle connections were closed");
    drop(idle);
    drop(server);
}

#[test]
fn requests_past_the_limit_are_shed_and_a_late_request_gets_503() {
    let env = Env::new("hardening-requests", 1);
    let (server, address) = start(
        &env,
        "serve-requests",
        &[
            ("HERD_SERVE__MAX_CONCURRENT_REQUESTS", "2"),
            ("HERD_SERVE__REQUEST_TIMEOUT_SECONDS", "2"),
        ],
        &[],
    );
    assert_eq!(get(&address, "/openapi.json").status, 200);
    // Two requests whose bodies never finish hold both places.
    let sent = Instant::now();
    let mut holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(&address);
            let head = format!(
                "POST /v1/forecast HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\nConnection: close\r\n\r\n{{\"store_id\""
            );
            stream.write_all(head.as_bytes()).expect("half a request");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let shed = get(&address, "/openapi.json");
    let reason = shed.assert_error(503, "a request past the limit");
    assert!(reason.contains("in flight"), "{reason}");
    assert_eq!(shed.header("retry-after"), Some("1"), "{}", shed.head);
    assert_healthy(&address, "/healthz is never shed");

    for (i, holder) in holders.iter_mut().enumerate() {
        let answer = read_answer(holder, "a request past its deadline");
        let reason = answer.assert_error(503, &format!("slow request {i}"));
        assert!(reason.contains("within 2 s"), "{reason}");
    }
    assert!(
        sent.elapsed() < Duration::from_secs(6),
        "the deadline fell after {:?}",
        sent.elapsed()
    );
    assert_eq!(
        get(&address, "/openapi.json").status,
        200,
        "places free again"
    );
    assert_healthy(&address, "after the slow requests");
    drop(server);
}

#[test]
fn the_token_guards_the_api_its_data_and_the_metrics_but_not_the_probes_or_the_page() {
    const TOKEN: &str = "s3cret-token";
    let env = Env::new("hardening-token", 1);
    let (server, address) = start(&env, "serve-token", &[], &["--token", TOKEN]);
    let bearer = |token: &str| format!("Authorization: Bearer {token}\r\n");
    let sql = r#"{"sql": "SELECT 1 AS one"}"#;
    let what_if = r#"{"store_id": "S0001", "item_id": "I00001"}"#;
    let json = "Content-Type: application/json\r\n";
    // (method, path, body) of every route that needs the token.
    let guarded = [
        ("GET", "/v1/forecast/S0001/I00001", ""),
        ("POST", "/v1/forecast", what_if),
        ("POST", "/v1/sql", sql),
        ("GET", "/v1/pipeline", ""),
        ("GET", "/metrics", ""),
    ];
    for (method, path, body) in guarded {
        for (token, context) in [
            (None, "no token"),
            (Some("s3cret-tokem"), "a wrong token of the same length"),
            (Some("s3cret"), "the token's prefix"),
            (Some(""), "an empty token"),
        ] {
            let headers = format!("{json}{}", token.map(bearer).unwrap_or_default());
            let answer = request(&address, method, path, &address, &headers, body);
            answer.assert_error(401, &format!("{method} {path} with {context}"));
        }
        let headers = format!("{json}{}", bearer(TOKEN));
        let answer = request(&address, method, path, &address, &headers, body);
        assert_ne!(
            answer.status, 401,
            "{method} {path} with the token: {answer:?}"
        );
    }
    assert_eq!(
        get_with(&address, "/v1/pipeline", &bearer(TOKEN)).status,
        200
    );
    assert_eq!(get_with(&address, "/metrics", &bearer(TOKEN)).status, 200);
    // The probes, the API's description and the page (which asks for the token).
    for (path, status) in [
        ("/healthz", 200),
        ("/readyz", 503),
        ("/openapi.json", 200),
        ("/", 200),
        ("/assets/dashboard.js", 200),
    ] {
        assert_eq!(get(&address, path).status, status, "{path} without a token");
    }
    assert_healthy(&address, "after the token checks");
    drop(server);
}

#[test]
fn a_non_loopback_address_needs_a_token_or_the_operators_word_and_bad_settings_stop_the_start() {
    let env = Env::new("hardening-exposed", 1);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let everywhere = format!("0.0.0.0:{port}");
    let (status, stderr) = refused_start(&env, "serve-exposed", &[], &["--listen", &everywhere]);
    assert!(
        !status.success(),
        "served {everywhere} without a token: {stderr}"
    );
    assert!(
        stderr.contains("without a token") && stderr.contains("--insecure-no-token"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.contains("error"))
            .count(),
        1,
        "{stderr}"
    );

    for (vars, wanted) in [
        (("HERD_TRAIN__HORIZON", "0"), "train.horizon 0"),
        (("HERD_TRAIN__HORIZON", "400"), "train.horizon 400"),
        (
            ("HERD_SERVE__MAX_CONNECTIONS", "0"),
            "serve.max_connections: 0",
        ),
        (
            ("HERD_SERVE__REQUEST_TIMEOUT_SECONDS", "0"),
            "serve.request_timeout_seconds: 0",
        ),
    ] {
        let (status, stderr) = refused_start(
            &env,
            "serve-bad-setting",
            &[vars],
            &["--listen", "127.0.0.1:0"],
        );
        assert!(!status.success(), "{vars:?} was taken: {stderr}");
        assert!(stderr.contains(wanted), "{vars:?}: {stderr}");
    }

    // Told so, it serves every address; any IP literal may be the Host, no name.
    let mut command = env.herd();
    command.args(["serve", "--listen", &everywhere, "--insecure-no-token"]);
    let mut server = Background::spawn(command, env.dir(), "serve-insecure");
    server.wait_for_log("serving forecasts", Duration::from_secs(60));
    let address = format!("127.0.0.1:{port}");
    let by_ip = request(
        &address,
        "GET",
        "/healthz",
        &format!("192.0.2.7:{port}"),
        "",
        "",
    );
    assert_eq!(by_ip.status, 200, "{by_ip:?}");
    let by_name = request(&address, "GET", "/healthz", "evil.example", "", "");
    by_name.assert_error(421, "a name not configured");
    assert_healthy(&address, "serving every address");
    drop(server);
}

#[test]
fn a_host_that_names_another_server_gets_421() {
    let env = Env::new("hardening-host", 1);
    let (server, address) = start(
        &env,
        "serve-host",
        &[("HERD_SERVE__ALLOWED_HOSTS", "[forecasts.example]")],
        &[],
    );
    let port = address
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    for host in [
        address.clone(),
        format!("localhost:{port}"),
        "LOCALHOST".to_owned(),
        format!("[::1]:{port}"),
        "forecasts.example".to_owned(),
        "Forecasts.Example.:8080".to_owned(),
    ] {
        let answer = request(&address, "GET", "/v1/pipeline", &host, "", "");
        assert_eq!(answer.status, 200, "Host {host}: {answer:?}");
    }
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1.nip.io".to_owned(),
        "forecasts.example.evil.test".to_owned(),
        format!("10.1.2.3:{port}"),
    ] {
        for path in ["/v1/pipeline", "/", "/healthz"] {
            let answer = request(&address, "GET", path, &host, "", "");
            let reason = answer.assert_error(421, &format!("Host {host} on {path}"));
            assert!(reason.contains("allowed_hosts"), "{reason}");
        }
    }
    assert_healthy(&address, "after the foreign hosts");
    drop(server);
}

#[test]
fn client_mistakes_get_a_json_error_with_their_status() {
    let env = Env::new("hardening-errors", 1);
    let (server, address) = start(&env, "serve-errors", &[], &[]);
    let json = "Content-Type: application/json\r\n";
    let what_if = r#"{"store_id": "S0001", "item_id": "I00001"}"#;
    let cases: [(&str, &str, &str, &str, u16); 9] = [
        ("PUT", "/v1/forecast/S0001/I00001", "", "", 405),
        ("GET", "/v1/forecast", "", "", 405),
        ("DELETE", "/healthz", "", "", 405),
        ("GET", "/v1/forecast//I00001", "", "", 400),
        (
            "POST",
            "/v1/forecast",
            "Content-Type: text/plain\r\n",
            what_if,
            415,
        ),
        ("POST", "/v1/forecast", "", what_if, 415),
        ("POST", "/v1/forecast", json, "{\"store_id\": ", 400),
        ("GET", "/v1/forecast/S0001/I00001?horizon=0", "", "", 400),
        ("GET", "/no/such/route", "", "", 404),
    ];
    for (method, path, headers, body, status) in cases {
        let answer = request(&address, method, path, &address, headers, body);
        answer.assert_error(status, &format!("{method} {path}"));
        if status == 405 {
            assert!(
                answer.header("allow").is_some(),
                "{method} {path}: {}",
                answer.head
            );
        }
    }
    assert_healthy(&address, "after the mistakes");
    drop(server);
}

/// Every artifact of the production registry under `dir`, recursively.
fn artifacts(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("_delta_log") {
            artifacts(&path, found);
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
}

#[test]
fn a_model_that_cannot_be_loaded_answers_500_without_the_servers_paths() {
    let env = Env::new("hardening-model", 3);
    let lake = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: Some("seasonal_naive".to_owned()),
            rule: Some("true".to_owned()),
            score: false,
        },
    );
    assert_eq!(lake.promoted, small_lake::KEYS);
    let mut found = Vec::new();
    artifacts(&env.lake_root().join("production"), &mut found);
    assert!(!found.is_empty(), "no artifact under the production root");
    for artifact in &found {
        std::fs::write(artifact, b"not a model").expect("an artifact overwritten");
    }
    let (server, address) = start(&env, "serve-model", &[], &[]);

    // Many requests for one cold key at once: each is told, none sees a path.
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| get(&address, "/v1/forecast/S0001/I00001")))
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("a request"))
            .collect()
    });
    let lake_root = env.lake_root().display().to_string();
    for answer in &answers {
        let reason = answer.assert_error(500, "a model that cannot be loaded");
        assert!(reason.contains("S0001/I00001"), "{reason}");
        assert!(
            !answer.body.contains(&lake_root) && !answer.body.contains(".json"),
            "the answer shows the server's files: {}",
            answer.body
        );
    }
    assert!(
        server.stderr().contains("S0001/I00001"),
        "the log has the reason"
    );
    assert_healthy(&address, "after the failed loads");
    drop(server);
}

/// The `Threads:` line of `/proc/<pid>/status`.
fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_burst_on_the_pipeline_view_costs_one_computation_and_no_threads_per_request() {
    let env = Env::new("hardening-pipeline", 1);
    env.create_topics();
    let (server, address) = start(&env, "serve-pipeline", &[], &[]);
    let pid = server.pid().expect("a running server");
    assert_eq!(get(&address, "/v1/pipeline").status, 200);
    std::thread::sleep(Duration::from_millis(500));
    let before = threads(pid);

    let sampling = std::sync::atomic::AtomicBool::new(true);
    let (peak, bursts) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(threads(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        let mut bursts = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let answers: Vec<Answer> = std::thread::scope(|burst| {
                let tasks: Vec<_> = (0..48)
                    .map(|_| burst.spawn(|| get(&address, "/v1/pipeline")))
                    .collect();
                tasks
                    .into_iter()
                    .map(|t| t.join().expect("a request"))
                    .collect()
            });
            let mut generated: Vec<String> = answers
                .iter()
                .map(|a| {
                    assert_eq!(a.status, 200, "{a:?}");
                    a.json()["generated_at"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            generated.sort();
            generated.dedup();
            bursts.push((started.elapsed(), generated.len()));
            std::thread::sleep(Duration::from_millis(1100));
        }
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        (sampler.join().expect("the sampler"), bursts)
    });
    assert!(
        peak <= before + 8,
        "threads went from {before} to {peak} during the bursts"
    );
    for (elapsed, computations) in &bursts {
        assert!(
            *elapsed < Duration::from_secs(5),
            "a burst took {elapsed:?}"
        );
        assert!(
            *computations <= 2,
            "48 requests computed {computations} answers"
        );
    }
    assert_healthy(&address, "after the bursts");
    drop(server);
}

#[test]
fn a_lake_that_does_not_answer_leaves_the_pipeline_view_answering_and_the_server_stoppable() {
    let env = Env::new("hardening-stuck-lake", 1);
    env.create_topics();
    // The `sales` table has a first commit, and its checkpoint hint is a named pipe
    // nobody writes to: reading it blocks for ever, as a mount or a store that
    // stopped answering would.
    let log = env.sales_table().join("_delta_log");
    std::fs::create_dir_all(&log).expect("the sales log directory");
    std::fs::write(
        log.join("00000000000000000000.json"),
        "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n",
    )
    .expect("a first commit");
    let hint = log.join("_last_checkpoint");
    let made = std::process::Command::new("mkfifo")
        .arg(&hint)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", hint.display());
    let (mut server, address) = start(&env, "serve-stuck-lake", &[], &[]);

    let started = Instant::now();
    let answers: Vec<(Duration, Answer)> = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let asked = Instant::now();
                    let answer = get(&address, "/v1/pipeline");
                    (asked.elapsed(), answer)
                })
            })
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("a request"))
            .collect()
    });
    for (elapsed, answer) in &answers {
        // The lake's part gives up after 8 s; Kafka's part is read meanwhile.
        assert!(
            *elapsed < Duration::from_secs(12),
            "answered in {elapsed:?}"
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        let view = answer.json();
        let sales = view["tables"]["sales"]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(sales.contains("did not answer"), "{view}");
        assert!(view["kafka"]["groups"].is_array(), "{view}");
    }
    // While the lake hangs, the rest of the API answers at once.
    assert_healthy(&address, "with the lake stuck");
    let quick = Instant::now();
    get(&address, "/v1/forecast/S0001/I00001").assert_error(404, "no production model");
    assert!(
        quick.elapsed() < Duration::from_secs(2),
        "{:?}",
        quick.elapsed()
    );
    eprintln!(
        "six pipeline requests over a stuck lake answered in {:?}",
        started.elapsed()
    );

    // The reads still stuck in the lake do not keep the server from stopping.
    server.terminate();
    let stopping = Instant::now();
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{status:?}: {}", server.stderr());
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        stopping.elapsed()
    );
}
