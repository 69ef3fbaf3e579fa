//! One promotion pass: every key's newest undecided candidate is judged by the rule,
//! then against the key's current production model on the candidate's own holdout,
//! and the outcome is written — production entries (with their artifacts) first,
//! then one `promotions` row per decision.
//!
//! A pass reads all three tables, decides, and commits under the stripes of the keys
//! it decided for; when another promoter committed for one of those keys meanwhile,
//! the commit is refused and the pass starts again from fresh reads. A crash between
//! the production commit and the `promotions` commit is repaired by the next pass,
//! which writes the missing audit rows from the production entries.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use herd_history::Windows;
use herd_lake::{LakeRoot, tables};
use herd_models::{History, Model, holdout_accuracy};
use herd_registry::{
    ArtifactStore, CandidateRegistry, Decision, DecisionKind, DecisionLog, ModelRow,
    ProductionAction, ProductionEntry, ProductionRegistry, PromotionRule, RegistryError, Verdict,
    artifact_path, read_artifact, write_artifact,
};
use herd_schemas::{Frequency, ModelEvent, ModelEventKind, SeriesKey};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::error::{PromoteError, Result};

/// Passes started again after losing a race with another promoter.
const MAX_ATTEMPTS: u32 = 6;
/// Artifacts copied into production at once.
const ARTIFACT_COPIES: usize = 32;

/// How candidates are judged.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    pub rule: Arc<PromotionRule>,
    /// A challenger must beat the champion's accuracy by more than this.
    pub margin: f64,
    /// Names this promoter in every row and event it writes.
    pub run_id: String,
    /// Days of sales read per key to re-score a champion.
    pub window_days: usize,
    /// What one period of a window is.
    pub frequency: herd_schemas::Frequency,
}

/// What a pass (or several) decided.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassSummary {
    pub decided: usize,
    pub promoted: usize,
    pub rejected: usize,
    /// Candidates left for a later pass: the lake's sales did not yet reach the end
    /// of their holdout, so the champion could not be re-scored on it.
    pub deferred: usize,
    /// Champions re-scored on a challenger's holdout.
    pub rescored: usize,
    /// Audit rows written for production entries a crash left without one.
    pub repaired: usize,
    pub attempts: u32,
    pub seconds: f64,
    #[serde(skip)]
    pub deferred_keys: Vec<SeriesKey>,
}

impl PassSummary {
    /// Adds another pass's counts to these.
    pub fn absorb(&mut self, other: PassSummary) {
        self.decided += other.decided;
        self.promoted += other.promoted;
        self.rejected += other.rejected;
        self.deferred += other.deferred;
        self.rescored += other.rescored;
        self.repaired += other.repaired;
        self.attempts += other.attempts;
        self.seconds += other.seconds;
    }
}

/// Where a candidate stands while a pass judges it.
#[derive(Debug, Clone)]
enum Outcome {
    Promote(String),
    Reject(String),
    /// Passed the rule; the champion must be scored on this candidate's holdout.
    Rescore,
    Defer(String),
}

#[derive(Debug)]
struct Judged {
    row: ModelRow,
    champion: Option<ProductionEntry>,
    champion_accuracy: Option<f64>,
    outcome: Outcome,
}

/// The candidate registry, the production registry and the audit trail, and the
/// rule that moves models from the first to the second.
pub struct Promoter {
    lake: LakeRoot,
    candidates: CandidateRegistry,
    production: ProductionRegistry,
    log: DecisionLog,
    options: PromoteOptions,
    events: Vec<ModelEvent>,
}

impl Promoter {
    /// Opens the candidates under `lake` (which must exist), and the production
    /// registry under `production_root` and `promotions` under `lake` (created when
    /// missing).
    pub async fn open(
        lake: &LakeRoot,
        production_root: &LakeRoot,
        options: PromoteOptions,
    ) -> Result<Self> {
        let candidates = CandidateRegistry::open_existing(lake)
            .await?
            .ok_or_else(|| PromoteError::NoCandidates(lake.url().to_string()))?;
        Self::with(candidates, lake, production_root, options).await
    }

    /// As [`open`](Self::open), creating an empty candidate registry when none
    /// exists yet: a continuous promoter may start before the first training.
    pub async fn open_or_create(
        lake: &LakeRoot,
        production_root: &LakeRoot,
        options: PromoteOptions,
    ) -> Result<Self> {
        let candidates = CandidateRegistry::open(lake).await?;
        Self::with(candidates, lake, production_root, options).await
    }

    async fn with(
        candidates: CandidateRegistry,
        lake: &LakeRoot,
        production_root: &LakeRoot,
        options: PromoteOptions,
    ) -> Result<Self> {
        Ok(Self {
            lake: lake.clone(),
            candidates,
            production: ProductionRegistry::open(production_root).await?,
            log: DecisionLog::open(lake).await?,
            options,
            events: Vec::new(),
        })
    }

    pub fn production(&self) -> &ProductionRegistry {
        &self.production
    }

    pub fn log(&self) -> &DecisionLog {
        &self.log
    }

    /// The events of every decision committed since the last call, for `herd.models`.
    pub fn take_events(&mut self) -> Vec<ModelEvent> {
        std::mem::take(&mut self.events)
    }

    /// Decides every key's newest undecided candidate (only the keys in `only`,
    /// when given), starting again when another promoter wins a race for a key.
    pub async fn pass(&mut self, only: Option<&HashSet<SeriesKey>>) -> Result<PassSummary> {
        let started = Instant::now();
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_pass(only).await {
                Ok(mut summary) => {
                    summary.attempts = attempt;
                    summary.seconds = started.elapsed().as_secs_f64();
                    return Ok(summary);
                }
                Err(PromoteError::Registry(RegistryError::Moved(table))) => {
                    warn!(
                        table,
                        attempt, "another promoter decided for the same keys; deciding again"
                    );
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(PromoteError::Contended {
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn try_pass(&mut self, only: Option<&HashSet<SeriesKey>>) -> Result<PassSummary> {
        self.production.reload().await?;
        self.log.reload().await?;
        let rows = self.candidates.rows().await?;

        let mut decisions: Vec<Decision> = self
            .production
            .all_entries()
            .filter(|e| !self.log.contains(&e.decision_id))
            .map(|e| decision_of(e, &self.options))
            .collect();
        let mut summary = PassSummary {
            repaired: decisions.len(),
            ..PassSummary::default()
        };

        let mut judged: Vec<Judged> = self
            .pending(rows, only)
            .into_iter()
            .map(|row| self.judge(row))
            .collect();
        summary.rescored = self.rescore(&mut judged).await?;
        self.copy_artifacts(&mut judged).await?;

        let now = Utc::now();
        let mut entries = Vec::new();
        let mut events = Vec::new();
        for j in judged {
            let (kind, reason) = match &j.outcome {
                Outcome::Promote(reason) => (DecisionKind::Promoted, reason.clone()),
                Outcome::Reject(reason) => (DecisionKind::Rejected, reason.clone()),
                Outcome::Defer(reason) => {
                    info!(key = %j.row.key, version = j.row.version, reason, "deferred");
                    summary.deferred += 1;
                    summary.deferred_keys.push(j.row.key.clone());
                    continue;
                }
                Outcome::Rescore => unreachable!("every champion was re-scored"),
            };
            let decision_id = format!("{}/{}/v{}", self.options.run_id, j.row.key, j.row.version);
            let mut production_entry = None;
            if kind == DecisionKind::Promoted {
                let entry = self.entry_for(&j, &reason, &decision_id, now);
                production_entry = Some(entry.entry);
                events.push(self.event(ModelEventKind::Promoted, &entry.key, &j.row, None));
                entries.push(entry);
                summary.promoted += 1;
            } else {
                events.push(self.event(
                    ModelEventKind::Rejected,
                    &j.row.key,
                    &j.row,
                    Some(reason.clone()),
                ));
                summary.rejected += 1;
            }
            let metrics = j.row.metrics;
            decisions.push(Decision {
                decision_id,
                decided_at: now,
                store_id: j.row.key.store_id().as_str().to_owned(),
                item_id: j.row.key.item_id().as_str().to_owned(),
                key: j.row.key.clone(),
                version: j.row.version,
                decision: kind,
                reason,
                rule: self.options.rule.source().to_owned(),
                margin: self.options.margin,
                accuracy: metrics.map(|m| m.accuracy),
                baseline_accuracy: metrics.map(|m| m.baseline_accuracy),
                champion_version: j.champion.as_ref().map(|c| c.version),
                champion_accuracy: j.champion_accuracy,
                production_entry,
                promoter: self.options.run_id.clone(),
            });
        }
        summary.decided = summary.promoted + summary.rejected;

        if !entries.is_empty() {
            let version = self.production.append(entries).await?;
            info!(
                promoted = summary.promoted,
                table_version = version,
                "committed production entries"
            );
        }
        if !decisions.is_empty() {
            let version = self.log.append(decisions).await?;
            info!(
                decided = summary.decided,
                repaired = summary.repaired,
                table_version = version,
                "committed decisions"
            );
        }
        self.events.extend(events);
        Ok(summary)
    }

    /// Each key's newest candidate above every version already decided for it.
    fn pending(&self, rows: Vec<ModelRow>, only: Option<&HashSet<SeriesKey>>) -> Vec<ModelRow> {
        let mut promoted: HashMap<&SeriesKey, i64> = HashMap::new();
        for entry in self.production.all_entries() {
            if entry.action == ProductionAction::Promoted {
                let highest = promoted.entry(&entry.key).or_insert(entry.version);
                *highest = (*highest).max(entry.version);
            }
        }
        let mut newest: HashMap<SeriesKey, ModelRow> = HashMap::new();
        for row in rows {
            if only.is_some_and(|keys| !keys.contains(&row.key)) {
                continue;
            }
            let floor = self
                .log
                .decided(&row.key)
                .max(promoted.get(&row.key).copied());
            if floor.is_some_and(|floor| row.version <= floor) {
                continue;
            }
            match newest.get(&row.key) {
                Some(kept) if kept.version >= row.version => {}
                _ => {
                    newest.insert(row.key.clone(), row);
                }
            }
        }
        let mut pending: Vec<ModelRow> = newest.into_values().collect();
        pending.sort_by(|a, b| a.key.cmp(&b.key));
        pending
    }

    /// The rule, then the champion when its recorded holdout is the candidate's.
    fn judge(&self, row: ModelRow) -> Judged {
        let champion = self.production.current(&row.key).cloned();
        let mut champion_accuracy = None;
        let outcome = match (self.options.rule.judge(&row), &champion) {
            (Verdict::Fail(why), _) => Outcome::Reject(format!("rule not met: {why}")),
            (Verdict::Pass, None) => Outcome::Promote("passed the rule; no champion".to_owned()),
            // Same last day, same holdout: the champion's own backtest score on it is
            // the fair comparison. Otherwise it is scored on the candidate's holdout.
            (Verdict::Pass, Some(c)) => match c.accuracy.filter(|_| c.data_end == row.data_end) {
                Some(accuracy) => {
                    champion_accuracy = Some(accuracy);
                    self.compare(&row, c.version, accuracy)
                }
                None => Outcome::Rescore,
            },
        };
        Judged {
            row,
            champion,
            champion_accuracy,
            outcome,
        }
    }

    fn compare(&self, row: &ModelRow, champion: i64, champion_accuracy: f64) -> Outcome {
        let accuracy = row.metrics.map_or(0.0, |m| m.accuracy);
        let margin = self.options.margin;
        if accuracy > champion_accuracy + margin {
            Outcome::Promote(format!(
                "passed the rule and beat champion v{champion} on this holdout: \
                 {accuracy:.4} against {champion_accuracy:.4} (margin {margin})"
            ))
        } else {
            Outcome::Reject(format!(
                "champion v{champion} holds on this holdout: {champion_accuracy:.4} against \
                 the candidate's {accuracy:.4} (margin {margin})"
            ))
        }
    }

    /// Scores each champion that needs it on its challenger's holdout, from the
    /// lake's sales; returns how many were scored.
    async fn rescore(&self, judged: &mut [Judged]) -> Result<usize> {
        if !judged.iter().any(|j| matches!(j.outcome, Outcome::Rescore)) {
            return Ok(0);
        }
        let windows = self.load_histories().await?;
        let mut scored = 0;
        for j in judged
            .iter_mut()
            .filter(|j| matches!(j.outcome, Outcome::Rescore))
        {
            let Some(champion) = j.champion.clone() else {
                continue;
            };
            let (Some(end), Some(windows)) = (j.row.data_end, &windows) else {
                j.outcome = Outcome::Defer("no sales in the lake to re-score the champion".into());
                continue;
            };
            let Some(history) = windows.map().get(&j.row.key).map(|w| w.window.dense()) else {
                j.outcome = Outcome::Defer("the key has no sales in the lake yet".into());
                continue;
            };
            let Some(days) =
                days_through(history.frequency, history.start, history.sales.len(), end)
            else {
                j.outcome = Outcome::Defer(format!(
                    "the lake's sales of the key do not reach {end} yet, the holdout's last day"
                ));
                continue;
            };
            let holdout = History {
                start: history.start,
                frequency: history.frequency,
                sales: &history.sales[..days],
                price: &history.price[..days],
                promo: &history.promo[..days],
            };
            let model = self
                .production
                .artifact(&champion)
                .await
                .map_err(|e| e.to_string())
                .and_then(|bytes| Model::from_bytes(&bytes).map_err(|e| e.to_string()));
            let accuracy = model.and_then(|model| {
                holdout_accuracy(&model, &holdout, j.row.horizon.max(1) as usize)
                    .map_err(|e| e.to_string())
            });
            scored += 1;
            j.outcome = match accuracy {
                Ok(accuracy) => {
                    j.champion_accuracy = Some(accuracy);
                    self.compare(&j.row, champion.version, accuracy)
                }
                Err(why) => Outcome::Promote(format!(
                    "passed the rule; champion v{} could not be scored on this holdout ({why})",
                    champion.version
                )),
            };
        }
        Ok(scored)
    }

    /// Every key's recent sales from the lake; `None` when there is no `sales` table.
    async fn load_histories(&self) -> Result<Option<Windows>> {
        let Some(sales) = tables::open_existing(&self.lake, &tables::sales()).await? else {
            return Ok(None);
        };
        let windows = Windows::of(self.options.window_days, self.options.frequency);
        let loaded = herd_history::load(&windows, &sales, None).await?;
        info!(
            keys = loaded.keys,
            rows = loaded.rows,
            "read sales to re-score champions"
        );
        Ok(Some(windows))
    }

    /// Copies each promoted candidate's artifact into the production registry after
    /// checking that it decodes; a candidate whose artifact does not is rejected.
    async fn copy_artifacts(&self, judged: &mut [Judged]) -> Result<()> {
        let from = self.candidates.artifact_store();
        let to = self.production.artifact_store();
        let mut copies: JoinSet<Copied> = JoinSet::new();
        let mut failures = Vec::new();
        for (i, j) in judged.iter().enumerate() {
            if !matches!(j.outcome, Outcome::Promote(_)) {
                continue;
            }
            if copies.len() >= ARTIFACT_COPIES
                && let Some(done) = copies.join_next().await
            {
                failures.extend(failed_copy(done)?);
            }
            let (from, to) = (Arc::clone(&from), Arc::clone(&to));
            let source = j.row.artifact.clone();
            let target = artifact_path(&j.row.key, j.row.version);
            copies.spawn(async move { (i, copy(from, to, source, target).await) });
        }
        while let Some(done) = copies.join_next().await {
            failures.extend(failed_copy(done)?);
        }
        for (i, why) in failures {
            warn!(key = %judged[i].row.key, version = judged[i].row.version, why, "not promoted");
            judged[i].outcome = Outcome::Reject(format!("artifact could not be copied: {why}"));
        }
        Ok(())
    }

    fn entry_for(
        &self,
        j: &Judged,
        reason: &str,
        decision_id: &str,
        now: chrono::DateTime<Utc>,
    ) -> ProductionEntry {
        let row = &j.row;
        let entry = self
            .production
            .entries(&row.key)
            .last()
            .map_or(0, |e| e.entry)
            + 1;
        ProductionEntry {
            champion_version: j.champion.as_ref().map(|c| c.version),
            champion_accuracy: j.champion_accuracy,
            reason: reason.to_owned(),
            decision_id: decision_id.to_owned(),
            promoter: self.options.run_id.clone(),
            ..ProductionEntry::promotion(&row.key, row.version, entry, row, now)
        }
    }

    fn event(
        &self,
        kind: ModelEventKind,
        key: &SeriesKey,
        row: &ModelRow,
        error: Option<String>,
    ) -> ModelEvent {
        ModelEvent {
            event: kind,
            key: key.clone(),
            version: row.version,
            model_type: row.model_type.clone(),
            accuracy: row.metrics.map(|m| m.accuracy),
            baseline_accuracy: row.metrics.map(|m| m.baseline_accuracy),
            artifact: (kind == ModelEventKind::Promoted)
                .then(|| artifact_path(&row.key, row.version)),
            error,
            run_id: self.options.run_id.clone(),
            at: Utc::now(),
        }
    }
}

/// The `promotions` row that goes with a production entry.
pub(crate) fn decision_of(entry: &ProductionEntry, options: &PromoteOptions) -> Decision {
    Decision {
        decision_id: entry.decision_id.clone(),
        decided_at: entry.decided_at,
        key: entry.key.clone(),
        store_id: entry.store_id.clone(),
        item_id: entry.item_id.clone(),
        version: entry.version,
        decision: match entry.action {
            ProductionAction::Promoted => DecisionKind::Promoted,
            ProductionAction::RolledBack => DecisionKind::RolledBack,
        },
        reason: entry.reason.clone(),
        rule: options.rule.source().to_owned(),
        margin: options.margin,
        accuracy: entry.accuracy,
        baseline_accuracy: entry.baseline_accuracy,
        champion_version: entry.champion_version,
        champion_accuracy: entry.champion_accuracy,
        production_entry: Some(entry.entry),
        promoter: entry.promoter.clone(),
    }
}

/// How many periods of a history starting at `start` (with `len` periods) run
/// through `end`; `None` when it ends before `end` or starts after it.
fn days_through(
    frequency: Frequency,
    start: NaiveDate,
    len: usize,
    end: NaiveDate,
) -> Option<usize> {
    let days = usize::try_from(frequency.between(start, end) + 1).ok()?;
    (days >= 1 && days <= len).then_some(days)
}

async fn copy(
    from: ArtifactStore,
    to: ArtifactStore,
    source: Option<String>,
    target: String,
) -> std::result::Result<(), String> {
    let source = source.ok_or("the candidate has no artifact")?;
    let bytes = read_artifact(from.as_ref(), &source)
        .await
        .map_err(|e| e.to_string())?;
    Model::from_bytes(&bytes).map_err(|e| format!("{source} does not decode: {e}"))?;
    write_artifact(to.as_ref(), &target, bytes.to_vec())
        .await
        .map_err(|e| e.to_string())
}

type Copied = (usize, std::result::Result<(), String>);

/// The candidate whose copy failed, and why.
fn failed_copy(
    done: std::result::Result<Copied, tokio::task::JoinError>,
) -> Result<Option<(usize, String)>> {
    match done {
        Ok((_, Ok(()))) => Ok(None),
        Ok((i, Err(why))) => Ok(Some((i, why))),
        Err(e) => Err(PromoteError::Task(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_through_counts_inclusively() {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        assert_eq!(
            days_through(
                Frequency::Daily,
                start,
                31,
                NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()
            ),
            Some(31)
        );
        assert_eq!(
            days_through(
                Frequency::Daily,
                start,
                30,
                NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()
            ),
            None
        );
        assert_eq!(days_through(Frequency::Daily, start, 30, start), Some(1));
        assert_eq!(
            days_through(
                Frequency::Daily,
                start,
                30,
                NaiveDate::from_ymd_opt(2023, 12, 31).unwrap()
            ),
            None
        );
    }
}
