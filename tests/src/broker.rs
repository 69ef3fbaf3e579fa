//! A Kafka broker of a test's own, for a test that restarts its broker: started by
//! `scripts/kafka.sh` on free loopback ports with its state in a temp directory, so
//! the shared broker and the tests beside it never notice. Stopped when dropped.
//! [`OwnCluster`] does the same for a three-node cluster (`scripts/kafka-cluster.sh`).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Mutex;

use tempfile::TempDir;

/// A running broker and where its state lives.
pub struct OwnBroker {
    port: u16,
    dir: TempDir,
}

impl OwnBroker {
    /// Starts a broker, waiting until it answers.
    pub fn start() -> OwnBroker {
        let dir = tempfile::Builder::new()
            .prefix("herd-test-broker-")
            .tempdir()
            .expect("a temp directory");
        let broker = OwnBroker {
            port: free_port_pair(),
            dir,
        };
        broker.kafka_sh("start");
        broker
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker and starts it again on the same port and state, as an
    /// operator's `scripts/kafka.sh restart` does.
    pub fn restart(&self) {
        self.kafka_sh("restart");
    }

    /// Stops the broker (clients see it gone) until [`OwnBroker::start_again`].
    pub fn stop(&self) {
        self.kafka_sh("stop");
    }

    /// Starts the stopped broker on the same port and state.
    pub fn start_again(&self) {
        self.kafka_sh("start");
    }

    /// `scripts/kafka.sh ACTION` for this broker.
    fn script(&self, action: &str) -> Command {
        let mut command = Command::new(crate::workspace_root().join("scripts/kafka.sh"));
        command
            .arg(action)
            .env_remove("HERD_BOOTSTRAP_SERVERS")
            .env("HERD_KAFKA_DATA_DIR", self.dir.path().join("kafka"))
            .env("HERD_KAFKA_PORT", self.port.to_string())
            .env("HERD_KAFKA_CONTROLLER_PORT", (self.port + 1).to_string())
            .env("HERD_KAFKA_START_TIMEOUT", "120")
            .env("HERD_KAFKA_STOP_TIMEOUT", "20");
        command
    }

    fn kafka_sh(&self, action: &str) {
        let output = self.script(action).output().expect("scripts/kafka.sh runs");
        assert!(
            output.status.success(),
            "scripts/kafka.sh {action} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.script("stop").output();
    }
}

/// A three-node KRaft cluster of a test's own (each node a broker and a controller,
/// internal topics with three copies, `min.insync.replicas=2`). Stopped when dropped.
pub struct OwnCluster {
    port: u16,
    dir: TempDir,
}

impl OwnCluster {
    /// Starts the three nodes, waiting until each answers.
    pub fn start() -> OwnCluster {
        let dir = tempfile::Builder::new()
            .prefix("herd-test-cluster-")
            .tempdir()
            .expect("a temp directory");
        let cluster = OwnCluster {
            port: free_ports(6),
            dir,
        };
        cluster.run(&["start"]);
        cluster
    }

    /// The three brokers' `host:port`, comma-separated.
    pub fn bootstrap(&self) -> String {
        (0..3)
            .map(|n| format!("127.0.0.1:{}", self.port + 2 * n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILLs node `n` (1–3), as a crash would.
    pub fn kill_node(&self, n: u8) {
        self.run(&["kill-node", &n.to_string()]);
    }

    /// Starts node `n` again on its ports and state.
    pub fn start_node(&self, n: u8) {
        self.run(&["start-node", &n.to_string()]);
    }

    fn script(&self, args: &[&str]) -> Command {
        let mut command = Command::new(crate::workspace_root().join("scripts/kafka-cluster.sh"));
        command
            .args(args)
            .env_remove("HERD_BOOTSTRAP_SERVERS")
            .env("HERD_KAFKA_CLUSTER_DIR", self.dir.path().join("cluster"))
            .env("HERD_KAFKA_CLUSTER_PORT", self.port.to_string())
            .env("HERD_KAFKA_START_TIMEOUT", "120")
            .env("HERD_KAFKA_STOP_TIMEOUT", "20");
        command
    }

    fn run(&self, args: &[&str]) {
        let output = self
            .script(args)
            .output()
            .expect("scripts/kafka-cluster.sh runs");
        assert!(
            output.status.success(),
            "scripts/kafka-cluster.sh {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]).output();
    }
}

/// A port `p` with `p + 1` free too (broker and controller), never one handed to
/// another broker of this test process: two brokers starting side by side would
/// otherwise both see the other's ports free before either binds them.
fn free_port_pair() -> u16 {
    free_ports(2)
}

/// The first of `count` free neighbouring ports, none handed out before.
fn free_ports(count: u16) -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let Some(end) = port.checked_add(count) else {
            continue;
        };
        let taken = (port.saturating_sub(1)..=end).any(|p| handed_out.contains(&p));
        let free = (port + 1..end).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if !taken && free {
            handed_out.extend(port..end);
            return port;
        }
    }
    panic!("no {count} free neighbouring ports");
}
