//! `GET /v1/pipeline`: how far each of Herd's consumer groups has read its topic
//! (committed offsets against the partitions' high watermarks), what the lake's
//! tables hold and when `sales` rows arrived, and the promotion rule with its
//! accuracy threshold. The dashboard draws these beside its SQL charts.
//!
//! Kafka's committed offsets are only the lag hints the services commit after each
//! flush (the lake's `txn` versions are the truth), which is all lag needs. An
//! unreachable broker is reported in the answer, never as a failed request, so the
//! lake's part still reaches the page.
//!
//! The answer is computed at most once per [`ANSWER_TTL`], whatever the number of
//! requests: a burst waits for one computation and shares it. The Kafka clients it
//! asks are created once and kept, so a request costs no new client or thread.

mod lag;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use herd_bus::KafkaOptions;
use herd_lake::{DeltaTable, LakeRoot, TableSpec};
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::warn;

use crate::serve::ApiError;

use lag::{KafkaClients, KafkaReport};

/// Minutes of `sales` arrivals reported, the most recent ones with rows.
const ARRIVAL_MINUTES: usize = 1440;

/// How long an answer is served again before it is computed anew: the page polls
/// every few seconds, and a burst of requests costs one computation.
pub const ANSWER_TTL: Duration = Duration::from_secs(1);

/// How long a request waits for the view before it gets 503: a lake or a broker
/// that does not answer must not hold requests until the server's own deadline.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// How long the view waits for the lake's tables: past it, each is reported as not
/// answering, beside what Kafka said (whose reading has a bound of its own).
const LAKE_DEADLINE: Duration = Duration::from_secs(8);

/// What a 503 of the pipeline view says in `Retry-After`.
const RETRY_AFTER_SECONDS: u64 = 5;

/// A consumer group of Herd's and the topic it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerGroup {
    /// The service that runs in the group: `archive`, `train`, `promote`, `score`.
    pub service: String,
    pub group: String,
    pub topic: String,
}

impl ConsumerGroup {
    pub fn new(service: &str, group: &str, topic: &str) -> Self {
        Self {
            service: service.to_owned(),
            group: group.to_owned(),
            topic: topic.to_owned(),
        }
    }
}

/// What `GET /v1/pipeline` reports on.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub kafka: KafkaOptions,
    /// Groups in the order the page lists them.
    pub groups: Vec<ConsumerGroup>,
    /// The promotion rule's source text.
    pub rule: String,
    /// Where `sales`, `models`, `promotions` and `predictions` live.
    pub lake_root: LakeRoot,
    /// Where `production/models` lives.
    pub production_root: LakeRoot,
    /// How long each Kafka request may take before the broker counts as unreachable.
    pub kafka_timeout: Duration,
}

/// The lowest accuracy the promotion rule lets through, as the rule states it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccuracyThreshold {
    pub value: f64,
    /// `>=` rather than `>`.
    pub inclusive: bool,
}

/// The first `accuracy >= X` or `accuracy > X` of `rule`, with `X` a number; `None`
/// when the rule has none (a comparison with another variable, such as
/// `accuracy > baseline_accuracy`, is no threshold).
pub fn accuracy_threshold(rule: &str) -> Option<AccuracyThreshold> {
    const NAME: &str = "accuracy";
    let identifier = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    rule.match_indices(NAME).find_map(|(at, _)| {
        let before = rule[..at].chars().next_back();
        let rest = &rule[at + NAME.len()..];
        if before.is_some_and(identifier) || rest.chars().next().is_some_and(identifier) {
            return None;
        }
        let rest = rest.trim_start();
        let (inclusive, rest) = match rest.strip_prefix(">=") {
            Some(rest) => (true, rest),
            None => (false, rest.strip_prefix('>')?),
        };
        let rest = rest.trim_start();
        let end = rest
            .char_indices()
            .find(|&(i, c)| {
                let sign_of_exponent =
                    (c == '-' || c == '+') && rest[..i].ends_with(['e', 'E']) && i > 1;
                !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || sign_of_exponent)
            })
            .map_or(rest.len(), |(i, _)| i);
        let value: f64 = rest[..end].parse().ok()?;
        // `accuracy > 0.8 * baseline_accuracy` is relative, not a threshold.
        let after = rest[end..].trim_start();
        if ["*", "/", "+", "-", "%"]
            .iter()
            .any(|op| after.starts_with(op))
        {
            return None;
        }
        value
            .is_finite()
            .then_some(AccuracyThreshold { value, inclusive })
    })
}

/// The answer of `GET /v1/pipeline`.
#[derive(Debug, Serialize)]
pub struct PipelineReport {
    pub generated_at: DateTime<Utc>,
    pub lake_root: String,
    pub production_root: String,
    pub rule: RuleReport,
    /// By the name SQL knows them by; `null` for a table not created yet.
    pub tables: BTreeMap<&'static str, Option<TableReport>>,
    /// `sales` rows per minute of arrival (when their data files were written),
    /// oldest first, for the most recent minutes that had any.
    pub archived: Vec<Arrival>,
    pub kafka: KafkaReport,
}

#[derive(Debug, Serialize)]
pub struct RuleReport {
    pub source: String,
    pub accuracy_threshold: Option<f64>,
    pub inclusive: Option<bool>,
}

/// One table's size, from its Delta log (no data file is read).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TableReport {
    Read {
        version: u64,
        files: usize,
        rows: u64,
        bytes: u64,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arrival {
    pub minute: DateTime<Utc>,
    pub rows: u64,
}

/// The Delta tables the page reports on, by their SQL names.
fn reported_tables() -> [(&'static str, TableSpec, bool); 5] {
    // The flag: whether the table lives under the production root.
    [
        ("sales", herd_lake::tables::sales(), false),
        ("models", herd_registry::models_table(), false),
        ("production_models", herd_registry::production_table(), true),
        ("promotions", herd_registry::promotions_table(), false),
        (
            "predictions",
            crate::predictions::predictions_table(),
            false,
        ),
    ]
}

struct Pipeline {
    options: PipelineOptions,
    /// Tables opened by an earlier request, brought up to date by later ones.
    tables: Mutex<HashMap<&'static str, DeltaTable>>,
    /// The clients that read offsets, shared by every request.
    kafka: Arc<KafkaClients>,
    /// The last answer and when it was computed; held while one is computed, so
    /// that concurrent requests wait for it instead of computing their own.
    answer: Mutex<Option<(Instant, Bytes)>>,
}

/// The `/v1/pipeline` route, with a state of its own.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(options: PipelineOptions) -> Router<S> {
    let state = Arc::new(Pipeline {
        kafka: Arc::new(KafkaClients::new(&options)),
        options,
        tables: Mutex::new(HashMap::new()),
        answer: Mutex::new(None),
    });
    Router::new()
        .route("/v1/pipeline", get(pipeline))
        .with_state(state)
}

async fn pipeline(State(state): State<Arc<Pipeline>>) -> Response {
    // Waiting for another request's computation counts against the deadline too.
    let body = match tokio::time::timeout(ANSWER_DEADLINE, answer(&state)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
        Err(_) => {
            warn!(
                deadline_seconds = ANSWER_DEADLINE.as_secs(),
                "the pipeline view was not computed in time"
            );
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the pipeline view was not computed within {} s: the lake or the \
                     broker is not answering; retry after {RETRY_AFTER_SECONDS} s",
                    ANSWER_DEADLINE.as_secs()
                ),
            )
            .retry_after(RETRY_AFTER_SECONDS);
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The cached answer, or a new one computed while the others wait for it.
async fn answer(state: &Pipeline) -> Result<Bytes, serde_json::Error> {
    let mut answer = state.answer.lock().await;
    match answer.as_ref() {
        Some((at, body)) if at.elapsed() < ANSWER_TTL => Ok(body.clone()),
        _ => {
            let body = Bytes::from(serde_json::to_vec(&report(state).await)?);
            *answer = Some((Instant::now(), body.clone()));
            Ok(body)
        }
    }
}

/// The pipeline as it is now: Kafka's offsets and the lake's tables, read at once.
async fn report(state: &Pipeline) -> PipelineReport {
    let options = &state.options;
    let lake = async {
        tokio::time::timeout(LAKE_DEADLINE, lake_report(state))
            .await
            .unwrap_or_else(|_| lake_unanswered())
    };
    let (kafka, (tables, archived)) = tokio::join!(lag::kafka_report(options, &state.kafka), lake);
    let threshold = accuracy_threshold(&options.rule);
    PipelineReport {
        generated_at: Utc::now(),
        lake_root: root_text(&options.lake_root),
        production_root: root_text(&options.production_root),
        rule: RuleReport {
            source: options.rule.clone(),
            accuracy_threshold: threshold.map(|t| t.value),
            inclusive: threshold.map(|t| t.inclusive),
        },
        tables,
        archived,
        kafka,
    }
}

/// A local root as its path, anything else as its URL.
fn root_text(root: &LakeRoot) -> String {
    let text = match root.url().to_file_path() {
        Ok(path) if root.is_local() => path.display().to_string(),
        _ => root.url().to_string(),
    };
    match text.trim_end_matches('/') {
        "" => text,
        trimmed => trimmed.to_owned(),
    }
}

/// Every table as failed: the lake did not answer within [`LAKE_DEADLINE`].
fn lake_unanswered() -> (BTreeMap<&'static str, Option<TableReport>>, Vec<Arrival>) {
    let error = format!(
        "the lake did not answer within {} s",
        LAKE_DEADLINE.as_secs()
    );
    let tables = reported_tables()
        .into_iter()
        .map(|(name, ..)| {
            let failed = TableReport::Failed {
                error: error.clone(),
            };
            (name, Some(failed))
        })
        .collect();
    (tables, Vec::new())
}

async fn lake_report(
    state: &Pipeline,
) -> (BTreeMap<&'static str, Option<TableReport>>, Vec<Arrival>) {
    let mut tables = state.tables.lock().await;
    let mut reports = BTreeMap::new();
    let mut archived = Vec::new();
    for (name, spec, production) in reported_tables() {
        let root = if production {
            &state.options.production_root
        } else {
            &state.options.lake_root
        };
        let report = match current(&mut tables, name, root, &spec).await {
            Ok(None) => None,
            Ok(Some(table)) => {
                if name == "sales" {
                    archived = arrivals(table);
                }
                Some(match herd_lake::table_stats(table) {
                    Ok(stats) => TableReport::Read {
                        version: stats.version,
                        files: stats.files,
                        rows: stats.rows,
                        bytes: stats.bytes,
                    },
                    Err(e) => TableReport::Failed {
                        error: e.to_string(),
                    },
                })
            }
            Err(error) => Some(TableReport::Failed { error }),
        };
        reports.insert(name, report);
    }
    (reports, archived)
}

/// Table `name` at its latest version: opened on first use, then updated.
async fn current<'a>(
    tables: &'a mut HashMap<&'static str, DeltaTable>,
    name: &'static str,
    root: &LakeRoot,
    spec: &TableSpec,
) -> Result<Option<&'a DeltaTable>, String> {
    if let Some(table) = tables.get_mut(name) {
        table
            .update_incremental(None)
            .await
            .map_err(|e| format!("reading {name}: {e}"))?;
    } else {
        match herd_lake::open_existing(root, spec).await {
            Ok(Some(table)) => {
                tables.insert(name, table);
            }
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(tables.get(name))
}

/// `sales` rows per minute in which their data files were written, from the Delta
/// log's `add` actions (modification time and row count).
fn arrivals(table: &DeltaTable) -> Vec<Arrival> {
    let Ok(snapshot) = table.snapshot() else {
        return Vec::new();
    };
    let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
    for file in snapshot.log_data().iter() {
        let rows = file.num_records().unwrap_or(0) as u64;
        *per_minute
            .entry(file.modification_time().div_euclid(60_000))
            .or_default() += rows;
    }
    let skip = per_minute.len().saturating_sub(ARRIVAL_MINUTES);
    per_minute
        .into_iter()
        .skip(skip)
        .filter_map(|(minute, rows)| {
            Some(Arrival {
                minute: DateTime::from_timestamp(minute.checked_mul(60)?, 0)?,
                rows,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(rule: &str) -> Option<(f64, bool)> {
        accuracy_threshold(rule).map(|t| (t.value, t.inclusive))
    }

    #[test]
    fn the_first_numeric_accuracy_bound_is_the_threshold() {
        assert_eq!(threshold(herd_registry::DEFAULT_RULE), Some((0.80, true)));
        assert_eq!(threshold("accuracy>0.7"), Some((0.7, false)));
        assert_eq!(
            threshold("accuracy > baseline_accuracy && accuracy >= 0.65"),
            Some((0.65, true))
        );
        assert_eq!(threshold("accuracy >= 8e-1"), Some((0.8, true)));
        assert_eq!(
            threshold("wape < 0.2 && accuracy >= 0.75 || accuracy >= 0.9"),
            Some((0.75, true))
        );
    }

    #[test]
    fn rules_without_a_numeric_accuracy_bound_have_no_threshold() {
        for rule in [
            "true",
            "accuracy > baseline_accuracy",
            "baseline_accuracy >= 0.8",
            "champion_accuracy > 0.5",
            "accuracy_delta >= 0.1",
            "accuracy <= 0.9",
            "accuracy >= 0.8 * baseline_accuracy",
            "accuracy >= x",
            "",
        ] {
            assert_eq!(threshold(rule), None, "{rule}");
        }
    }
}
