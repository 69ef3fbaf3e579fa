//! Per-series forecasters and how they are judged.
//!
//! Will hold the features (lags, rolling means, calendar and price terms), the
//! candidate forecasters (seasonal naive, closed-form ridge, exponential smoothing,
//! Croston/TSB), the rolling-origin backtest and the metrics of `WORKLOAD.md`.
//! Pure compute: slices in, values out; no I/O, no clocks.
