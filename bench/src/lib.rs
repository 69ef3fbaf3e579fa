//! `herd bench`: Herd's benchmarks. Each runs a stage of the pipeline the way an
//! operator would, on this machine, and prints what it measured as JSON lines
//! (rows/s, series/s, p50/p99 latency, peak RSS); BENCHMARKS.md records the figures
//! with the commands that produced them.

mod args;
mod freshness;
mod ingest;
mod measure;
mod pipeline;
mod promote;
mod score;
mod scratch;
mod serve;
mod train;
mod unseen;

use herd_config::Settings;

pub use args::{
    BenchCommand, BenchFreshnessArgs, BenchIngestArgs, BenchPipelineArgs, BenchPromoteArgs,
    BenchScoreArgs, BenchServeArgs, BenchTrainArgs,
};

/// Runs one benchmark with the configuration the `herd` command loaded.
pub async fn run(settings: &Settings, command: &BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(settings, args).await,
        BenchCommand::Train(args) => train::run(settings, args).await,
        BenchCommand::Promote(args) => promote::run(settings, args).await,
        BenchCommand::Score(args) => score::run(settings, args).await,
        BenchCommand::Serve(args) => serve::run(settings, args).await,
        BenchCommand::Freshness(args) => freshness::run(settings, args).await,
        BenchCommand::Pipeline(args) => pipeline::run(settings, args).await,
    }
}
