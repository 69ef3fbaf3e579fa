//! The consumer side of the exactly-once protocol (as kafka-delta-ingest does it).
//!
//! A sink stores records together with, per Kafka partition, the next offset to read.
//! On every partition assignment this loop asks the sink where each partition stands
//! and seeks there; Kafka's committed offsets are only a hint for lag monitoring. A
//! record is handed to the sink only when its offset is exactly the next one the sink
//! expects, so a record is never stored twice and never skipped.
//!
//! Two things can still come between a partition and its next offset: retention may
//! have deleted it before it was read (see `gap`: the loop stops or skips, as told,
//! never silently), and the broker may be briefly unreachable (see `transient`: the
//! loop waits and retries; other errors end it).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientContext, Message, Offset};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::gap::{Gap, GapPolicy};
use crate::membership::{Membership, rejoin_limit, retire};
use crate::status::{Health, LoopMetrics, Status};
use crate::transient::{Outage, is_transient, watermarks};
use crate::{BusError, KafkaOptions};

/// When buffered records are flushed to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush once this many records are buffered.
    pub max_records: usize,
    /// Flush once the buffered payloads reach this many bytes.
    pub max_bytes: usize,
    /// Flush once the oldest buffered record has waited this long.
    pub max_latency: Duration,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self {
            max_records: 500_000,
            max_bytes: 64 << 20,
            max_latency: Duration::from_secs(5),
        }
    }
}

/// How the loop runs.
#[derive(Debug, Clone, Default)]
pub struct LoopOptions {
    pub flush: FlushPolicy,
    /// Stop (after a final flush) once no record arrived for this long; `None` runs
    /// until cancelled. For batch runs and tests.
    pub stop_when_idle: Option<Duration>,
    /// What to do when a partition's next offset was deleted before it was read.
    pub on_gap: GapPolicy,
    /// Where the loop reports its health and counters.
    pub status: Status,
}

/// One record as the sink sees it.
#[derive(Debug, Clone, Copy)]
pub struct ConsumedRecord<'a> {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    /// Milliseconds since the epoch, as the producer or broker stamped it.
    pub timestamp_ms: Option<i64>,
}

/// The offsets of one partition in a flush: `first` is where it begins, the next
/// offset as the sink stored it (the first record's, unless offsets before that
/// record were skipped), and `next` the offset to read after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    pub partition: i32,
    pub first: i64,
    pub next: i64,
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Records and offsets are stored, atomically.
    Committed,
    /// The sink's stored offsets no longer match the buffer (another consumer took
    /// the partition over): nothing was stored and the loop re-seeks.
    OffsetsMoved,
}

/// Where records go, together with their offsets, in one atomic step.
pub trait ExactlyOnceSink: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The next offset to read of each partition as the sink has stored it; `None`
    /// for a partition the sink has never seen.
    fn stored_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> impl Future<Output = Result<HashMap<i32, Option<i64>>, Self::Error>> + Send;

    /// Keeps one record until the next flush.
    fn buffer(&mut self, record: ConsumedRecord<'_>);

    /// Stores everything buffered together with `ranges`, or nothing.
    fn flush(
        &mut self,
        topic: &str,
        ranges: &[OffsetRange],
    ) -> impl Future<Output = Result<FlushOutcome, Self::Error>> + Send;

    /// Drops everything buffered (after a rebalance or moved offsets).
    fn discard(&mut self);

    /// Work the sink may do between flushes on the loop's tick (every 100 ms), such
    /// as publishing what it made of the records so far; nothing is stored here.
    fn tick(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Whether the sink is behind with work of its own and the loop should stop
    /// fetching for now. Checked on every tick; assigned partitions are paused while
    /// it holds and resumed after, so nothing is dropped and the group keeps them.
    fn paused(&self) -> bool {
        false
    }
}

/// Counters of one run of the loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub records: u64,
    pub flushes: u64,
    pub rebalances: u64,
    /// Records read again after a seek and skipped because the sink had them.
    pub skipped: u64,
    /// Offsets deleted before they were read, passed over by [`GapPolicy::Skip`].
    pub lost: u64,
    /// Transient Kafka errors waited out.
    pub transient_errors: u64,
}

/// Errors of the loop: Kafka's, or the sink's.
#[derive(Debug, thiserror::Error)]
pub enum LoopError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Sink(E),
}

/// Notes partition assignments and revocations for the loop to act on, and whether
/// the last one revoked partitions (the member is rejoining its group).
#[derive(Default)]
struct RebalanceFlag {
    changed: AtomicBool,
    revoked: AtomicBool,
    membership: Membership,
}

impl RebalanceFlag {
    /// Whether the assignment changed since the last call.
    fn take(&self) -> bool {
        self.changed.swap(false, Ordering::SeqCst)
    }

    /// What readiness the last rebalance leaves the member in.
    fn health(&self, group: &str) -> Health {
        if self.revoked.load(Ordering::SeqCst) {
            Health::Starting(format!(
                "partitions revoked; waiting for consumer group {group} to assign them"
            ))
        } else {
            Health::Ready
        }
    }
}

impl ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance
            && let Err(err) = consumer.pause(list)
        {
            // Without the pause the consumer fetches from where the group has no
            // offset (the start) until the loop seeks; nothing is lost either way.
            warn!(error = %err, "cannot pause newly assigned partitions");
        }
        match rebalance {
            Rebalance::Assign(list) | Rebalance::Revoke(list) => {
                debug!(partitions = list.count(), "rebalance");
                self.revoked
                    .store(matches!(rebalance, Rebalance::Revoke(_)), Ordering::SeqCst);
                self.changed.store(true, Ordering::SeqCst);
            }
            Rebalance::Error(err) => warn!(error = %err, "rebalance error"),
        }
        self.membership.note(rebalance);
    }
}

/// A consumer in `group`, subscribed to `topic`.
fn join(
    options: &KafkaOptions,
    group: &str,
    topic: &str,
) -> Result<Arc<StreamConsumer<RebalanceFlag>>, BusError> {
    let consumer: StreamConsumer<RebalanceFlag> = options
        .consumer_config(group)
        .create_with_context(RebalanceFlag::default())?;
    consumer.subscribe(&[topic])?;
    Ok(Arc::new(consumer))
}

/// Per partition: the next offset the sink expects, and whether the consumer has
/// reached it since the last seek.
#[derive(Debug, Clone, Copy)]
struct Position {
    next: i64,
    synced: bool,
}

/// Consumes `topic` in consumer group `group` and hands records to `sink` exactly
/// once, until `cancel` fires; then flushes what is buffered and returns. Its health
/// and counters go to `run.status` as it runs.
pub async fn run_exactly_once<S: ExactlyOnceSink>(
    options: &KafkaOptions,
    group: &str,
    topic: &str,
    run: LoopOptions,
    sink: &mut S,
    cancel: CancellationToken,
) -> Result<LoopStats, LoopError<S::Error>> {
    let status = run.status.clone();
    status.set(Health::Starting(format!(
        "joining consumer group {group} on {topic}"
    )));
    let consumed = consume(options, group, topic, run, sink, cancel).await;
    status.finish(&consumed, &format!("consuming {topic}"));
    consumed
}

async fn consume<S: ExactlyOnceSink>(
    options: &KafkaOptions,
    group: &str,
    topic: &str,
    run: LoopOptions,
    sink: &mut S,
    cancel: CancellationToken,
) -> Result<LoopStats, LoopError<S::Error>> {
    let policy = run.flush;
    let status = &run.status;
    let mut metrics = LoopMetrics::new(status);
    let mut last_record = Instant::now();
    let rejoin = rejoin_limit(options);
    let mut consumer = join(options, group, topic)?;
    info!(topic, group, "consuming");

    let mut state = LoopState {
        on_gap: run.on_gap,
        jumps: Vec::new(),
        positions: HashMap::new(),
        ranges: BTreeMap::new(),
        buffered: 0,
        bytes: 0,
        oldest: None,
        stats: LoopStats::default(),
    };
    // Clocks are read on the tick, not per record: at hundreds of thousands of
    // records a second, reading the time per record is a tenth of the work.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut received_since_tick = false;
    let mut paused = false;
    let mut outage: Option<Outage> = None;
    loop {
        if consumer.context().take() {
            state.reset(&consumer, topic, sink).await?;
            // A new assignment starts unpaused, and the idle clock starts with it.
            paused = false;
            last_record = Instant::now();
            if outage.is_none() {
                status.set(consumer.context().health(group));
            }
        }
        let ticked = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => true,
            message = consumer.recv() => {
                let message = match message {
                    Ok(message) => message,
                    Err(err) if is_transient(&err) => {
                        // librdkafka reconnects by itself, with its own growing
                        // pause; the loop keeps polling (rebalances and queued errors
                        // are served by polling too) and says what is going on.
                        state.stats.transient_errors += 1;
                        outage.get_or_insert_with(Outage::start).note(topic, &err);
                        status.set(Health::Degraded(format!("Kafka is unavailable: {err}")));
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(Outage::PACE) => {}
                        }
                        continue;
                    }
                    Err(err) => return Err(BusError::from(err).into()),
                };
                if let Some(outage) = outage.take() {
                    outage.end(topic);
                    status.set(consumer.context().health(group));
                }
                if consumer.context().take() {
                    // The assignment changed under this message: start over from
                    // what the sink has stored.
                    state.reset(&consumer, topic, sink).await?;
                    paused = false;
                    last_record = Instant::now();
                    status.set(consumer.context().health(group));
                    continue;
                }
                received_since_tick = true;
                state.accept(&message, sink);
                false
            }
        };
        if ticked {
            if sink.paused() != paused {
                paused = !paused;
                set_paused(&consumer, paused);
            }
            metrics.publish(&state.stats, state.positions.len(), paused);
            sink.tick().await.map_err(LoopError::Sink)?;
            if let Some(down) = outage.as_mut().filter(|o| o.probe_due()) {
                if reachable(&consumer, topic).await {
                    // The broker is back though no record has arrived yet (an idle
                    // topic).
                    if let Some(outage) = outage.take() {
                        outage.end(topic);
                    }
                    status.set(consumer.context().health(group));
                } else {
                    down.probed();
                }
            }
            if outage.is_none()
                && state.positions.is_empty()
                && consumer.context().membership.stuck(rejoin, group)
            {
                retire(std::mem::replace(
                    &mut consumer,
                    join(options, group, topic)?,
                ));
            }
            if std::mem::take(&mut received_since_tick)
                || consumer.context().membership.waiting().is_some()
            {
                // Idle time counts only once the group has answered: a member
                // waiting for it to hand out partitions is not idle (one that was
                // handed none is).
                last_record = Instant::now();
            } else if run
                .stop_when_idle
                .is_some_and(|idle| last_record.elapsed() >= idle)
            {
                info!("no new records; stopping");
                break;
            }
        }
        if !state.jumps.is_empty() {
            // Before anything past the jump is flushed.
            state.check_jumps(&consumer, topic).await?;
        }
        if state.full(&policy) || (ticked && state.waited(&policy)) {
            state.flush(&consumer, topic, sink).await?;
        }
    }
    status.set(Health::Stopping);
    state.flush(&consumer, topic, sink).await?;
    metrics.publish(&state.stats, state.positions.len(), paused);
    info!(
        records = state.stats.records,
        flushes = state.stats.flushes,
        "stopped"
    );
    Ok(state.stats)
}

/// Whether the broker answers a metadata request for `topic` within a second.
async fn reachable(consumer: &Arc<StreamConsumer<RebalanceFlag>>, topic: &str) -> bool {
    let (consumer, topic) = (Arc::clone(consumer), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(1))
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// Pauses or resumes fetching from every assigned partition.
fn set_paused(consumer: &StreamConsumer<RebalanceFlag>, pause: bool) {
    let assignment = match consumer.assignment() {
        Ok(assignment) => assignment,
        Err(err) => {
            warn!(error = %err, "cannot read the assignment to pause or resume");
            return;
        }
    };
    let outcome = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match outcome {
        Ok(()) => info!(
            partitions = assignment.count(),
            pause, "fetching paused or resumed"
        ),
        Err(err) => warn!(error = %err, pause, "cannot pause or resume partitions"),
    }
}

struct LoopState {
    on_gap: GapPolicy,
    /// Partitions whose offsets jumped past the next expected one since the last
    /// check, with that expected offset.
    jumps: Vec<(i32, i64)>,
    positions: HashMap<i32, Position>,
    ranges: BTreeMap<i32, OffsetRange>,
    buffered: usize,
    bytes: usize,
    oldest: Option<Instant>,
    stats: LoopStats,
}

impl LoopState {
    fn accept<S: ExactlyOnceSink, M: Message>(&mut self, message: &M, sink: &mut S) {
        let (partition, offset) = (message.partition(), message.offset());
        let Some(position) = self.positions.get_mut(&partition) else {
            return; // not (or no longer) ours
        };
        if offset < position.next {
            self.stats.skipped += 1;
            return;
        }
        if offset > position.next {
            if !position.synced {
                // Fetched before our seek took effect; the seek brings it back.
                return;
            }
            // Offsets can have holes (compaction, transaction markers), or the
            // records may have been deleted before they were read: checked before
            // the next flush.
            debug!(partition, expected = position.next, offset, "offset gap");
            self.jumps.push((partition, position.next));
        }
        // A range starts where the sink's offsets stand, which is past the last
        // record flushed, not at this record when offsets were skipped before it:
        // the sink stores ranges that continue one another.
        let first = position.next;
        position.synced = true;
        position.next = offset + 1;
        self.ranges
            .entry(partition)
            .and_modify(|range| range.next = offset + 1)
            .or_insert(OffsetRange {
                partition,
                first,
                next: offset + 1,
            });
        let payload = message.payload();
        self.buffered += 1;
        self.bytes += payload.map_or(0, <[u8]>::len);
        self.oldest.get_or_insert_with(Instant::now);
        self.stats.records += 1;
        sink.buffer(ConsumedRecord {
            partition,
            offset,
            key: message.key(),
            payload,
            timestamp_ms: message.timestamp().to_millis(),
        });
    }

    /// Tells the holes the consumer jumped over from records deleted before they
    /// were read (the low watermark is past the offset expected), and follows the
    /// policy for those.
    async fn check_jumps(
        &mut self,
        consumer: &StreamConsumer<RebalanceFlag>,
        topic: &str,
    ) -> Result<(), BusError> {
        for (partition, expected) in std::mem::take(&mut self.jumps) {
            let (low, _) = watermarks(consumer, topic, partition).await?;
            if low > expected {
                let gap = Gap {
                    partition,
                    expected,
                    low,
                };
                gap.apply(topic, self.on_gap)?;
                self.stats.lost += gap.lost();
            }
        }
        Ok(())
    }

    /// The buffer reached its record or byte limit.
    fn full(&self, policy: &FlushPolicy) -> bool {
        self.buffered >= policy.max_records || self.bytes >= policy.max_bytes
    }

    /// The oldest buffered record has waited its longest.
    fn waited(&self, policy: &FlushPolicy) -> bool {
        self.oldest
            .is_some_and(|t| t.elapsed() >= policy.max_latency)
    }

    fn clear_buffer(&mut self) {
        self.jumps.clear();
        self.ranges.clear();
        self.buffered = 0;
        self.bytes = 0;
        self.oldest = None;
    }

    async fn flush<S: ExactlyOnceSink>(
        &mut self,
        consumer: &StreamConsumer<RebalanceFlag>,
        topic: &str,
        sink: &mut S,
    ) -> Result<(), LoopError<S::Error>> {
        if self.ranges.is_empty() {
            return Ok(());
        }
        let ranges: Vec<OffsetRange> = self.ranges.values().copied().collect();
        match sink.flush(topic, &ranges).await.map_err(LoopError::Sink)? {
            FlushOutcome::Committed => {
                self.stats.flushes += 1;
                debug!(
                    records = self.buffered,
                    partitions = ranges.len(),
                    "flushed"
                );
                self.clear_buffer();
                // A hint for lag monitoring only; the sink's offsets are the truth.
                let mut list = TopicPartitionList::new();
                for range in &ranges {
                    let _ = list.add_partition_offset(
                        topic,
                        range.partition,
                        Offset::Offset(range.next),
                    );
                }
                if let Err(err) = consumer.commit(&list, CommitMode::Async) {
                    debug!(error = %err, "offset hint not committed");
                }
                Ok(())
            }
            FlushOutcome::OffsetsMoved => {
                warn!("stored offsets moved under this consumer; re-reading them");
                self.reset(consumer, topic, sink).await
            }
        }
    }

    /// Drops the buffer, asks the sink where each assigned partition stands, and
    /// seeks there.
    async fn reset<S: ExactlyOnceSink>(
        &mut self,
        consumer: &StreamConsumer<RebalanceFlag>,
        topic: &str,
        sink: &mut S,
    ) -> Result<(), LoopError<S::Error>> {
        self.stats.rebalances += 1;
        sink.discard();
        self.clear_buffer();
        let assignment = consumer.assignment().map_err(BusError::from)?;
        let partitions: Vec<i32> = assignment
            .elements_for_topic(topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let stored = sink
            .stored_offsets(topic, &partitions)
            .await
            .map_err(LoopError::Sink)?;
        self.positions.clear();
        let mut seeks = Vec::with_capacity(partitions.len());
        for &partition in &partitions {
            let (low, _) = watermarks(consumer, topic, partition).await?;
            let next = match stored.get(&partition).copied().flatten() {
                None => low,
                Some(next) if next < low => {
                    let gap = Gap {
                        partition,
                        expected: next,
                        low,
                    };
                    gap.apply(topic, self.on_gap)?;
                    self.stats.lost += gap.lost();
                    // The next flush stores the offsets past the gap, even if no
                    // record follows, so the gap is passed over once.
                    self.ranges.insert(
                        partition,
                        OffsetRange {
                            partition,
                            first: next,
                            next: low,
                        },
                    );
                    self.oldest.get_or_insert_with(Instant::now);
                    low
                }
                Some(next) => next,
            };
            seeks.push((partition, next));
            self.positions.insert(
                partition,
                Position {
                    next,
                    synced: false,
                },
            );
        }
        // Assigned partitions wait paused (see `RebalanceFlag`) until the sink says
        // where it left off. They resume first and are then moved there: the seek
        // wakes the consumer's fetcher at once, where a resume alone waits for its
        // next round (up to a second).
        if let Err(err) = consumer.resume(&assignment) {
            warn!(error = %err, "cannot resume the assigned partitions");
        }
        for (partition, next) in seeks {
            seek(consumer, topic, partition, next).await;
        }
        info!(topic, partitions = ?partitions, "assigned; resuming from stored offsets");
        Ok(())
    }
}

/// Moves `partition`'s fetch position to `next`. A partition assigned a moment ago
/// cannot be moved until the consumer has started on it (librdkafka answers with an
/// erroneous-state error until then), so that one is tried again for a few seconds.
async fn seek(consumer: &StreamConsumer<RebalanceFlag>, topic: &str, partition: i32, next: i64) {
    const PATIENCE: Duration = Duration::from_secs(10);
    let started = Instant::now();
    let not_started = KafkaError::Seek(RDKafkaErrorCode::State.to_string());
    loop {
        match consumer.seek(
            topic,
            partition,
            Offset::Offset(next),
            Duration::from_secs(10),
        ) {
            Ok(()) => return,
            Err(err) if err == not_started && started.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => {
                // Not fatal: records before `next` are read and skipped.
                warn!(partition, next, error = %err, "seek failed");
                return;
            }
        }
    }
}
