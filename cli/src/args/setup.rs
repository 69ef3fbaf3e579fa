//! The arguments of the commands that set up and check a deployment: `herd topics`
//! and `herd doctor`.

use clap::{Args, Subcommand};

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

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Every setting with its default, its environment variable and a line of help,
    /// as herd.toml text (the effective configuration is `herd doctor`'s)
    #[arg(long, required = true)]
    pub print_defaults: bool,
    /// As the Markdown page docs/configuration.md
    #[arg(long, requires = "print_defaults")]
    pub markdown: bool,
}
