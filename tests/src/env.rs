//! One test's own world: its four topics, its lake directory and a scratch directory,
//! handed to every `herd` command it runs through `HERD_*` variables, so that tests
//! running side by side never see each other's records or tables.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::Background;

/// The topics, lake root and scratch directory of one test.
pub struct Env {
    pub sales: String,
    pub dlq: String,
    pub models: String,
    pub predictions: String,
    pub partitions: u32,
    /// The broker of a test that runs its own ([`Env::on_broker`]).
    bootstrap: Option<String>,
    /// More `HERD_*` settings for every command ([`Env::with_setting`]).
    settings: Vec<(String, String)>,
    dir: TempDir,
}

impl Env {
    /// Unique topic names under `herd-test.<name>.…` with `partitions` partitions
    /// each (created by [`Env::create_topics`]) and a fresh temp directory.
    pub fn new(name: &str, partitions: u32) -> Env {
        let base = crate::unique(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("herd-test-{name}-"))
            .tempdir()
            .expect("a temp directory");
        Env {
            sales: format!("{base}.sales"),
            dlq: format!("{base}.sales.dlq"),
            models: format!("{base}.models"),
            predictions: format!("{base}.predictions"),
            partitions,
            bootstrap: None,
            settings: Vec::new(),
            dir,
        }
    }

    /// Gives every `herd` command of this test the variable `name=value`, e.g.
    /// `HERD_FREQUENCY=weekly`.
    pub fn with_setting(mut self, name: &str, value: &str) -> Env {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Points every `herd` command of this test at the broker at `bootstrap`
    /// instead of the shared one. Such a broker is restarted by its test, so
    /// producers are given three minutes (not librdkafka's 30 s) to deliver a record
    /// and consumer sessions outlast the restart.
    pub fn on_broker(mut self, bootstrap: &str) -> Env {
        self.bootstrap = Some(bootstrap.to_owned());
        self
    }

    /// The broker this test's commands talk to.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap
            .clone()
            .unwrap_or_else(crate::bootstrap_servers)
    }

    /// The scratch directory; `herd` commands run here, so relative file names
    /// given to them resolve in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The lake root every command of this test writes to.
    pub fn lake_root(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// The `sales` table's directory.
    pub fn sales_table(&self) -> PathBuf {
        self.lake_root().join("sales")
    }

    /// `herd serve` for this test on a free loopback port, given its flags and
    /// variables by `configure`, once it answers: the server and its base URL.
    pub fn start_serve(
        &self,
        name: &str,
        configure: impl FnOnce(&mut Command),
    ) -> (Background, String) {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let listen = format!("127.0.0.1:{port}");
        let mut command = self.herd();
        command.args(["serve", "--listen", &listen]);
        configure(&mut command);
        let mut server = Background::spawn(command, self.dir(), name);
        server.wait_for_log("serving forecasts", Duration::from_secs(60));
        (server, format!("http://{listen}"))
    }

    /// `herd` configured for this test's topics and lake.
    pub fn herd(&self) -> Command {
        let mut command = crate::herd();
        command
            .current_dir(self.dir())
            .env("HERD_TOPICS__SALES", &self.sales)
            .env("HERD_TOPICS__SALES_DLQ", &self.dlq)
            .env("HERD_TOPICS__MODELS", &self.models)
            .env("HERD_TOPICS__PREDICTIONS", &self.predictions)
            .env("HERD_TOPICS__PARTITIONS", self.partitions.to_string())
            .env("HERD_LAKE_ROOT", self.lake_root())
            .env("HERD_BOOTSTRAP_SERVERS", self.bootstrap_servers())
            // A consumer that is SIGKILLed leaves its group once its session times
            // out; the broker's minimum (6 s) instead of librdkafka's 45 s lets a
            // restarted or surviving archiver take its partitions over within a
            // test. The values are quoted because the configuration reads a bare
            // number as an integer and librdkafka properties are strings.
            .env("HERD_KAFKA__SESSION_TIMEOUT_MS", "\"6000\"")
            .env("HERD_KAFKA__HEARTBEAT_INTERVAL_MS", "\"1000\"");
        if self.bootstrap.is_some() {
            command.env("HERD_KAFKA__MESSAGE_TIMEOUT_MS", "\"180000\"");
            // Longer than a restart (7–9 s here), as librdkafka's default 45 s is: a
            // member whose session expires while the broker is down was once seen not
            // to rejoin for minutes, which these tests do not set out to provoke.
            command.env("HERD_KAFKA__SESSION_TIMEOUT_MS", "\"15000\"");
        }
        for (name, value) in &self.settings {
            command.env(name, value);
        }
        command
    }

    /// Creates this test's topics with `herd topics create`.
    pub fn create_topics(&self) {
        let output = self
            .herd()
            .args(["topics", "create"])
            .output()
            .expect("herd runs");
        assert!(
            output.status.success(),
            "herd topics create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        for topic in [&self.sales, &self.dlq, &self.models, &self.predictions] {
            assert!(
                stdout.contains(&format!("created    {topic} ")),
                "{topic} was not created:\n{stdout}"
            );
        }
    }
}

impl Drop for Env {
    /// A failed test keeps its directory (logs, files, lake) for a look afterwards;
    /// with `HERD_TEST_KEEP` set, every test does.
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("HERD_TEST_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("kept {} for inspection", self.dir.path().display());
        }
    }
}
