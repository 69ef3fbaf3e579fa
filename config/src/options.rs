//! The services' options, built from [`Settings`] and the flags that override them,
//! and checked: the one place every command that trains, promotes or scores turns
//! configuration into a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use herd_lake::LakeRoot;
use herd_models::{FeatureSet, ModelKind, TrainOptions};
use herd_promoter::PromoteOptions;
use herd_registry::{ModelFilter, PromotionRule};
use herd_trainer::RunSettings;

use crate::flags::ModelArgs;
use crate::{Settings, TrainSettings, check_margin};

/// 0 means every core.
pub fn resolve_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// The model options from `[train]`, overridden by flags, checked.
pub fn model_options(settings: &TrainSettings, args: &ModelArgs) -> anyhow::Result<TrainOptions> {
    let names = args
        .models
        .clone()
        .unwrap_or_else(|| settings.models.clone());
    let mut candidates = Vec::new();
    for name in &names {
        let kind = ModelKind::parse(name.trim())
            .filter(|k| ModelKind::CANDIDATES.contains(k))
            .with_context(|| {
                format!("unknown model `{name}`: expected seasonal_naive, ridge, ets or tsb")
            })?;
        if !candidates.contains(&kind) {
            candidates.push(kind);
        }
    }
    if candidates.is_empty() {
        bail!("no candidate models: give at least one of seasonal_naive, ridge, ets, tsb");
    }
    let features = args.features.as_deref().unwrap_or(&settings.features);
    let features = FeatureSet::parse(features)
        .with_context(|| format!("unknown feature set `{features}`: expected full or spark"))?;
    let horizon = args.horizon.map_or(settings.horizon, |h| h as usize);
    let folds = args.folds.map_or(settings.folds, |f| f as usize);
    if horizon == 0 || folds == 0 {
        bail!("horizon and folds must be at least 1");
    }
    Ok(TrainOptions {
        horizon,
        folds,
        candidates,
        features,
        ..TrainOptions::default()
    })
}

pub fn run_settings(
    settings: &TrainSettings,
    model: &ModelArgs,
    run_id: Option<String>,
    extra_tags: &[String],
) -> anyhow::Result<RunSettings> {
    let mut tags: BTreeMap<String, String> = settings.tags.clone();
    for tag in extra_tags {
        let (name, value) = ModelFilter::parse_tag(tag)?;
        tags.insert(name, value);
    }
    let run_id =
        run_id.unwrap_or_else(|| format!("train-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    Ok(RunSettings {
        model: model_options(settings, model)?,
        run_id,
        tags,
        trigger: herd_registry::Trigger::Manual,
    })
}

/// The rule, margin and run id from `[promote]`, overridden by flags, checked.
pub fn promote_options(
    settings: &Settings,
    rule: Option<&str>,
    margin: Option<f64>,
    run_id: Option<String>,
) -> anyhow::Result<PromoteOptions> {
    let rule = rule.unwrap_or(&settings.promote.rule);
    let rule = PromotionRule::parse(rule).map_err(|e| anyhow!("--rule: {e}"))?;
    let margin = margin.unwrap_or(settings.promote.margin);
    check_margin(margin).map_err(|e| anyhow!("--margin: {e}"))?;
    // Time and process id: two promoters started in the same millisecond differ.
    let run_id = run_id.unwrap_or_else(|| {
        format!(
            "promote-{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            std::process::id()
        )
    });
    Ok(PromoteOptions {
        rule: Arc::new(rule),
        margin,
        run_id,
        window_days: settings.train.window_days,
        frequency: settings.frequency,
    })
}

/// `[promote] production_root`, or the lake root when it is empty.
pub fn production_root(settings: &Settings) -> anyhow::Result<LakeRoot> {
    let root = match settings.promote.production_root.trim() {
        "" => settings.lake_root.as_str(),
        root => root,
    };
    LakeRoot::parse(root).with_context(|| format!("promote.production_root `{root}`"))
}
