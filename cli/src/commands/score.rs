//! `herd score --batch`: every production model's forecast as of one day, into the
//! Delta table `predictions`.

use anyhow::bail;
use herd_lake::LakeRoot;
use herd_registry::ModelFilter;
use herd_scorer::{BatchOptions, score_batch};

use crate::args::ScoreArgs;
use crate::commands::promote::production_root;
use crate::config::Settings;

pub async fn run(settings: &Settings, args: &ScoreArgs) -> anyhow::Result<()> {
    if !args.batch {
        bail!(
            "continuous scoring (herd score without --batch) is not available in this version; \
             run `herd score --batch`"
        );
    }
    let mut tags = Vec::new();
    for tag in &args.tags {
        tags.push(ModelFilter::parse_tag(tag)?);
    }
    let options = BatchOptions {
        as_of: args.as_of,
        horizon: args.horizon.map_or(settings.train.horizon, |h| h as usize),
        window_days: settings.train.window_days,
        tags,
    };
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let summary = score_batch(&lake, &production_root(settings)?, &options).await?;
    println!(
        "scored {} keys as of {} ({} with a production model, {} matched): {} rows to predictions (table version {}, {} files replaced); {} without sales, {} failed",
        summary.scored,
        summary
            .as_of
            .map_or_else(|| "-".to_owned(), |d| d.to_string()),
        summary.production_keys,
        summary.matched,
        summary.rows,
        summary.table_version,
        summary.files_replaced,
        summary.no_sales,
        summary.failed,
    );
    println!(
        "read models and sales in {:.2} s, forecast in {:.2} s, wrote in {:.2} s; {:.2} s in all",
        summary.read_seconds, summary.score_seconds, summary.write_seconds, summary.seconds
    );
    Ok(())
}
