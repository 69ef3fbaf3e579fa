//! Model lifecycle events, the values of the `herd.models` topic (keyed by series
//! key). Events follow Delta commits, so a crash may repeat one: consumers drop
//! repeats by `(key, version, event)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SeriesKey;

/// What happened to a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelEventKind {
    /// A trained model entered the candidate registry.
    Registered,
    /// Training a key failed; the reason is in `error`.
    Failed,
    /// A candidate became the key's production model.
    Promoted,
    /// A candidate was judged and not promoted; the reason is in `error`.
    Rejected,
    /// An earlier production version became current again.
    RolledBack,
}

/// One event on `herd.models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEvent {
    pub event: ModelEventKind,
    pub key: SeriesKey,
    pub version: i64,
    /// `seasonal_naive`, `ridge`, `ets`, `tsb` or `cold_start`; absent for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_accuracy: Option<f64>,
    /// Where the artifact lives, relative to its registry's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Why training failed or a candidate was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub run_id: String,
    pub at: DateTime<Utc>,
}

impl ModelEvent {
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and a timestamp always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let event = ModelEvent {
            event: ModelEventKind::Registered,
            key: "S1/I2".parse().unwrap(),
            version: 3,
            model_type: Some("ridge".into()),
            accuracy: Some(0.81),
            baseline_accuracy: Some(0.7),
            artifact: Some("_artifacts/ab/x/v3.json".into()),
            error: None,
            run_id: "r1".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        let json = event.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(r#""event":"registered""#), "{text}");
        assert!(text.contains(r#""key":"S1/I2""#), "{text}");
        assert!(!text.contains("error"), "{text}");
        assert_eq!(ModelEvent::from_json(&json).unwrap(), event);
    }
}
