//! The status listener of a long-running `herd` command (`--status-listen`): where
//! it listens, as its log says, and what `/healthz`, `/readyz` and `/metrics` answer.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Background;

/// The flag that makes a command listen on a free loopback port.
pub const LISTEN: [&str; 2] = ["--status-listen", "127.0.0.1:0"];

/// What the log says before the address.
const LOGGED: &str = "status on http://";

/// A service's status listener.
pub struct Probe {
    base: String,
    agent: ureq::Agent,
}

/// One probe's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: u16,
    /// `ready`, `starting`, `degraded`, `stopping` or `failed`.
    pub status: String,
    pub reason: Option<String>,
}

impl Probe {
    /// The listener of `service`, once its log names the address.
    pub fn of(service: &mut Background) -> Probe {
        service.wait_for_log(LOGGED, Duration::from_secs(60));
        let log = service.stderr();
        let at = log.find(LOGGED).expect("logged") + LOGGED.len();
        let address: String = log[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        Probe {
            base: format!("http://{address}"),
            agent: crate::http::agent(),
        }
    }

    /// `/healthz` or `/readyz`; `None` when nothing answers (the process is gone).
    pub fn probe(&self, path: &str) -> Option<Answer> {
        let mut answer = self.agent.get(format!("{}{path}", self.base)).call().ok()?;
        let code = answer.status().as_u16();
        let text = answer.body_mut().read_to_string().ok()?;
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {text}"));
        Some(Answer {
            code,
            status: body["status"].as_str().unwrap_or_default().to_owned(),
            reason: body["reason"].as_str().map(str::to_owned),
        })
    }

    /// `/metrics` as text, checked for the OpenMetrics content type.
    pub fn metrics(&self) -> Option<String> {
        let mut answer = self
            .agent
            .get(format!("{}/metrics", self.base))
            .call()
            .ok()?;
        assert_eq!(answer.status().as_u16(), 200);
        let kind = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        answer.body_mut().read_to_string().ok()
    }

    /// The value of the sample `name` (a counter's name ends in `_total`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        sample(&self.metrics()?, name)
    }

    /// Polls `path` until `wanted` holds for its answer; panics with the answers
    /// seen when `timeout` passes first.
    pub fn wait_until(
        &self,
        path: &str,
        timeout: Duration,
        wanted: impl Fn(&Answer) -> bool,
    ) -> Answer {
        let started = Instant::now();
        let mut seen: Vec<Option<Answer>> = Vec::new();
        loop {
            let answer = self.probe(path);
            if let Some(answer) = answer.as_ref().filter(|a| wanted(a)) {
                return answer.clone();
            }
            if seen.last() != Some(&answer) {
                seen.push(answer);
            }
            assert!(
                started.elapsed() < timeout,
                "{path} did not answer as wanted within {timeout:?}; answers: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `/metrics` until sample `name` reaches `value`; panics with the last
    /// value when `timeout` passes first.
    pub fn wait_for_metric(&self, name: &str, value: f64, timeout: Duration) {
        let started = Instant::now();
        loop {
            let now = self.metric(name);
            if now == Some(value) {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{name} is {now:?}, not {value}, after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The value of the unlabelled sample `name` in an OpenMetrics text.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (sample, value) = line.split_once(' ')?;
        (sample == name).then(|| value.trim().parse().ok())?
    })
}
