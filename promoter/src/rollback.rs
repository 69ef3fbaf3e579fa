//! `herd models rollback` and `herd models history`: making an earlier production
//! version current again, and telling a key's story from the candidate registry and
//! the audit trail.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use herd_lake::LakeRoot;
use herd_registry::{
    CandidateRegistry, DecisionKind, DecisionLog, ModelStatus, ProductionAction, ProductionEntry,
    ProductionRegistry, RegistryError,
};
use herd_schemas::{ModelEvent, ModelEventKind, SeriesKey};
use serde::Serialize;

use crate::decide::{PromoteOptions, decision_of};
use crate::error::{PromoteError, Result};

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct RolledBack {
    /// The version that was current before.
    pub from: i64,
    /// The new production entry, current now.
    pub entry: ProductionEntry,
    /// The event to publish on `herd.models`.
    pub event: ModelEvent,
}

/// Makes version `to` of `key` (or, without it, the latest earlier production
/// version that differs from the current one) current again, as a new production
/// entry with its audit row.
pub async fn rollback(
    lake: &LakeRoot,
    production_root: &LakeRoot,
    key: &SeriesKey,
    to: Option<i64>,
    note: Option<&str>,
    options: &PromoteOptions,
) -> Result<RolledBack> {
    let no_production = || PromoteError::NoProduction {
        key: key.to_string(),
    };
    let mut production = ProductionRegistry::open_existing(production_root)
        .await?
        .ok_or_else(no_production)?;
    let mut attempts = 0;
    let (from, entry) = loop {
        attempts += 1;
        let entries = production.entries(key);
        let current = entries.last().ok_or_else(no_production)?;
        let target = match to {
            Some(version) if !entries.iter().any(|e| e.version == version) => {
                let versions: BTreeSet<i64> = entries.iter().map(|e| e.version).collect();
                return Err(PromoteError::NeverInProduction {
                    key: key.to_string(),
                    version,
                    versions: versions
                        .iter()
                        .map(|v| format!("v{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            Some(version) if version == current.version => {
                return Err(PromoteError::AlreadyCurrent {
                    key: key.to_string(),
                    version,
                });
            }
            Some(version) => version,
            None => entries
                .iter()
                .rev()
                .find(|e| e.version != current.version)
                .map(|e| e.version)
                .ok_or_else(|| PromoteError::NothingEarlier {
                    key: key.to_string(),
                    current: current.version,
                })?,
        };
        let Some(source) = entries.iter().rev().find(|e| e.version == target) else {
            return Err(no_production());
        };
        let entry = ProductionEntry {
            entry: current.entry + 1,
            action: ProductionAction::RolledBack,
            champion_version: Some(current.version),
            champion_accuracy: None,
            reason: format!(
                "rolled back from v{}: {}",
                current.version,
                note.unwrap_or("by an operator")
            ),
            decided_at: Utc::now(),
            decision_id: format!("{}/{key}/entry-{}", options.run_id, current.entry + 1),
            promoter: options.run_id.clone(),
            ..source.clone()
        };
        let from = current.version;
        match production.append(vec![entry.clone()]).await {
            Ok(_) => break (from, entry),
            Err(RegistryError::Moved(_)) if attempts < 5 => production.reload().await?,
            Err(e) => return Err(e.into()),
        }
    };

    // The entry is in production; its audit row follows, whatever others commit.
    let mut log = DecisionLog::open(lake).await?;
    loop {
        if log.contains(&entry.decision_id) {
            break;
        }
        match log.append(vec![decision_of(&entry, options)]).await {
            Ok(_) => break,
            Err(RegistryError::Moved(_)) => log.reload().await?,
            Err(e) => return Err(e.into()),
        }
    }
    let event = ModelEvent {
        event: ModelEventKind::RolledBack,
        key: key.clone(),
        version: entry.version,
        model_type: entry.model_type.clone(),
        accuracy: entry.accuracy,
        baseline_accuracy: entry.baseline_accuracy,
        artifact: Some(entry.artifact.clone()),
        error: Some(entry.reason.clone()),
        run_id: options.run_id.clone(),
        at: entry.decided_at,
    };
    Ok(RolledBack { from, entry, event })
}

/// One line of a key's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryLine {
    pub at: DateTime<Utc>,
    pub version: i64,
    /// `registered`, `failed`, `promoted`, `rejected` or `rolled_back`.
    pub event: &'static str,
    pub model_type: Option<String>,
    pub accuracy: Option<f64>,
    /// Why it was decided so; training's error for a failure.
    pub reason: Option<String>,
    /// The production entry a promotion or rollback created.
    pub entry: Option<i64>,
}

/// Every registered version of `key` and every decision about it, in time order.
pub async fn history(lake: &LakeRoot, key: &SeriesKey) -> Result<Vec<HistoryLine>> {
    let mut candidates = CandidateRegistry::open_existing(lake)
        .await?
        .ok_or_else(|| PromoteError::NoCandidates(lake.url().to_string()))?;
    let rows: Vec<_> = candidates
        .rows()
        .await?
        .into_iter()
        .filter(|r| &r.key == key)
        .collect();
    if rows.is_empty() {
        return Err(RegistryError::NotFound {
            key: key.to_string(),
            version: None,
        }
        .into());
    }
    let types: HashMap<i64, Option<String>> = rows
        .iter()
        .map(|r| (r.version, r.model_type.clone()))
        .collect();
    // (time, order within the same instant, line): registration before decisions.
    let mut lines: Vec<(DateTime<Utc>, u8, HistoryLine)> = rows
        .into_iter()
        .map(|r| {
            let line = HistoryLine {
                at: r.trained_at,
                version: r.version,
                event: match r.status {
                    ModelStatus::Candidate => "registered",
                    ModelStatus::Failed => "failed",
                },
                model_type: r.model_type,
                accuracy: r.metrics.map(|m| m.accuracy),
                reason: r.error,
                entry: None,
            };
            (r.trained_at, 0, line)
        })
        .collect();
    if let Some(log) = DecisionLog::open_existing(lake).await? {
        for d in log.rows().iter().filter(|d| &d.key == key) {
            let line = HistoryLine {
                at: d.decided_at,
                version: d.version,
                event: d.decision.as_str(),
                model_type: types.get(&d.version).cloned().flatten(),
                accuracy: d.accuracy,
                reason: Some(d.reason.clone()),
                entry: d.production_entry,
            };
            let order = if d.decision == DecisionKind::RolledBack {
                2
            } else {
                1
            };
            lines.push((d.decided_at, order, line));
        }
    }
    lines.sort_by_key(|a| (a.0, a.1, a.2.version));
    Ok(lines.into_iter().map(|(_, _, line)| line).collect())
}
