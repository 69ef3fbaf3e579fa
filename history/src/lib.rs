//! Per-key history: each series' recent days, as the trainer, the scorer and the
//! promoter all need them.
//!
//! Compact per-key windows of recent days, rebuilding them from the lake's `sales`
//! table (the record published later wins a repeated day, as on the topic), reading
//! sales records off `herd.sales` into them, and the item profiles a key with too
//! little history borrows. The services build on this crate; none of them builds on
//! another.

mod error;
mod lake;
mod loader;
mod profiles;
mod sale;
mod window;
mod windows;

pub use error::{HistoryError, Result};
pub use lake::{LoadSummary, load, load_before, load_new};
pub use loader::WindowLoader;
pub use profiles::{item_profiles, window_profiles};
pub use sale::sale_of;
pub use window::{DenseHistory, Insert, Window, date_of, day_of};
pub use windows::{KeyWindow, WindowCounts, WindowDigest, Windows};
