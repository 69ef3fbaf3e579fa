//! The dashboard page of `herd serve` in a real browser: over a small lake built
//! through the whole pipeline, Debian's headless Chromium (driven by
//! `tests/dashboard/dashboard.mjs` with playwright-core) loads `/`, waits until
//! every chart holds data read through `POST /v1/sql` and `GET /v1/pipeline`, picks
//! another key and sees its chart change, and takes a full-page screenshot, copied
//! to `<target>/dashboard.png` for a person to look at.
//!
//! Needs Node.js 20+ and Chromium: `apt-get install -y nodejs npm chromium
//! chromium-driver`; the test fails (it does not skip) when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use herd_tests::env::Env;
use herd_tests::http;
use herd_tests::process::{Background, Ran};
use herd_tests::small_lake::{self, SmallLakeOptions};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "s3cret";
const INSTALL: &str = "apt-get install -y nodejs npm chromium chromium-driver";
/// The whole browser run, generous for a debug server on a small machine.
const BROWSER: Duration = Duration::from_secs(240);

/// `node`'s major version, failing the test with how to install it.
fn node_major() -> u32 {
    let ran = Ran::run(Command::new("node").arg("--version"), None);
    assert!(
        ran.success,
        "node is missing ({}): install it with `{INSTALL}`",
        ran.stderr.trim()
    );
    ran.stdout
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("unexpected `node --version`: {}", ran.stdout))
}

/// `tests/dashboard` with its locked dependencies installed (`npm ci` once).
fn browser_driver() -> PathBuf {
    let dir = herd_tests::workspace_root().join("tests").join("dashboard");
    if !dir.join("node_modules").join("playwright-core").is_dir() {
        let ran = Ran::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            None,
        );
        assert!(
            ran.success,
            "`npm ci` in {} failed (npm comes with `{INSTALL}`):\n{}",
            dir.display(),
            ran.stderr
        );
    }
    dir
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| herd_tests::workspace_root().join("target"))
}

fn http_json(url: &str, body: Option<&str>) -> (u16, Value) {
    http::json(&http::agent(), url, body, None)
}

/// The page and its assets: content types, caching headers, revalidation with the
/// ETag, and a 404 for an unknown asset.
fn check_assets(base: &str) {
    let agent = http::agent();
    let head = |path: &str, etag: Option<&str>| {
        let mut request = agent.get(format!("{base}{path}"));
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        let mut answer = request
            .call()
            .unwrap_or_else(|e| panic!("no HTTP answer for {path}: {e}"));
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, cache, tag) = (
            header("content-type"),
            header("cache-control"),
            header("etag"),
        );
        let status = answer.status().as_u16();
        let length = answer
            .body_mut()
            .read_to_vec()
            .map(|b| b.len())
            .unwrap_or_default();
        (status, content_type, cache, tag, length)
    };
    for (path, kind, cache) in [
        ("/", "text/html", "no-cache"),
        ("/assets/dashboard.js", "text/javascript", "no-cache"),
        ("/assets/dashboard.css", "text/css", "no-cache"),
        (
            "/assets/vendor/chart.umd.min.js",
            "text/javascript",
            "max-age=",
        ),
    ] {
        let (status, content_type, cache_control, etag, length) = head(path, None);
        assert_eq!(status, 200, "{path}");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(cache_control.contains(cache), "{path}: {cache_control}");
        assert!(
            length > 0 && !etag.is_empty(),
            "{path}: {length} bytes, etag {etag:?}"
        );
        let (status, _, _, _, length) = head(path, Some(&etag));
        assert_eq!(
            (status, length),
            (304, 0),
            "{path} revalidated with its ETag"
        );
    }
    assert_eq!(head("/assets/nothing.js", None).0, 404);
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    // A blank page of this size compresses to a few kilobytes; charts take more.
    assert!(
        bytes.len() > 50_000,
        "{} holds only {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn the_dashboard_draws_every_chart_from_a_real_lake() {
    // Tools first: a missing browser fails here, before minutes of pipeline.
    let major = node_major();
    assert!(
        major >= 20,
        "node {major} is too old for playwright-core: install Node.js 20+ (`{INSTALL}`)"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it with `{INSTALL}`"
    );
    let driver = browser_driver();

    let env = Env::new("dashboard", 3);
    let lake = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: None,
            rule: None,
            score: true,
        },
    );
    eprintln!(
        "lake: {} sales rows; {} promoted, {} rejected; {} prediction rows",
        lake.archived, lake.promoted, lake.rejected, lake.predictions
    );
    assert!(
        lake.promoted > 0 && lake.rejected > 0,
        "the decisions chart should show both outcomes: {lake:?}"
    );

    // Store S0001's production models also forecast the last four weeks from the
    // day before them: those forecast days have arrived, so the page scores them.
    let earlier = herd_tests::cli::herd_ok(
        &env,
        "score-earlier",
        &[
            "score",
            "--batch",
            "--as-of",
            "2023-01-07",
            "--tag",
            "store_id=S0001",
        ],
    );
    let summary = herd_tests::cli::line(&earlier, "scored ");
    let earlier_rows = summary
        .split_once(": ")
        .map(|(_, rest)| herd_tests::cli::numbers(rest)[0])
        .unwrap_or_else(|| panic!("unexpected score summary: {summary}"));
    assert!(earlier_rows > 0, "{summary}");

    let (mut server, base) = start_server(&env, "serve", &lake.archive_group, &[]);

    // What the page reads, checked here too so a failure names its source.
    let (status, pipeline) = http_json(&format!("{base}/v1/pipeline"), None);
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["rule"]["accuracy_threshold"], 0.8, "{pipeline}");
    assert_eq!(
        pipeline["tables"]["sales"]["rows"], lake.archived,
        "{pipeline}"
    );
    let groups = pipeline["kafka"]["groups"].as_array().expect("groups");
    let archive = groups
        .iter()
        .find(|g| g["service"] == "archive")
        .expect("the archive group");
    assert_eq!(archive["group"], lake.archive_group.as_str(), "{archive}");
    assert_eq!(archive["lag"], 0, "everything archived: {archive}");
    assert_eq!(archive["consumed"], lake.archived, "{archive}");
    let (status, answer) = http_json(
        &format!("{base}/v1/sql"),
        Some(r#"{"sql": "SELECT count(*) AS n FROM predictions"}"#),
    );
    assert_eq!(
        status, 200,
        "POST /v1/sql (is herd built with --features sql?): {answer}"
    );
    assert_eq!(
        answer["rows"][0]["n"],
        lake.predictions + earlier_rows,
        "{answer}"
    );

    check_assets(&base);

    let screenshot = env.path("dashboard.png");
    run_browser(
        &env,
        "browser",
        &driver,
        &format!("{base}/"),
        &screenshot,
        None,
    );
    assert_png(&screenshot);
    let copy = target_dir().join("dashboard.png");
    std::fs::copy(&screenshot, &copy)
        .unwrap_or_else(|e| panic!("copying the screenshot to {}: {e}", copy.display()));
    eprintln!("screenshot: {}", copy.display());
    assert!(server.is_running(), "the server kept serving");

    // Behind a bearer token: the page asks for it once and sends it with every
    // request.
    let (_guarded_server, guarded) = start_server(
        &env,
        "serve-token",
        &lake.archive_group,
        &["--token", TOKEN],
    );
    let (status, answer) = http_json(&format!("{guarded}/v1/pipeline"), None);
    assert_eq!(status, 401, "{answer}");
    let screenshot = env.path("dashboard-token.png");
    run_browser(
        &env,
        "browser-token",
        &driver,
        &format!("{guarded}/"),
        &screenshot,
        Some(TOKEN),
    );
    assert_png(&screenshot);
}

/// Starts `herd serve` on a free port with `extra` flags, reporting on the lake's
/// archive group; returns the server and its base URL.
fn start_server(
    env: &Env,
    name: &str,
    archive_group: &str,
    extra: &[&str],
) -> (Background, String) {
    env.start_serve(name, |command| {
        command
            .args(extra)
            .env("HERD_ARCHIVE__GROUP", archive_group);
    })
}

/// Runs the page check in Chromium; fails the test with its output unless it
/// passes.
fn run_browser(
    env: &Env,
    name: &str,
    driver: &Path,
    url: &str,
    screenshot: &Path,
    token: Option<&str>,
) {
    let mut node = Command::new("node");
    node.arg(driver.join("dashboard.mjs"))
        .arg(url)
        .arg(screenshot)
        .args(token)
        .env("HERD_CHROMIUM", CHROMIUM);
    let mut browser = Background::spawn(node, env.dir(), name);
    let status = browser.wait(BROWSER);
    eprintln!("{name}:\n{}", browser.stdout());
    assert!(
        status.success(),
        "{name}: the dashboard check failed ({status}):\n{}\n{}",
        browser.stdout(),
        browser.stderr()
    );
}
