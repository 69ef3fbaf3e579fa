//! The `herd` command as a user meets it: help, topic setup against the real broker,
//! `doctor` with a live and a dead broker, and bad configuration.

use std::io::Write;
use std::time::{Duration, Instant};

use herd_tests::herd;

fn run(args: &[&str]) -> (bool, String, String) {
    let output = herd().args(args).output().expect("herd runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_command_with_an_example() {
    let (ok, stdout, _) = run(&["--help"]);
    assert!(ok);
    for command in ["topics", "doctor"] {
        assert!(
            stdout.contains(command),
            "--help lacks {command}:\n{stdout}"
        );
    }
    for command in [
        &["topics", "create", "--help"][..],
        &["topics", "delete", "--help"],
        &["doctor", "--help"],
    ] {
        let (ok, stdout, _) = run(command);
        assert!(ok);
        assert!(stdout.contains("Examples:"), "{command:?} has no example");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let output = herd().args(["doctor", "--bogus"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bogus"));
}

#[test]
fn topics_create_is_idempotent() {
    // Other tests may have created the topics already; either way the second run
    // must change nothing and say so.
    let (ok, first, err) = run(&["topics", "create"]);
    assert!(ok, "first run failed: {err}");
    for topic in [
        "herd.sales",
        "herd.sales.dlq",
        "herd.models",
        "herd.predictions",
    ] {
        assert!(first.contains(topic), "{topic} not reported:\n{first}");
    }
    let (ok, second, err) = run(&["topics", "create"]);
    assert!(ok, "second run failed: {err}");
    assert!(
        !second.contains("created "),
        "second run created something:\n{second}"
    );
    assert!(second.contains("nothing changed"), "{second}");
    assert_eq!(second.matches("unchanged").count(), 4, "{second}");
}

#[test]
fn topics_delete_asks_for_yes_then_deletes_only_herds_topics() {
    // Topics of this test's own, so other tests' herd.* topics are left alone.
    let prefix = herd_tests::unique("topics-delete");
    let names = ["sales", "sales_dlq", "models", "predictions"].map(|t| format!("{prefix}.{t}"));
    let run_here = |args: &[&str]| {
        let mut command = herd();
        for (topic, name) in ["SALES", "SALES_DLQ", "MODELS", "PREDICTIONS"]
            .iter()
            .zip(&names)
        {
            command.env(format!("HERD_TOPICS__{topic}"), name);
        }
        let output = command.args(args).output().expect("herd runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // The shared herd.* topics exist before and must still exist after.
    let (ok, _, err) = run(&["topics", "create"]);
    assert!(ok, "{err}");
    let (ok, created, err) = run_here(&["topics", "create"]);
    assert!(
        ok && created.contains("4 of 4 topics created"),
        "{created}{err}"
    );

    let (ok, _, err) = run_here(&["topics", "delete"]);
    assert!(!ok, "deleted without --yes");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("--yes") && errors[0].contains(&names[0]),
        "{err}"
    );
    let (ok, again, err) = run_here(&["topics", "create"]);
    assert!(ok && again.contains("nothing changed"), "{again}{err}");

    let (ok, deleted, err) = run_here(&["topics", "delete", "--yes"]);
    assert!(ok, "{err}");
    assert_eq!(deleted.matches("deleted    ").count(), 4, "{deleted}");
    assert!(deleted.contains("4 of 4 topics deleted"), "{deleted}");
    // Gone at once: they can be created again straight away, and the shared
    // herd.sales of the other tests is still there.
    let (ok, recreated, err) = run_here(&["topics", "create"]);
    assert!(
        ok && recreated.contains("4 of 4 topics created"),
        "{recreated}{err}"
    );
    let (ok, doctor, err) = run(&["doctor"]);
    assert!(ok, "{err}");
    assert!(
        doctor.contains("topic      herd.sales: ") && !doctor.contains("herd.sales: missing"),
        "{doctor}"
    );

    let (ok, _, err) = run_here(&["topics", "delete", "--yes"]);
    assert!(ok, "{err}");
    let (ok, absent, err) = run_here(&["topics", "delete", "--yes"]);
    assert!(ok, "{err}");
    assert_eq!(absent.matches("absent ").count(), 4, "{absent}");
    assert!(absent.contains("0 of 4 topics deleted"), "{absent}");
}

#[test]
fn doctor_reports_a_live_broker_and_the_configuration() {
    let (ok, stdout, stderr) = run(&["doctor"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("broker     ok"), "{stdout}");
    assert!(stdout.contains("librdkafka"), "{stdout}");
    assert!(stdout.contains("effective configuration"), "{stdout}");
    assert!(
        stdout.contains(&herd_tests::bootstrap_servers()),
        "{stdout}"
    );
}

#[test]
fn doctor_roundtrip_proves_keyed_delivery() {
    let (ok, stdout, stderr) = run(&["doctor", "--roundtrip", "2000"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("consumed 2000, duplicates 0, missing 0"),
        "{stdout}"
    );
    assert!(stdout.contains("every record exactly once"), "{stdout}");
}

#[test]
fn doctor_fails_fast_with_one_line_when_no_broker_answers() {
    // Nothing listens on port 1. The command is built first so that building the
    // binary is not part of the measured time.
    let mut doctor = herd();
    doctor.args(["--bootstrap-servers", "127.0.0.1:1", "doctor"]);
    let started = Instant::now();
    let output = doctor.output().expect("runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("127.0.0.1:1"), "{stderr}");
}

#[test]
fn bad_config_file_names_file_line_and_key() {
    let mut file = tempfile();
    writeln!(
        file.1,
        "bootstrap_servers = \"127.0.0.1:9092\"\n[topics]\npartitions = \"many\""
    )
    .expect("written");
    let output = herd()
        .args(["--config", &file.0, "topics", "create"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("{}:3:", file.0)), "{stderr}");
    assert!(stderr.contains("topics.partitions"), "{stderr}");

    let mut unknown = tempfile();
    writeln!(unknown.1, "\n[topics]\npartitons = 3").expect("written");
    let output = herd()
        .args(["--config", &unknown.0, "doctor"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("{}:3:", unknown.0)), "{stderr}");
    assert!(stderr.contains("partitons"), "{stderr}");

    let output = herd()
        .args(["--config", "/nonexistent/herd.toml", "doctor"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/nonexistent/herd.toml"), "{stderr}");
}

#[test]
fn a_promotion_rule_that_cannot_be_judged_is_refused_at_start_up() {
    let cases = [
        // Does not parse: the position of the missing operand.
        ("accuracy >= ", "promote.rule: promotion rule 1:13: "),
        // Names a metric that does not exist: where it is written.
        (
            "accuracy > 0.5 && acuracy > 0.1",
            "promote.rule: promotion rule 1:19: unknown name `acuracy`",
        ),
    ];
    for (rule, expected) in cases {
        let mut file = tempfile();
        writeln!(file.1, "[promote]\nrule = {rule:?}").expect("written");
        let output = herd()
            .args(["--config", &file.0, "doctor"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{rule}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {expected}")),
            "{stderr}"
        );
    }
    let mut good = tempfile();
    writeln!(
        good.1,
        "[promote]\nrule = \"accuracy >= 0.9 && tags['team'] == 'fresh'\""
    )
    .expect("written");
    let output = herd()
        .args(["--config", &good.0, "doctor"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("accuracy >= 0.9"),
        "doctor shows the rule: {stdout}"
    );
}

#[test]
fn a_zero_catch_up_interval_is_refused_at_start_up() {
    let mut file = tempfile();
    writeln!(file.1, "[promote]\ncatch_up_seconds = 0").expect("written");
    let output = herd()
        .args(["--config", &file.0, "doctor"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: promote.catch_up_seconds: 0 would"),
        "{stderr}"
    );
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let mut file = tempfile();
    writeln!(file.1, "[topics]\npartitions = 3").expect("written");
    let doctor = |env: Option<&str>, flag: Option<&str>| {
        let mut command = herd();
        command.args(["--config", &file.0]);
        if let Some(servers) = flag {
            command.args(["--bootstrap-servers", servers]);
        }
        if let Some(partitions) = env {
            command.env("HERD_TOPICS__PARTITIONS", partitions);
        }
        let output = command.arg("doctor").output().expect("runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(doctor(None, None).contains("partitions = 3"));
    assert!(doctor(Some("5"), None).contains("partitions = 5"));
    let flagged = doctor(None, Some(&herd_tests::bootstrap_servers()));
    assert!(flagged.contains("partitions = 3"));
}

/// A file under the temp dir that lives as long as the test.
fn tempfile() -> (String, std::fs::File) {
    let path = std::env::temp_dir().join(format!("{}.toml", herd_tests::unique("config")));
    let file = std::fs::File::create(&path).expect("temp file");
    (path.to_string_lossy().into_owned(), file)
}

#[test]
fn doctor_fails_when_the_lake_root_is_not_a_directory() {
    let file = tempfile();
    let output = herd()
        .args(["--lake-root", &file.0, "doctor"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn kafka_properties_may_be_numbers() {
    let mut file = tempfile();
    writeln!(
        file.1,
        "[kafka]\n\"socket.timeout.ms\" = 30000\n\"api.version.request\" = true"
    )
    .expect("written");
    let output = herd()
        .args(["--config", &file.0, "doctor"])
        .env("HERD_KAFKA__SESSION_TIMEOUT_MS", "6000")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\"socket.timeout.ms\" = \"30000\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"session.timeout.ms\" = \"6000\""),
        "{stdout}"
    );
}

#[test]
fn bench_pipeline_runs_every_stage_as_a_process_and_archives_every_record() {
    let work = tempfile::tempdir().expect("a temp dir");
    let output = herd()
        .args([
            "bench", "pipeline", "--size", "small", "--stores", "2", "--items", "5",
        ])
        .args(["--partitions", "3", "--work-dir"])
        .arg(work.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let stage = |name: &str| {
        lines
            .iter()
            .find(|l| l["stage"] == name)
            .unwrap_or_else(|| panic!("no {name} stage in:\n{stdout}"))
    };
    let generated = stage("generate")["rows"].as_u64().expect("rows");
    assert!(generated > 0);
    assert_eq!(stage("ingest")["rows"].as_u64(), Some(generated));
    assert_eq!(stage("archive")["rows"].as_u64(), Some(generated));
    for name in ["train", "promote", "score"] {
        assert!(stage(name)["seconds"].as_f64().is_some(), "{name}");
    }
    let total = stage("total");
    assert_eq!(total["rows"].as_u64(), Some(generated));
    let seconds = |key: &str| total[key].as_f64().expect(key);
    assert!(seconds("seconds_ingest") <= seconds("seconds_to_archived"));
    assert!(seconds("seconds_to_archived") <= seconds("seconds_to_last_forecast"));
    // Scratch files go unless --keep.
    assert_eq!(std::fs::read_dir(work.path()).expect("listed").count(), 0);
}
