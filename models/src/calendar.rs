//! Calendar arithmetic shared by fitting and forecasting, so a date means the same
//! weekday and the same point of the year in both. Date offsets saturate instead of
//! panicking: a series near chrono's last representable date is not worth a crash.

use chrono::{Datelike, Days, NaiveDate};

/// Monday = 0 … Sunday = 6, the convention of `ItemProfile::weekday`.
pub(crate) fn weekday(date: NaiveDate) -> usize {
    date.weekday().num_days_from_monday() as usize
}

pub(crate) fn add_days(date: NaiveDate, days: usize) -> NaiveDate {
    date.checked_add_days(Days::new(days as u64))
        .unwrap_or(NaiveDate::MAX)
}

pub(crate) fn sub_days(date: NaiveDate, days: usize) -> NaiveDate {
    date.checked_sub_days(Days::new(days as u64))
        .unwrap_or(NaiveDate::MIN)
}

/// Days since 0001-01-01, the clock of the yearly Fourier terms.
pub(crate) fn ordinal(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// Angle of `ordinal` in the year, in radians. The mean Gregorian year keeps the phase
/// continuous across leap days, so the yearly terms never jump.
pub(crate) fn year_angle(ordinal: i64) -> f64 {
    const MEAN_YEAR: f64 = 365.2425;
    std::f64::consts::TAU * (ordinal as f64 / MEAN_YEAR).rem_euclid(1.0)
}
