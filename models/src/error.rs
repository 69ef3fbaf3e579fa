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
        "observations arrive every {every} {unit}s, a coarser calendar than the \
         {frequency} series Herd is set up for: set `frequency` to what the data is \
         (daily, weekly or monthly) and send one record per period, periods without \
         sales as 0"
    )]
    NotPeriodic {
        every: usize,
        unit: &'static str,
        frequency: herd_schemas::Frequency,
    },
    #[error(
        "the model forecasts {model} periods but the history is {history}: train the key \
         again on its {history} history"
    )]
    FrequencyMismatch {
        model: herd_schemas::Frequency,
        history: herd_schemas::Frequency,
    },
}
