//! `herd models list|show`: the candidate registry, found by tags;
//! `herd models production|history|rollback`: the production registry and the
//! decisions that shaped it.

use anyhow::Context as _;
use herd_lake::LakeRoot;
use herd_registry::{CandidateRegistry, ModelFilter, ModelRow, ModelStatus};
use herd_schemas::SeriesKey;

use std::time::Duration;

use herd_bus::EventPublisher;
use herd_registry::ProductionRegistry;

use crate::args::{
    ListFormat, ModelsHistoryArgs, ModelsListArgs, ModelsProductionArgs, ModelsRollbackArgs,
    ModelsShowArgs,
};
use herd_config::Settings;
use herd_config::options::{production_root, promote_options};

pub async fn list(settings: &Settings, args: &ModelsListArgs) -> anyhow::Result<()> {
    let mut filter = ModelFilter {
        status: args.status.as_deref().and_then(ModelStatus::parse),
        all_versions: args.all_versions,
        ..ModelFilter::default()
    };
    for tag in &args.tags {
        filter.tags.push(ModelFilter::parse_tag(tag)?);
    }
    let mut registry = open(settings).await?;
    let mut rows = filter.apply(registry.rows().await?);
    let matched = rows.len();
    if let Some(limit) = args.limit {
        rows.truncate(limit);
    }
    match args.format {
        ListFormat::Json => {
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
        }
        ListFormat::Table => {
            println!(
                "{:<28} {:>4} {:<9} {:<14} {:>8} {:>8} {:>10}  RUN",
                "KEY", "VER", "STATUS", "MODEL", "ACCURACY", "NAIVE", "DATA_END"
            );
            for row in &rows {
                let (accuracy, naive) = row.metrics.map_or(("-".into(), "-".into()), |m| {
                    (
                        format!("{:.3}", m.accuracy),
                        format!("{:.3}", m.baseline_accuracy),
                    )
                });
                let model = match (&row.model_type, row.cold_start) {
                    (Some(t), true) => format!("{t}*"),
                    (Some(t), false) => t.clone(),
                    (None, _) => "-".into(),
                };
                println!(
                    "{:<28} {:>4} {:<9} {:<14} {:>8} {:>8} {:>10}  {}",
                    row.key.to_string(),
                    row.version,
                    row.status.as_str(),
                    model,
                    accuracy,
                    naive,
                    row.data_end.map_or("-".into(), |d| d.to_string()),
                    row.run_id,
                );
            }
            eprintln!(
                "{matched} models matched{}; * = cold start",
                if rows.len() < matched {
                    format!(", {} shown", rows.len())
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

pub async fn show(settings: &Settings, args: &ModelsShowArgs) -> anyhow::Result<()> {
    let key = parse_key(&args.key)?;
    let mut registry = open(settings).await?;
    let row = registry.find(&key, args.version).await?;
    print_row(&row);
    Ok(())
}

fn parse_key(text: &str) -> anyhow::Result<SeriesKey> {
    text.parse()
        .with_context(|| format!("`{text}` is not a series key STORE_ID/ITEM_ID"))
}

pub async fn rollback(settings: &Settings, args: &ModelsRollbackArgs) -> anyhow::Result<()> {
    let key = parse_key(&args.key)?;
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let options = promote_options(settings, None, None, None)?;
    let done = herd_promoter::rollback(
        &lake,
        &production_root(settings)?,
        &key,
        args.to,
        args.reason.as_deref(),
        &options,
    )
    .await?;
    let mut publisher = EventPublisher::new(&settings.kafka_options(), &settings.topics.models)?;
    publisher.publish(&done.event)?;
    tokio::task::spawn_blocking(move || publisher.finish(Duration::from_secs(30)))
        .await
        .context("publishing the rollback")??;
    println!(
        "rolled back {key} from v{} to v{} (production entry {})",
        done.from, done.entry.version, done.entry.entry
    );
    Ok(())
}

pub async fn history(settings: &Settings, args: &ModelsHistoryArgs) -> anyhow::Result<()> {
    let key = parse_key(&args.key)?;
    let lake = LakeRoot::parse(&settings.lake_root)?;
    let lines = herd_promoter::history(&lake, &key).await?;
    match args.format {
        ListFormat::Json => {
            for line in &lines {
                println!("{}", serde_json::to_string(line)?);
            }
        }
        ListFormat::Table => {
            println!(
                "{:<20} {:>4} {:<12} {:<14} {:>8} {:>5}  REASON",
                "AT", "VER", "EVENT", "MODEL", "ACCURACY", "ENTRY"
            );
            for line in &lines {
                println!(
                    "{:<20} {:>4} {:<12} {:<14} {:>8} {:>5}  {}",
                    line.at.format("%Y-%m-%d %H:%M:%S"),
                    line.version,
                    line.event,
                    line.model_type.as_deref().unwrap_or("-"),
                    line.accuracy.map_or("-".into(), |a| format!("{a:.3}")),
                    line.entry.map_or("-".into(), |e| e.to_string()),
                    line.reason.as_deref().unwrap_or(""),
                );
            }
        }
    }
    Ok(())
}

pub async fn production(settings: &Settings, args: &ModelsProductionArgs) -> anyhow::Result<()> {
    let root = production_root(settings)?;
    let registry = ProductionRegistry::open_existing(&root)
        .await?
        .with_context(|| {
            format!(
                "no production registry under {}: run `herd promote` first",
                root.url()
            )
        })?;
    let mut current: Vec<_> = registry.all_current().collect();
    current.sort_by(|a, b| a.key.cmp(&b.key));
    let matched = current.len();
    if let Some(limit) = args.limit {
        current.truncate(limit);
    }
    match args.format {
        ListFormat::Json => {
            for entry in &current {
                println!("{}", serde_json::to_string(entry)?);
            }
        }
        ListFormat::Table => {
            println!(
                "{:<28} {:>4} {:>5} {:<12} {:<14} {:>8}  DECIDED",
                "KEY", "VER", "ENTRY", "ACTION", "MODEL", "ACCURACY"
            );
            for e in &current {
                println!(
                    "{:<28} {:>4} {:>5} {:<12} {:<14} {:>8}  {}",
                    e.key.to_string(),
                    e.version,
                    e.entry,
                    e.action.as_str(),
                    e.model_type.as_deref().unwrap_or("-"),
                    e.accuracy.map_or("-".into(), |a| format!("{a:.3}")),
                    e.decided_at.format("%Y-%m-%d %H:%M:%S"),
                );
            }
            eprintln!("{matched} keys in production");
        }
    }
    Ok(())
}

fn print_row(row: &ModelRow) {
    println!("key:          {}", row.key);
    println!("version:      {}", row.version);
    println!("status:       {}", row.status.as_str());
    println!(
        "model:        {}{}",
        row.model_type.as_deref().unwrap_or("-"),
        if row.cold_start { " (cold start)" } else { "" }
    );
    println!("trained at:   {}", row.trained_at.to_rfc3339());
    println!("run:          {}", row.run_id);
    println!(
        "data:         {} .. {} ({} observed days)",
        row.data_start.map_or("-".into(), |d| d.to_string()),
        row.data_end.map_or("-".into(), |d| d.to_string()),
        row.rows
    );
    println!(
        "horizon:      {} days, {} backtest folds, features {}",
        row.horizon, row.folds, row.feature_set
    );
    if let Some(m) = row.metrics {
        println!(
            "holdout:      accuracy {:.4} (seasonal naive {:.4}), WAPE {:.4}, MAE {:.3}, RMSE {:.3}",
            m.accuracy, m.baseline_accuracy, m.wape, m.mae, m.rmse
        );
    }
    if let Some(error) = &row.error {
        println!("error:        {error}");
    }
    println!("artifact:     {}", row.artifact.as_deref().unwrap_or("-"));
    let tags: Vec<String> = row.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("tags:         {}", tags.join(" "));
    if let Ok(folds) = serde_json::from_str::<Vec<serde_json::Value>>(&row.backtest)
        && !folds.is_empty()
    {
        println!("backtest:     origin      model           accuracy   naive");
        for fold in folds {
            println!(
                "              {:<11} {:<15} {:>8.4} {:>7.4}",
                fold["origin"].as_str().unwrap_or("-"),
                fold["model"].as_str().unwrap_or("-"),
                fold["metrics"]["accuracy"].as_f64().unwrap_or(f64::NAN),
                fold["metrics"]["baseline_accuracy"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            );
        }
    }
}

async fn open(settings: &Settings) -> anyhow::Result<CandidateRegistry> {
    let root = LakeRoot::parse(&settings.lake_root)?;
    CandidateRegistry::open_existing(&root)
        .await?
        .with_context(|| {
            format!(
                "no model registry under {}: run `herd train` first",
                settings.lake_root
            )
        })
}
