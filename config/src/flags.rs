//! Flags several commands share, and the settings that are also flags: one
//! definition for `herd.toml`, the environment and the command line.

use clap::Args;

/// How each key's model is chosen; flags override `[train]` in herd.toml.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Candidates, comma-separated: seasonal_naive, ridge, ets, tsb [default: all]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub models: Option<Vec<String>>,
    /// Rolling-origin backtest folds, the latest of them the holdout [default: 2]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=52))]
    pub folds: Option<u32>,
    /// Days forecast, and the length of each fold [default: 28]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub horizon: Option<u32>,
    /// Ridge features: full, or spark (the Spark many-models recipe's) [default: full]
    #[arg(long, value_name = "SET")]
    pub features: Option<String>,
}

/// Which synthetic data set: a benchmark size, adjusted by explicit dimensions.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A benchmark size from docs/workload.md
    #[arg(long, value_enum, default_value = "small")]
    pub size: SizeArg,
    /// Seed of every random draw
    #[arg(long, default_value_t = herd_ingest::generate::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of stores [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stores: Option<u32>,
    /// Items per store [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub items: Option<u32>,
    /// Number of days [default: from --size]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: Option<u32>,
    /// Date of the first day, YYYY-MM-DD [default: 2022-01-01]
    #[arg(long, value_name = "DATE")]
    pub start_date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SizeArg {
    /// 1,000 series × 730 days
    Small,
    /// 10,000 series × 730 days
    Medium,
    /// 10,000 series × 4,000 days (40 M rows)
    Headline,
}

impl SpecArgs {
    pub fn spec(&self) -> herd_ingest::generate::GeneratorSpec {
        use herd_ingest::generate::{GeneratorSpec, Size};
        let size = match self.size {
            SizeArg::Small => Size::Small,
            SizeArg::Medium => Size::Medium,
            SizeArg::Headline => Size::Headline,
        };
        let mut spec = GeneratorSpec::sized(size, self.seed);
        spec.stores = self.stores.unwrap_or(spec.stores);
        spec.items = self.items.unwrap_or(spec.items);
        spec.days = self.days.unwrap_or(spec.days);
        spec.start_date = self.start_date.unwrap_or(spec.start_date);
        spec
    }
}

/// What a consumer does when records were deleted before it read them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OnGapArg {
    /// Stop with an error naming the topic, partition, offset and low watermark
    Fail,
    /// Warn with the number of offsets lost and go on from the low watermark
    Skip,
}

impl From<OnGapArg> for herd_bus::GapPolicy {
    fn from(arg: OnGapArg) -> Self {
        match arg {
            OnGapArg::Fail => Self::Fail,
            OnGapArg::Skip => Self::Skip,
        }
    }
}
