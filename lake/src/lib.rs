//! Delta Lake tables under one lake root.
//!
//! Will hold opening and creating the tables (`sales`, `models`, `production/models`,
//! `promotions`, `predictions`), the exactly-once appender that commits Arrow batches
//! with one Delta `txn` action per Kafka partition (offsets are plain numbers here),
//! and read-only SQL over the tables behind a cargo feature.
