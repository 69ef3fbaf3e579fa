//! Herd's configuration: built-in defaults, then `herd.toml`, then `HERD_*`
//! environment variables, then command-line flags, into one typed [`Settings`];
//! the flags several commands share; and the services' options built from them.
//! The `herd` binary and the benchmarks read it alike.

pub mod flags;
pub mod options;
pub mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;
use herd_bus::{KafkaOptions, TopicSpec};
use serde::{Deserialize, Serialize};

/// Everything a Herd command can be configured with. Every key is optional in
/// `herd.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Kafka brokers to bootstrap from (`HERD_BOOTSTRAP_SERVERS`).
    pub bootstrap_servers: String,
    /// Where the Delta tables live: a directory, or an object-store URL.
    pub lake_root: String,
    /// How often the series are observed: `daily`, `weekly` (records dated by the
    /// Monday that starts their week) or `monthly` (dated by the first of the month).
    pub frequency: herd_schemas::Frequency,
    pub topics: TopicSettings,
    pub log: LogSettings,
    pub archive: ArchiveSettings,
    pub train: TrainSettings,
    pub promote: PromoteSettings,
    pub serve: ServeSettings,
    pub score: ScoreSettings,
    /// librdkafka properties passed through unchanged, e.g. `"security.protocol"`.
    /// From the environment, `HERD_KAFKA__SASL_MECHANISM` sets `sasl.mechanism`
    /// (and `HERD_KAFKA__LOG_LEVEL` librdkafka's `log_level`).
    /// Numbers and booleans are accepted and passed on as text.
    #[serde(deserialize_with = "property_values")]
    pub kafka: BTreeMap<String, String>,
}

/// Herd's topics: their names (so that several deployments can share a cluster)
/// and how they are created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSettings {
    pub partitions: u32,
    pub replication_factor: u32,
    pub sales: String,
    pub sales_dlq: String,
    pub models: String,
    pub predictions: String,
}

/// How `herd archive` archives: `[archive]` in herd.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Consumer group of the archivers.
    pub group: String,
    /// Records deleted (retention) before they were archived: `fail` (stop) or
    /// `skip` (warn and go on without them).
    pub on_gap: crate::flags::OnGapArg,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        Self {
            group: "herd-archive".to_owned(),
            on_gap: crate::flags::OnGapArg::Fail,
        }
    }
}

/// How candidates reach production: `[promote]` in herd.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromoteSettings {
    /// The business rule, a CEL expression over a candidate's metrics and tags;
    /// checked when the configuration loads.
    pub rule: String,
    /// A challenger must beat the champion's accuracy on its holdout by more than
    /// this to replace it.
    pub margin: f64,
    /// Root of the production registry (`production/models`); empty: the lake root.
    pub production_root: String,
    /// Consumer group of the continuous promoter.
    pub group: String,
    /// Continuous mode: gather model events this long before deciding them.
    pub batch_ms: u64,
    /// Continuous mode: decide every committed candidate still undecided this often
    /// (and at start), for candidates whose event never arrived.
    pub catch_up_seconds: u64,
    /// What forecasts a key without a production model (no candidate passed the
    /// rule), in order: `baseline` (seasonal naive on its own history) and
    /// `cold_start` (its item's profile at its level). Scoring and `herd serve` follow
    /// it; an empty list forecasts only keys with a production model.
    pub fallback: Vec<herd_scorer::Fallback>,
}

impl Default for PromoteSettings {
    fn default() -> Self {
        Self {
            rule: herd_registry::DEFAULT_RULE.to_owned(),
            margin: 0.0,
            production_root: String::new(),
            group: "herd-promoter".to_owned(),
            batch_ms: 1000,
            catch_up_seconds: 60,
            fallback: herd_scorer::Fallback::DEFAULT.to_vec(),
        }
    }
}

/// How `herd serve` serves: `[serve]` in herd.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// Address to listen on; loopback unless told otherwise.
    pub listen: String,
    /// Byte budget of the model cache, in MiB.
    pub model_cache_mb: f64,
    /// When not empty, API requests need `Authorization: Bearer <token>`.
    pub token: String,
    /// Re-read the production table this often, besides following `herd.models`.
    pub refresh_seconds: u64,
    /// `POST /v1/sql` answers at most this many rows and says when it cut.
    pub sql_max_rows: usize,
    /// `POST /v1/sql` answers at most this many MiB of rows and says when it cut.
    pub sql_max_answer_mb: usize,
    /// `POST /v1/sql` cancels a query still running after this long.
    pub sql_timeout_seconds: u64,
    /// MiB that SQL queries running at once may use together, in `herd serve` and in
    /// `herd sql`.
    pub sql_memory_mb: usize,
    /// `POST /v1/sql` runs at most this many queries at once and answers 429 past it.
    pub sql_max_concurrent: usize,
    /// Serve a non-loopback address without a token: anyone who reaches the port
    /// can read the forecasts and the tables.
    pub insecure_no_token: bool,
    /// Host names, besides the listen address and loopback names, that requests may
    /// name in `Host`; others are refused, so a page whose name rebinds to this
    /// server cannot read it.
    pub allowed_hosts: Vec<String>,
    /// A connection must send a request's headers within this many seconds (an
    /// idle keep-alive connection is closed after as long).
    pub header_read_timeout_seconds: u64,
    /// A request still unanswered after this many seconds gets 503.
    pub request_timeout_seconds: u64,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Requests handled at once; one more gets 503 with `Retry-After` (`/healthz`
    /// always answers).
    pub max_concurrent_requests: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            model_cache_mb: 64.0,
            token: String::new(),
            refresh_seconds: 30,
            sql_max_rows: 10_000,
            sql_max_answer_mb: 16,
            sql_timeout_seconds: 10,
            sql_memory_mb: 512,
            sql_max_concurrent: 4,
            insecure_no_token: false,
            allowed_hosts: Vec::new(),
            header_read_timeout_seconds: 10,
            request_timeout_seconds: 30,
            max_connections: 1024,
            max_concurrent_requests: 256,
        }
    }
}

impl ServeSettings {
    /// Refuses a SQL limit of 0 (`herd sql` and `POST /v1/sql`): none can be switched
    /// off, and a very large value is the way to lift one.
    pub fn check_sql_limits(&self) -> Result<(), String> {
        first_zero(&[
            ("serve.sql_max_rows", self.sql_max_rows as u64),
            ("serve.sql_max_answer_mb", self.sql_max_answer_mb as u64),
            ("serve.sql_timeout_seconds", self.sql_timeout_seconds),
            ("serve.sql_memory_mb", self.sql_memory_mb as u64),
            ("serve.sql_max_concurrent", self.sql_max_concurrent as u64),
        ])
    }

    /// Refuses any limit of `herd serve` set to 0, which would otherwise read as
    /// either "nothing is served" or "no limit", with the setting's name.
    pub fn check_limits(&self) -> Result<(), String> {
        self.check_sql_limits()?;
        first_zero(&[
            (
                "serve.header_read_timeout_seconds",
                self.header_read_timeout_seconds,
            ),
            (
                "serve.request_timeout_seconds",
                self.request_timeout_seconds,
            ),
            ("serve.max_connections", self.max_connections as u64),
            (
                "serve.max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
        ])
    }
}

/// The first of `limits` that is 0, as a one-line error naming its key.
fn first_zero(limits: &[(&str, u64)]) -> Result<(), String> {
    match limits.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(format!(
            "{key}: 0 would switch the limit off; give a positive number (a very large \
             one lifts the limit)"
        )),
        None => Ok(()),
    }
}

/// How `herd score` scores continuously: `[score]` in herd.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreSettings {
    /// Consumer group of the continuous scorer.
    pub group: String,
    /// Byte budget of the model cache, in MiB.
    pub model_cache_mb: f64,
    /// Commit the forecasts of new data at least this often.
    pub flush_ms: u64,
    /// Sales records deleted (retention) before they were scored: `fail` (stop) or
    /// `skip` (warn and go on without them).
    pub on_gap: crate::flags::OnGapArg,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self {
            group: herd_scorer::DEFAULT_SCORE_GROUP.to_owned(),
            model_cache_mb: 64.0,
            flush_ms: 1000,
            on_gap: crate::flags::OnGapArg::Fail,
        }
    }
}

/// A margin is an accuracy difference: a finite number in [0, 1].
pub fn check_margin(margin: f64) -> Result<(), String> {
    if margin.is_finite() && (0.0..=1.0).contains(&margin) {
        Ok(())
    } else {
        Err(format!(
            "{margin} is not an accuracy difference between 0 and 1"
        ))
    }
}

/// How `herd train` trains: `[train]` in herd.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Consumer group of the continuous trainer.
    pub group: String,
    /// Days of history kept per key.
    pub window_days: usize,
    /// Days forecast, and the length of each backtest fold.
    pub horizon: usize,
    /// Rolling-origin backtest folds.
    pub folds: usize,
    /// Candidates: `seasonal_naive`, `ridge`, `ets`, `tsb`.
    pub models: Vec<String>,
    /// Ridge features: `full` or `spark` (the Spark many-models recipe's).
    pub features: String,
    /// Retrain a key once this many new days have arrived for it.
    pub min_new_days: u32,
    /// Training threads; 0 uses every core.
    pub threads: usize,
    /// Models per Delta commit of the candidate registry.
    pub commit_every: usize,
    /// Continuous mode: pause fetching while more keys than this wait for training.
    pub max_due_keys: usize,
    /// Tags added to every registered model, e.g. `{ team = "fresh" }`.
    pub tags: BTreeMap<String, String>,
    /// Continuous mode: retrain a key before `min_new_days` when the days since its
    /// latest model left what the model expected (`drift_*`).
    pub drift: bool,
    /// Drift when the error on those days exceeds the model's holdout error times
    /// this (at least 1).
    pub drift_factor: f64,
    /// Drift when their mean differs from the forecast's by more than this share of
    /// the larger of the two (above 0, at most 1).
    pub drift_level_shift: f64,
    /// Observed days after the model needed before judging drift (at least 1).
    pub drift_min_days: u32,
}

impl TrainSettings {
    /// The drift settings, checked; `None` when drift is off.
    pub fn drift_options(&self) -> Result<Option<herd_trainer::DriftOptions>, String> {
        if !self.drift {
            return Ok(None);
        }
        if !(self.drift_factor.is_finite() && self.drift_factor >= 1.0) {
            return Err(format!(
                "train.drift_factor: {} is not a factor of at least 1",
                self.drift_factor
            ));
        }
        if !(self.drift_level_shift > 0.0 && self.drift_level_shift <= 1.0) {
            return Err(format!(
                "train.drift_level_shift: {} is not a share above 0 and at most 1",
                self.drift_level_shift
            ));
        }
        if self.drift_min_days == 0 {
            return Err("train.drift_min_days: give at least 1 day".to_owned());
        }
        Ok(Some(herd_trainer::DriftOptions {
            factor: self.drift_factor,
            level_shift: self.drift_level_shift,
            min_days: self.drift_min_days,
        }))
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            group: "herd-trainer".to_owned(),
            window_days: 730,
            horizon: 28,
            folds: 2,
            models: ["seasonal_naive", "ridge", "ets", "tsb"]
                .map(str::to_owned)
                .to_vec(),
            features: "full".to_owned(),
            min_new_days: 1,
            threads: 0,
            commit_every: 5000,
            max_due_keys: 50_000,
            tags: BTreeMap::new(),
            drift: true,
            drift_factor: 2.0,
            drift_level_shift: 0.5,
            drift_min_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `herd_bus=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bootstrap_servers: KafkaOptions::default().bootstrap_servers,
            lake_root: "./data/lake".to_owned(),
            frequency: herd_schemas::Frequency::Daily,
            topics: TopicSettings::default(),
            log: LogSettings::default(),
            archive: ArchiveSettings::default(),
            train: TrainSettings::default(),
            promote: PromoteSettings::default(),
            serve: ServeSettings::default(),
            score: ScoreSettings::default(),
            kafka: BTreeMap::new(),
        }
    }
}

impl Default for TopicSettings {
    fn default() -> Self {
        use herd_schemas::topics;
        Self {
            partitions: 12,
            replication_factor: 1,
            sales: topics::SALES.to_owned(),
            sales_dlq: topics::SALES_DLQ.to_owned(),
            models: topics::MODELS.to_owned(),
            predictions: topics::PREDICTIONS.to_owned(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// The default configuration file, read when present.
pub const DEFAULT_FILE: &str = "herd.toml";

/// Keys of [`Settings`] that `HERD_*` variables may set; others (such as the broker
/// script's `HERD_KAFKA_PORT`) are not Herd settings and are left alone.
const ENV_KEYS: [&str; 11] = [
    "bootstrap_servers",
    "lake_root",
    "frequency",
    "topics",
    "log",
    "archive",
    "train",
    "promote",
    "serve",
    "score",
    "kafka",
];

/// A configuration that could not be loaded, in one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Layer(String),
}

/// Values given as flags, keyed by their dotted path in [`Settings`]; they override
/// every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides(Vec<(&'static str, serde_json::Value)>);

impl Overrides {
    /// Overrides `key` when a flag gave a value.
    pub fn set<T: Into<serde_json::Value>>(&mut self, key: &'static str, value: Option<T>) {
        if let Some(value) = value {
            self.0.push((key, value.into()));
        }
    }
}

/// Where the configuration came from, for `herd doctor`.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Loads defaults → `file` (or `herd.toml` when present) → environment → flags.
    ///
    /// An explicitly named file must exist; the default one is optional.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Loaded, ConfigError> {
        Self::load_with(file, std::env::vars(), flags)
    }

    /// As [`Settings::load`], with `env` standing in for the process environment.
    fn load_with(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Loaded, ConfigError> {
        let (path, required) = match file {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let mut used = None;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                figment = figment.merge(Serialized::defaults(parse_file(&path, &text)?));
                used = Some(path);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(reason) => return Err(ConfigError::Unreadable { path, reason }),
        }
        for (key, value) in env_settings(env) {
            figment = figment.merge(Serialized::default(&key, value));
        }
        for (key, value) in &flags.0 {
            figment = figment.merge(Serialized::default(key, value));
        }
        // Environment values arrive as text: a number or a boolean is read from it
        // where the setting is one, and a text setting takes any text (`true`, `0042`).
        let mut settings: Settings = figment
            .extract_lossy()
            .map_err(|err| ConfigError::Layer(one_line(&err.to_string())))?;
        // Environment keys arrive lower-cased with `_` for `.`; librdkafka's use dots.
        settings.kafka = settings
            .kafka
            .into_iter()
            .map(|(key, value)| (librdkafka_name(&key), value))
            .collect();
        // A rule that cannot be judged is refused before anything runs.
        herd_registry::PromotionRule::parse(&settings.promote.rule)
            .map_err(|e| ConfigError::Layer(format!("promote.rule: {e}")))?;
        check_margin(settings.promote.margin)
            .map_err(|e| ConfigError::Layer(format!("promote.margin: {e}")))?;
        if settings.promote.catch_up_seconds == 0 {
            return Err(ConfigError::Layer(
                "promote.catch_up_seconds: 0 would re-read every candidate without pause; \
                 give at least 1"
                    .to_owned(),
            ));
        }
        Ok(Loaded {
            settings,
            file: used,
        })
    }

    pub fn kafka_options(&self) -> KafkaOptions {
        KafkaOptions {
            bootstrap_servers: self.bootstrap_servers.clone(),
            client: self.kafka.clone(),
        }
    }

    /// The four topics of Herd's data flow, as configured.
    pub fn topic_specs(&self) -> Vec<TopicSpec> {
        let topics = &self.topics;
        [
            &topics.sales,
            &topics.sales_dlq,
            &topics.models,
            &topics.predictions,
        ]
        .into_iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions: self.topics.partitions,
            replication_factor: self.topics.replication_factor,
        })
        .collect()
    }
}

/// librdkafka's properties whose names hold `_`, and that take a text value: every
/// other property is named with dots.
const UNDERSCORED_PROPERTIES: [&str; 2] = ["log_level", "enabled_events"];

/// The librdkafka property a `[kafka]` key names: `_` read as `.` (the environment's
/// spelling), except in the few names that hold `_` themselves.
fn librdkafka_name(key: &str) -> String {
    let dotted = key.replace('_', ".");
    UNDERSCORED_PROPERTIES
        .iter()
        .find(|name| name.replace('_', ".") == dotted)
        .map_or(dotted, |name| (*name).to_owned())
}

/// The `HERD_*` variables among `env` that name settings, as dotted keys
/// (`HERD_TRAIN__WINDOW_DAYS` → `train.window_days`) with their values. A value is
/// text as written; one in `[…]`, `{…}` or double quotes is read as a structured value
/// (`HERD_TRAIN__MODELS=[ridge,ets]`, `"6000"` for the text 6000).
fn env_settings(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, Value)> {
    let mut settings: Vec<(String, Value)> = env
        .into_iter()
        .filter_map(|(name, text)| {
            let rest = name
                .get(..5)?
                .eq_ignore_ascii_case("HERD_")
                .then(|| &name[5..])?;
            let key = rest.to_ascii_lowercase();
            if !ENV_KEYS.contains(&key.split("__").next().unwrap_or_default()) {
                return None;
            }
            let trimmed = text.trim();
            let structured = trimmed.starts_with('[')
                || trimmed.starts_with('{')
                || (trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"'));
            let value = if structured {
                trimmed
                    .parse::<Value>()
                    .unwrap_or_else(|never| match never {})
            } else {
                Value::from(text)
            };
            Some((key.replace("__", "."), value))
        })
        .collect();
    // The order of the environment is arbitrary; a nested key wins over its parent.
    settings.sort_by(|a, b| a.0.cmp(&b.0));
    settings
}

/// Parses `herd.toml` strictly, so that a wrong type or an unknown key is reported
/// with the file, line and key rather than silently ignored.
fn parse_file(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let invalid = |key: String, err: &toml::de::Error| {
        let offset = err.span().map(|span| span.start).unwrap_or(0);
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message: one_line(err.message()),
        }
    };
    let document = toml::de::Deserializer::parse(text).map_err(|err| invalid("-".into(), &err))?;
    serde_path_to_error::deserialize::<_, Settings>(document).map_err(|err| {
        let key = err.path().to_string();
        invalid(key, err.inner())
    })?;
    toml::from_str(text).map_err(|err| invalid("-".into(), &err))
}

/// librdkafka takes every property as text; TOML and the environment may give a
/// number or a boolean (`session.timeout.ms = 6000`, `HERD_KAFKA__..._MS=6000`).
fn property_values<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Flag(bool),
    }
    let map = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Scalar::Text(text) => text,
                Scalar::Integer(n) => n.to_string(),
                Scalar::Float(x) => x.to_string(),
                Scalar::Flag(b) => b.to_string(),
            };
            (key, text)
        })
        .collect())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_limits_of_0_are_refused_with_their_name() {
        assert!(ServeSettings::default().check_limits().is_ok());
        type Zero = fn(&mut ServeSettings);
        let limits: [(&str, Zero); 9] = [
            ("serve.sql_max_rows", |s| s.sql_max_rows = 0),
            ("serve.sql_max_answer_mb", |s| s.sql_max_answer_mb = 0),
            ("serve.sql_timeout_seconds", |s| s.sql_timeout_seconds = 0),
            ("serve.sql_memory_mb", |s| s.sql_memory_mb = 0),
            ("serve.sql_max_concurrent", |s| s.sql_max_concurrent = 0),
            ("serve.header_read_timeout_seconds", |s| {
                s.header_read_timeout_seconds = 0
            }),
            ("serve.request_timeout_seconds", |s| {
                s.request_timeout_seconds = 0
            }),
            ("serve.max_connections", |s| s.max_connections = 0),
            ("serve.max_concurrent_requests", |s| {
                s.max_concurrent_requests = 0
            }),
        ];
        for (name, zero) in limits {
            let mut settings = ServeSettings::default();
            zero(&mut settings);
            let refused = settings.check_limits().unwrap_err();
            assert!(refused.starts_with(name), "{refused}");
        }
    }

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        // No file named: ./herd.toml is read if there is one, and the crate has none.
        Settings::load_with(None, env, &Overrides::default()).map(|loaded| loaded.settings)
    }

    #[test]
    fn a_text_setting_takes_any_text_from_the_environment() {
        let settings = load(&[
            ("HERD_PROMOTE__RULE", "true"),
            ("HERD_SERVE__TOKEN", "0042"),
            ("HERD_TRAIN__GROUP", "7"),
        ])
        .expect("loads");
        assert_eq!(settings.promote.rule, "true");
        assert_eq!(settings.serve.token, "0042");
        assert_eq!(settings.train.group, "7");
    }

    #[test]
    fn numbers_flags_lists_and_quoted_text_come_from_the_environment_too() {
        let settings = load(&[
            ("HERD_TRAIN__WINDOW_DAYS", "365"),
            ("HERD_SERVE__MODEL_CACHE_MB", "12.5"),
            ("HERD_TRAIN__MODELS", "[ridge, ets]"),
            ("HERD_KAFKA__SESSION_TIMEOUT_MS", "\"6000\""),
            ("HERD_KAFKA__ENABLE_IDEMPOTENCE", "true"),
            ("HERD_TOPICS__PARTITIONS", "3"),
            ("HERD_KAFKA_PORT", "19092"),
        ])
        .expect("loads");
        assert_eq!(settings.train.window_days, 365);
        assert_eq!(settings.serve.model_cache_mb, 12.5);
        assert_eq!(settings.train.models, ["ridge", "ets"]);
        assert_eq!(settings.kafka["session.timeout.ms"], "6000");
        assert_eq!(settings.kafka["enable.idempotence"], "true");
        assert_eq!(settings.topics.partitions, 3);
    }

    #[test]
    fn librdkafka_names_with_underscores_survive_the_rewrite() {
        let settings = load(&[
            ("HERD_KAFKA__LOG_LEVEL", "\"7\""),
            ("HERD_KAFKA__SOCKET_TIMEOUT_MS", "\"9000\""),
        ])
        .expect("loads");
        assert_eq!(settings.kafka["log_level"], "7");
        assert_eq!(settings.kafka["socket.timeout.ms"], "9000");
        assert!(!settings.kafka.contains_key("log.level"));
    }

    #[test]
    fn a_number_setting_refuses_text_with_the_key() {
        let err = load(&[("HERD_TRAIN__WINDOW_DAYS", "a year")]).expect_err("refused");
        assert!(err.to_string().contains("window_days"), "{err}");
    }
}
