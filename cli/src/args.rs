//! The command line: what a user can type, with help written for them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

/// Herd keeps one forecasting model per series (every item in every store) trained,
/// promoted and serving, on a Kafka stream, with results in Delta Lake tables.
#[derive(Debug, Parser)]
#[command(name = "herd", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    herd topics create\n  \
    herd doctor --roundtrip 10000\n  \
    herd --bootstrap-servers kafka:9092 --log-format json doctor\n\n\
    Configuration: herd.toml, then HERD_* environment variables, then flags.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./herd.toml when present]
    #[arg(long, global = true, env = "HERD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka brokers to bootstrap from
    #[arg(long, global = true, value_name = "HOST:PORT,...")]
    pub bootstrap_servers: Option<String>,
    /// Where the Delta tables live (a directory or an object-store URL)
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub lake_root: Option<String>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `debug` or `herd_bus=debug,info`
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        let mut overrides = Overrides::default();
        overrides.set("bootstrap_servers", self.bootstrap_servers.clone());
        overrides.set("lake_root", self.lake_root.clone());
        overrides.set(
            "log.format",
            self.log_format.map(|f| match f {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }),
        );
        overrides.set("log.level", self.log_level.clone());
        overrides
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up Herd's Kafka topics
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Check the broker, the lake root and the configuration
    #[command(after_help = "Examples:\n  \
        herd doctor\n  \
        herd doctor --roundtrip 10000    # also produce and consume a keyed sample")]
    Doctor(DoctorArgs),
    /// Publish sales from CSV, Parquet or JSON-lines files (or stdin) to herd.sales
    ///
    /// Every record is validated; invalid ones go to herd.sales.dlq with their
    /// original bytes and headers naming the error, the file and the line or row.
    /// Waits for every acknowledgement; anything undelivered makes the exit code
    /// non-zero.
    #[command(after_help = "Examples:\n  \
        herd ingest data/sales.parquet\n  \
        herd ingest jan.csv feb.csv --max-rejects 100\n  \
        cat sales.jsonl | herd ingest - --format jsonl")]
    Ingest(IngestArgs),
    /// Write synthetic sales (as WORKLOAD.md specifies) to a CSV, Parquet or JSON-lines file
    ///
    /// Deterministic for a seed: the same arguments always write the same rows.
    #[command(after_help = "Examples:\n  \
        herd generate data/small.parquet --size small\n  \
        herd generate data/headline.parquet --size headline\n  \
        herd generate sample.csv --stores 2 --items 3 --days 90 --seed 7")]
    Generate(GenerateArgs),
    /// Publish a live stream of synthetic sales to herd.sales
    ///
    /// First a history of --history-days days for every key, then one new day for
    /// every key per tick, so the continuous services have a stream to follow.
    #[command(after_help = "Examples:\n  \
        herd simulate --size small --history-days 700 --days-per-second 1\n  \
        herd simulate --stores 5 --items 10 --history-days 60 --live-days 30 --days-per-second 10")]
    Simulate(SimulateArgs),
    /// Archive herd.sales into the Delta table `sales`, exactly once
    ///
    /// A consumer group: run more archivers with the same --group to split the
    /// partitions. Each Delta commit stores the rows together with the next Kafka
    /// offset of every partition it covers, so a crash or restart at any moment
    /// neither loses nor duplicates a record. Stops cleanly on Ctrl-C / SIGTERM.
    #[command(after_help = "Examples:\n  \
        herd archive\n  \
        herd archive --flush-records 100000 --flush-latency-ms 1000\n  \
        herd --lake-root s3://bucket/lake archive    # with the `s3` feature")]
    Archive(ArchiveArgs),
    /// Train one model per series and register every model in the Delta table `models`
    ///
    /// With --once, every key of the lake's `sales` table is trained once and the
    /// command exits (the nightly job). Without it, a consumer group on herd.sales
    /// keeps a window of recent days per key (rebuilt from the lake on start and on
    /// rebalance) and retrains a key when --min-new-days new days have arrived.
    /// Each model is chosen among the candidates by a rolling-origin backtest and
    /// announced on herd.models.
    #[command(after_help = "Examples:\n  \
        herd train --once\n  \
        herd train --once --models ridge --folds 1 --features spark\n  \
        herd train --once --tag team=fresh --run-id nightly-2024-06-01\n  \
        herd train                         # continuous, follows herd.sales")]
    Train(TrainArgs),
    /// Promote candidates that pass the business rule into the production registry
    ///
    /// A candidate is promoted when it passes `[promote] rule` (a CEL expression
    /// over its metrics and tags) and beats the key's current production model by
    /// more than `[promote] margin` on the candidate's own holdout. Its artifact is
    /// copied into `production/models` under `[promote] production_root`. Every
    /// decision is a row in the Delta table `promotions` and an event on
    /// herd.models. With --once, every undecided candidate is decided and the
    /// command exits; without it, a consumer group on herd.models decides each new
    /// candidate as it is registered.
    #[command(after_help = "Examples:\n  \
        herd promote --once\n  \
        herd promote --once --rule 'accuracy >= 0.9 && accuracy > baseline_accuracy'\n  \
        herd promote --once --margin 0.01\n  \
        herd promote                       # continuous, follows herd.models")]
    Promote(PromoteArgs),
    /// Forecast every key with a production model into the Delta table `predictions`
    ///
    /// With --batch, every key whose production model matches the --tag filters
    /// forecasts --horizon days after --as-of (default: the last day in the lake's
    /// sales) from its sales in the lake; the rows replace that as-of date's rows,
    /// so a second run for the same day never duplicates them.
    #[command(after_help = "Examples:\n  \
        herd score --batch\n  \
        herd score --batch --as-of 2023-12-31\n  \
        herd score --batch --tag store_id=S0001 --horizon 14")]
    Score(ScoreArgs),
    /// Serve real-time forecasts over HTTP from production models loaded on demand
    ///
    /// GET /v1/forecast/{store_id}/{item_id}?horizon=28, POST /v1/forecast (a what-if
    /// with planned prices and promotions), /healthz, /readyz, /metrics and
    /// /openapi.json. Models are loaded from the production registry on first use
    /// into a cache of --model-cache-mb, least recently used evicted; promotions
    /// and rollbacks on herd.models reach it within a second. POST /v1/sql answers
    /// read-only SQL over the Delta tables, as `herd sql` does, in a herd built
    /// with `--features sql` (`[serve] sql_max_rows`, `sql_timeout_seconds`).
    #[command(after_help = "Examples:\n  \
        herd serve\n  \
        herd serve --listen 0.0.0.0:8080 --token \"$HERD_TOKEN\" --model-cache-mb 256\n  \
        curl 'http://127.0.0.1:8080/v1/forecast/S0001/I00001?horizon=14'")]
    Serve(ServeArgs),
    /// Query the Delta tables with SQL, read-only
    ///
    /// The tables are sales, models, production_models, promotions and
    /// predictions, each at its latest commit (a table nothing has written yet is
    /// absent). Only queries run: a statement that would write, define a table,
    /// change a setting or read a file is refused. Needs a herd built with
    /// `--features sql`; `herd serve` answers the same queries on POST /v1/sql.
    #[command(after_help = "Examples:\n  \
        herd sql \"SELECT status, count(*) AS n FROM models GROUP BY status\"\n  \
        herd sql \"SELECT * FROM predictions WHERE store_id = 'S0001'\" --format csv > s0001.csv\n  \
        herd sql \"SELECT key, accuracy FROM models ORDER BY accuracy LIMIT 10\" --format json\n  \
        herd sql \"SHOW TABLES\"")]
    Sql(SqlArgs),
    /// Inspect the candidate and production registries; roll back production
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Benchmarks, printed as JSON lines
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train every key of the lake once and exit
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Days of history kept per key [default: 730, or train.window_days]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub window_days: Option<u32>,
    /// Training threads; 0 uses every core [default: train.threads]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Name of this run, in every model's tags [default: train-<time>]
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Extra tag for every model, NAME=VALUE (repeatable)
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// Continuous mode: retrain a key after this many new days [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_new_days: Option<u32>,
    /// Continuous mode: consumer group [default: herd-trainer]
    #[arg(long)]
    pub group: Option<String>,
    /// Continuous mode: stop after this many seconds without a new record
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,
    /// Continuous mode: serve /healthz, /readyz and /metrics (OpenMetrics) on this
    /// address, e.g. 127.0.0.1:9464 (port 0 picks a free one and logs it)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "once")]
    pub status_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or serve.listen]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Byte budget of the model cache in MiB [default: 64]
    #[arg(long, value_name = "MIB")]
    pub model_cache_mb: Option<f64>,
    /// Require `Authorization: Bearer TOKEN` on API requests [default: serve.token]
    #[arg(long, env = "HERD_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Output format [default: table on a terminal, csv otherwise]
    #[arg(long, value_enum)]
    pub format: Option<SqlFormat>,
    /// Print at most this many rows; a note on stderr says when more matched
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,
    /// Cancel the query after this many seconds [default: no limit]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// How `herd sql` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// A table with a header and borders
    Table,
    /// A header line, then one line per row
    Csv,
    /// One JSON object per row, one per line
    Json,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Score every key once as of a date and exit (the nightly job)
    #[arg(long)]
    pub batch: bool,
    /// Forecasts start the day after [default: the last day in the lake's sales]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Days forecast [default: train.horizon]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub horizon: Option<u32>,
    /// Only production models with this tag, NAME=VALUE (repeatable; all must match)
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// Continuous mode: consumer group [default: herd-scorer, or score.group]
    #[arg(long, conflicts_with = "batch")]
    pub group: Option<String>,
    /// Continuous mode: what a key without a production model gets
    /// [default: forecast, or score.cold_start]
    #[arg(long, value_enum, conflicts_with = "batch")]
    pub cold_start: Option<ColdStartArg>,
    /// Continuous mode: byte budget of the model cache in MiB [default: 64]
    #[arg(long, value_name = "MIB", conflicts_with = "batch")]
    pub model_cache_mb: Option<f64>,
    /// Continuous mode: stop after this many seconds without a new record
    #[arg(long, value_name = "SECONDS", conflicts_with = "batch")]
    pub idle_exit: Option<u64>,
    /// Continuous mode: sales records deleted (retention) before they were scored:
    /// stop, or warn and go on without them [default: fail, or score.on_gap]
    #[arg(long, value_enum, conflicts_with = "batch")]
    pub on_gap: Option<OnGapArg>,
    /// Continuous mode: serve /healthz, /readyz and /metrics (OpenMetrics) on this
    /// address, e.g. 127.0.0.1:9464 (port 0 picks a free one and logs it)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "batch")]
    pub status_listen: Option<std::net::SocketAddr>,
}

/// What continuous scoring does for a key without a production model.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ColdStartArg {
    /// The cold-start forecast from the item's other stores, flagged `cold_start`
    Forecast,
    /// No forecast; the key is counted as skipped
    Skip,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Decide every undecided candidate once and exit
    #[arg(long)]
    pub once: bool,
    /// The promotion rule, a CEL expression [default: promote.rule]
    #[arg(long, value_name = "EXPR")]
    pub rule: Option<String>,
    /// A challenger must beat the champion's accuracy by more than this [default: 0]
    #[arg(long)]
    pub margin: Option<f64>,
    /// Name of this promoter run, in every decision [default: promote-<time>]
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Continuous mode: consumer group [default: herd-promoter]
    #[arg(long)]
    pub group: Option<String>,
    /// Continuous mode: stop after this many seconds without a model event, once no
    /// candidate waits (deferred) for the archive's sales
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,
    /// Continuous mode: serve /healthz, /readyz and /metrics (OpenMetrics) on this
    /// address, e.g. 127.0.0.1:9464 (port 0 picks a free one and logs it)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "once")]
    pub status_listen: Option<std::net::SocketAddr>,
}

/// How each key's model is chosen; flags override `[train]` in herd.toml.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Candidates, comma-separated: seasonal_naive, ridge, ets, tsb [default: all]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub models: Option<Vec<String>>,
    /// Rolling-origin backtest folds [default: 2]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=52))]
    pub folds: Option<u32>,
    /// Days forecast, and the length of each fold [default: 28]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub horizon: Option<u32>,
    /// Ridge features: full, or spark (the Spark many-models recipe's) [default: full]
    #[arg(long, value_name = "SET")]
    pub features: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List registered models (each key's latest version), filtered by tags and status
    #[command(after_help = "Examples:\n  \
        herd models list --tag store_id=S0001\n  \
        herd models list --status failed\n  \
        herd models list --tag model_type=ets --format json")]
    List(ModelsListArgs),
    /// Show one model version: metrics, backtest, tags and lineage
    #[command(
        disable_version_flag = true,
        after_help = "Examples:\n  \
        herd models show S0001/I00001\n  \
        herd models show S0001/I00001 --version 3"
    )]
    Show(ModelsShowArgs),
    /// Make an earlier production version of a key current again
    ///
    /// Without --to, the latest earlier production version that differs from the
    /// current one. Writes a new production entry, a row in `promotions` and a
    /// `rolled_back` event on herd.models.
    #[command(after_help = "Examples:\n  \
        herd models rollback S0001/I00001\n  \
        herd models rollback S0001/I00001 --to 2 --reason 'v3 over-forecasts promotions'")]
    Rollback(ModelsRollbackArgs),
    /// Every candidate of a key, every decision about it and why, in order
    #[command(after_help = "Examples:\n  \
        herd models history S0001/I00001\n  \
        herd models history S0001/I00001 --format json")]
    History(ModelsHistoryArgs),
    /// List the production registry: each key's current production model
    #[command(after_help = "Examples:\n  \
        herd models production\n  \
        herd models production --format json")]
    Production(ModelsProductionArgs),
}

#[derive(Debug, Args)]
pub struct ModelsRollbackArgs {
    /// The series key, STORE_ID/ITEM_ID
    pub key: String,
    /// The version to make current; it must have been in production
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    /// Why, recorded with the rollback
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ModelsHistoryArgs {
    /// The series key, STORE_ID/ITEM_ID
    pub key: String,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ModelsProductionArgs {
    /// Print at most this many models
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ModelsListArgs {
    /// Only models with this tag, NAME=VALUE (repeatable; all must match)
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// Only models with this status
    #[arg(long, value_parser = ["candidate", "failed"])]
    pub status: Option<String>,
    /// Every version, not only each key's latest
    #[arg(long)]
    pub all_versions: bool,
    /// Print at most this many models
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ModelsShowArgs {
    /// The series key, STORE_ID/ITEM_ID
    pub key: String,
    /// A version [default: the latest]
    #[arg(long)]
    pub version: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ingest a generated file into a fresh topic, run Kafka's ProducerPerformance
    /// beside it, then archive the topic into a fresh Delta table
    ///
    /// Run from the repository root so that `scripts/kafka.sh` is found (or set
    /// HERD_KAFKA_SCRIPT). Prints rows/s, the ratio to ProducerPerformance, archive
    /// rows/s, files per million rows and peak RSS.
    #[command(after_help = "Examples:\n  \
        herd bench ingest                     # the medium size: 10,000 series × 730 days\n  \
        herd bench ingest --size small --skip-archive")]
    Ingest(BenchIngestArgs),
    /// Train one model per series of a generated data set, reading included, beside
    /// statsforecast's AutoETS on a sample of the same series
    ///
    /// Prints series/s, rows/s, seconds per stage, peak RSS, window memory per key
    /// and the accuracy of the selected models against seasonal naive.
    #[command(after_help = "Examples:\n  \
        herd bench train --size medium                                  # all candidates, 2 folds\n  \
        herd bench train --size medium --models ridge --folds 1 --features spark\n  \
        herd bench train --size small --statsforecast-sample 0          # skip the Python comparison")]
    Train(BenchTrainArgs),
    /// Decide a whole training run's candidates, with and without champions
    ///
    /// Writes a generated data set's sales into a scratch lake (no broker), trains
    /// every key on all but its last --shift-days days and promotes (no champions),
    /// then trains on all days and promotes again (each champion re-scored on its
    /// challenger's holdout from the lake's sales). Prints decisions/s per pass.
    #[command(after_help = "Examples:\n  \
        herd bench promote                    # the medium size: 10,000 candidates per pass\n  \
        herd bench promote --size small --models ridge")]
    Promote(BenchPromoteArgs),
    /// Batch-score every key of a generated data set into `predictions`, twice
    ///
    /// Writes the data set's sales into a scratch lake (no broker), trains and
    /// promotes every key, then runs `herd score --batch` twice for the same as-of
    /// date (the second replaces the first's rows). Prints keys/s and rows/s.
    #[command(after_help = "Examples:\n  \
        herd bench score --size headline\n  \
        herd bench score --size small --models ridge")]
    Score(BenchScoreArgs),
    /// Real-time forecasts under load: requests/s and p50/p99 latency of `herd serve`
    /// driven from this process on loopback, uniform and Zipf key mixes
    #[command(after_help = "Examples:\n  \
        herd bench serve                      # 100,000 models, a 64 MiB cache")]
    Serve(BenchServeArgs),
    /// Freshness of continuous scoring: from a record's publication under
    /// `herd simulate` to its forecast on herd.predictions and to its Delta commit
    #[command(after_help = "Examples:\n  \
        herd bench freshness --size headline")]
    Freshness(BenchFreshnessArgs),
}

#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Models in the scratch production registry
    #[arg(long, default_value_t = 100_000)]
    pub models: usize,
    /// Byte budget of the server's model cache in MiB
    #[arg(long, default_value_t = 64.0)]
    pub model_cache_mb: f64,
    /// Seconds measured per key mix, after the warm-up
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Seconds of each mix's warm-up, not measured
    #[arg(long, default_value_t = 5.0)]
    pub warmup_seconds: f64,
    /// Keep-alive connections of the load generator, each in a closed loop
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Exponent of the Zipf key mix
    #[arg(long, default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Keys asked for one at a time, cold then hot, before the mixes
    #[arg(long, default_value_t = 2_000)]
    pub cold_keys: usize,
    /// Where the scratch lake goes
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Keep the scratch lake
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct BenchFreshnessArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Days of history published, archived and trained on before the live phase
    #[arg(long, default_value_t = 200)]
    pub history_days: u32,
    /// Commit forecasts at least this often [default: score.flush_ms]
    #[arg(long, value_name = "MS")]
    pub flush_ms: Option<u64>,
    /// Live days published, one per --days-per-second
    #[arg(long, default_value_t = 20)]
    pub live_days: u32,
    /// Live days per second
    #[arg(long, default_value_t = 0.5)]
    pub days_per_second: f64,
    /// Where the scratch lake goes
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Keep the scratch lake
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct BenchScoreArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where the scratch lake goes
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Keep the scratch lake
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct BenchPromoteArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The promotion rule [default: promote.rule]
    #[arg(long, value_name = "EXPR")]
    pub rule: Option<String>,
    /// Days the first training leaves out, so the second has a newer holdout
    #[arg(long, default_value_t = 7)]
    pub shift_days: usize,
    /// Training threads; 0 uses every core
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where the scratch lake goes
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Keep the scratch lake
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Train on this Parquet file instead of generating one
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Where generated files go
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Days of history kept per key
    #[arg(long, default_value_t = 730)]
    pub window_days: usize,
    /// Training threads; 0 uses every core
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Series given to statsforecast's AutoETS (0 skips it); needs Python with statsforecast
    #[arg(long, default_value_t = 200)]
    pub statsforecast_sample: usize,
    /// Python interpreter for the comparison
    #[arg(long, env = "HERD_PYTHON", default_value = "python3")]
    pub python: String,
}

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Ingest this file instead of generating one
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Partitions of the benchmark topics
    #[arg(long, default_value_t = 12)]
    pub partitions: u32,
    /// Where generated files and the benchmark lake go
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Records per archive commit
    #[arg(long, default_value_t = 500_000)]
    pub flush_records: usize,
    /// Skip Kafka's ProducerPerformance
    #[arg(long)]
    pub skip_producer_performance: bool,
    /// Skip the archive stage
    #[arg(long)]
    pub skip_archive: bool,
    /// Keep the generated file and the benchmark lake
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Consumer group; archivers in one group split the partitions [default:
    /// herd-archive, or archive.group]
    #[arg(long)]
    pub group: Option<String>,
    /// Commit once this many records are buffered
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub flush_records: u64,
    /// Commit once the buffered records reach this many megabytes
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub flush_mb: u64,
    /// Commit once the oldest buffered record has waited this long
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub flush_latency_ms: u64,
    /// Stop after this many seconds without a new record (for batch runs and tests)
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,
    /// Records deleted (retention) before they were archived: stop, or warn and go
    /// on without them [default: fail, or archive.on_gap]
    #[arg(long, value_enum)]
    pub on_gap: Option<OnGapArg>,
    /// Serve /healthz, /readyz and /metrics (OpenMetrics) on this
    /// address, e.g. 127.0.0.1:9464 (port 0 picks a free one and logs it)
    #[arg(long, value_name = "HOST:PORT")]
    pub status_listen: Option<std::net::SocketAddr>,
}

/// What a consumer does when records were deleted before it read them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OnGapArg {
    /// Stop with an error naming the topic, partition, offset and low watermark
    Fail,
    /// Warn with the number of offsets lost and go on from the low watermark
    Skip,
}

impl From<OnGapArg> for herd_bus::GapPolicy {
    fn from(arg: OnGapArg) -> Self {
        match arg {
            OnGapArg::Fail => Self::Fail,
            OnGapArg::Skip => Self::Skip,
        }
    }
}

/// Which synthetic data set: a benchmark size, adjusted by explicit dimensions.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A benchmark size from WORKLOAD.md
    #[arg(long, value_enum, default_value = "small")]
    pub size: SizeArg,
    /// Seed of every random draw
    #[arg(long, default_value_t = herd_ingest::generate::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of stores [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stores: Option<u32>,
    /// Items per store [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub items: Option<u32>,
    /// Number of days [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: Option<u32>,
    /// Date of the first day, YYYY-MM-DD [default: 2022-01-01]
    #[arg(long, value_name = "DATE")]
    pub start_date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SizeArg {
    /// 1,000 series × 730 days
    Small,
    /// 10,000 series × 730 days
    Medium,
    /// 10,000 series × 4,000 days (40 M rows)
    Headline,
}

impl SpecArgs {
    pub fn spec(&self) -> herd_ingest::generate::GeneratorSpec {
        use herd_ingest::generate::{GeneratorSpec, Size};
        let size = match self.size {
            SizeArg::Small => Size::Small,
            SizeArg::Medium => Size::Medium,
            SizeArg::Headline => Size::Headline,
        };
        let mut spec = GeneratorSpec::sized(size, self.seed);
        spec.stores = self.stores.unwrap_or(spec.stores);
        spec.items = self.items.unwrap_or(spec.items);
        spec.days = self.days.unwrap_or(spec.days);
        spec.start_date = self.start_date.unwrap_or(spec.start_date);
        spec
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output file; .csv, .parquet or .jsonl
    #[arg(value_name = "FILE")]
    pub output: std::path::PathBuf,
    #[command(flatten)]
    pub spec: SpecArgs,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Days of history published at once before the live phase
    #[arg(long, default_value_t = 365)]
    pub history_days: u32,
    /// First day index published: go on where an earlier simulation stopped
    /// (`--start-day 365` after `--history-days 365 --live-days 0`)
    #[arg(long, default_value_t = 0)]
    pub start_day: u32,
    /// Live days per second
    #[arg(long, default_value_t = 1.0)]
    pub days_per_second: f64,
    /// Stop after this many live days [default: run until interrupted]
    #[arg(long)]
    pub live_days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files to read (`-` for standard input); the format comes from the extension
    #[arg(required = true, value_name = "FILE|-")]
    pub inputs: Vec<String>,
    /// Read every input as this format: csv, parquet or jsonl
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Fail once more than this many records were rejected
    #[arg(long, value_name = "N")]
    pub max_rejects: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create herd.sales, herd.sales.dlq, herd.models and herd.predictions.
    ///
    /// Topics that already exist are left unchanged and reported as such, so running
    /// this again is safe.
    #[command(after_help = "Examples:\n  \
        herd topics create\n  \
        herd topics create --partitions 24 --replication-factor 3")]
    Create(TopicsCreateArgs),
    /// Delete herd.sales, herd.sales.dlq, herd.models and herd.predictions, with
    /// every record in them.
    ///
    /// Topics that are not there are reported as absent. The Delta tables are not
    /// touched; the archive and the scorer keep their offsets in them, which new
    /// topics start below, so delete the lake as well to start over.
    #[command(after_help = "Examples:\n  \
        herd topics delete --yes\n  \
        herd topics delete --yes && herd topics create")]
    Delete(TopicsDeleteArgs),
}

#[derive(Debug, Args)]
pub struct TopicsDeleteArgs {
    /// Confirm the deletion; without it nothing is deleted
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct TopicsCreateArgs {
    /// Partitions per topic [default: 12, or `topics.partitions` in herd.toml]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub partitions: Option<u32>,
    /// Replicas per partition [default: 1, or `topics.replication_factor`]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub replication_factor: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Seconds to wait for the broker before giving up
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
    /// Also produce this many keyed records to `herd.doctor` and consume them back,
    /// checking each arrived exactly once, in order per key
    #[arg(long, value_name = "RECORDS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub roundtrip: Option<u64>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
