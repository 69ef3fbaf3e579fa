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
