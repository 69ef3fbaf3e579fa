//! A long-running command tells an operator's probes the truth (`--status-listen`):
//! `/readyz` turns 503 with the reason while the broker is away and 200 again when
//! the service works again, `/healthz` stays 200 through it, and `/metrics` counts
//! what was done and the errors waited out. The broker is the test's own.

use std::time::{Duration, Instant};

use herd_tests::broker::OwnBroker;
use herd_tests::cli::{herd_ok, ingest};
use herd_tests::env::Env;
use herd_tests::process::Background;
use herd_tests::status::{LISTEN, Probe};

/// Long enough for a broker to start, or a consumer to rejoin its group.
const RECOVER: Duration = Duration::from_secs(120);

#[test]
fn readiness_follows_the_broker_through_an_outage() {
    outage("seams-status", Duration::ZERO);
}

/// The broker stays away longer than the consumer's session (15 s here): the group
/// forgets the member, which must join it again and take its partitions back.
#[test]
fn a_member_whose_session_expired_in_an_outage_consumes_again() {
    outage("seams-status-long", Duration::from_secs(25));
}

/// Runs an archive through a broker outage that lasts a restart and `longer`.
fn outage(name: &str, longer: Duration) {
    let broker = OwnBroker::start();
    let env = Env::new(name, 2).on_broker(&broker.bootstrap());
    env.create_topics();
    for (file, days) in [("first.jsonl", "30"), ("more.jsonl", "31")] {
        herd_ok(
            &env,
            &format!("generate-{days}"),
            &[
                "generate", file, "--days", days, "--stores", "2", "--items", "3",
            ],
        );
    }

    let mut command = env.herd();
    command
        .args(["archive", "--group", &herd_tests::unique(name)])
        .args(["--flush-latency-ms", "500"])
        .args(LISTEN);
    let mut archive = Background::spawn(command, env.dir(), "archive");
    let probe = Probe::of(&mut archive);
    let ready = probe.wait_until("/readyz", RECOVER, |a| a.code == 200);
    assert_eq!((ready.status.as_str(), ready.reason), ("ready", None));

    let first = ingest(&env, "ingest-first", "first.jsonl");
    probe.wait_for_metric("herd_sales_rows_archived_total", first as f64, RECOVER);

    broker.stop();
    let degraded = probe.wait_until("/readyz", RECOVER, |a| a.code == 503);
    eprintln!("while the broker is down: {degraded:?}");
    assert_eq!(degraded.status, "degraded", "{degraded:?}");
    assert!(
        degraded
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("Kafka is unavailable")),
        "{degraded:?}"
    );
    let alive = probe.probe("/healthz").expect("the archive answers");
    assert_eq!((alive.code, alive.status.as_str()), (200, "degraded"));

    std::thread::sleep(longer);
    broker.start_again();
    let restarted = Instant::now();
    probe.wait_until("/readyz", RECOVER, |a| a.code == 200);
    let errors = probe
        .metric("herd_broker_errors_total")
        .expect("the broker errors are counted");
    assert!(errors > 0.0, "no broker error counted");

    // Ready means working: what arrives now is archived.
    let more = ingest(&env, "ingest-more", "more.jsonl");
    probe.wait_for_metric(
        "herd_sales_rows_archived_total",
        (first + more) as f64,
        RECOVER,
    );
    eprintln!(
        "archiving again {:.1} s after the broker restarted",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(probe.metric("herd_ready"), Some(1.0));
    assert_eq!(probe.metric("herd_live"), Some(1.0));

    archive.terminate();
    let stdout = archive.wait_success(Duration::from_secs(60));
    assert!(
        stdout.contains(&format!("archived {} rows", first + more)),
        "{stdout}"
    );
}
