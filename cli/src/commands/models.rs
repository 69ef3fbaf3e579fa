//! `herd models list|show`: the candidate registry, found by tags.

use anyhow::Context as _;
use herd_lake::LakeRoot;
use herd_registry::{CandidateRegistry, ModelFilter, ModelRow, ModelStatus};
use herd_schemas::SeriesKey;

use crate::args::{ListFormat, ModelsListArgs, ModelsShowArgs};
use crate::config::Settings;

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
    let key: SeriesKey = args
        .key
        .parse()
        .with_context(|| format!("`{}` is not a series key STORE_ID/ITEM_ID", args.key))?;
    let mut registry = open(settings).await?;
    let row = registry.find(&key, args.version).await?;
    print_row(&row);
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
