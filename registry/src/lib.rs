//! The candidate and production model registries.
//!
//! Candidates live in the Delta table `models`, one row per trained version with its
//! metrics, lineage and tags; each version's artifact is a small object under the
//! registry root at a sanitized, hashed path. Listing finds models by their tags.
//! The promotion rule (a CEL expression) judges candidates.
//!
//! Production lives in `production/models` under a root of its own, with copies of
//! the promoted artifacts; `promotions` records every decision. Both are written
//! under stripe guards so that concurrent promoters never both decide for a key.

mod artifact;
mod cache;
mod candidates;
mod decisions;
mod error;
mod filter;
mod json_rows;
mod production;
mod rule;
mod striped;
mod table;

pub use artifact::{
    ARTIFACTS_DIR, ArtifactStore, artifact_path, candidate_artifact_path, read as read_artifact,
    write as write_artifact,
};
pub use cache::{CacheStats, CachedModel, Current, ModelCache};
pub use candidates::{CandidateRegistry, NewModel};
pub use decisions::{Decision, DecisionKind, DecisionLog, PROMOTIONS_TABLE, promotions_table};
pub use error::{RegistryError, Result};
pub use filter::ModelFilter;
pub use production::{
    PRODUCTION_TABLE, ProductionAction, ProductionEntry, ProductionRegistry, production_table,
};
pub use rule::{DEFAULT_RULE, PromotionRule, RULE_VARIABLES, RuleError, Verdict};
pub use striped::{STRIPES, stripe_of};
pub use table::{
    HoldoutMetrics, MODELS_TABLE, ModelRow, ModelStatus, Trigger, from_batch, models_table,
    to_batch,
};
