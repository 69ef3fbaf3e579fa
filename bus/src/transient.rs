//! Errors a running service waits out: a broker restarting, a connection dropped, a
//! group coordinator moving. They are retried with a growing pause and logged;
//! anything else still ends the run.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing::{debug, info, warn};

use crate::BusError;

/// Whether a Kafka error is one a running service waits out (a broker restarting,
/// a connection dropped, a coordinator moving) rather than one that ends it.
pub fn is_transient(err: &KafkaError) -> bool {
    if matches!(err, KafkaError::MessageConsumptionFatal(_)) {
        return false;
    }
    err.rdkafka_error_code().is_some_and(|code| {
        matches!(
            code,
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::TimedOutQueue
                | RDKafkaErrorCode::WaitingForCoordinator
                | RDKafkaErrorCode::Retry
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator
                // A request in flight to a broker that left the cluster's metadata
                // (a node of several was lost): the next one goes to a live one.
                | RDKafkaErrorCode::DestroyBroker
                | RDKafkaErrorCode::BrokerNotAvailable
        )
    })
}

/// Pauses between attempts after transient errors: 100 ms, doubling, at most 5 s.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    attempts: u32,
}

impl Backoff {
    pub fn pause(&mut self) -> Duration {
        let pause = Duration::from_millis(100 << self.attempts.min(6)).min(Duration::from_secs(5));
        self.attempts += 1;
        pause
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// One stretch of transient errors while consuming: the first is logged as a
/// warning, later ones at most every few seconds with a count, and the end once a
/// record arrives again.
#[derive(Debug)]
pub(crate) struct Outage {
    since: Instant,
    errors: u64,
    last_warned: Instant,
    last_error: Instant,
}

impl Outage {
    /// A short pause after each error, so that a client that reports errors in a
    /// burst is not polled in a busy loop; short enough to drain a queue of them.
    pub const PACE: Duration = Duration::from_millis(20);
    /// Warnings during one outage at most this often.
    const WARN_EVERY: Duration = Duration::from_secs(5);
    /// Quiet this long, the broker is asked whether it is back.
    const PROBE_AFTER: Duration = Duration::from_secs(2);

    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            since: now,
            errors: 0,
            last_warned: now - Self::WARN_EVERY,
            last_error: now,
        }
    }

    /// Whether to ask the broker whether it is back: once no error came for a
    /// while, since an idle topic brings no record to end the outage.
    pub fn probe_due(&self) -> bool {
        self.last_error.elapsed() >= Self::PROBE_AFTER
    }

    /// The broker did not answer the probe: the next one waits as long again.
    pub fn probed(&mut self) {
        self.last_error = Instant::now();
    }

    pub fn note(&mut self, topic: &str, err: &KafkaError) {
        self.errors += 1;
        self.last_error = Instant::now();
        if self.last_warned.elapsed() >= Self::WARN_EVERY {
            self.last_warned = Instant::now();
            warn!(
                topic,
                error = %err,
                errors = self.errors,
                for_ms = self.since.elapsed().as_millis() as u64,
                "Kafka is unavailable; waiting for it"
            );
        } else {
            debug!(topic, error = %err, errors = self.errors, "Kafka is still unavailable");
        }
    }

    pub fn end(self, topic: &str) {
        info!(
            topic,
            errors = self.errors,
            after_ms = self.since.elapsed().as_millis() as u64,
            "Kafka is reachable again"
        );
    }
}

/// How long the watermarks of a partition are asked for through transient errors
/// before the error ends the run: long enough for a broker to restart.
const WATERMARKS_DEADLINE: Duration = Duration::from_secs(120);

/// The low and high watermark of `partition`, asked again after transient errors.
pub(crate) async fn watermarks<C, X>(
    consumer: &C,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), BusError>
where
    C: Consumer<X>,
    X: ConsumerContext + 'static,
{
    let started = Instant::now();
    let mut backoff = Backoff::default();
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(marks) => return Ok(marks),
            Err(err) if is_transient(&err) && started.elapsed() < WATERMARKS_DEADLINE => {
                let pause = backoff.pause();
                warn!(
                    topic,
                    partition,
                    error = %err,
                    attempt = backoff.attempts(),
                    retry_in_ms = pause.as_millis() as u64,
                    "reading watermarks failed; retrying"
                );
                tokio::time::sleep(pause).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_outages_are_transient_and_bad_requests_are_not() {
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::CoordinatorNotAvailable,
        ] {
            assert!(
                is_transient(&KafkaError::MessageConsumption(code)),
                "{code:?}"
            );
        }
        assert!(!is_transient(&KafkaError::MessageConsumptionFatal(
            RDKafkaErrorCode::AllBrokersDown
        )));
        assert!(!is_transient(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
        assert!(!is_transient(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::UnknownTopicOrPartition
        )));
    }

    /// A watermark request to the node of three that was just killed failed with
    /// `DestroyBroker` and ended the archive, though two brokers still served.
    #[test]
    fn a_request_to_a_broker_that_left_the_cluster_is_transient() {
        for code in [
            RDKafkaErrorCode::DestroyBroker,
            RDKafkaErrorCode::BrokerNotAvailable,
        ] {
            assert!(is_transient(&KafkaError::MetadataFetch(code)), "{code:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..8).map(|_| backoff.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
