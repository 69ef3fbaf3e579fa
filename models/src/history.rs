//! A series as callers hand it in ([`History`]) and as the forecasters see it
//! ([`Series`]): gaps resolved once, here, so NaN never reaches a fitting routine.

use chrono::NaiveDate;
use herd_schemas::Frequency;

use crate::error::FitError;

/// A gap longer than this many consecutive periods means the product was off the shelf:
/// its history restarts after the gap instead of being bridged by invented sales.
pub(crate) const MAX_FILLED_GAP: usize = 28;

/// Dense history of one series, one value per period of `frequency`, oldest first;
/// all slices have equal length.
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    /// Date of index 0.
    pub start: NaiveDate,
    /// What one index is: a day, a week or a month.
    pub frequency: Frequency,
    /// Units sold; NaN = no observation that day (a gap).
    pub sales: &'a [f32],
    /// NaN (or a non-positive value) = unknown price.
    pub price: &'a [f32],
    /// 1 = promotion, 0 = none or unknown.
    pub promo: &'a [u8],
}

/// Regular gaps of at least this many periods (give or take the tolerance) mean the
/// data is coarser than the frequency: monthly totals sent as days (28–31 apart) or
/// as weeks (4–5 apart), quarterly totals sent as months.
fn coarser(frequency: Frequency) -> (usize, usize) {
    match frequency {
        Frequency::Daily => (7, 3),
        Frequency::Weekly => (4, 1),
        Frequency::Monthly => (3, 1),
    }
}

impl History<'_> {
    /// Refuses a history whose observations are regularly several periods apart
    /// (weekly or monthly totals read as days with long gaps between them): at least
    /// three gaps between observed periods, a median of at least the frequency's
    /// threshold, and four in five within its tolerance of the median. Sparse sales,
    /// missing on irregular periods, pass.
    pub fn check_frequency(&self) -> Result<(), FitError> {
        let observed: Vec<usize> = self
            .sales
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, _)| i)
            .collect();
        let mut gaps: Vec<usize> = observed.windows(2).map(|w| w[1] - w[0]).collect();
        if gaps.len() < 3 {
            return Ok(());
        }
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        let (threshold, tolerance) = coarser(self.frequency);
        let regular = gaps
            .iter()
            .filter(|g| g.abs_diff(median) <= tolerance)
            .count();
        if median >= threshold && regular * 5 >= gaps.len() * 4 {
            return Err(FitError::NotPeriodic {
                every: median,
                unit: self.frequency.unit(),
                frequency: self.frequency,
            });
        }
        Ok(())
    }

    /// The date of the last index (the day before `start` for an empty history).
    pub fn end(&self) -> NaiveDate {
        match self.sales.len() {
            0 => self.frequency.sub(self.start, 1),
            n => self.frequency.add(self.start, n - 1),
        }
    }
}

/// A history ready for fitting: from its first observation after the last long gap to
/// its last observation, short gaps filled, every price known and positive.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub start: NaiveDate,
    pub frequency: Frequency,
    pub sales: Vec<f64>,
    /// Which days were observed; metrics only count these.
    pub observed: Vec<bool>,
    pub price: Vec<f64>,
    pub promo: Vec<u8>,
    pub observed_days: usize,
    /// Unobserved days after the last observation that the caller's history still
    /// covered; a forecast from this history starts after them.
    pub trailing_gap: usize,
}

impl Series {
    pub fn len(&self) -> usize {
        self.sales.len()
    }

    /// Date of the last (observed) day.
    pub fn end(&self) -> NaiveDate {
        self.frequency.add(self.start, self.len().saturating_sub(1))
    }

    /// The last known price, 1.0 for an empty series.
    pub fn last_price(&self) -> f64 {
        self.price.last().copied().unwrap_or(1.0)
    }
}

/// Fails unless sales, price and promo are equally long.
pub(crate) fn check_lengths(history: &History) -> Result<(), FitError> {
    let n = history.sales.len();
    if history.price.len() != n || history.promo.len() != n {
        return Err(FitError::LengthMismatch {
            sales: n,
            price: history.price.len(),
            promo: history.promo.len(),
        });
    }
    Ok(())
}

/// Resolves gaps and unknown prices; see the crate's gap rules.
pub(crate) fn prepare(history: &History) -> Result<Series, FitError> {
    check_lengths(history)?;
    let n = history.sales.len();
    if history.sales.iter().any(|v| v.is_infinite()) {
        return Err(FitError::NonFinite("sales"));
    }
    let last = history
        .sales
        .iter()
        .rposition(|v| !v.is_nan())
        .ok_or(FitError::NoObservations)?;

    // The history restarts after the last gap that is too long to bridge; leading
    // unobserved days are dropped either way.
    let mut begin = 0;
    let mut run = 0;
    for (i, v) in history.sales[..=last].iter().enumerate() {
        if v.is_nan() {
            run += 1;
            if run > MAX_FILLED_GAP {
                begin = i + 1;
            }
        } else {
            run = 0;
        }
    }
    let first = history.sales[begin..=last]
        .iter()
        .position(|v| !v.is_nan())
        .map_or(last, |offset| begin + offset);

    let span = first..last + 1;
    let len = span.len();
    let mut sales = Vec::with_capacity(len);
    let mut observed = Vec::with_capacity(len);
    let season = history.frequency.season();
    for (i, &v) in history.sales[span.clone()].iter().enumerate() {
        let seen = !v.is_nan();
        // The same point of the last cycle (last week's weekday, last year's week or
        // month) keeps the seasonal shape through a short gap.
        let value = if seen {
            f64::from(v)
        } else if i >= season {
            sales[i - season]
        } else {
            0.0
        };
        sales.push(value);
        observed.push(seen);
    }
    let observed_days = observed.iter().filter(|&&seen| seen).count();

    Ok(Series {
        start: history.frequency.add(history.start, first),
        frequency: history.frequency,
        sales,
        observed,
        price: fill_prices(&history.price[span.clone()]),
        promo: history.promo[span].iter().map(|&p| p.min(1)).collect(),
        observed_days,
        trailing_gap: n - 1 - last,
    })
}

/// Forward fill, then back fill, else 1.0 (a constant price carries no signal, and a
/// positive one keeps `ln(price)` defined).
fn fill_prices(raw: &[f32]) -> Vec<f64> {
    let known = |p: f32| p.is_finite() && p > 0.0;
    let first_known = raw.iter().copied().find(|&p| known(p)).map(f64::from);
    let mut current = first_known.unwrap_or(1.0);
    raw.iter()
        .map(|&p| {
            if known(p) {
                current = f64::from(p);
            }
            current
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn not_daily(every: usize) -> FitError {
        FitError::NotPeriodic {
            every,
            unit: "day",
            frequency: Frequency::Daily,
        }
    }

    /// `days` days from 2020-01-01 with an observation on each of `observed`.
    fn check(days: usize, observed: impl IntoIterator<Item = usize>) -> Result<(), FitError> {
        let mut sales = vec![f32::NAN; days];
        for day in observed {
            sales[day] = 1.0;
        }
        let (price, promo) = (vec![f32::NAN; days], vec![0; days]);
        History {
            start: date("2020-01-01"),
            frequency: Frequency::Daily,
            sales: &sales,
            price: &price,
            promo: &promo,
        }
        .check_frequency()
    }

    #[test]
    fn weekly_and_monthly_totals_are_told_apart_from_sparse_daily_sales() {
        assert_eq!(check(400, 0..400), Ok(()));
        assert_eq!(check(400, (0..400).step_by(7)), Err(not_daily(7)));
        // Month starts: 28 to 31 days apart.
        let months: Vec<usize> = (0..36)
            .map(|m| {
                (date("2020-01-01")
                    .checked_add_months(chrono::Months::new(m))
                    .unwrap()
                    - date("2020-01-01"))
                .num_days() as usize
            })
            .collect();
        assert_eq!(check(1100, months), Err(not_daily(31)));
        // Intermittent daily sales recorded only on days with a sale: irregular.
        let sparse = [0, 3, 4, 12, 30, 31, 45, 52, 70, 71, 72, 90];
        assert_eq!(check(100, sparse), Ok(()));
        // Too few observations to tell.
        assert_eq!(check(100, [0, 7, 14]), Ok(()));
    }

    #[test]
    fn long_gaps_restart_short_gaps_fill_from_last_week() {
        let nan = f32::NAN;
        let mut sales = vec![nan, 5.0, 6.0];
        sales.extend(std::iter::repeat_n(nan, 29)); // off the shelf
        sales.extend([nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, nan, 9.0, nan, nan]);
        let price = vec![nan; sales.len()];
        let promo = vec![3; sales.len()];
        let history = History {
            start: date("2024-01-01"),
            frequency: Frequency::Daily,
            sales: &sales,
            price: &price,
            promo: &promo,
        };
        let series = prepare(&history).unwrap();
        assert_eq!(series.start, date("2024-01-01") + chrono::Days::new(33));
        assert_eq!(
            series.sales,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 1.0, 9.0]
        );
        assert_eq!(series.observed_days, 8);
        assert!(!series.observed[7]);
        assert_eq!(series.trailing_gap, 2);
        assert_eq!(series.price, vec![1.0; 9]);
        assert_eq!(series.promo, vec![1; 9]);
        assert_eq!(series.end(), date("2024-02-11"));
    }

    #[test]
    fn prices_fill_forward_then_backward() {
        assert_eq!(
            fill_prices(&[f32::NAN, 2.0, f32::NAN, -1.0, 3.0, f32::INFINITY]),
            vec![2.0, 2.0, 2.0, 2.0, 3.0, 3.0]
        );
    }

    #[test]
    fn unusable_histories_are_errors() {
        let d = date("2024-01-01");
        let nan = [f32::NAN; 3];
        let h = History {
            start: d,
            frequency: Frequency::Daily,
            sales: &nan,
            price: &nan,
            promo: &[0; 3],
        };
        assert_eq!(prepare(&h).unwrap_err(), FitError::NoObservations);
        let h = History {
            start: d,
            frequency: Frequency::Daily,
            sales: &[1.0],
            price: &[],
            promo: &[0],
        };
        assert!(matches!(prepare(&h), Err(FitError::LengthMismatch { .. })));
        let inf = [f32::INFINITY];
        let h = History {
            start: d,
            frequency: Frequency::Daily,
            sales: &inf,
            price: &[1.0],
            promo: &[0],
        };
        assert_eq!(prepare(&h).unwrap_err(), FitError::NonFinite("sales"));
    }
}
