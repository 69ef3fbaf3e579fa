//! `herd promote` without `--once`: a consumer group on `herd.models` that decides
//! each newly registered candidate. Events are gathered for a short batch window
//! and decided in one pass; the group's offsets are committed only after the pass
//! has committed its decisions, so a crash re-reads the events, and the pass finds
//! those candidates already decided.
//!
//! Events are not the only way in: a trainer that crashed between its commit and
//! its event leaves a candidate nobody announces. A catch-up pass over every key, at
//! start and then every `catch_up` interval, decides whatever is committed and still
//! undecided. Both paths run one pass at a time in this loop, and every pass reads
//! the decisions afresh and commits under the keys' stripes, so a candidate is
//! decided once whichever path (or promoter) gets to it first.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use herd_bus::{
    Counter, EventPublisher, Gauge, GroupMember, Health, KafkaOptions, Status, rejoin_limit, retire,
};
use herd_schemas::{ModelEvent, ModelEventKind, SeriesKey};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::decide::{PassSummary, Promoter};
use crate::error::Result;

/// How the follower reads `herd.models`.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub kafka: KafkaOptions,
    pub topic: String,
    pub group: String,
    /// Gather events this long before deciding them together.
    pub batch_window: Duration,
    /// Decide at once when this many keys wait.
    pub max_batch: usize,
    /// Candidates deferred for want of sales are tried again after this long.
    pub retry_deferred: Duration,
    /// Stop after this long without an event once the group has assigned this
    /// member its partitions (or none).
    pub idle_exit: Option<Duration>,
    /// Decide every committed candidate not yet decided this often, whether or not
    /// its event arrived.
    pub catch_up: Duration,
    /// Where the run reports its health and counters.
    pub status: Status,
}

/// The follower's counters on `/metrics`.
struct PromoteMetrics {
    decided: Counter,
    promoted: Counter,
    rejected: Counter,
    passes: Counter,
    deferred: Gauge,
}

impl PromoteMetrics {
    fn new(status: &Status) -> Self {
        Self {
            decided: status.counter("herd_candidates_decided", "Candidates decided."),
            promoted: status.counter(
                "herd_candidates_promoted",
                "Candidates that became production models.",
            ),
            rejected: status.counter(
                "herd_candidates_rejected",
                "Candidates the rule or the champion turned down.",
            ),
            passes: status.counter("herd_promotion_passes", "Decision passes committed."),
            deferred: status.gauge(
                "herd_candidates_deferred",
                "Candidates waiting for the archive to reach the end of their holdout.",
            ),
        }
    }

    /// Counts `summary` into `totals` and into the counters.
    fn absorb(&self, totals: &mut PassSummary, summary: PassSummary) {
        self.decided.inc_by(summary.decided as u64);
        self.promoted.inc_by(summary.promoted as u64);
        self.rejected.inc_by(summary.rejected as u64);
        self.passes.inc();
        totals.absorb(summary);
    }
}

/// Decides everything pending, then follows the models topic until `cancel` (or the idle limit); returns the totals
/// and the events published.
pub async fn follow(
    promoter: &mut Promoter,
    options: &FollowOptions,
    publisher: &mut EventPublisher,
    cancel: &CancellationToken,
) -> Result<(PassSummary, u64)> {
    let status = &options.status;
    status.set(Health::Starting(
        "deciding what was registered while no promoter ran".to_owned(),
    ));
    let followed = follow_events(promoter, options, publisher, cancel).await;
    status.finish(&followed, "");
    followed
}

async fn follow_events(
    promoter: &mut Promoter,
    options: &FollowOptions,
    publisher: &mut EventPublisher,
    cancel: &CancellationToken,
) -> Result<(PassSummary, u64)> {
    let status = &options.status;
    let metrics = PromoteMetrics::new(status);
    let rejoin = rejoin_limit(&options.kafka);
    let mut consumer = join(options)?;
    info!(topic = %options.topic, group = %options.group, "following model events");

    // Whatever was registered while no promoter ran (or deferred before a restart)
    // is decided first.
    let mut totals = PassSummary::default();
    metrics.absorb(&mut totals, promoter.pass(None).await?);
    let mut published = publish(promoter, publisher)?;
    status.ready();
    let mut last_catch_up = Instant::now();
    let mut waiting: HashSet<SeriesKey> = HashSet::new();
    let mut deferred: HashSet<SeriesKey> = HashSet::new();
    let mut deferred_since = Instant::now();
    let mut offsets: HashMap<i32, i64> = HashMap::new();
    let mut first_waiting: Option<Instant> = None;
    let mut last_activity = Instant::now();
    let mut was_assigned = false;

    loop {
        let message = tokio::select! {
            () = cancel.cancelled() => break,
            received = tokio::time::timeout(Duration::from_millis(200), consumer.recv()) => received,
        };
        match message {
            Ok(Ok(message)) => {
                status.ready();
                last_activity = Instant::now();
                offsets.insert(message.partition(), message.offset() + 1);
                match message.payload().map(ModelEvent::from_json) {
                    Some(Ok(event)) if event.event == ModelEventKind::Registered => {
                        waiting.insert(event.key);
                        first_waiting.get_or_insert_with(Instant::now);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        error = %e,
                        "skipping a record that is not a model event"
                    ),
                    None => {}
                }
            }
            Ok(Err(e)) => {
                warn!(error = %e, "reading model events");
                status.set(Health::Degraded(format!("reading model events: {e}")));
            }
            Err(_elapsed) => {}
        }

        // A member the group has answered, even with no partition, may idle; one
        // still waiting for the answer may not, and one waiting too long starts a
        // new client.
        if consumer.context().membership.stuck(rejoin, &options.group) {
            retire(std::mem::replace(&mut consumer, join(options)?));
            offsets.clear();
        }
        let assigned = consumer.context().membership.waiting().is_none();
        if assigned && !was_assigned {
            last_activity = Instant::now();
        }
        was_assigned = assigned;

        if !deferred.is_empty() && deferred_since.elapsed() >= options.retry_deferred {
            waiting.extend(deferred.drain());
            first_waiting.get_or_insert_with(Instant::now);
        }
        let due = first_waiting.is_some_and(|t| t.elapsed() >= options.batch_window)
            || waiting.len() >= options.max_batch;
        if due {
            let summary = promoter.pass(Some(&waiting)).await?;
            published += publish(promoter, publisher)?;
            commit(&consumer, &options.topic, &mut offsets)?;
            if !summary.deferred_keys.is_empty() {
                deferred.extend(summary.deferred_keys.iter().cloned());
                deferred_since = Instant::now();
            }
            info!(
                keys = waiting.len(),
                promoted = summary.promoted,
                rejected = summary.rejected,
                deferred = summary.deferred,
                "decided"
            );
            metrics.absorb(&mut totals, summary);
            waiting.clear();
            first_waiting = None;
        } else if waiting.is_empty() {
            commit(&consumer, &options.topic, &mut offsets)?;
        }

        if last_catch_up.elapsed() >= options.catch_up {
            let summary = promoter.pass(None).await?;
            published += publish(promoter, publisher)?;
            if summary.decided > 0 || summary.repaired > 0 {
                // Only a candidate whose event was lost (or not yet read) gets here.
                info!(
                    promoted = summary.promoted,
                    rejected = summary.rejected,
                    deferred = summary.deferred,
                    repaired = summary.repaired,
                    "caught up with candidates no event announced"
                );
                last_activity = Instant::now();
            }
            metrics.absorb(&mut totals, summary);
            last_catch_up = Instant::now();
        }

        metrics.deferred.set(deferred.len() as i64);
        let idle = options
            .idle_exit
            .is_some_and(|limit| assigned && last_activity.elapsed() >= limit);
        // A deferred candidate waits for the archive, not for an event: stopping now
        // would leave it undecided until the next start.
        if idle && waiting.is_empty() && deferred.is_empty() {
            info!("no model events for a while; stopping");
            break;
        }
    }
    if !waiting.is_empty() {
        metrics.absorb(&mut totals, promoter.pass(Some(&waiting)).await?);
        published += publish(promoter, publisher)?;
        commit(&consumer, &options.topic, &mut offsets)?;
    }
    totals.deferred = deferred.len();
    Ok((totals, published))
}

/// A consumer of the models topic in the promoters' group.
fn join(options: &FollowOptions) -> Result<StreamConsumer<GroupMember>> {
    let consumer: StreamConsumer<GroupMember> = options
        .kafka
        .consumer_config(&options.group)
        .create_with_context(GroupMember::default())?;
    consumer.subscribe(&[options.topic.as_str()])?;
    Ok(consumer)
}

fn publish(promoter: &mut Promoter, publisher: &mut EventPublisher) -> Result<u64> {
    let events = promoter.take_events();
    for event in &events {
        publisher.publish(event)?;
    }
    Ok(events.len() as u64)
}

/// Commits the next offset of every partition read since the last commit.
fn commit(
    consumer: &StreamConsumer<GroupMember>,
    topic: &str,
    offsets: &mut HashMap<i32, i64>,
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for (&partition, &next) in offsets.iter() {
        list.add_partition_offset(topic, partition, Offset::Offset(next))?;
    }
    consumer.commit(&list, CommitMode::Async)?;
    offsets.clear();
    Ok(())
}
