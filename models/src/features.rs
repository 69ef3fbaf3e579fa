//! The ridge regressors of one day: lags of sales, rolling means, calendar and price
//! terms. One function builds a row for fitting and for recursive forecasting, so the
//! two can never disagree about what a coefficient means.

use serde::{Deserialize, Serialize};

use crate::calendar::year_angle;

/// The longest lag (and the longest rolling mean): a row needs this many earlier days.
pub(crate) const MAX_LAG: usize = 28;
/// Dense (non-weekday) columns of the widest feature set.
pub(crate) const MAX_DENSE: usize = 17;
/// Weekday dummies for Tuesday … Sunday; Monday is the reference level, because with
/// an intercept a seventh dummy would make the design singular.
pub(crate) const WEEKDAY_DUMMIES: usize = 6;

/// Which regressors the ridge candidate uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// Lags 1–7, 14, 28, rolling means over 7 and 28 days, day of week (6 dummies),
    /// yearly Fourier terms (sin/cos of the 1st and 2nd harmonic), log price, promo.
    #[default]
    Full,
    /// The Spark many-models recipe: lags 1–7, 14, 28, day of week, raw price, promo.
    Spark,
}

impl FeatureSet {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureSet::Full => "full",
            FeatureSet::Spark => "spark",
        }
    }

    /// The inverse of [`FeatureSet::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [FeatureSet::Full, FeatureSet::Spark]
            .into_iter()
            .find(|set| set.as_str() == s)
    }

    /// Columns before the weekday dummies.
    pub(crate) fn dense_len(self) -> usize {
        match self {
            FeatureSet::Full => MAX_DENSE,
            FeatureSet::Spark => 11,
        }
    }

    /// All coefficients (without the intercept).
    pub(crate) fn len(self) -> usize {
        self.dense_len() + WEEKDAY_DUMMIES
    }
}

/// Writes the dense regressors of one day into `out[..set.dense_len()]`.
///
/// `lags` are the 28 sales before the day, oldest first (`lags[27]` is yesterday);
/// `far_lag` is the lag of column 7: 14 (two weeks) for daily and weekly series, 12
/// (the same month last year) for monthly ones; `ordinal` is the day's
/// `calendar::ordinal`; `price` is > 0 (prepared or resolved).
pub(crate) fn dense_row(
    set: FeatureSet,
    lags: &[f64; MAX_LAG],
    far_lag: usize,
    ordinal: i64,
    price: f64,
    promo: u8,
    out: &mut [f64; MAX_DENSE],
) {
    // Lags 1..=7 are the last seven values, most recent first.
    for (slot, lag) in out.iter_mut().zip(lags.iter().rev()).take(7) {
        *slot = *lag;
    }
    out[7] = lags[MAX_LAG - far_lag.clamp(1, MAX_LAG)];
    out[8] = lags[0];
    let promo = f64::from(promo.min(1));
    match set {
        FeatureSet::Spark => {
            out[9] = price;
            out[10] = promo;
        }
        FeatureSet::Full => {
            out[9] = lags[MAX_LAG - 7..].iter().sum::<f64>() / 7.0;
            out[10] = lags.iter().sum::<f64>() / MAX_LAG as f64;
            let angle = year_angle(ordinal);
            let (sin1, cos1) = angle.sin_cos();
            out[11] = sin1;
            out[12] = cos1;
            // Double-angle identities: the second harmonic without two more trig calls.
            out[13] = 2.0 * sin1 * cos1;
            out[14] = cos1 * cos1 - sin1 * sin1;
            out[15] = price.ln();
            out[16] = promo;
        }
    }
}

/// Column of the weekday dummy that is 1 on `weekday` (Monday = 0), if any.
pub(crate) fn weekday_column(set: FeatureSet, weekday: usize) -> Option<usize> {
    (1..7)
        .contains(&weekday)
        .then(|| set.dense_len() + weekday - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_the_documented_columns() {
        let lags: [f64; MAX_LAG] = std::array::from_fn(|i| i as f64); // yesterday = 27
        let mut out = [f64::NAN; MAX_DENSE];
        dense_row(FeatureSet::Spark, &lags, 14, 0, 2.5, 1, &mut out);
        assert_eq!(
            &out[..11],
            &[
                27.0, 26.0, 25.0, 24.0, 23.0, 22.0, 21.0, 14.0, 0.0, 2.5, 1.0
            ]
        );
        dense_row(FeatureSet::Full, &lags, 14, 0, 1.0, 0, &mut out);
        assert_eq!(out[9], 24.0); // mean of 21..=27
        assert_eq!(out[10], 13.5); // mean of 0..=27
        assert!((out[11]).abs() < 1e-12 && (out[12] - 1.0).abs() < 1e-12);
        assert_eq!(out[15], 0.0);
        assert_eq!(FeatureSet::Full.len(), 23);
        assert_eq!(FeatureSet::Spark.len(), 17);
        assert_eq!(weekday_column(FeatureSet::Spark, 0), None);
        assert_eq!(weekday_column(FeatureSet::Spark, 6), Some(16));
        assert_eq!(FeatureSet::parse("spark"), Some(FeatureSet::Spark));
    }
}
