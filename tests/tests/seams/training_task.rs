//! A continuous `herd train` that can no longer do its job stops, non-zero, with the
//! cause in one line, instead of consuming forever: when its training task fails
//! (the lake's `models` table is gone), and when the broker refuses its model
//! events (it never reports models whose events may be lost as trained).

use std::time::{Duration, Instant};

use herd_bus::KafkaOptions;
use herd_tests::cli::{herd_ok, ingest, numbers, registered_versions};
use herd_tests::env::Env;
use herd_tests::process::Background;
use herd_tests::registry::ModelsTable;
use herd_tests::status::{LISTEN, Probe};
use herd_tests::topic;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

/// 2 stores × 3 items.
const KEYS: usize = 6;
/// How long a trainer that cannot go on may take to say so and exit.
const EXIT_WITHIN: Duration = Duration::from_secs(45);

/// Starts a continuous `herd train` (no idle exit: only a failure ends it) with a
/// status listener.
fn start_trainer(env: &Env, name: &str) -> Background {
    let mut command = env.herd();
    command.args([
        "train",
        "--group",
        &herd_tests::unique(name),
        "--models",
        "ridge",
    ]);
    command.args(LISTEN);
    Background::spawn(command, env.dir(), name)
}

/// Waits for `trainer` to exit by itself within [`EXIT_WITHIN`] and checks that it
/// failed with one `error:` line; returns that line.
fn failed_alone(trainer: &mut Background) -> String {
    let started = Instant::now();
    let status = trainer.wait(EXIT_WITHIN);
    eprintln!(
        "the trainer exited ({status}) after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stderr = trainer.stderr();
    assert!(!status.success(), "the trainer succeeded:\n{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    errors[0].to_owned()
}

#[test]
fn a_continuous_trainer_whose_training_fails_exits_with_the_cause() {
    let env = Env::new("seams-training-task", 2);
    env.create_topics();
    let dims = ["--stores", "2", "--items", "3"];
    for (file, days) in [("first.jsonl", "120"), ("more.jsonl", "121")] {
        let mut args = vec!["generate", file, "--days", days];
        args.extend_from_slice(&dims);
        herd_ok(&env, &format!("generate-{days}"), &args);
    }
    ingest(&env, "ingest-first", "first.jsonl");
    let mut trainer = start_trainer(&env, "trainer");
    let probe = Probe::of(&mut trainer);
    let started = Instant::now();
    while registered_versions(&env) < KEYS {
        assert!(trainer.is_running(), "{}", trainer.stderr());
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not every key was trained:\n{}",
            trainer.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(registered_versions(&env), KEYS);
    probe.wait_for_metric("herd_models_trained_total", KEYS as f64, EXIT_WITHIN);
    assert_eq!(probe.probe("/readyz").map(|a| a.code), Some(200));

    // The registry's directory is replaced by a file (a mistaken cleanup, a
    // remount): the next registration cannot write there.
    let models = env.lake_root().join("models");
    std::fs::rename(&models, env.lake_root().join("models.moved")).expect("moved");
    std::fs::write(&models, "not a table\n").expect("written");
    // A new day for every key makes every key due again.
    ingest(&env, "ingest-more", "more.jsonl");

    // Until it is gone, the trainer's probes say it failed once it has: the last
    // answer of /healthz is 200 only if it came before the failure.
    let mut last = None;
    let broken = Instant::now();
    while trainer.is_running() && broken.elapsed() < EXIT_WITHIN {
        if let Some(answer) = probe.probe("/healthz") {
            last = Some(answer);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("the last /healthz answer: {last:?}");
    if let Some(answer) = last.filter(|a| a.code != 200) {
        assert_eq!((answer.code, answer.status.as_str()), (503, "failed"));
        assert!(
            answer
                .reason
                .is_some_and(|r| r.starts_with("the training task failed")),
        );
    }
    let error = failed_alone(&mut trainer);
    eprintln!("{error}");
    assert!(
        error.starts_with("error: training stopped: artifact _artifacts/"),
        "{error}"
    );
}

/// Sets `max.message.bytes` of `topic` so low that the broker refuses every event.
fn refuse_every_event(topic: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let admin: AdminClient<DefaultClientContext> =
            KafkaOptions::new(herd_tests::bootstrap_servers())
                .client_config()
                .create()
                .expect("an admin client");
        let config =
            AlterConfig::new(ResourceSpecifier::Topic(topic)).set("max.message.bytes", "64");
        let results = admin
            .alter_configs(
                &[config],
                &AdminOptions::new().request_timeout(Some(Duration::from_secs(30))),
            )
            .await
            .expect("the broker answers");
        for result in results {
            result.unwrap_or_else(|(resource, code)| panic!("{resource:?}: {code}"));
        }
    });
}

#[test]
fn a_trainer_whose_model_events_are_not_delivered_fails_with_their_count() {
    let env = Env::new("seams-training-events", 1);
    env.create_topics();
    refuse_every_event(&env.models);
    herd_ok(
        &env,
        "generate",
        &[
            "generate",
            "sales.jsonl",
            "--stores",
            "2",
            "--items",
            "3",
            "--days",
            "120",
        ],
    );
    ingest(&env, "ingest", "sales.jsonl");

    let mut trainer = start_trainer(&env, "trainer");
    let error = failed_alone(&mut trainer);
    eprintln!("{error}");
    // "error: training stopped: N model events were not delivered to TOPIC (…)"
    let (head, _) = error
        .split_once(" model events were not delivered to ")
        .unwrap_or_else(|| panic!("{error}"));
    let undelivered = numbers(head)[0] as usize;
    // The trainer stopped at the first commit whose events were refused: each of
    // that commit's rows is counted, and nothing reached the topic.
    let rows = ModelsTable::read(&env.lake_root()).rows.len();
    assert!((1..=KEYS).contains(&rows), "{rows} rows");
    assert_eq!(undelivered, rows, "{error}");
    let marks = topic::watermarks(&env.models);
    assert!(marks.iter().all(|m| m.high == m.low), "{marks:?}");
}
