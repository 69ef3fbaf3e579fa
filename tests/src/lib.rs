//! Shared pieces of Herd's end-to-end tests: where the real broker is, unique names so
//! tests never see each other's data, and the `herd` binary under test.
//!
//! The broker is started by `scripts/test.sh` (or named by `HERD_BOOTSTRAP_SERVERS`);
//! these tests never stand in a mock for it.
//!
//! Modules: [`broker`] runs a test's own broker, [`env`] gives a test its own topics and lake, [`topic`] reads a topic
//! back, [`lake`] and [`parquet`] read the Delta `sales` table, [`python`] reads it
//! with Python's `deltalake`, [`registry`] reads the `models` table both ways,
//! [`production`] reads the `production/models` and `promotions` tables promotion
//! writes, [`predictions`] reads what scoring writes to the `predictions` table and
//! the predictions topic, [`live`] builds the continuous scorers' world on it,
//! [`process`] runs services in the background, [`cli`] runs `herd` commands and
//! reads their summaries, [`small_lake`] builds a small lake through the whole
//! pipeline, [`simulated`] streams a small world with `herd simulate`, and [`status`]
//! asks a service's status listener.

pub mod broker;
pub mod cli;
pub mod env;
pub mod http;
pub mod lake;
pub mod live;
pub mod parquet;
pub mod predictions;
pub mod process;
pub mod production;
pub mod python;
pub mod registry;
pub mod simulated;
pub mod small_lake;
pub mod status;
pub mod topic;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The broker the tests talk to.
pub fn bootstrap_servers() -> String {
    std::env::var("HERD_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A name no other test run uses, e.g. `herd-test.roundtrip.4711-1732590000123-0`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "herd-test.{prefix}.{}-{millis}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `herd` binary of this workspace with every optional part the tests cover
/// (SQL), built once per test process so the tests always run the current code, or
/// the binary `HERD_TEST_BINARY` names.
pub fn herd() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        // A binary built beforehand (say, by CI's own step) can stand in for the build.
        if let Some(binary) = std::env::var_os("HERD_TEST_BINARY") {
            return PathBuf::from(binary);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "herd-cli", "--bin", "herd"])
            .args(["--features", "sql"])
            .current_dir(workspace_root());
        // Cargo gives a test the variables of its own package (CARGO_PKG_NAME,
        // CARGO_MANIFEST_DIR, …). Build scripts such as aws-lc-sys's and ring's rerun
        // when those change, so passing them on would rebuild half the dependency
        // tree here and again in the next plain `cargo` command.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_BIN_")
                || matches!(
                    name.as_ref(),
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                )
            {
                build.env_remove(name.as_ref());
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the herd binary failed");
        target_dir().join("debug").join("herd")
    });
    let mut command = Command::new(binary);
    command
        .env("HERD_BOOTSTRAP_SERVERS", bootstrap_servers())
        .env_remove("HERD_CONFIG")
        .current_dir(std::env::temp_dir());
    command
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        // Test binaries live in <target>/debug/deps/.
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
            .unwrap_or_else(|| workspace_root().join("target")),
    }
}
