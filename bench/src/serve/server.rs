//! `herd serve` as a child process of the benchmark: this binary, on a free
//! loopback port, configured as this process is but over the scratch lake, logging
//! to a file; stopped with SIGTERM at the end and killed if the benchmark fails.

use std::collections::HashMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hyper::StatusCode;

use herd_config::Settings;

use super::load::Connection;
use crate::measure::{cpu_seconds, status_mb};

/// How long the server may take to read the production registry and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's `/metrics` samples and the CPU seconds both processes have used.
pub struct Snapshot {
    pub metrics: HashMap<String, f64>,
    pub server_cpu: Option<f64>,
    pub bench_cpu: Option<f64>,
}

impl Snapshot {
    /// How much `name` grew from `before` to this.
    pub fn grew(&self, before: &Snapshot, name: &str) -> f64 {
        self.metrics.get(name).unwrap_or(&0.0) - before.metrics.get(name).unwrap_or(&0.0)
    }
}

pub struct ServeProcess {
    child: Child,
    pub address: SocketAddr,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `herd serve` over the lake at `dir` with a `cache_mb` model cache and
    /// waits until `/readyz` answers 200. Every other setting is this process's:
    /// they reach the child through a configuration file in `dir`, and no `HERD_*`
    /// variable is passed on to override it.
    pub async fn start(settings: &Settings, dir: &Path, cache_mb: f64) -> anyhow::Result<Self> {
        let address = free_address()?;
        let mut own = settings.clone();
        own.lake_root = dir.to_string_lossy().into_owned();
        own.promote.production_root = String::new();
        own.serve.token = String::new();
        let config = dir.join("serve.toml");
        std::fs::write(&config, toml::to_string(&own)?)
            .with_context(|| format!("writing {}", config.display()))?;

        let log = dir.join("serve.log");
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", &address.to_string()])
            .args(["--model-cache-mb", &cache_mb.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).with_context(|| format!("creating {}", log.display()))?);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HERD_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().context("starting herd serve")?;
        let mut server = Self {
            child,
            address,
            log,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("herd serve exited ({status}):\n{}", self.log_tail());
            }
            if let Ok(mut connection) = Connection::open(self.address).await
                && let Ok((StatusCode::OK, _)) = connection.get("/readyz").await
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "herd serve not ready after {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails when the server has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("herd serve exited ({status}):\n{}", self.log_tail()),
            None => Ok(()),
        }
    }

    /// The server's counters and both processes' CPU time, now.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            metrics: self.metrics().await?,
            server_cpu: cpu_seconds(&format!("/proc/{}/stat", self.child.id())),
            bench_cpu: cpu_seconds("/proc/self/stat"),
        })
    }

    /// The server's Prometheus samples without labels, by name.
    pub async fn metrics(&self) -> anyhow::Result<HashMap<String, f64>> {
        let (status, body) = Connection::open(self.address)
            .await?
            .get("/metrics")
            .await?;
        if status != StatusCode::OK {
            bail!("/metrics answered {status}");
        }
        Ok(String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains('{'))
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect())
    }

    /// The server's peak and current resident memory in MB (Linux).
    pub fn memory_mb(&self) -> (Option<f64>, Option<f64>) {
        let status = format!("/proc/{}/status", self.child.id());
        (status_mb(&status, "VmHWM:"), status_mb(&status, "VmRSS:"))
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("herd serve stopped with {status}:\n{}", self.log_tail());
                }
                return Ok(());
            }
            if started.elapsed() > STOP_TIMEOUT {
                bail!("herd serve did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address nobody listens on right now.
fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}
