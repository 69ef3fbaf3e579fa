//! The candidate and production model registries.
//!
//! Candidates live in the Delta table `models`, one row per trained version with its
//! metrics, lineage and tags; each version's artifact is a small object under the
//! registry root at a sanitized, hashed path. Listing finds models by their tags.
//! The promotion rule (a CEL expression) judges candidates.

mod artifact;
mod candidates;
mod error;
mod filter;
mod rule;
mod table;

pub use artifact::{ARTIFACTS_DIR, artifact_path};
pub use candidates::{CandidateRegistry, NewModel};
pub use error::{RegistryError, Result};
pub use filter::ModelFilter;
pub use rule::{DEFAULT_RULE, PromotionRule, RULE_VARIABLES, RuleError, Verdict};
pub use table::{
    HoldoutMetrics, MODELS_TABLE, ModelRow, ModelStatus, from_batch, models_table, to_batch,
};
