//! `herd score`'s arguments.

use clap::Args;

use herd_scorer::Fallback;

use super::OnGapArg;

/// A fallback chain as one flag value (clap would read a `Vec` as many values).
#[derive(Debug, Clone)]
pub struct FallbackChain(pub Vec<Fallback>);

impl FallbackChain {
    fn parse(text: &str) -> Result<Self, String> {
        Fallback::parse_chain(text).map(FallbackChain)
    }
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
    /// What forecasts a key without a production model: `none`, or `baseline`
    /// (seasonal naive on its own history) and/or `cold_start` (its item's profile),
    /// in order, separated by commas [default: baseline,cold_start, or promote.fallback]
    #[arg(long, value_name = "CHAIN", value_parser = FallbackChain::parse)]
    pub fallback: Option<FallbackChain>,
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
