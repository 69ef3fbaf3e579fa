//! The arguments of the commands that bring sales in: `herd ingest`, `herd generate`,
//! `herd simulate` and `herd archive`.

use clap::Args;

use super::{OnGapArg, SpecArgs};

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

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output file; .csv, .parquet or .jsonl
    #[arg(value_name = "FILE")]
    pub output: std::path::PathBuf,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Write weekly totals (dated by the Monday that starts each week) or monthly
    /// totals (dated by the first of the month) of the generated days instead of
    /// the days: whole periods only, mean price, promotion if any day had one
    #[arg(long, value_name = "daily|weekly|monthly", default_value = "daily", value_parser = parse_frequency)]
    pub frequency: herd_schemas::Frequency,
}

fn parse_frequency(s: &str) -> Result<herd_schemas::Frequency, String> {
    herd_schemas::Frequency::parse(s)
        .ok_or_else(|| format!("`{s}` is not daily, weekly or monthly"))
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
