//! The recent sales `herd serve` forecasts from: every key's window as the lake's
//! `sales` table holds it, read at start and again whenever the table has a newer
//! version (looked at every `refresh`), so that an answer starts the day after the
//! key's newest archived day whichever server gives it, and a key without a
//! production model can still get its own baseline or a cold start.
//!
//! A new version is read whole into fresh windows, then swapped in: answers never
//! see a half-read table. That costs one read of `sales` per new version at most
//! every `refresh` (for 10,000 keys of two years, a few seconds of one core).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use herd_history::Windows;
use herd_lake::{LakeRoot, tables};
use herd_models::{ItemProfile, TrainOptions};
use herd_schemas::{Frequency, SeriesId};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::Result;

/// One read of `sales`: the windows and the item profiles built from them.
#[derive(Default)]
pub struct Loaded {
    /// The `sales` version read; `None` before the table exists.
    pub version: Option<u64>,
    pub windows: Option<Windows>,
    pub profiles: HashMap<SeriesId, ItemProfile>,
}

/// The newest read of `sales`, shared by the requests.
pub struct RecentSales {
    lake: LakeRoot,
    window_days: usize,
    frequency: Frequency,
    /// Settings of the item profiles (their horizon decides which keys count).
    options: TrainOptions,
    current: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for RecentSales {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentSales")
            .field("lake", &self.lake.url().as_str())
            .field("window_days", &self.window_days)
            .field("version", &self.current().version)
            .finish()
    }
}

impl RecentSales {
    /// Nothing read yet: [`RecentSales::refresh`] reads.
    pub fn new(lake: LakeRoot, window_days: usize, frequency: Frequency, horizon: usize) -> Self {
        Self {
            lake,
            window_days,
            frequency,
            options: TrainOptions {
                horizon,
                ..TrainOptions::default()
            },
            current: RwLock::new(Arc::new(Loaded::default())),
        }
    }

    /// The newest read.
    pub fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads `sales` again when its version moved since the last read; returns the
    /// version now served.
    pub async fn refresh(&self) -> Result<Option<u64>> {
        let Some(table) = tables::open_existing(&self.lake, &tables::sales()).await? else {
            return Ok(None);
        };
        let version = table.version();
        if version.is_some() && version == self.current().version {
            return Ok(version);
        }
        let started = Instant::now();
        let windows = Windows::of(self.window_days, self.frequency);
        let read = herd_history::load(&windows, &table, None).await?;
        let profiles = herd_history::window_profiles(&windows, &self.options);
        info!(
            version,
            keys = read.keys,
            rows = read.rows,
            seconds = started.elapsed().as_secs_f64(),
            "read recent sales for forecasts"
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Loaded {
            version,
            windows: Some(windows),
            profiles,
        });
        Ok(version)
    }

    /// Refreshes every `every` until `cancel`, which also abandons a read that is
    /// stuck; a failed read is logged and the last good one kept.
    pub async fn follow(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                read = self.refresh() => if let Err(e) = read {
                    warn!(error = %e, "re-reading recent sales; answers keep the last read");
                },
            }
        }
    }
}
