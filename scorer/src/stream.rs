//! `herd score`: continuous scoring. A consumer group on `herd.sales` keeps every
//! owned key's window; when a record moves a key's last day forward, the key is
//! forecast as of that day from its production model (or the fallback chain: its own
//! baseline, else a cold start, each labelled by its `origin`), the
//! forecasts are published on `herd.predictions` and then committed to the Delta
//! table `predictions` together with the offsets they came from.
//!
//! The table is the truth, exactly-once: its `txn` actions (one app id per sales
//! partition and consumer group) say how far each partition has been scored by that
//! group, so two groups each forecast every record once. On assignment the windows
//! are rebuilt from the lake's `sales` rows below `min(archive offset, scored
//! offset)`, and the records from there up to the scored offset are read again into
//! the windows without being scored. A group that never scored a partition starts at
//! its end, and stores that starting point at once, so a crash before its first
//! forecast neither skips nor repeats a day. Messages go out before the commit: one
//! may repeat across a crash or a rebalance, with the same `id`, never go missing.
//! A forecast that cannot be made is tried again, then recorded on the dead-letter
//! topic before its offset is committed (see `failures`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use herd_bus::{
    BulkProducer, ConsumedRecord, Counter, ExactlyOnceSink, FlushOutcome, FlushPolicy, GapPolicy,
    KafkaOptions, LoopError, LoopOptions, OffsetRange, Status, run_exactly_once,
};
use herd_history::Windows;
use herd_lake::{DeltaTable, ExactlyOnceAppender, LakeError, LakeRoot, tables};
use herd_models::{Forecast, ItemProfile, ModelKind, TrainOptions};
use herd_registry::{CachedModel, ModelCache};
use herd_schemas::{SeriesId, SeriesKey};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{Result, ScoreError};
use crate::failures::{self, RETRY_BACKOFF, SourceRecord};
use crate::fallback::{self, Fallback, Origin};
use crate::latency::Latency;
use crate::predictions::{PredictionRows, Scored, predictions_table};
use crate::{follow_models, through};

/// The writer name in the `predictions` table's app ids:
/// `herd-score-<topic>-<p>@<group>`.
pub const SCORE_WRITER: &str = "score";

/// The continuous scorers' consumer group unless configured otherwise. Its app ids
/// take over the offsets stored before app ids named the group.
pub const DEFAULT_SCORE_GROUP: &str = "herd-scorer";

/// The appender of `group`'s forecasts and offsets to `predictions`.
pub fn predictions_appender(table: DeltaTable, group: &str) -> ExactlyOnceAppender {
    let appender = ExactlyOnceAppender::new(table, SCORE_WRITER).in_group(group);
    if group == DEFAULT_SCORE_GROUP {
        appender.adopting_ungrouped_offsets()
    } else {
        appender
    }
}

/// The header carrying a prediction message's id.
pub const ID_HEADER: &str = "herd-id";

/// How the continuous scorer runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub group: String,
    /// The sales topic.
    pub topic: String,
    pub predictions_topic: String,
    pub models_topic: String,
    /// The dead-letter topic, where forecasts that failed after retries are recorded.
    pub dlq_topic: String,
    /// The writer name of the archive whose offsets the `sales` table stores.
    pub archive_writer: String,
    pub horizon: usize,
    pub window_days: usize,
    /// What one period of a window is.
    pub frequency: herd_schemas::Frequency,
    /// What forecasts a key without a production model; empty: nothing (counted as
    /// skipped).
    pub fallback: Vec<Fallback>,
    pub cache_bytes: usize,
    /// Re-read the production table this often, besides following its events.
    pub refresh: Duration,
    /// Commit forecasts of new data at least this often.
    pub flush: Duration,
    /// Stop once no record arrived for this long (`None`: until cancelled).
    pub stop_when_idle: Option<Duration>,
    /// What to do when sales records were deleted (retention) before they were scored.
    pub on_gap: GapPolicy,
    /// Where the run reports its health and counters.
    pub status: Status,
}

/// What a continuous run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamSummary {
    pub records: u64,
    /// Records read again into windows, below the offsets already scored.
    pub replayed: u64,
    pub malformed: u64,
    pub rebalances: u64,
    /// Forecasts written, one per key and as-of day.
    pub scored: u64,
    /// Of those, forecasts of keys without a production model from their own
    /// baseline, and from their item's cold-start profile.
    pub baseline: u64,
    pub cold_start: u64,
    /// Advances of keys without a production model that no fallback forecast (an
    /// empty chain, or a baseline-only chain and too little history).
    pub skipped: u64,
    /// Advances whose model could not be read or could not forecast, even after
    /// retries; each is a record on the dead-letter topic.
    pub failed: u64,
    /// Forecasts tried again after failing (each attempt counts).
    pub retried: u64,
    /// Sales offsets deleted before they were read, passed over (`--on-gap skip`).
    pub lost: u64,
    pub rows: u64,
    pub commits: u64,
    pub messages: u64,
    /// From a record's timestamp to the commit of its forecast, in milliseconds.
    pub commit_latency: Latency,
}

/// A key whose last day moved forward, waiting for the next flush.
#[derive(Debug, Clone)]
struct Advance {
    key: SeriesKey,
    as_of: NaiveDate,
    /// The record's Kafka timestamp, milliseconds since the epoch.
    timestamp_ms: Option<i64>,
    /// Where the record is on the sales topic.
    partition: i32,
    offset: i64,
}

/// A key's production model as the cache found it: none, or why it failed.
type Lookup = std::result::Result<Option<Arc<CachedModel>>, String>;

/// Artifacts read at once when many keys' models are cold.
const READS: usize = 32;

/// What became of one advance.
enum Outcome {
    Scored(Scored),
    /// No production model, and the policy is to skip.
    Skipped,
    Failed(String),
}

/// One forecast step on `herd.predictions`.
#[derive(Debug, Serialize)]
struct StepMessage {
    target_date: NaiveDate,
    step: usize,
    forecast: f64,
    lower: f64,
    upper: f64,
}

/// A key's forecast as of one day, as published on `herd.predictions`.
#[derive(Debug, Serialize)]
struct PredictionMessage<'a> {
    /// `store_id/item_id/as_of`: the same for every copy of one forecast.
    id: String,
    key: String,
    store_id: &'a str,
    item_id: &'a str,
    as_of: NaiveDate,
    model_version: Option<i64>,
    model_type: Option<&'a str>,
    cold_start: bool,
    /// `champion`, `baseline` or `cold_start`: which step of the fallback chain made it.
    origin: Origin,
    scored_at: DateTime<Utc>,
    source_timestamp_ms: Option<i64>,
    forecast: Vec<StepMessage>,
}

/// The id of a key's forecast as of a day, in messages and their `herd-id` header.
pub fn prediction_id(key: &SeriesKey, as_of: NaiveDate) -> String {
    format!("{key}/{as_of}")
}

/// Follows `options.topic` until `cancel` fires (or the stream goes idle), then
/// commits what is pending and returns.
pub async fn run_stream(
    lake: &LakeRoot,
    production_root: &LakeRoot,
    kafka: &KafkaOptions,
    options: &StreamOptions,
    cancel: CancellationToken,
) -> Result<StreamSummary> {
    let cache = Arc::new(ModelCache::open(production_root, options.cache_bytes).await?);
    let following = CancellationToken::new();
    let follower = tokio::spawn(follow_models(
        Arc::clone(&cache),
        kafka.clone(),
        options.models_topic.clone(),
        "herd-score-models",
        options.refresh,
        following.clone(),
    ));
    let sales = tables::open_or_create(lake, &tables::sales_of(options.frequency)).await?;
    tables::check_frequency(&sales, options.frequency)?;
    let predictions = tables::open_or_create(lake, &predictions_table()).await?;
    let mut sink = ScoreSink {
        kafka: kafka.clone(),
        options: options.clone(),
        predictions: predictions_appender(predictions, &options.group),
        archive: ExactlyOnceAppender::new(sales, options.archive_writer.clone()),
        windows: Windows::of(options.window_days, options.frequency),
        cache,
        profiles: HashMap::new(),
        read: HashMap::new(),
        scored: HashMap::new(),
        pending: Vec::new(),
        warming: None,
        unflushed: Unflushed::default(),
        producer: BulkProducer::new(kafka)?,
        summary: StreamSummary::default(),
        metrics: ScoreMetrics::new(&options.status),
    };
    let loop_options = LoopOptions {
        flush: FlushPolicy {
            max_records: 200_000,
            max_bytes: 64 << 20,
            max_latency: options.flush,
        },
        stop_when_idle: options.stop_when_idle,
        on_gap: options.on_gap,
        status: options.status.clone(),
    };
    let consumed = run_exactly_once(
        kafka,
        &options.group,
        &options.topic,
        loop_options,
        &mut sink,
        cancel,
    )
    .await;
    following.cancel();
    if let Ok(Err(e)) = follower.await {
        warn!(error = %e, "following model events");
    }
    let stats = consumed.map_err(|e| match e {
        LoopError::Bus(e) => ScoreError::Bus(e),
        LoopError::Sink(e) => e,
    })?;
    let mut summary = sink.summary;
    summary.records = stats.records;
    summary.lost = stats.lost;
    summary.rebalances = stats.rebalances;
    Ok(summary)
}

/// Loads the production models of `keys` into `cache`, a few at a time, until the
/// cache is nine-tenths full: models already held stay, and a budget too small for
/// every owned key is not churned by the warm-up.
async fn warm(cache: Arc<ModelCache>, keys: Vec<SeriesKey>) {
    let started = Instant::now();
    let full = |cache: &ModelCache| {
        let stats = cache.stats();
        stats.bytes >= stats.budget_bytes / 10 * 9
    };
    let mut loads: JoinSet<()> = JoinSet::new();
    let mut keys = keys.into_iter();
    loop {
        while loads.len() < READS && !full(&cache) {
            let Some(key) = keys.next() else { break };
            let cache = Arc::clone(&cache);
            loads.spawn(async move {
                // A model that fails to load here fails, and is retried, when its
                // key is forecast.
                let _ = cache.get(&key).await;
            });
        }
        if loads.join_next().await.is_none() {
            break;
        }
    }
    let stats = cache.stats();
    info!(
        models = stats.entries,
        bytes = stats.bytes,
        ms = started.elapsed().as_millis() as u64,
        "warmed the model cache for the owned keys"
    );
}

/// What one commit to `predictions` holds.
struct Committed {
    scored: u64,
    rows: u64,
    baseline: u64,
    cold_start: u64,
    skipped: u64,
    failed: u64,
    retried: u64,
}

/// Forecasts already made and published, waiting for the next commit: the loop's
/// tick forecasts what arrived since the last one, so that a forecast reaches the
/// topic within a tick instead of waiting for the commit interval.
#[derive(Default)]
struct Unflushed {
    rows: PredictionRows,
    /// The source record's timestamp of each forecast.
    timestamps: Vec<Option<i64>>,
    baseline: u64,
    cold_start: u64,
    skipped: u64,
    failed: u64,
    retried: u64,
}

impl StreamSummary {
    /// Adds one commit's counts.
    fn absorb(&mut self, commit: &Committed) {
        self.commits += 1;
        self.rows += commit.rows;
        self.scored += commit.scored;
        self.baseline += commit.baseline;
        self.cold_start += commit.cold_start;
        self.skipped += commit.skipped;
        self.failed += commit.failed;
        self.retried += commit.retried;
    }
}

/// The scorer's counters on `/metrics`, counted when their commit lands.
struct ScoreMetrics {
    scored: Counter,
    rows: Counter,
    baseline: Counter,
    cold_start: Counter,
    skipped: Counter,
    failed: Counter,
    retried: Counter,
}

impl ScoreMetrics {
    fn new(status: &Status) -> Self {
        Self {
            scored: status.counter(
                "herd_forecasts",
                "Forecasts committed to predictions, one per key and as-of day.",
            ),
            rows: status.counter("herd_prediction_rows", "Rows committed to predictions."),
            baseline: status.counter(
                "herd_forecasts_baseline",
                "Forecasts of keys without a production model, from their own seasonal naive baseline.",
            ),
            cold_start: status.counter(
                "herd_forecasts_cold_start",
                "Forecasts of keys without a production model, from their item's profile.",
            ),
            skipped: status.counter(
                "herd_forecasts_skipped",
                "Advances of keys without a production model that no fallback forecast.",
            ),
            failed: status.counter(
                "herd_forecasts_failed",
                "Forecasts that failed after retries, each recorded on the dead-letter topic.",
            ),
            retried: status.counter(
                "herd_forecast_retries",
                "Forecasts tried again after failing.",
            ),
        }
    }

    fn committed(&self, commit: &Committed) {
        self.scored.inc_by(commit.scored);
        self.rows.inc_by(commit.rows);
        self.baseline.inc_by(commit.baseline);
        self.cold_start.inc_by(commit.cold_start);
        self.skipped.inc_by(commit.skipped);
        self.failed.inc_by(commit.failed);
        self.retried.inc_by(commit.retried);
    }
}

/// The consumer side: windows in, forecasts out at each flush.
struct ScoreSink {
    kafka: KafkaOptions,
    options: StreamOptions,
    /// Writes forecasts and this group's offsets to `predictions`.
    predictions: ExactlyOnceAppender,
    /// Reads the archive's offsets and rows from `sales`.
    archive: ExactlyOnceAppender,
    windows: Windows,
    cache: Arc<ModelCache>,
    /// Item shapes for cold starts, from the keys with enough history.
    profiles: HashMap<SeriesId, ItemProfile>,
    /// Per owned partition: the next offset the windows have not seen.
    read: HashMap<i32, i64>,
    /// Per owned partition: the next offset not yet scored, as the table stores it.
    /// Records below it only go into windows.
    scored: HashMap<i32, i64>,
    pending: Vec<Advance>,
    /// Loading the owned keys' production models into the cache after an
    /// assignment, so that the first new day of each key finds its model there.
    warming: Option<tokio::task::JoinHandle<()>>,
    /// Forecasts made and published since the last commit, committed with it.
    unflushed: Unflushed,
    producer: BulkProducer,
    summary: StreamSummary,
    metrics: ScoreMetrics,
}

impl ScoreSink {
    /// Stores `partitions`' ends as where this group starts scoring them, unless
    /// another member stored a start first; returns the stored offsets.
    async fn start_at_end(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        let (kafka, name, list) = (self.kafka.clone(), topic.to_owned(), partitions.to_vec());
        let ends = tokio::task::spawn_blocking(move || {
            herd_bus::high_watermarks(&kafka, &name, &list, Duration::from_secs(10))
        })
        .await
        .map_err(|e| ScoreError::Task(e.to_string()))??;
        let ranges: Vec<herd_lake::OffsetRange> = partitions
            .iter()
            .map(|&partition| {
                let end = ends.get(&partition).copied().unwrap_or(0);
                herd_lake::OffsetRange {
                    partition,
                    first: end,
                    next: end,
                }
            })
            .collect();
        match self.predictions.append(Vec::new(), topic, &ranges).await {
            Ok(_) | Err(LakeError::OffsetsMoved { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self.predictions.stored_versions(topic, partitions).await?)
    }

    /// Rebuilds the windows of `partitions` as they stood at `scored`: lake rows
    /// below the lower of the archive's and the scored offset. Returns where each
    /// partition's reading resumes.
    async fn rebuild(
        &mut self,
        topic: &str,
        scored: &HashMap<i32, i64>,
    ) -> Result<HashMap<i32, i64>> {
        let partitions: Vec<i32> = scored.keys().copied().collect();
        let archived = self.archive.stored_versions(topic, &partitions).await?;
        let limits: HashMap<i32, i64> = scored
            .iter()
            .map(|(&p, &s)| (p, archived.get(&p).copied().flatten().unwrap_or(0).min(s)))
            .collect();
        self.windows.drop_partitions(&partitions);
        let loaded =
            herd_history::load_before(&self.windows, self.archive.table(), &limits).await?;
        info!(
            partitions = ?partitions,
            keys = loaded.keys,
            rows = loaded.rows,
            files = loaded.scan.files,
            "rebuilt windows from the lake"
        );
        self.refresh_profiles();
        Ok(limits)
    }

    fn refresh_profiles(&mut self) {
        self.profiles = herd_history::window_profiles(&self.windows, &self.train_options());
    }

    fn train_options(&self) -> TrainOptions {
        TrainOptions {
            horizon: self.options.horizon,
            ..TrainOptions::default()
        }
    }

    /// The forecast of one advance: from the production model, a cold start, or
    /// none (skipped, or failed with the reason logged).
    fn forecast(&self, advance: &Advance, model: &Lookup) -> Outcome {
        let history = self
            .windows
            .map()
            .get(&advance.key)
            .and_then(|w| through(&w.window.dense(), advance.as_of));
        let Some(history) = history else {
            return Outcome::Failed(format!("no sales on or before {}", advance.as_of));
        };
        let view = history.view();
        let horizon = self.options.horizon;
        let scored =
            |forecast: Forecast, version, model_type: Option<String>, cold, origin| Scored {
                key: advance.key.clone(),
                as_of: advance.as_of,
                forecast,
                model_version: version,
                model_type,
                cold_start: cold,
                origin,
            };
        match model {
            Ok(Some(cached)) => match cached.model.forecast_from(&view, horizon, None) {
                Ok(forecast) => Outcome::Scored(scored(
                    forecast,
                    Some(cached.version),
                    cached.model_type.clone(),
                    cached.model.kind() == ModelKind::ColdStart,
                    Origin::Champion,
                )),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Ok(None) => {
                let profile = self.profiles.get(advance.key.item_id());
                match fallback::forecast(
                    &self.options.fallback,
                    &view,
                    profile,
                    &self.train_options(),
                    None,
                ) {
                    Ok(Some(f)) => Outcome::Scored(scored(
                        f.forecast,
                        None,
                        Some(f.kind.as_str().to_owned()),
                        f.kind == ModelKind::ColdStart,
                        f.origin,
                    )),
                    Ok(None) => Outcome::Skipped,
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Err(e) => Outcome::Failed(e.clone()),
        }
    }

    /// Every advance's outcome, in order, forecast on all cores: a day of ten
    /// thousand keys is a few hundred milliseconds of work on one.
    fn forecast_all(
        &self,
        pending: &[Advance],
        models: &HashMap<SeriesKey, Lookup>,
    ) -> Vec<Outcome> {
        let one = |advance: &Advance| match models.get(&advance.key) {
            Some(model) => self.forecast(advance, model),
            None => Outcome::Failed("the model was not looked up".to_owned()),
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if threads < 2 || pending.len() < 512 || !multi_thread {
            return pending.iter().map(one).collect();
        }
        let chunk = pending.len().div_ceil(threads);
        tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let parts: Vec<_> = pending
                    .chunks(chunk)
                    .map(|part| {
                        (
                            part.len(),
                            scope.spawn(move || part.iter().map(one).collect()),
                        )
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|(len, part)| {
                        part.join().unwrap_or_else(|_| {
                            (0..len)
                                .map(|_| Outcome::Failed("forecasting panicked".to_owned()))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect()
            })
        })
    }

    /// The production model of every key in `pending`, read through the cache with
    /// a few artifact reads at once: a day of many keys after a restart finds most
    /// of them cold.
    async fn models(&self, pending: &[Advance]) -> Result<HashMap<SeriesKey, Lookup>> {
        let mut keys: Vec<&SeriesKey> = pending.iter().map(|a| &a.key).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut models = HashMap::with_capacity(keys.len());
        let mut reads: JoinSet<(SeriesKey, Lookup)> = JoinSet::new();
        for key in keys {
            if reads.len() >= READS
                && let Some(done) = reads.join_next().await
            {
                let (key, model) = done.map_err(|e| ScoreError::Task(e.to_string()))?;
                models.insert(key, model);
            }
            let (cache, key) = (Arc::clone(&self.cache), key.clone());
            reads.spawn(async move {
                let model = cache.get(&key).await.map_err(|e| e.to_string());
                (key, model)
            });
        }
        while let Some(done) = reads.join_next().await {
            let (key, model) = done.map_err(|e| ScoreError::Task(e.to_string()))?;
            models.insert(key, model);
        }
        Ok(models)
    }

    /// Tries the advances whose forecast failed again, after a pause that grows with
    /// each attempt, reading their models afresh; returns how many attempts were made.
    /// What still fails after the last attempt stays failed.
    async fn retry_failed(&self, pending: &[Advance], outcomes: &mut [Outcome]) -> Result<u64> {
        let mut retried = 0;
        for (attempt, pause) in RETRY_BACKOFF.into_iter().enumerate() {
            let failed: Vec<usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, outcome)| matches!(outcome, Outcome::Failed(_)))
                .map(|(i, _)| i)
                .collect();
            if failed.is_empty() {
                break;
            }
            info!(
                failed = failed.len(),
                attempt = attempt + 2,
                pause_ms = pause.as_millis() as u64,
                "forecasts failed; trying them again"
            );
            tokio::time::sleep(pause).await;
            // A promotion may have replaced a model whose event has not arrived yet.
            if let Err(e) = self.cache.refresh().await {
                warn!(error = %e, "re-reading the production registry before a retry");
            }
            let again: Vec<Advance> = failed.iter().map(|&i| pending[i].clone()).collect();
            let models = self.models(&again).await?;
            for (i, outcome) in failed.into_iter().zip(self.forecast_all(&again, &models)) {
                outcomes[i] = outcome;
            }
            retried += again.len() as u64;
        }
        Ok(retried)
    }

    /// Forecasts every advance that arrived since the last call and queues its
    /// message (or its failure on the dead-letter topic); the rows wait in
    /// `unflushed` for the commit.
    async fn score_pending(&mut self, topic: &str) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let now = Utc::now();
        let models = self.models(&pending).await?;
        let mut outcomes = self.forecast_all(&pending, &models);
        let retried = self.retry_failed(&pending, &mut outcomes).await?;
        self.unflushed.retried += retried;
        let mut failed = 0;
        for (advance, outcome) in pending.iter().zip(outcomes) {
            match outcome {
                Outcome::Scored(scored) => {
                    match scored.origin {
                        Origin::Champion => {}
                        Origin::Baseline => self.unflushed.baseline += 1,
                        Origin::ColdStart => self.unflushed.cold_start += 1,
                    }
                    self.unflushed.rows.push(&scored, "stream", now);
                    self.publish(&scored, advance.timestamp_ms, now);
                    self.unflushed.timestamps.push(advance.timestamp_ms);
                }
                Outcome::Skipped => self.unflushed.skipped += 1,
                Outcome::Failed(reason) => {
                    failed += 1;
                    if self.summary.failed + self.unflushed.failed + failed <= 10 {
                        warn!(key = %advance.key, as_of = %advance.as_of, reason, "could not forecast");
                    }
                    // Without its record on the dead-letter topic, the offset past
                    // this advance is not committed: the error ends the run first.
                    failures::dead_letter(
                        &mut self.producer,
                        &self.options.dlq_topic,
                        &advance.key,
                        advance.as_of,
                        &reason,
                        SourceRecord {
                            topic,
                            partition: advance.partition,
                            offset: advance.offset,
                        },
                    )?;
                }
            }
        }
        if failed > 0 {
            warn!(
                failed,
                retried,
                topic = %self.options.dlq_topic,
                "forecasts failed after retries; each is recorded on the dead-letter topic"
            );
        }
        self.unflushed.failed += failed;
        Ok(())
    }

    /// Queues one forecast's message on the predictions topic.
    fn publish(&mut self, scored: &Scored, timestamp_ms: Option<i64>, now: DateTime<Utc>) {
        let id = prediction_id(&scored.key, scored.as_of);
        let f = &scored.forecast;
        let message = PredictionMessage {
            id: id.clone(),
            key: scored.key.to_string(),
            store_id: scored.key.store_id().as_str(),
            item_id: scored.key.item_id().as_str(),
            as_of: scored.as_of,
            model_version: scored.model_version,
            model_type: scored.model_type.as_deref(),
            cold_start: scored.cold_start,
            origin: scored.origin,
            scored_at: now,
            source_timestamp_ms: timestamp_ms,
            forecast: f
                .mean
                .iter()
                .zip(&f.lower)
                .zip(&f.upper)
                .enumerate()
                .map(|(step, ((&forecast, &lower), &upper))| StepMessage {
                    target_date: f.date(step),
                    step: step + 1,
                    forecast,
                    lower,
                    upper,
                })
                .collect(),
        };
        let payload = match serde_json::to_vec(&message) {
            Ok(payload) => payload,
            Err(e) => {
                warn!(error = %e, "a prediction message could not be encoded");
                return;
            }
        };
        let key = message.key.as_bytes();
        let topic = self.options.predictions_topic.clone();
        match self
            .producer
            .send(&topic, Some(key), &payload, &[(ID_HEADER, id.as_bytes())])
        {
            Ok(()) => self.summary.messages += 1,
            Err(e) => warn!(error = %e, "a prediction message was not queued"),
        }
    }
}

impl ExactlyOnceSink for ScoreSink {
    type Error = ScoreError;

    async fn stored_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        let revoked: Vec<i32> = self
            .read
            .keys()
            .copied()
            .filter(|p| !partitions.contains(p))
            .collect();
        if !revoked.is_empty() {
            self.windows.drop_partitions(&revoked);
        }
        self.read.retain(|p, _| partitions.contains(p));
        self.scored.clear();
        let mut stored = self.predictions.stored_versions(topic, partitions).await?;
        let fresh: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| stored.get(p).copied().flatten().is_none())
            .collect();
        if !fresh.is_empty() {
            stored.extend(self.start_at_end(topic, &fresh).await?);
        }
        let mut offsets = HashMap::with_capacity(partitions.len());
        let mut rebuild = HashMap::new();
        for &partition in partitions {
            let scored =
                stored.get(&partition).copied().flatten().ok_or_else(|| {
                    ScoreError::Task(format!("partition {partition} has no start"))
                })?;
            self.scored.insert(partition, scored);
            // Windows that hold nothing past the stored offset go on from memory;
            // any that do (forecasts discarded, or another member scored since) are
            // rebuilt.
            match self.read.get(&partition) {
                Some(&read) if read <= scored => {
                    offsets.insert(partition, Some(read));
                }
                _ => {
                    rebuild.insert(partition, scored);
                }
            }
        }
        if !rebuild.is_empty() {
            for (partition, start) in self.rebuild(topic, &rebuild).await? {
                self.read.insert(partition, start);
                offsets.insert(partition, Some(start));
            }
        }
        info!(
            partitions = ?partitions,
            scored = ?self.scored,
            "scoring partitions"
        );
        let owned: Vec<SeriesKey> = self.windows.map().iter().map(|e| e.key().clone()).collect();
        if let Some(previous) = self
            .warming
            .replace(tokio::spawn(warm(Arc::clone(&self.cache), owned)))
        {
            previous.abort();
        }
        Ok(offsets)
    }

    fn buffer(&mut self, record: ConsumedRecord<'_>) {
        self.read.insert(record.partition, record.offset + 1);
        let Some(sale) = herd_history::sale_of(
            &record,
            self.windows.frequency(),
            &mut self.summary.malformed,
        ) else {
            return;
        };
        let key = SeriesKey::new(sale.store_id.clone(), sale.item_id.clone());
        let last = self
            .windows
            .map()
            .get(&key)
            .and_then(|w| w.window.last_day());
        self.windows.insert(&sale, record.partition, |_| None);
        let replay = self
            .scored
            .get(&record.partition)
            .is_some_and(|&scored| record.offset < scored);
        if replay {
            self.summary.replayed += 1;
            return;
        }
        if last.is_none_or(|last| sale.date > last) {
            self.pending.push(Advance {
                key,
                as_of: sale.date,
                timestamp_ms: record.timestamp_ms,
                partition: record.partition,
                offset: record.offset,
            });
        }
    }

    async fn flush(&mut self, topic: &str, ranges: &[OffsetRange]) -> Result<FlushOutcome> {
        // Only what lies past the stored offsets is committed; a range of replayed
        // records alone has nothing to store.
        let ranges: Vec<herd_lake::OffsetRange> = ranges
            .iter()
            .filter_map(|r| {
                let scored = self.scored.get(&r.partition).copied().unwrap_or(r.first);
                (r.next > scored).then(|| herd_lake::OffsetRange {
                    partition: r.partition,
                    first: r.first.max(scored),
                    next: r.next,
                })
            })
            .collect();
        if ranges.is_empty() {
            self.pending.clear();
            self.unflushed = Unflushed::default();
            return Ok(FlushOutcome::Committed);
        }
        let started = Instant::now();
        self.score_pending(topic).await?;
        // Messages first: a forecast committed is a forecast published, and a
        // failure committed is a failure recorded.
        let forecast_ms = started.elapsed().as_millis() as u64;
        let report = self.producer.settle(Duration::from_secs(30));
        let published_ms = started.elapsed().as_millis() as u64;
        let Unflushed {
            mut rows,
            timestamps,
            baseline,
            cold_start,
            skipped,
            failed,
            retried,
        } = std::mem::take(&mut self.unflushed);
        if !report.is_complete() {
            let topic = if failed > 0 {
                format!(
                    "{} and {}",
                    self.options.predictions_topic, self.options.dlq_topic
                )
            } else {
                self.options.predictions_topic.clone()
            };
            return Err(ScoreError::Undelivered {
                topic,
                count: report.failed + report.unacknowledged,
            });
        }
        let count = rows.len() as u64;
        let batch = rows.finish()?;
        match self.predictions.append(vec![batch], topic, &ranges).await {
            Ok(_) => {
                for range in &ranges {
                    self.scored.insert(range.partition, range.next);
                }
                let commit = Committed {
                    scored: timestamps.len() as u64,
                    rows: count,
                    baseline,
                    cold_start,
                    skipped,
                    failed,
                    retried,
                };
                self.summary.absorb(&commit);
                self.metrics.committed(&commit);
                info!(
                    forecasts = timestamps.len(),
                    rows = count,
                    forecast_ms,
                    published_ms,
                    committed_ms = started.elapsed().as_millis() as u64,
                    "scored"
                );
                let committed = Utc::now().timestamp_millis();
                for timestamp in timestamps.into_iter().flatten() {
                    self.summary
                        .commit_latency
                        .record((committed - timestamp).max(0) as u64);
                }
                Ok(FlushOutcome::Committed)
            }
            Err(LakeError::OffsetsMoved { .. }) => Ok(FlushOutcome::OffsetsMoved),
            Err(e) => Err(e.into()),
        }
    }

    fn discard(&mut self) {
        // The windows keep what they read; `stored_offsets` rebuilds any partition
        // whose windows went past the stored offsets. Forecasts published but not
        // committed are made again, with the same ids.
        self.pending.clear();
        self.unflushed = Unflushed::default();
    }

    async fn tick(&mut self) -> Result<()> {
        let topic = self.options.topic.clone();
        self.score_pending(&topic).await
    }
}
