//! Item profiles: an item's weekday shape and typical level across its keys with a
//! full history, which a key with too little history of its own borrows for its
//! cold start.

use std::collections::HashMap;

use herd_models::{ItemProfile, ItemProfileBuilder, TrainOptions, min_history};
use herd_schemas::{SeriesId, SeriesKey};

use crate::window::DenseHistory;
use crate::windows::Windows;

/// [`item_profiles`] of every key held in `windows`.
pub fn window_profiles(
    windows: &Windows,
    options: &TrainOptions,
) -> HashMap<SeriesId, ItemProfile> {
    let histories: Vec<(SeriesKey, DenseHistory)> = windows
        .map()
        .iter()
        .map(|w| (w.key().clone(), w.value().window.dense()))
        .collect();
    item_profiles(&histories, options)
}

/// Builds one item profile per item from its keys with a full history under
/// `options` (a key counts once it has `min_history(options)` observed days).
pub fn item_profiles(
    histories: &[(SeriesKey, DenseHistory)],
    options: &TrainOptions,
) -> HashMap<SeriesId, ItemProfile> {
    let needed = min_history(options);
    let mut builders: HashMap<&SeriesId, ItemProfileBuilder> = HashMap::new();
    for (key, history) in histories {
        if history.sales.iter().filter(|v| !v.is_nan()).count() < needed {
            continue;
        }
        builders
            .entry(key.item_id())
            .or_default()
            .add(&history.view());
    }
    builders
        .into_iter()
        .filter_map(|(item, builder)| Some((item.clone(), builder.finish()?)))
        .collect()
}
