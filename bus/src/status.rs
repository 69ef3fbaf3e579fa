//! What a long-running command tells an operator's probes about itself: whether it
//! is alive and doing its job, and counters in Prometheus's text format.
//!
//! Every service loop reports into a [`Status`] whether or not anything serves it;
//! `herd … --status-listen ADDR` serves it over HTTP (`/healthz`, `/readyz`,
//! `/metrics`).

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use crate::LoopStats;

/// Where a service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Started, not working yet: connecting, joining its group, reading the lake.
    Starting(String),
    /// Doing its job.
    Ready,
    /// Alive, but unable to work for now (the broker is unreachable); it recovers by
    /// itself.
    Degraded(String),
    /// Stopping as asked (a signal, or idle): finishing what it holds.
    Stopping,
    /// It can no longer do its job and is stopping.
    Failed(String),
}

impl Health {
    /// The state's name, as `/readyz` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Health::Starting(_) => "starting",
            Health::Ready => "ready",
            Health::Degraded(_) => "degraded",
            Health::Stopping => "stopping",
            Health::Failed(_) => "failed",
        }
    }

    /// Why the service is not ready, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Ready => None,
            Health::Stopping => Some("stopping"),
            Health::Starting(reason) | Health::Degraded(reason) | Health::Failed(reason) => {
                Some(reason)
            }
        }
    }

    /// Alive: anything but failed.
    pub fn is_live(&self) -> bool {
        !matches!(self, Health::Failed(_))
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }
}

struct Inner {
    health: Mutex<Health>,
    registry: Mutex<Registry>,
    ready: Gauge,
    live: Gauge,
}

/// A service's health and counters, shared by its tasks (cloning shares them).
#[derive(Clone)]
pub struct Status {
    inner: Arc<Inner>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl Status {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let (ready, live) = (Gauge::default(), Gauge::default());
        registry.register(
            "herd_ready",
            "Whether the service is doing its job (1) or not (0).",
            ready.clone(),
        );
        registry.register(
            "herd_live",
            "Whether the service is alive (1) or failed and stopping (0).",
            live.clone(),
        );
        live.set(1);
        Self {
            inner: Arc::new(Inner {
                health: Mutex::new(Health::Starting("starting".to_owned())),
                registry: Mutex::new(registry),
                ready,
                live,
            }),
        }
    }

    pub fn health(&self) -> Health {
        self.inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Moves to `health`, logging a change of state. A failed service stays failed.
    pub fn set(&self, health: Health) {
        let mut current = self
            .inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *current == health || matches!(*current, Health::Failed(_)) {
            return;
        }
        // A new reason in the same state (one Kafka error after another) is not news.
        let news = current.name() != health.name();
        match &health {
            _ if !news => {}
            Health::Failed(reason) => warn!(reason, "status: failed"),
            Health::Degraded(reason) => warn!(reason, "status: degraded"),
            Health::Starting(reason) => info!(reason, "status: starting"),
            Health::Stopping => info!("status: stopping"),
            Health::Ready => info!("status: ready"),
        }
        self.inner.ready.set(i64::from(health.is_ready()));
        self.inner.live.set(i64::from(health.is_live()));
        *current = health;
    }

    pub fn ready(&self) {
        self.set(Health::Ready);
    }

    pub fn fail(&self, reason: impl Into<String>) {
        self.set(Health::Failed(reason.into()));
    }

    /// Records how a run ended: stopping after a clean end, failed with the error
    /// (after `context`, when given) otherwise.
    pub fn finish<T, E: std::fmt::Display>(&self, outcome: &Result<T, E>, context: &str) {
        match outcome {
            Ok(_) => self.set(Health::Stopping),
            Err(err) if context.is_empty() => self.fail(err.to_string()),
            Err(err) => self.fail(format!("{context}: {err}")),
        }
    }

    /// A counter named `name` (exposed as `name_total`).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.registry().register(name, help, counter.clone());
        counter
    }

    /// A gauge named `name`.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let gauge = Gauge::default();
        self.registry().register(name, help, gauge.clone());
        gauge
    }

    /// Every metric in the OpenMetrics text format, `herd_ready` and `herd_live`
    /// among them.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry()).expect("writing to a String cannot fail");
        text
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The counters of the exactly-once loop, kept up to date from its [`LoopStats`].
pub(crate) struct LoopMetrics {
    records: Counter,
    flushes: Counter,
    rebalances: Counter,
    replayed: Counter,
    lost: Counter,
    transient: Counter,
    paused: Gauge,
    partitions: Gauge,
    published: LoopStats,
}

impl LoopMetrics {
    pub fn new(status: &Status) -> Self {
        Self {
            records: status.counter(
                "herd_records_consumed",
                "Records read from the topic and handed to the sink.",
            ),
            flushes: status.counter(
                "herd_commits",
                "Flushes that stored records and offsets together.",
            ),
            rebalances: status.counter(
                "herd_rebalances",
                "Assignments and revocations of partitions.",
            ),
            replayed: status.counter(
                "herd_records_replayed",
                "Records read again after a seek and skipped because they were stored.",
            ),
            lost: status.counter(
                "herd_offsets_lost",
                "Offsets deleted by retention before they were read (--on-gap skip).",
            ),
            transient: status.counter("herd_broker_errors", "Transient Kafka errors waited out."),
            paused: status.gauge(
                "herd_fetching_paused",
                "Whether fetching is paused while the service catches up (1) or not (0).",
            ),
            partitions: status.gauge(
                "herd_partitions_assigned",
                "Partitions of the topic assigned to this process.",
            ),
            published: LoopStats::default(),
        }
    }

    /// Adds what happened since the last call.
    pub fn publish(&mut self, stats: &LoopStats, partitions: usize, paused: bool) {
        let last = &self.published;
        self.records.inc_by(stats.records - last.records);
        self.flushes.inc_by(stats.flushes - last.flushes);
        self.rebalances.inc_by(stats.rebalances - last.rebalances);
        self.replayed.inc_by(stats.skipped - last.skipped);
        self.lost.inc_by(stats.lost - last.lost);
        self.transient
            .inc_by(stats.transient_errors - last.transient_errors);
        self.paused.set(i64::from(paused));
        self.partitions.set(partitions as i64);
        self.published = stats.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_service_stays_failed() {
        let status = Status::new();
        assert_eq!(status.health().name(), "starting");
        status.ready();
        assert!(status.health().is_ready());
        status.fail("the training task stopped");
        status.ready();
        assert_eq!(
            status.health(),
            Health::Failed("the training task stopped".to_owned())
        );
        assert!(!status.health().is_live());
    }

    #[test]
    fn counters_and_health_are_in_the_text_format() {
        let status = Status::new();
        let failed = status.counter("herd_forecasts_failed", "Forecasts that failed.");
        failed.inc_by(3);
        status.ready();
        let text = status.encode();
        assert!(
            text.contains("# TYPE herd_forecasts_failed counter\n"),
            "{text}"
        );
        assert!(text.contains("\nherd_forecasts_failed_total 3\n"), "{text}");
        assert!(text.contains("\nherd_ready 1\n"), "{text}");
        assert!(text.contains("\nherd_live 1\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    fn loop_counters_add_what_happened_since_the_last_publish() {
        let status = Status::new();
        let mut metrics = LoopMetrics::new(&status);
        let mut stats = LoopStats {
            records: 10,
            flushes: 1,
            ..LoopStats::default()
        };
        metrics.publish(&stats, 2, false);
        stats.records = 25;
        stats.transient_errors = 4;
        metrics.publish(&stats, 3, true);
        let text = status.encode();
        for line in [
            "herd_records_consumed_total 25",
            "herd_commits_total 1",
            "herd_broker_errors_total 4",
            "herd_partitions_assigned 3",
            "herd_fetching_paused 1",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in {text}");
        }
    }
}
