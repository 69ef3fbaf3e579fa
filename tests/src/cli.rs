//! Running `herd` commands in a test and reading their one-line summaries.

use std::time::{Duration, Instant};

use crate::env::Env;
use crate::process::Background;

/// Generous: a debug build on a small machine.
pub const FINISH: Duration = Duration::from_secs(300);

/// Runs `herd <args>` in the background (logs in the test's directory) and returns
/// its stdout, failing the test unless it succeeds within [`FINISH`].
pub fn herd_ok(env: &Env, name: &str, args: &[&str]) -> String {
    let mut command = env.herd();
    command.args(args);
    let started = Instant::now();
    let stdout = Background::spawn(command, env.dir(), name).wait_success(FINISH);
    eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    stdout
}

/// The line of `stdout` starting with `prefix`.
pub fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{stdout}"))
}

/// Every number in `text`, in order.
pub fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().expect("digits"))
        .collect()
}

/// Equal up to the last bit or so: JSON text read back by `serde_json` (without its
/// `float_roundtrip` feature) may be one ulp off the value Herd wrote.
pub fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// Publishes `file` with `herd ingest`, failing the test unless every record was
/// delivered; returns how many were.
pub fn ingest(env: &Env, name: &str, file: &str) -> u64 {
    let stdout = herd_ok(env, name, &["ingest", file]);
    let summary = line(&stdout, "delivered ");
    let [delivered, failed, unacknowledged] = numbers(summary)[..] else {
        panic!("unexpected ingest summary: {summary}");
    };
    assert_eq!((failed, unacknowledged), (0, 0), "{summary}");
    delivered
}

/// Archives everything on the sales topic into the lake with `herd archive` in a
/// group of its own, stopping after `idle_exit` seconds without a record; returns
/// the rows archived.
pub fn archive(env: &Env, idle_exit: &str) -> u64 {
    let group = crate::unique("archive");
    let stdout = herd_ok(
        env,
        "archive",
        &["archive", "--group", &group, "--idle-exit", idle_exit],
    );
    numbers(line(&stdout, "archived "))[0]
}

/// Model versions registered so far (`herd models list --all-versions`), or 0 before
/// the registry exists.
pub fn registered_versions(env: &Env) -> usize {
    let ran = crate::process::Ran::run(
        env.herd()
            .args(["models", "list", "--all-versions", "--format", "json"]),
        None,
    );
    if ran.success {
        ran.stdout.lines().count()
    } else {
        0
    }
}
