//! `herd train`'s arguments.

use clap::Args;

use super::ModelArgs;

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
    /// Once: why this run trains, recorded on every model (`manual`, or `schedule` for
    /// a run from a scheduler) [default: manual]
    #[arg(long, value_parser = ["manual", "schedule"], requires = "once")]
    pub trigger: Option<String>,
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
