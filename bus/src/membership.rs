//! Whether a consumer is in its group, and how long it has waited to be.
//!
//! From subscribing, and from every revocation, a member waits for its group to
//! answer with an assignment (an empty one is an answer too: the group has more
//! members than partitions). librdkafka rejoins by itself, but a member whose
//! session expired while the coordinator was reloading after a broker restart was
//! seen never to be answered: for minutes it held no partition, read nothing and,
//! under `--idle-exit`, never stopped. A member that has waited longer than its
//! [`rejoin_limit`] gives up on that client and starts a new one, which joins the
//! group afresh.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use tracing::{debug, warn};

use crate::KafkaOptions;

/// librdkafka's `session.timeout.ms` when none is set.
const DEFAULT_SESSION: Duration = Duration::from_secs(45);

/// The shortest wait before a new client is started: a join takes the group's
/// initial delay (3 s) and, while a SIGKILLed member still holds a session, up to
/// that session's expiry.
const MIN_REJOIN_LIMIT: Duration = Duration::from_secs(60);

/// How long a member may wait for its group's answer before it starts a new
/// client: four sessions, and at least a minute.
pub fn rejoin_limit(options: &KafkaOptions) -> Duration {
    let session = options
        .client
        .get("session.timeout.ms")
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map_or(DEFAULT_SESSION, Duration::from_millis);
    (session * 4).max(MIN_REJOIN_LIMIT)
}

/// The state of one client's group membership, updated by its rebalances.
#[derive(Debug)]
pub struct Membership {
    /// Since when the member has waited for an assignment; `None` once it has one.
    waiting_since: Mutex<Option<Instant>>,
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            waiting_since: Mutex::new(Some(Instant::now())),
        }
    }
}

impl Membership {
    /// Notes a rebalance: an assignment (even an empty one) ends the wait, a
    /// revocation starts one.
    pub fn note(&self, rebalance: &Rebalance<'_>) {
        let mut since = self
            .waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match rebalance {
            Rebalance::Assign(_) => *since = None,
            Rebalance::Revoke(_) => *since = Some(Instant::now()),
            Rebalance::Error(_) => {}
        }
    }

    /// How long the member has waited for its group to assign it partitions, or
    /// `None` while it holds an assignment.
    pub fn waiting(&self) -> Option<Duration> {
        self.waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|since| since.elapsed())
    }

    /// Whether the member has waited past `limit`, saying so when it has.
    pub fn stuck(&self, limit: Duration, group: &str) -> bool {
        let Some(waited) = self.waiting() else {
            return false;
        };
        let stuck = waited >= limit;
        if stuck {
            warn!(
                group,
                waited_s = waited.as_secs(),
                "the consumer group has not assigned this member anything; starting a new client to join it again"
            );
        }
        stuck
    }
}

/// Drops a client on a thread of its own: closing a consumer leaves its group and
/// polls until librdkafka is done, which must not hold up a service loop, nor
/// the process's exit if that client never finishes.
pub fn retire<T: Send + 'static>(client: T) {
    let spawned = std::thread::Builder::new()
        .name("herd-retire".to_owned())
        .spawn(move || drop(client));
    if let Err(err) = spawned {
        warn!(error = %err, "cannot start a thread to close a client; it was closed here");
    }
}

/// A consumer context that only follows the membership, for consumers that need
/// nothing else from their rebalances.
#[derive(Debug, Default)]
pub struct GroupMember {
    pub membership: Membership,
}

impl ClientContext for GroupMember {}

impl ConsumerContext for GroupMember {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) | Rebalance::Revoke(list) = rebalance {
            debug!(partitions = list.count(), "rebalance");
        }
        self.membership.note(rebalance);
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::TopicPartitionList;

    use super::*;

    #[test]
    fn a_new_member_waits_until_it_is_assigned_even_nothing() {
        let membership = Membership::default();
        assert!(membership.waiting().is_some());
        membership.note(&Rebalance::Assign(&TopicPartitionList::new()));
        assert_eq!(membership.waiting(), None);
        assert!(!membership.stuck(Duration::ZERO, "g"));
    }

    #[test]
    fn a_revocation_starts_a_new_wait() {
        let membership = Membership::default();
        membership.note(&Rebalance::Assign(&TopicPartitionList::new()));
        membership.note(&Rebalance::Revoke(&TopicPartitionList::new()));
        assert!(membership.waiting().is_some());
        assert!(membership.stuck(Duration::ZERO, "g"));
        assert!(!membership.stuck(Duration::from_secs(3600), "g"));
    }

    #[test]
    fn the_limit_is_four_sessions_and_at_least_a_minute() {
        let mut options = KafkaOptions::default();
        assert_eq!(rejoin_limit(&options), Duration::from_secs(180));
        options
            .client
            .insert("session.timeout.ms".to_owned(), "15000".to_owned());
        assert_eq!(rejoin_limit(&options), Duration::from_secs(60));
        options
            .client
            .insert("session.timeout.ms".to_owned(), "30000".to_owned());
        assert_eq!(rejoin_limit(&options), Duration::from_secs(120));
    }
}
