//! Correct at the seams: nothing lost and nothing twice where two parts of Herd
//! meet or two processes overlap, restart, rebalance or fail, each case against the
//! real broker and real Delta tables.

mod batch_replace;
mod chaos;
mod cluster;
mod gaps;
mod groups;
mod last_write;
mod promoter_catch_up;
mod rule;
mod scorer_failures;
mod status;
mod training_task;
mod versions;
