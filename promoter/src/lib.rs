//! Promotion into production.
//!
//! Candidates from the trainer reach the production registry only by passing the
//! business rule (a CEL expression over their metrics and tags) and beating the
//! key's current production model on the candidate's own holdout. Every decision is
//! a row in `promotions` and an event on `herd.models`; `herd promote --once`
//! decides everything pending, `herd promote` follows `herd.models`. Rollback makes
//! an earlier production version current again; history tells a key's story.

mod decide;
mod error;
mod follow;
mod rollback;

pub use decide::{PassSummary, PromoteOptions, Promoter};
pub use error::{PromoteError, Result};
pub use follow::{FollowOptions, follow};
pub use rollback::{HistoryLine, history, rollback};
