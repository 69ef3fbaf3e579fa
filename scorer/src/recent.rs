//! The recent sales `herd serve` forecasts from: every key's window as the lake's
//! `sales` table holds it, read at start and again whenever the table has a newer
//! version (looked at every `refresh`), so that an answer starts the day after the
//! key's newest archived day whichever server gives it, and a key without a
//! production model can still get its own baseline or a cold start.
//!
//! The first read takes the whole table; a later version adds only the data files
//! written since the last read (an archive appends a file or a few per flush), each
//! key they touch swapped whole for its window with the new days. A version that
//! removed a file read before (a compaction, a deletion) is read whole into fresh
//! windows, then swapped in. Either way a key's answer never sees half its window.

use std::collections::{HashMap, HashSet};
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
    pub windows: Option<Arc<Windows>>,
    pub profiles: HashMap<SeriesId, ItemProfile>,
    /// The data files the windows hold.
    files: Arc<HashSet<String>>,
}

/// What one [`RecentSales::refresh`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refresh {
    /// The version now served; `None` before the table exists.
    pub version: Option<u64>,
    /// Data files read: none when the version had not moved.
    pub files_read: usize,
    pub rows_read: u64,
    /// Whether the whole table was read, rather than only the files added.
    pub whole: bool,
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

    /// Reads what `sales` added since the last read, when its version moved: the
    /// new data files, or the whole table when a file read before is gone.
    pub async fn refresh(&self) -> Result<Refresh> {
        let Some(table) = tables::open_existing(&self.lake, &tables::sales()).await? else {
            return Ok(Refresh::default());
        };
        let version = table.version();
        let current = self.current();
        if version.is_some() && version == current.version {
            return Ok(Refresh {
                version,
                ..Refresh::default()
            });
        }
        let started = Instant::now();
        let files = herd_lake::data_files(&table)?;
        let (windows, read, whole) = match &current.windows {
            Some(windows) if current.files.is_subset(&files) => {
                let read =
                    herd_history::load_new(windows, &table, Arc::clone(&current.files)).await?;
                (Arc::clone(windows), read, false)
            }
            _ => {
                let windows = Windows::of(self.window_days, self.frequency);
                let read = herd_history::load(&windows, &table, None).await?;
                (Arc::new(windows), read, true)
            }
        };
        let profiles = herd_history::window_profiles(&windows, &self.options);
        info!(
            version,
            whole,
            files = read.scan.files,
            keys = read.keys,
            rows = read.rows,
            seconds = started.elapsed().as_secs_f64(),
            "read recent sales for forecasts"
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Loaded {
            version,
            windows: Some(windows),
            profiles,
            files: Arc::new(files),
        });
        Ok(Refresh {
            version,
            files_read: read.scan.files,
            rows_read: read.rows,
            whole,
        })
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

#[cfg(test)]
mod tests {
    use chrono::{Days, NaiveDate};
    use herd_lake::{ExactlyOnceAppender, OffsetRange, SalesRows};
    use herd_schemas::{SalesRecord, SeriesKey};

    use super::*;

    fn day(n: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Days::new(n)
    }

    /// Appends, as offsets `first..next` of partition 0, one day each for keys
    /// S1/I1 and S1/I2: offset `o` sells `o` on day `o / 2`.
    async fn archive(
        lake: &LakeRoot,
        appender: &mut Option<ExactlyOnceAppender>,
        first: i64,
        next: i64,
    ) {
        if appender.is_none() {
            let table = tables::open_or_create(lake, &tables::sales())
                .await
                .unwrap();
            let mut fresh = ExactlyOnceAppender::new(table, "test");
            fresh.stored_versions("sales", &[0]).await.unwrap();
            *appender = Some(fresh);
        }
        let mut rows = SalesRows::with_capacity((next - first) as usize);
        for offset in first..next {
            let record = SalesRecord {
                store_id: "S1".parse().unwrap(),
                item_id: if offset % 2 == 0 { "I1" } else { "I2" }.parse().unwrap(),
                date: day(offset as u64 / 2),
                sales: offset as f64,
                price: Some(2.0),
                promo: Some(false),
            };
            rows.push(&record, 0, offset);
        }
        let range = OffsetRange {
            partition: 0,
            first,
            next,
        };
        let appender = appender.as_mut().unwrap();
        appender
            .append(vec![rows.finish()], "sales", &[range])
            .await
            .unwrap();
    }

    fn sold(recent: &RecentSales, key: &str, on: NaiveDate) -> Option<f32> {
        let key: SeriesKey = key.parse().unwrap();
        let loaded = recent.current();
        let windows = loaded.windows.as_ref()?;
        windows.map().get(&key)?.window.sales_on(on)
    }

    #[tokio::test]
    async fn a_new_version_adds_only_the_files_written_since_the_last_read() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
        let recent = RecentSales::new(lake.clone(), 730, Frequency::Daily, 28);
        assert_eq!(recent.refresh().await.unwrap(), Refresh::default());

        let mut appender = None;
        archive(&lake, &mut appender, 0, 40).await;
        let first = recent.refresh().await.unwrap();
        assert!(first.whole, "{first:?}");
        assert_eq!((first.files_read, first.rows_read), (1, 40));
        assert_eq!(sold(&recent, "S1/I1", day(19)), Some(38.0));
        assert_eq!(sold(&recent, "S1/I1", day(20)), None);

        // The same version again reads nothing.
        let same = recent.refresh().await.unwrap();
        assert_eq!((same.version, same.files_read), (first.version, 0));

        archive(&lake, &mut appender, 40, 50).await;
        archive(&lake, &mut appender, 50, 54).await;
        let added = recent.refresh().await.unwrap();
        assert!(!added.whole, "{added:?}");
        assert_eq!((added.files_read, added.rows_read), (2, 14));
        // The keys keep the days read before and gain the new ones.
        for (key, first_offset) in [("S1/I1", 0.0), ("S1/I2", 1.0)] {
            assert_eq!(sold(&recent, key, day(0)), Some(first_offset), "{key}");
            assert_eq!(
                sold(&recent, key, day(26)),
                Some(52.0 + first_offset),
                "{key}"
            );
        }
        let loaded = recent.current();
        let windows = loaded.windows.as_ref().unwrap();
        let key: SeriesKey = "S1/I1".parse().unwrap();
        assert_eq!(windows.map().get(&key).unwrap().window.observed_days(), 27);
        assert_eq!(windows.map().len(), 2);
    }
}
