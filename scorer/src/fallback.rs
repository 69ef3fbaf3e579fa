//! The fallback chain: what forecasts a key that has no production model. The
//! champion (the key's production model) comes first; a key the rule turned away
//! gets its own baseline, the seasonal naive forecast of its own history with
//! intervals from its own backtest, when it has the history for one; else the
//! cold-start forecast from its item's other stores. Every forecast records which of
//! them made it (its [`Origin`]), and the chain is configured (`promote.fallback`):
//! an empty chain forecasts only keys with a champion.

use std::fmt;

use herd_models::{
    FitError, Forecast, Future, History, ItemProfile, ModelKind, TrainOptions, train,
    train_cold_start,
};
use serde::{Deserialize, Serialize};

/// What produced a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The key's production model.
    Champion,
    /// Seasonal naive on the key's own history, for a key without a production model.
    Baseline,
    /// The item's weekday shape at the key's level, for a key with too little history
    /// of its own.
    ColdStart,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Champion => "champion",
            Origin::Baseline => "baseline",
            Origin::ColdStart => "cold_start",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of the chain after the champion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    Baseline,
    ColdStart,
}

impl Fallback {
    /// The default chain: the key's own baseline, else the cold start.
    pub const DEFAULT: [Fallback; 2] = [Fallback::Baseline, Fallback::ColdStart];

    pub fn as_str(self) -> &'static str {
        self.origin().as_str()
    }

    pub fn origin(self) -> Origin {
        match self {
            Fallback::Baseline => Origin::Baseline,
            Fallback::ColdStart => Origin::ColdStart,
        }
    }

    /// A chain as written on the command line: `none`, or names separated by commas
    /// (`baseline,cold_start`), each once.
    pub fn parse_chain(text: &str) -> Result<Vec<Fallback>, String> {
        if text.trim() == "none" {
            return Ok(Vec::new());
        }
        let mut chain = Vec::new();
        for name in text.split(',').map(str::trim) {
            let step = match name {
                "baseline" => Fallback::Baseline,
                "cold_start" => Fallback::ColdStart,
                other => {
                    return Err(format!(
                        "{other:?} is not a fallback: give `none` or a list of `baseline` \
                         and `cold_start` separated by commas"
                    ));
                }
            };
            if chain.contains(&step) {
                return Err(format!("{name} is listed twice"));
            }
            chain.push(step);
        }
        Ok(chain)
    }
}

/// A fallback's forecast and what made it.
#[derive(Debug, Clone)]
pub struct FallbackForecast {
    pub forecast: Forecast,
    pub origin: Origin,
    pub kind: ModelKind,
}

/// The forecast of a key without a production model from the first step of `chain`
/// that can make one: the baseline needs as much history as training does
/// (`herd_models::min_history`), the cold start never fails. `None` when the chain is
/// empty or no step could forecast; an error for a history coarser than its
/// frequency, which no step can forecast meaningfully.
pub fn forecast(
    chain: &[Fallback],
    history: &History,
    profile: Option<&ItemProfile>,
    options: &TrainOptions,
    future: Option<&Future>,
) -> Result<Option<FallbackForecast>, FitError> {
    if chain.is_empty() {
        return Ok(None);
    }
    history.check_frequency()?;
    let horizon = options.horizon;
    Ok(chain.iter().find_map(|step| match step {
        Fallback::Baseline => {
            let baseline = TrainOptions {
                candidates: vec![ModelKind::SeasonalNaive],
                ..options.clone()
            };
            let trained = train(history, &baseline).ok()?;
            let forecast = trained.model.forecast_from(history, horizon, future).ok()?;
            Some(FallbackForecast {
                forecast,
                origin: Origin::Baseline,
                kind: ModelKind::SeasonalNaive,
            })
        }
        Fallback::ColdStart => {
            let trained = train_cold_start(history, profile, options);
            Some(FallbackForecast {
                forecast: trained.model.forecast(horizon, future),
                origin: Origin::ColdStart,
                kind: ModelKind::ColdStart,
            })
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use herd_history::DenseHistory;

    /// `sales` from 2023-01-02 (a Monday), price 1, no promotion.
    fn dense(sales: Vec<f32>) -> DenseHistory {
        let days = sales.len();
        DenseHistory {
            frequency: Default::default(),
            start: NaiveDate::from_ymd_opt(2023, 1, 2).unwrap(),
            sales,
            price: vec![1.0; days],
            promo: vec![0; days],
        }
    }

    /// `days` days of a weekly pattern, 1 to 7.
    fn weekly(days: usize) -> DenseHistory {
        dense((0..days).map(|d| (d % 7) as f32 + 1.0).collect())
    }

    #[test]
    fn a_key_with_its_own_history_gets_its_baseline() {
        let history = weekly(400);
        let options = TrainOptions::default();
        let got = forecast(&Fallback::DEFAULT, &history.view(), None, &options, None)
            .unwrap()
            .unwrap();
        assert_eq!(got.origin, Origin::Baseline);
        assert_eq!(got.kind, ModelKind::SeasonalNaive);
        assert_eq!(got.forecast.start, history.start + chrono::Days::new(400));
        // The last week repeated.
        let week: Vec<f64> = history.sales[393..].iter().map(|&v| f64::from(v)).collect();
        assert_eq!(&got.forecast.mean[..7], &week[..]);
    }

    #[test]
    fn a_short_history_falls_to_the_cold_start_and_an_empty_chain_to_nothing() {
        let history = weekly(30);
        let view = history.view();
        let options = TrainOptions::default();
        let got = forecast(&Fallback::DEFAULT, &view, None, &options, None)
            .unwrap()
            .unwrap();
        assert_eq!(got.origin, Origin::ColdStart);
        for chain in [&[Fallback::Baseline][..], &[]] {
            assert_eq!(
                forecast(chain, &view, None, &options, None).map(|f| f.is_none()),
                Ok(true),
                "{chain:?}"
            );
        }
    }

    #[test]
    fn weekly_totals_get_the_reason_instead_of_a_forecast() {
        let history = dense(
            (0..400)
                .map(|d| if d % 7 == 0 { 70.0 } else { f32::NAN })
                .collect(),
        );
        let got = forecast(
            &Fallback::DEFAULT,
            &history.view(),
            None,
            &TrainOptions::default(),
            None,
        );
        assert_eq!(
            got.map(|f| f.is_some()),
            Err(FitError::NotPeriodic {
                every: 7,
                unit: "day",
                frequency: herd_models::Frequency::Daily
            })
        );
    }

    #[test]
    fn chains_parse_from_the_command_line() {
        assert_eq!(
            Fallback::parse_chain("baseline,cold_start"),
            Ok(Fallback::DEFAULT.to_vec())
        );
        assert_eq!(
            Fallback::parse_chain("cold_start"),
            Ok(vec![Fallback::ColdStart])
        );
        assert_eq!(Fallback::parse_chain("none"), Ok(vec![]));
        assert!(Fallback::parse_chain("champion").is_err());
        assert!(Fallback::parse_chain("baseline,baseline").is_err());
    }
}
