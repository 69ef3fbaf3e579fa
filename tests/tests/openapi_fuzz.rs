//! `/openapi.json` is the contract of `herd serve`, and a fuzzer holds the server to
//! it: Schemathesis (installed by `scripts/test.sh` into the test venv) generates
//! thousands of requests for every route from the document — schema-valid ones and
//! broken ones — against a server on a small lake with a bearer token, once with the
//! token and once without. No answer may be a 5xx, every answer must carry a
//! documented status, content type and schema, and the server must keep answering
//! `/healthz` within its memory budget.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use herd_tests::env::Env;
use herd_tests::http;
use herd_tests::small_lake::{self, SmallLakeOptions};

const TOKEN: &str = "fuzz-token-0123456789";
/// The server's peak RSS after the runs: a small lake, a 64 MiB model cache, DataFusion.
const RSS_BUDGET_MB: f64 = 1024.0;

/// `HERD_SCHEMATHESIS`, else `schemathesis` beside the test venv's Python.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("HERD_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let python = herd_tests::python::interpreter();
    let path = python.with_file_name("schemathesis");
    assert!(
        path.exists(),
        "no Schemathesis at {}: run scripts/test.sh, which installs it, or name it in \
         HERD_SCHEMATHESIS",
        path.display()
    );
    path
}

/// One Schemathesis run against `base`, with `headers`; fails the test with its
/// report unless every check passed. Returns the summary's "N generated" line.
fn fuzz(env: &Env, base: &str, name: &str, headers: &[String]) -> String {
    let config = herd_tests::workspace_root().join("tests/fuzz/schemathesis.toml");
    let mut command = Command::new(schemathesis());
    command
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", &format!("{base}/openapi.json")])
        .args(["--checks", "all"])
        .current_dir(env.dir());
    for header in headers {
        command.args(["--header", header]);
    }
    let started = Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("Schemathesis does not start: {e}"));
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    std::fs::write(env.path(&format!("{name}.report")), &report).ok();
    assert!(
        output.status.success(),
        "{name}: Schemathesis found failures ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("generated,"))
        .unwrap_or("no summary")
        .trim()
        .to_owned();
    eprintln!(
        "{name}: {generated} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    generated
}

#[test]
fn the_server_keeps_its_openapi_contract_under_fuzzing() {
    let env = Env::new("openapi-fuzz", 3);
    let lake = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: Some("seasonal_naive,ridge".to_owned()),
            rule: Some("true".to_owned()),
            score: false,
        },
    );
    assert_eq!(lake.promoted, small_lake::KEYS, "every key promoted");
    let (server, base) = env.start_serve("serve", |command| {
        command.args(["--token", TOKEN]);
    });

    let with_token = fuzz(
        &env,
        &base,
        "with-token",
        &[format!("Authorization: Bearer {TOKEN}")],
    );
    let without_token = fuzz(&env, &base, "without-token", &[]);
    assert!(
        with_token.contains("generated") && without_token.contains("generated"),
        "{with_token} / {without_token}"
    );

    let agent = http::agent();
    let health = agent
        .get(format!("{base}/healthz"))
        .call()
        .expect("the server still answers");
    assert_eq!(health.status().as_u16(), 200);
    let rss = server.peak_rss_mb().expect("the server's memory");
    assert!(
        rss < RSS_BUDGET_MB,
        "peak RSS {rss:.0} MiB over the {RSS_BUDGET_MB} MiB budget"
    );
    eprintln!("server peak RSS {rss:.0} MiB");
}
