//! `herd bench`'s subcommands and their arguments.

use clap::{Args, Subcommand};

use herd_config::flags::{ModelArgs, SpecArgs};

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
        herd bench train --size medium --unseen-days                    # accuracy on days never seen\n  \
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
    /// The whole pipeline as an operator runs it, from a data file to the last
    /// committed forecast: `herd archive` follows the topic while `herd ingest`
    /// publishes, then `train --once`, `promote --once` and `score --batch`
    ///
    /// Every stage is a `herd` process of its own, on fresh topics and a scratch
    /// lake. Prints each stage's seconds and peak RSS, when the archive had stored
    /// the last record, and the seconds until the last forecast was committed.
    #[command(after_help = "Examples:\n  \
        herd bench pipeline --size headline    # 10,000 series × 4,000 days\n  \
        herd bench pipeline --size small")]
    Pipeline(BenchPipelineArgs),
}

#[derive(Debug, Args)]
pub struct BenchPipelineArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Run the pipeline on this file instead of generating one
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Partitions of the run's topics
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// Where the generated file, the scratch lake and the stages' logs go
    #[arg(long, default_value = "data/bench")]
    pub work_dir: std::path::PathBuf,
    /// Keep the generated file, the scratch lake and the logs
    #[arg(long)]
    pub keep: bool,
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
    /// Also train every key without its last horizon and score the refit models on
    /// those unseen days: accuracy, share >= 0.80 and interval coverage per model
    /// type, next to the accuracy the registry would hold
    #[arg(long)]
    pub unseen_days: bool,
    /// Also train a global LightGBM (mlforecast: lags, rolling means, calendar, price
    /// and promotion as known future covariates) on every key but its last horizon and
    /// score it on those days, beside Herd's figure for the same keys; needs Python
    /// with mlforecast and lightgbm
    #[arg(long)]
    pub lightgbm: bool,
    /// Python interpreter for the comparisons
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
