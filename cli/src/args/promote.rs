//! `herd promote`'s arguments.

use clap::Args;

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
