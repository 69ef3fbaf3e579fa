//! The yearly clock shared by fitting and forecasting, so a date means the same point
//! of the year in both. Periods, weekdays and date offsets are `Frequency`'s.

use chrono::{Datelike, NaiveDate};

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
