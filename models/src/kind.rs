//! The forecaster families a series can be served by.

use serde::{Deserialize, Serialize};

/// Which forecaster a [`crate::Model`] is. The names (`as_str`) are the ones stored in
/// model bytes and registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    SeasonalNaive,
    Ridge,
    Ets,
    Tsb,
    ColdStart,
}

impl ModelKind {
    /// The backtested candidates: every kind except the cold-start fallback.
    pub const CANDIDATES: [ModelKind; 4] = [
        ModelKind::SeasonalNaive,
        ModelKind::Ridge,
        ModelKind::Ets,
        ModelKind::Tsb,
    ];

    /// Simplest first: the order that breaks ties between equally good candidates,
    /// because a simpler model that is as accurate is cheaper and fails less oddly.
    pub(crate) const BY_SIMPLICITY: [ModelKind; 4] = [
        ModelKind::SeasonalNaive,
        ModelKind::Tsb,
        ModelKind::Ets,
        ModelKind::Ridge,
    ];

    /// The known future covariates this kind's forecasts read: only these kinds
    /// answer a what-if's planned prices and promotions; the others forecast the same
    /// without them.
    pub fn covariates(self) -> &'static [&'static str] {
        match self {
            ModelKind::Ridge => &["price", "promo"],
            ModelKind::SeasonalNaive | ModelKind::Ets | ModelKind::Tsb | ModelKind::ColdStart => {
                &[]
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::SeasonalNaive => "seasonal_naive",
            ModelKind::Ridge => "ridge",
            ModelKind::Ets => "ets",
            ModelKind::Tsb => "tsb",
            ModelKind::ColdStart => "cold_start",
        }
    }

    /// The inverse of [`ModelKind::as_str`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ModelKind::SeasonalNaive,
            ModelKind::Ridge,
            ModelKind::Ets,
            ModelKind::Tsb,
            ModelKind::ColdStart,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for kind in [ModelKind::ColdStart]
            .into_iter()
            .chain(ModelKind::CANDIDATES)
        {
            assert_eq!(ModelKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(ModelKind::parse("Ridge"), None);
    }

    #[test]
    fn only_ridge_reads_the_planned_covariates() {
        for kind in [ModelKind::ColdStart]
            .into_iter()
            .chain(ModelKind::CANDIDATES)
        {
            let expected: &[&str] = if kind == ModelKind::Ridge {
                &["price", "promo"]
            } else {
                &[]
            };
            assert_eq!(kind.covariates(), expected, "{kind}");
        }
    }
}
