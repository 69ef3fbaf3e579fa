//! How often a series is observed: every day, every week or every month. A record's
//! date names its period: the day itself, the Monday that starts its week (ISO 8601),
//! or the first day of its month. Every window, forecaster, horizon and forecast date
//! counts in these periods.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The calendar of a deployment's series (`frequency` in herd.toml).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    #[default]
    Daily,
    Weekly,
    Monthly,
}

/// 1970-01-01, a Thursday: day 0 of the daily clock.
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
/// 1969-12-29, the Monday that starts the epoch's week: week 0 of the weekly clock.
const EPOCH_MONDAY: NaiveDate = NaiveDate::from_ymd_opt(1969, 12, 29).unwrap();

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Daily, Frequency::Weekly, Frequency::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    /// The inverse of [`Frequency::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The period's name in prose: "day", "week", "month".
    pub fn unit(self) -> &'static str {
        match self {
            Frequency::Daily => "day",
            Frequency::Weekly => "week",
            Frequency::Monthly => "month",
        }
    }

    /// Periods in one seasonal cycle: the week's 7 days, a year's 52 weeks or 12
    /// months. Seasonal naive repeats the last cycle; ETS keeps one state per position.
    pub fn season(self) -> usize {
        match self {
            Frequency::Daily => 7,
            Frequency::Weekly => 52,
            Frequency::Monthly => 12,
        }
    }

    /// Index of the period that holds `date`: days since 1970-01-01, weeks since the
    /// Monday before it, or months since January 1970.
    pub fn period_of(self, date: NaiveDate) -> i32 {
        match self {
            Frequency::Daily => (date - EPOCH).num_days() as i32,
            Frequency::Weekly => (date - EPOCH_MONDAY).num_days().div_euclid(7) as i32,
            Frequency::Monthly => (date.year() - 1970) * 12 + date.month0() as i32,
        }
    }

    /// The date that names `period` (its first day). Saturates at chrono's range.
    pub fn date_of(self, period: i32) -> NaiveDate {
        let zero = match self {
            Frequency::Daily | Frequency::Monthly => EPOCH,
            Frequency::Weekly => EPOCH_MONDAY,
        };
        match usize::try_from(period) {
            Ok(forward) => self.add(zero, forward),
            Err(_) => self.sub(zero, period.unsigned_abs() as usize),
        }
    }

    /// `date` moved `periods` forward, saturating at chrono's last date.
    pub fn add(self, date: NaiveDate, periods: usize) -> NaiveDate {
        let moved = match self {
            Frequency::Daily => date.checked_add_days(Days::new(periods as u64)),
            Frequency::Weekly => date.checked_add_days(Days::new(7 * periods as u64)),
            Frequency::Monthly => u32::try_from(periods)
                .ok()
                .and_then(|n| date.checked_add_months(Months::new(n))),
        };
        moved.unwrap_or(NaiveDate::MAX)
    }

    /// `date` moved `periods` back, saturating at chrono's first date.
    pub fn sub(self, date: NaiveDate, periods: usize) -> NaiveDate {
        let moved = match self {
            Frequency::Daily => date.checked_sub_days(Days::new(periods as u64)),
            Frequency::Weekly => date.checked_sub_days(Days::new(7 * periods as u64)),
            Frequency::Monthly => u32::try_from(periods)
                .ok()
                .and_then(|n| date.checked_sub_months(Months::new(n))),
        };
        moved.unwrap_or(NaiveDate::MIN)
    }

    /// Periods from `from` to `to` (negative when `to` is earlier).
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> i64 {
        i64::from(self.period_of(to)) - i64::from(self.period_of(from))
    }

    /// Where `date`'s period falls in the seasonal cycle, `0..season()`: the weekday
    /// (Monday = 0), the week of a 52-week cycle, or the month (January = 0).
    pub fn position(self, date: NaiveDate) -> usize {
        match self {
            Frequency::Daily => date.weekday().num_days_from_monday() as usize,
            Frequency::Weekly => self.period_of(date).rem_euclid(52) as usize,
            Frequency::Monthly => date.month0() as usize,
        }
    }

    /// Whether `date` names a period: any day, a Monday, or the first of a month.
    /// The error says which date would.
    pub fn check(self, date: NaiveDate) -> Result<(), OffGrid> {
        let on_grid = match self {
            Frequency::Daily => true,
            Frequency::Weekly => date.weekday() == Weekday::Mon,
            Frequency::Monthly => date.day() == 1,
        };
        if on_grid {
            Ok(())
        } else {
            Err(OffGrid {
                date,
                frequency: self,
                period_start: self.date_of(self.period_of(date)),
            })
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A date that does not name a period of the series' frequency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffGrid {
    pub date: NaiveDate,
    pub frequency: Frequency,
    /// The date that names the period `date` falls in.
    pub period_start: NaiveDate,
}

impl fmt::Display for OffGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = match self.frequency {
            Frequency::Daily => "by their day",
            Frequency::Weekly => "by the Monday that starts their week",
            Frequency::Monthly => "by the first day of their month",
        };
        write!(
            f,
            "date {} is not on the {frequency} calendar: {frequency} records are dated {rule} \
             (this one would be {})",
            self.date,
            self.period_start,
            frequency = self.frequency,
        )
    }
}

impl std::error::Error for OffGrid {}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_and_their_dates_round_trip() {
        for frequency in Frequency::ALL {
            for period in [-30, -1, 0, 1, 11, 12, 600, 2_900] {
                let first = frequency.date_of(period);
                assert_eq!(frequency.period_of(first), period, "{frequency} {period}");
                assert!(frequency.check(first).is_ok(), "{frequency} {first}");
                assert_eq!(frequency.add(first, 3), frequency.date_of(period + 3));
                assert_eq!(frequency.sub(first, 3), frequency.date_of(period - 3));
                assert_eq!(frequency.between(first, frequency.add(first, 5)), 5);
            }
        }
        assert_eq!(Frequency::Daily.period_of(date("1970-01-02")), 1);
        assert_eq!(Frequency::Weekly.date_of(0), date("1969-12-29"));
        assert_eq!(Frequency::Weekly.period_of(date("1970-01-04")), 0); // a Sunday
        assert_eq!(Frequency::Weekly.period_of(date("1970-01-05")), 1);
        assert_eq!(Frequency::Monthly.period_of(date("2024-02-29")), 649);
        assert_eq!(Frequency::Monthly.date_of(649), date("2024-02-01"));
        assert_eq!(
            Frequency::Monthly.add(date("2024-01-01"), 13),
            date("2025-02-01")
        );
    }

    #[test]
    fn positions_follow_the_calendar() {
        assert_eq!(Frequency::Daily.position(date("2024-01-01")), 0); // a Monday
        assert_eq!(Frequency::Daily.position(date("2024-01-07")), 6);
        assert_eq!(Frequency::Monthly.position(date("2024-03-01")), 2);
        let monday = date("2024-01-01");
        let a = Frequency::Weekly.position(monday);
        assert_eq!(
            Frequency::Weekly.position(Frequency::Weekly.add(monday, 52)),
            a
        );
        assert!(a < 52);
        assert_eq!(Frequency::Weekly.season(), 52);
    }

    #[test]
    fn off_grid_dates_are_named_with_the_date_that_would_do() {
        assert!(Frequency::Daily.check(date("2024-01-03")).is_ok());
        let err = Frequency::Weekly.check(date("2024-01-03")).unwrap_err();
        assert_eq!(err.period_start, date("2024-01-01"));
        assert_eq!(
            err.to_string(),
            "date 2024-01-03 is not on the weekly calendar: weekly records are dated by \
             the Monday that starts their week (this one would be 2024-01-01)"
        );
        let err = Frequency::Monthly.check(date("2024-01-31")).unwrap_err();
        assert!(
            err.to_string().contains("first day of their month"),
            "{err}"
        );
        assert_eq!(Frequency::parse("weekly"), Some(Frequency::Weekly));
        assert_eq!(Frequency::parse("hourly"), None);
    }
}
