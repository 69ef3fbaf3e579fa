//! A scratch lake for one benchmark run: a generated data set written straight
//! into its `sales` table (no broker), read back into per-key histories, trained.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use herd_history::{DenseHistory, Windows, item_profiles};
use herd_ingest::generate::{GeneratorSpec, SeriesModel};
use herd_lake::{ExactlyOnceAppender, LakeRoot, SalesRows, tables};
use herd_models::Calibration;
use herd_registry::NewModel;
use herd_schemas::SeriesKey;
use herd_trainer::{RunSettings, fit_all, training_pool};

/// Rows per Delta commit while the scratch `sales` table is written.
const SALES_BATCH: usize = 1_000_000;

/// A fresh lake directory for one benchmark run under `work_dir`.
pub fn scratch_lake(work_dir: &Path, bench: &str) -> anyhow::Result<(PathBuf, LakeRoot)> {
    let dir = work_dir.join(format!("{bench}-lake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = LakeRoot::parse(&dir.to_string_lossy())?;
    Ok((dir, root))
}

/// Every key's last `window_days` days from the scratch lake's `sales`.
pub async fn lake_histories(
    root: &LakeRoot,
    window_days: usize,
) -> anyhow::Result<Vec<(SeriesKey, DenseHistory)>> {
    let sales = tables::open_existing(root, &tables::sales())
        .await?
        .context("the scratch sales table vanished")?;
    let windows = Windows::new(window_days);
    herd_history::load(&windows, &sales, None).await?;
    Ok(windows
        .map()
        .iter()
        .map(|e| (e.key().clone(), e.value().window.dense()))
        .collect())
}

/// The generated data set's rows as the `sales` table, written directly (no
/// broker), in commits of a million rows.
pub async fn write_sales(root: &LakeRoot, spec: &GeneratorSpec) -> anyhow::Result<u64> {
    let table = tables::open_or_create(root, &tables::sales()).await?;
    let mut appender = ExactlyOnceAppender::new(table, "bench");
    let mut rows = SalesRows::with_capacity(SALES_BATCH);
    let mut written = 0u64;
    for series in 0..u32::try_from(spec.series())? {
        let model = SeriesModel::new(spec, series);
        for day in 0..spec.days {
            if let Some(record) = model.day(day) {
                rows.push(&record, 0, written as i64);
                written += 1;
            }
        }
        if rows.len() >= SALES_BATCH {
            appender.append(vec![rows.finish()], "bench", &[]).await?;
        }
    }
    if !rows.is_empty() {
        appender.append(vec![rows.finish()], "bench", &[]).await?;
    }
    Ok(written)
}

pub fn train(
    histories: &[(SeriesKey, DenseHistory)],
    run: &RunSettings,
    threads: usize,
) -> anyhow::Result<Vec<NewModel>> {
    let pool = training_pool(threads)?;
    let profiles = item_profiles(histories, &run.model);
    Ok(fit_all(
        &pool,
        histories,
        &profiles,
        run,
        chrono::Utc::now(),
        &mut Calibration::new(run.model.interval_level),
    ))
}
