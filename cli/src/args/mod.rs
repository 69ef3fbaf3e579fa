//! The command line: what a user can type, with help written for them.
//!
//! This file holds the top level (global flags, the commands) and the argument
//! groups several commands share; each command group's arguments live in a file of
//! their own below.

mod models;
mod promote;
mod sales;
mod score;
mod serve;
mod setup;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use herd_config::{LogFormat, Overrides};

pub use herd_bench::BenchCommand;
pub use herd_config::flags::{ModelArgs, OnGapArg, SpecArgs};
pub use models::{
    ListFormat, ModelsCommand, ModelsHistoryArgs, ModelsListArgs, ModelsProductionArgs,
    ModelsRollbackArgs, ModelsShowArgs,
};
pub use promote::PromoteArgs;
pub use sales::{ArchiveArgs, GenerateArgs, IngestArgs, SimulateArgs};
pub use score::ScoreArgs;
pub use serve::{ServeArgs, SqlArgs};
// Only the SQL engine reads the format.
#[cfg(feature = "sql")]
pub use serve::SqlFormat;
pub use setup::{ConfigArgs, DoctorArgs, TopicsCommand, TopicsCreateArgs, TopicsDeleteArgs};
pub use train::TrainArgs;

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
    /// Print the configuration: every setting of herd.toml with its default and
    /// environment variable
    #[command(after_help = "Examples:\n  \
        herd config --print-defaults > herd.toml\n  \
        herd config --print-defaults --markdown > docs/configuration.md")]
    Config(ConfigArgs),
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
    /// Write synthetic sales (as docs/workload.md specifies) to a CSV, Parquet or JSON-lines file
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
