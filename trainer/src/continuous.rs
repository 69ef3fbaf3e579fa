//! `herd train` without `--once`: a consumer group on `herd.sales` that keeps every
//! owned key's window current and retrains a key once enough new days arrived.
//!
//! The windows are derived state, never committed anywhere: when partitions are
//! assigned, their keys' windows are rebuilt from the lake's `sales` table, and the
//! consumer starts each partition at the offset the archive stored in that same table
//! version, so lake and topic together give every record exactly once. Training
//! runs in its own task on a bounded pool; the consumer only marks keys as due (a
//! key is due at most once however many records arrive), and pauses its partitions
//! while too many keys wait. If that task fails, the consumer stops and the trainer
//! returns the task's error: a trainer that cannot train must not look alive.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use dashmap::DashMap;
use herd_bus::{
    ConsumedRecord, Counter, ExactlyOnceSink, FlushOutcome, FlushPolicy, Gauge, KafkaOptions,
    LoopOptions, LoopStats, OffsetRange, Status, run_exactly_once,
};
use herd_history::{DenseHistory, WindowDigest, Windows, item_profiles, sale_of, window_profiles};
use herd_lake::{ExactlyOnceAppender, LakeRoot, tables};
use herd_models::{Calibration, ItemProfile, Model};
use herd_registry::{CandidateRegistry, ModelRow, ModelStatus, NewModel, Trigger};
use herd_schemas::{SeriesId, SeriesKey};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::announce::Announcer;
use crate::drift::{DriftOptions, Watch};
use crate::error::{Result, TrainError};
use crate::fit::RunSettings;
use crate::once::{fit_all, training_pool};

/// How the continuous trainer follows the stream.
#[derive(Debug, Clone)]
pub struct ContinuousOptions {
    pub run: RunSettings,
    pub window_days: usize,
    /// What one period of a window is.
    pub frequency: herd_schemas::Frequency,
    /// Retrain a key once this many new (or corrected) days arrived for it.
    pub min_new_days: u32,
    pub group: String,
    /// The sales topic; its archive offsets are read from the `sales` table.
    pub topic: String,
    /// The writer name of the archive whose offsets the `sales` table stores.
    pub archive_writer: String,
    pub threads: usize,
    /// Most keys trained and registered in one Delta commit.
    pub batch_keys: usize,
    /// Pause fetching while more keys than this wait for training.
    pub max_due_keys: usize,
    /// Stop once no record arrived for this long (after training what is due).
    pub stop_when_idle: Option<Duration>,
    /// Retrain a key whose days since its latest model left what the model expected,
    /// before `min_new_days` (`None`: only on new days).
    pub drift: Option<DriftOptions>,
    /// Where the run reports its health and counters.
    pub status: Status,
}

/// What a continuous run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ContinuousSummary {
    pub records: u64,
    pub malformed: u64,
    pub rebalances: u64,
    pub trained: u64,
    pub failed: u64,
    /// Of the keys trained, those retrained because they drifted.
    pub drifted: u64,
    pub commits: u64,
    pub keys: usize,
    pub too_old: u64,
    /// The windows held at the end.
    pub windows: WindowDigest,
}

/// Keys due for training, in the order they became due, each at most once, with
/// why.
#[derive(Debug, Default)]
struct DueKeys {
    order: VecDeque<SeriesKey>,
    set: HashMap<SeriesKey, Trigger>,
}

impl DueKeys {
    /// Queues `key`; a key already queued keeps its place, and becomes due for drift
    /// if it is now.
    fn push(&mut self, key: SeriesKey, trigger: Trigger) {
        match self.set.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut queued) => {
                if trigger == Trigger::Drift {
                    queued.insert(trigger);
                }
            }
            std::collections::hash_map::Entry::Vacant(new) => {
                self.order.push_back(new.key().clone());
                new.insert(trigger);
            }
        }
    }

    fn take(&mut self, most: usize) -> Vec<(SeriesKey, Trigger)> {
        let n = most.min(self.order.len());
        self.order
            .drain(..n)
            .map(|key| {
                let trigger = self.set.remove(&key).unwrap_or(Trigger::NewDays);
                (key, trigger)
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

/// State shared by the consumer side and the training task.
struct Shared {
    windows: Windows,
    due: Mutex<DueKeys>,
    wake: Notify,
    /// The last data day of each key's latest registered model.
    trained_through: DashMap<SeriesKey, NaiveDate>,
    /// Item profiles for cold starts, from the keys with full history at the last load.
    profiles: Mutex<HashMap<SeriesId, ItemProfile>>,
    min_new_days: u32,
    /// Set when partitions were assigned: other trainers may have registered their
    /// keys' versions since the training task last read the registry.
    registry_stale: AtomicBool,
    /// What each key's latest model, trained by this process, expects of the days
    /// after it; removed once the key is due for drift.
    watches: DashMap<SeriesKey, Watch>,
    drift: Option<DriftOptions>,
}

impl Shared {
    fn mark_due(&self, key: SeriesKey, trigger: Trigger) {
        if let Ok(mut due) = self.due.lock() {
            due.push(key, trigger);
        }
        self.wake.notify_one();
    }

    /// Queues `key` for drift when the days after its latest model left what the
    /// model expected. Judged once a day after the model has arrived.
    fn check_drift(&self, key: &SeriesKey, date: NaiveDate) {
        let Some(options) = &self.drift else {
            return;
        };
        let drift = match self.watches.get(key) {
            Some(watch) if date >= watch.start => {
                let Some(mut entry) = self.windows.map().get_mut(key) else {
                    return;
                };
                let drift = watch.judge(&entry.window, options);
                if drift.is_some() {
                    // Trained now: its new days start counting again.
                    entry.new_days = 0;
                }
                drift
            }
            _ => None,
        };
        if let Some(drift) = drift {
            self.watches.remove(key);
            info!(
                %key,
                days = drift.days,
                live_wape = drift.live_wape,
                expected_wape = drift.expected_wape,
                level_change = drift.level_change,
                "drift: retraining"
            );
            self.mark_due(key.clone(), Trigger::Drift);
        }
    }

    fn due_len(&self) -> usize {
        self.due.lock().map_or(0, |due| due.len())
    }
}

/// Follows `options.topic` until `cancel` fires (or the stream goes idle), then
/// trains what is still due and returns.
pub async fn run_continuous(
    root: &LakeRoot,
    kafka: &KafkaOptions,
    options: &ContinuousOptions,
    announcer: Announcer,
    cancel: CancellationToken,
) -> Result<ContinuousSummary> {
    let registry = CandidateRegistry::open(root).await?;
    let shared = Arc::new(Shared {
        windows: Windows::of(options.window_days, options.frequency),
        due: Mutex::new(DueKeys::default()),
        wake: Notify::new(),
        trained_through: registry
            .all_trained_through()
            .iter()
            .map(|(k, d)| (k.clone(), *d))
            .collect(),
        profiles: Mutex::new(HashMap::new()),
        min_new_days: options.min_new_days.max(1),
        registry_stale: AtomicBool::new(false),
        watches: DashMap::new(),
        drift: options.drift,
    });
    let sales = tables::open_or_create(root, &tables::sales_of(options.frequency)).await?;
    tables::check_frequency(&sales, options.frequency)?;
    let mut sink = TrainerSink {
        root: root.clone(),
        kafka: kafka.clone(),
        catching_up: HashMap::new(),
        shared: Arc::clone(&shared),
        run: options.run.clone(),
        archive: ExactlyOnceAppender::new(sales, options.archive_writer.clone()),
        next: HashMap::new(),
        max_due_keys: options.max_due_keys.max(1),
        malformed: 0,
    };

    let draining = CancellationToken::new();
    let mut trainer = tokio::spawn(training_task(
        Arc::clone(&shared),
        registry,
        announcer,
        options.clone(),
        draining.clone(),
    ));
    let loop_options = LoopOptions {
        // Nothing is stored per flush; flushing only commits the offsets as a lag hint.
        flush: FlushPolicy {
            max_records: 100_000,
            max_bytes: 64 << 20,
            max_latency: Duration::from_secs(1),
        },
        stop_when_idle: options.stop_when_idle,
        // The trainer reads from the archive's offsets: a gap there is the archive's
        // to pass over (`[archive] on_gap`), and this loop stops until it has.
        on_gap: herd_bus::GapPolicy::Fail,
        status: options.status.clone(),
    };
    let stop = cancel.child_token();
    let (consumed, trained) = {
        let consuming = run_exactly_once(
            kafka,
            &options.group,
            &options.topic,
            loop_options,
            &mut sink,
            stop.clone(),
        );
        tokio::pin!(consuming);
        tokio::select! {
            consumed = &mut consuming => {
                // Whatever ended the loop, let training finish what is due first.
                draining.cancel();
                shared.wake.notify_one();
                (consumed, (&mut trainer).await)
            }
            trained = &mut trainer => {
                // Training ends on its own only when it failed: stop consuming for it.
                match &trained {
                    Ok(Err(e)) => {
                        error!(error = %e, "the training task failed; stopping");
                        options.status.fail(format!("the training task failed: {e}"));
                    }
                    Err(e) => options.status.fail(format!("the training task failed: {e}")),
                    Ok(Ok(_)) => {}
                }
                stop.cancel();
                (consuming.await, trained)
            }
        }
    };
    let trained = trained
        .map_err(|e| TrainError::Invalid(format!("the training task failed: {e}")))?
        .map_err(|e| TrainError::Stopped(Box::new(e)));
    let stats: Result<LoopStats> = consumed.map_err(|e| match e {
        herd_bus::LoopError::Bus(e) => TrainError::Bus(e),
        herd_bus::LoopError::Sink(e) => e,
    });
    // A failed training task is the cause of whatever else went wrong.
    let (trained, failed, drifted, commits) = trained?;
    let stats = stats?;
    let counts = shared.windows.counts();
    Ok(ContinuousSummary {
        records: stats.records,
        malformed: sink.malformed,
        rebalances: stats.rebalances,
        trained,
        failed,
        drifted,
        commits,
        keys: counts.keys,
        too_old: counts.too_old,
        windows: shared.windows.digest(),
    })
}

/// The consumer side: windows in, due keys out.
struct TrainerSink {
    root: LakeRoot,
    kafka: KafkaOptions,
    /// Partitions still replaying what the topic held when they were assigned, with
    /// that high watermark: their keys are not trained until the replay is done, so
    /// no model sees a window that is only partly rebuilt.
    catching_up: HashMap<i32, i64>,
    shared: Arc<Shared>,
    run: RunSettings,
    /// Reads the archive's offsets and rows from the `sales` table.
    archive: ExactlyOnceAppender,
    /// Per owned partition, the next offset this process will read.
    next: HashMap<i32, i64>,
    max_due_keys: usize,
    malformed: u64,
}

impl TrainerSink {
    /// A partition finished its replay: every key of it with enough new days is due.
    fn caught_up(&self, partition: i32) {
        let mut due = 0;
        for mut entry in self.shared.windows.map().iter_mut() {
            if entry.partition == partition && entry.take_due(self.shared.min_new_days) {
                due += 1;
                self.shared.mark_due(entry.key().clone(), Trigger::NewDays);
            }
        }
        info!(partition, due, "partition caught up");
    }
}

impl ExactlyOnceSink for TrainerSink {
    type Error = TrainError;

    async fn stored_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        // Partitions kept across the rebalance go on from memory; revoked ones lose
        // their windows; new ones are rebuilt from the lake.
        let revoked: Vec<i32> = self
            .next
            .keys()
            .copied()
            .filter(|p| !partitions.contains(p))
            .collect();
        if !revoked.is_empty() {
            self.shared.windows.drop_partitions(&revoked);
            self.next.retain(|p, _| partitions.contains(p));
        }
        let new: HashSet<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.next.contains_key(p))
            .collect();
        let mut offsets: HashMap<i32, Option<i64>> = self
            .next
            .iter()
            .map(|(p, next)| (*p, Some(*next)))
            .collect();
        if new.is_empty() {
            return Ok(offsets);
        }
        let new_list: Vec<i32> = new.iter().copied().collect();
        // Offsets first, then rows from the same table version: the rows are exactly
        // those before the offsets.
        let archived = self.archive.stored_versions(topic, &new_list).await?;
        let (kafka, topic_name, list) = (self.kafka.clone(), topic.to_owned(), new_list.clone());
        let highs = tokio::task::spawn_blocking(move || {
            herd_bus::high_watermarks(&kafka, &topic_name, &list, Duration::from_secs(10))
        })
        .await
        .map_err(|e| TrainError::Invalid(format!("reading watermarks failed: {e}")))??;
        self.catching_up.retain(|p, _| partitions.contains(p));
        for &partition in &new_list {
            let start = archived.get(&partition).copied().flatten().unwrap_or(0);
            match highs.get(&partition) {
                Some(&high) if start < high => {
                    self.catching_up.insert(partition, high);
                }
                _ => {}
            }
        }
        self.shared.registry_stale.store(true, Ordering::Relaxed);
        let loaded =
            herd_history::load(&self.shared.windows, self.archive.table(), Some(&new)).await?;
        // Another member of the group may have trained these keys since this process
        // started: what the registry holds now decides what is due.
        let mut watched = 0;
        if let Some(mut registry) = CandidateRegistry::open_existing(&self.root).await? {
            for (key, end) in registry.all_trained_through() {
                self.shared
                    .trained_through
                    .entry(key.clone())
                    .and_modify(|known| *known = (*known).max(*end))
                    .or_insert(*end);
            }
            if self.shared.drift.is_some() {
                watched = watch_latest(&self.shared, &mut registry, &new, &self.run).await?;
            }
        }
        let mut due = 0;
        for mut entry in self.shared.windows.map().iter_mut() {
            if !new.contains(&entry.partition) {
                continue;
            }
            let through = self.shared.trained_through.get(entry.key()).map(|d| *d);
            let last = entry.window.last_day();
            let new_days = match (last, through) {
                (Some(last), Some(through)) => {
                    entry.window.frequency().between(through, last).max(0) as u32
                }
                (Some(_), None) => entry.window.observed_days() as u32,
                (None, _) => 0,
            };
            entry.trained_through = through;
            entry.new_days = new_days;
            if !self.catching_up.contains_key(&entry.partition)
                && entry.take_due(self.shared.min_new_days)
            {
                due += 1;
                self.shared.mark_due(entry.key().clone(), Trigger::NewDays);
            }
        }
        let profiles = window_profiles(&self.shared.windows, &self.run.model);
        if let Ok(mut shared) = self.shared.profiles.lock() {
            *shared = profiles;
        }
        info!(
            partitions = ?new_list,
            keys = loaded.keys,
            rows = loaded.rows,
            files = loaded.scan.files,
            due,
            watched,
            "rebuilt windows from the lake"
        );
        for partition in new_list {
            let stored = archived.get(&partition).copied().flatten();
            if let Some(next) = stored {
                self.next.insert(partition, next);
            }
            offsets.insert(partition, stored);
        }
        Ok(offsets)
    }

    fn buffer(&mut self, record: ConsumedRecord<'_>) {
        self.next.insert(record.partition, record.offset + 1);
        let Some(record_value) = sale_of(
            &record,
            self.shared.windows.frequency(),
            &mut self.malformed,
        ) else {
            return;
        };
        // While a partition replays what the topic held at assignment, no key of it
        // is due; when the replay ends, every key with enough new days is.
        let catching_up = self.catching_up.get(&record.partition).copied();
        let shared = &self.shared;
        let due = shared.windows.insert_and_take_due(
            &record_value,
            record.partition,
            |key| shared.trained_through.get(key).map(|d| *d),
            catching_up.is_none().then_some(shared.min_new_days),
        );
        let key = SeriesKey::new(record_value.store_id, record_value.item_id);
        if due {
            shared.mark_due(key, Trigger::NewDays);
        } else if catching_up.is_none() {
            shared.check_drift(&key, record_value.date);
        }
        if catching_up.is_some_and(|high| record.offset + 1 >= high) {
            self.catching_up.remove(&record.partition);
            self.caught_up(record.partition);
        }
    }

    async fn flush(&mut self, _topic: &str, _ranges: &[OffsetRange]) -> Result<FlushOutcome> {
        Ok(FlushOutcome::Committed)
    }

    fn discard(&mut self) {
        // Records already in windows stay: `stored_offsets` resumes after them.
    }

    fn paused(&self) -> bool {
        self.shared.due_len() >= self.max_due_keys
    }
}

/// The training task's counters on `/metrics`.
struct TrainMetrics {
    trained: Counter,
    failed: Counter,
    drifted: Counter,
    commits: Counter,
    due: Gauge,
}

impl TrainMetrics {
    fn new(status: &Status) -> Self {
        Self {
            trained: status.counter(
                "herd_models_trained",
                "Candidate models registered (their events confirmed by the broker).",
            ),
            failed: status.counter(
                "herd_models_failed",
                "Keys whose training failed, registered with status failed.",
            ),
            drifted: status.counter(
                "herd_models_drift_retrained",
                "Keys retrained because their days since the latest model left what it expected.",
            ),
            commits: status.counter("herd_registry_commits", "Commits to the models table."),
            due: status.gauge("herd_keys_due", "Keys waiting to be trained."),
        }
    }
}

/// Trains due keys in batches until told to drain, then trains what is left.
async fn training_task(
    shared: Arc<Shared>,
    mut registry: CandidateRegistry,
    mut announcer: Announcer,
    options: ContinuousOptions,
    draining: CancellationToken,
) -> Result<(u64, u64, u64, u64)> {
    let pool = Arc::new(training_pool(options.threads)?);
    // The counters on /metrics are this task's own counts, returned at the end.
    let metrics = TrainMetrics::new(&options.status);
    // Interval bands are calibrated on the scores of every key this task trained.
    let mut calibration = Calibration::new(options.run.model.interval_level);
    loop {
        metrics.due.set(shared.due_len() as i64);
        let keys = shared
            .due
            .lock()
            .map(|mut due| due.take(options.batch_keys.max(1)))
            .unwrap_or_default();
        if keys.is_empty() {
            if draining.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = draining.cancelled() => {}
                // A safety net against a lost wake-up.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut triggers: HashMap<SeriesKey, Trigger> = HashMap::with_capacity(keys.len());
        let histories: Vec<(SeriesKey, DenseHistory)> = keys
            .into_iter()
            .filter_map(|(key, trigger)| {
                let dense = shared.windows.map().get(&key)?.window.dense();
                triggers.insert(key.clone(), trigger);
                Some((key, dense))
            })
            .collect();
        if histories.is_empty() {
            continue;
        }
        let (pool, run) = (Arc::clone(&pool), options.run.clone());
        let mut profiles = shared
            .profiles
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let (mut models, calibrated) = tokio::task::spawn_blocking(move || {
            profiles.extend(item_profiles(&histories, &run.model));
            let models = fit_all(
                &pool,
                &histories,
                &profiles,
                &run,
                Utc::now(),
                &mut calibration,
            );
            (models, calibration)
        })
        .await
        .map_err(|e| TrainError::Invalid(format!("the training pool failed: {e}")))?;
        calibration = calibrated;
        let horizon = options.run.model.horizon;
        let mut watches = Vec::with_capacity(models.len());
        for model in &mut models {
            let trigger = triggers.get(&model.row.key).copied();
            model.row.trigger = trigger.or(model.row.trigger);
            if trigger == Some(Trigger::Drift) {
                metrics.drifted.inc();
            }
            if shared.drift.is_some() {
                watches.push((model.row.key.clone(), watch_of(model, horizon)));
            }
        }
        if shared.registry_stale.swap(false, Ordering::Relaxed) {
            // New partitions' keys may have versions this registry never read.
            registry.reload().await?;
        }
        let rows = registry.register(models).await?;
        metrics.commits.inc();
        announcer.announce(&rows)?;
        announcer.confirm().await?;
        for row in &rows {
            match row.status {
                ModelStatus::Candidate => _ = metrics.trained.inc(),
                ModelStatus::Failed => _ = metrics.failed.inc(),
            }
            if let Some(end) = row.data_end {
                shared.trained_through.insert(row.key.clone(), end);
                if let Some(mut entry) = shared.windows.map().get_mut(&row.key) {
                    entry.trained_through = Some(end);
                }
            }
        }
        for (key, watch) in watches {
            match watch {
                Some(watch) => _ = shared.watches.insert(key, watch),
                None => _ = shared.watches.remove(&key),
            }
        }
        info!(
            models = rows.len(),
            due = shared.due_len(),
            "trained and registered"
        );
    }
    let delivered = tokio::task::spawn_blocking(move || announcer.finish(Duration::from_secs(30)))
        .await
        .map_err(|e| TrainError::Invalid(format!("announcing failed: {e}")))??;
    let (trained, failed, drifted, commits) = (
        metrics.trained.get(),
        metrics.failed.get(),
        metrics.drifted.get(),
        metrics.commits.get(),
    );
    info!(
        trained,
        failed,
        drifted,
        commits,
        events = delivered,
        "training stopped"
    );
    Ok((trained, failed, drifted, commits))
}

/// Watches for drift the latest model of each key of `partitions` that no watch
/// covers yet: models registered before this process started (by `train --once`,
/// an earlier run, or another member of the group) are judged on the days after
/// them as this process's own are. Returns how many it watches.
async fn watch_latest(
    shared: &Shared,
    registry: &mut CandidateRegistry,
    partitions: &HashSet<i32>,
    run: &RunSettings,
) -> Result<usize> {
    let mut latest: HashMap<SeriesKey, ModelRow> = HashMap::new();
    for row in registry.rows().await? {
        let owned = shared
            .windows
            .map()
            .get(&row.key)
            .is_some_and(|entry| partitions.contains(&entry.partition));
        if !owned || shared.watches.contains_key(&row.key) {
            continue;
        }
        match latest.get(&row.key) {
            Some(known) if known.version >= row.version => {}
            _ => _ = latest.insert(row.key.clone(), row),
        }
    }
    let mut watched = 0;
    for (key, row) in latest {
        let wape = row.metrics.as_ref().map(|m| m.wape);
        if row.status != ModelStatus::Candidate || row.artifact.is_none() {
            continue;
        }
        let model = match registry.artifact(&row).await {
            Ok(bytes) => Model::from_bytes(&bytes).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match model {
            Ok(model) => {
                if let Some(watch) = Watch::of(&model, run.model.horizon, wape) {
                    shared.watches.insert(key, watch);
                    watched += 1;
                }
            }
            // Not watching one key is no reason to stop training the others.
            Err(error) => {
                warn!(%key, version = row.version, error, "not watching a model for drift")
            }
        }
    }
    Ok(watched)
}

/// What a newly trained model expects of the days after its data; `None` for a
/// failure or a model without holdout metrics to compare with.
fn watch_of(model: &NewModel, horizon: usize) -> Option<Watch> {
    let bytes = model.artifact.as_ref()?;
    let wape = model.row.metrics.as_ref().map(|m| m.wape);
    let decoded = Model::from_bytes(bytes).ok()?;
    Watch::of(&decoded, horizon, wape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_due_once_however_often_it_is_marked() {
        let key = |i: &str| -> SeriesKey { format!("S1/{i}").parse().unwrap() };
        let mut due = DueKeys::default();
        for item in ["I1", "I2", "I1", "I3", "I2"] {
            due.push(key(item), Trigger::NewDays);
        }
        // Drift outranks new days, in the key's place.
        due.push(key("I2"), Trigger::Drift);
        due.push(key("I2"), Trigger::NewDays);
        assert_eq!(due.len(), 3);
        assert_eq!(
            due.take(2),
            [(key("I1"), Trigger::NewDays), (key("I2"), Trigger::Drift)]
        );
        due.push(key("I1"), Trigger::NewDays);
        assert_eq!(
            due.take(10),
            [(key("I3"), Trigger::NewDays), (key("I1"), Trigger::NewDays)]
        );
        assert_eq!(due.len(), 0);
    }
}
