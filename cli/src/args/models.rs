//! `herd models`' subcommands and their arguments.

use clap::{Args, Subcommand};

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
