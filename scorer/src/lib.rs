//! Forecasts for users.
//!
//! Will hold continuous scoring from `herd.sales`, batch scoring as of a date, the
//! real-time HTTP API with models loaded on demand, and the dashboard's assets.
