//! A continuous `herd train` that can no longer do its job stops, non-zero, with the
//! cause in one line, instead of consuming forever: when its training task fails
//! (the lake's `models` table is gone).

use std::time::{Duration, Instant};

use herd_tests::cli::{herd_ok, ingest};
use herd_tests::env::Env;
use herd_tests::process::{Background, Ran};

/// 2 stores × 3 items.
const KEYS: usize = 6;
/// How long a trainer that cannot go on may take to say so and exit.
const EXIT_WITHIN: Duration = Duration::from_secs(45);

/// Starts a continuous `herd train` (no idle exit: only a failure ends it).
fn start_trainer(env: &Env, name: &str) -> Background {
    let mut command = env.herd();
    command.args([
        "train",
        "--group",
        &herd_tests::unique(name),
        "--models",
        "ridge",
    ]);
    Background::spawn(command, env.dir(), name)
}

/// Registered versions so far, or 0 before the registry exists.
fn models_count(env: &Env) -> usize {
    let ran = Ran::run(
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
    let started = Instant::now();
    while models_count(&env) < KEYS {
        assert!(trainer.is_running(), "{}", trainer.stderr());
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not every key was trained:\n{}",
            trainer.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(models_count(&env), KEYS);

    // The registry's directory is replaced by a file (a mistaken cleanup, a
    // remount): the next registration cannot write there.
    let models = env.lake_root().join("models");
    std::fs::rename(&models, env.lake_root().join("models.moved")).expect("moved");
    std::fs::write(&models, "not a table\n").expect("written");
    // A new day for every key makes every key due again.
    ingest(&env, "ingest-more", "more.jsonl");

    let error = failed_alone(&mut trainer);
    eprintln!("{error}");
    assert!(
        error.starts_with("error: training stopped: artifact _artifacts/"),
        "{error}"
    );
}
