//! Promotion into production.
//!
//! Will hold the pipeline that follows `herd.models`, applies the business rule and
//! the champion/challenger comparison, and writes the production registry, the
//! `promotions` audit table and rollbacks.
