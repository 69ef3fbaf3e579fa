//! Why a series could not be trained or re-forecast. Each message names the input to fix.

/// A series (or its options) that no forecaster can be fitted to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error(
        "history too short: {days} usable days after gap handling, {needed} needed \
         (train such keys with train_cold_start)"
    )]
    TooShort { days: usize, needed: usize },
    #[error("history has no observed sales (every day is NaN)")]
    NoObservations,
    #[error("non-finite {0}")]
    NonFinite(&'static str),
    #[error("{0}: the linear system stays singular even after raising the ridge penalty")]
    Singular(&'static str),
    #[error("history slices differ in length: {sales} sales, {price} prices, {promo} promo flags")]
    LengthMismatch {
        sales: usize,
        price: usize,
        promo: usize,
    },
    #[error("invalid training option: {0}")]
    InvalidOption(&'static str),
    #[error(
        "observations arrive every {every} days, as weekly or monthly totals do: Herd \
         forecasts daily series only (send one record per day, days without sales as 0)"
    )]
    NotDaily { every: usize },
}
