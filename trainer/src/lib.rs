//! Training one model per series.
//!
//! Will hold the per-key windows kept from `herd.sales` (rebuilt from the lake on
//! start and rebalance), the retraining triggers, and the bounded training pool that
//! registers every trained model in the candidate registry.
