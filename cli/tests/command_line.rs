//! The `herd` binary as `cargo test` builds it: it starts, names its commands, and
//! turns a mistyped command into one line and exit code 2. (Having a test here also
//! makes `cargo test --workspace` build the binary with the tests' features, so the
//! end-to-end tests can run that very build: `scripts/test.sh` points
//! `HERD_TEST_BINARY` at it.)

use std::process::Command;

fn herd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .env_remove("HERD_CONFIG")
        .output()
        .expect("herd runs")
}

#[test]
fn help_names_every_command() {
    let output = herd(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "topics", "doctor", "config", "ingest", "generate", "simulate", "archive", "train",
        "models", "promote", "score", "serve", "sql", "bench",
    ] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn a_mistyped_command_is_one_line_and_exit_code_2() {
    let output = herd(&["trian"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: unrecognized subcommand 'trian'"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
