//! The promotion rule: a CEL expression over a candidate's metrics and tags, set by
//! the business (`accuracy >= 0.80 && accuracy > baseline_accuracy`), checked once at
//! start-up and judged per candidate. A rule made of `&&`-joined clauses names the
//! first clause a rejected candidate failed.

use std::collections::HashMap;

use cel::{Context, Program, Value};

use crate::table::{ModelRow, ModelStatus};

/// The rule of `DESIGN.md`: accurate enough, and better than seasonal naive.
pub const DEFAULT_RULE: &str = "accuracy >= 0.80 && accuracy > baseline_accuracy";

/// The names a rule may use, and what they hold.
pub const RULE_VARIABLES: [(&str, &str); 14] = [
    ("accuracy", "1 − WAPE on the holdout (float)"),
    (
        "baseline_accuracy",
        "seasonal naive's accuracy on the same days (float)",
    ),
    ("wape", "float"),
    ("mae", "float"),
    ("rmse", "float"),
    (
        "model_type",
        "seasonal_naive, ridge, ets, tsb or cold_start (string)",
    ),
    ("cold_start", "bool"),
    ("rows", "observed days trained on (int)"),
    ("horizon", "int"),
    ("folds", "int"),
    ("version", "int"),
    ("store_id", "string"),
    ("item_id", "string"),
    (
        "tags",
        "map of string to string, e.g. tags['team'] == 'fresh'",
    ),
];

/// A rule that cannot be used, with where it went wrong (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("promotion rule {line}:{column}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What the rule says of one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The clause that failed, as written in the rule, or why it could not be judged.
    Fail(String),
}

/// A checked promotion rule.
#[derive(Debug)]
pub struct PromotionRule {
    source: String,
    /// The top-level `&&` clauses, each compiled alone, in order.
    clauses: Vec<(String, Program)>,
}

impl PromotionRule {
    /// Parses `source` and checks that it names only [`RULE_VARIABLES`].
    pub fn parse(source: &str) -> Result<Self, RuleError> {
        let whole = Program::compile(source).map_err(|e| parse_error(&e.to_string()))?;
        let known: Vec<&str> = RULE_VARIABLES.iter().map(|(name, _)| *name).collect();
        for variable in whole.references().variables() {
            if !known.contains(&variable) {
                let (line, column) = position_of(source, variable);
                return Err(RuleError {
                    line,
                    column,
                    message: format!(
                        "unknown name `{variable}`; a rule can use {}",
                        known.join(", ")
                    ),
                });
            }
        }
        let mut clauses = Vec::new();
        for clause in top_level_clauses(source) {
            let program = Program::compile(clause).map_err(|e| parse_error(&e.to_string()))?;
            clauses.push((clause.trim().to_owned(), program));
        }
        Ok(Self {
            source: source.to_owned(),
            clauses,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Judges one registered model.
    pub fn judge(&self, row: &ModelRow) -> Verdict {
        if row.status != ModelStatus::Candidate {
            return Verdict::Fail("the model failed to train".to_owned());
        }
        let Some(metrics) = row.metrics else {
            return Verdict::Fail("no holdout metrics (too little history to score)".to_owned());
        };
        let mut context = Context::default();
        let floats = [
            ("accuracy", metrics.accuracy),
            ("baseline_accuracy", metrics.baseline_accuracy),
            ("wape", metrics.wape),
            ("mae", metrics.mae),
            ("rmse", metrics.rmse),
        ];
        for (name, value) in floats {
            context.add_variable_from_value(name, Value::Float(value));
        }
        let ints = [
            ("rows", row.rows),
            ("horizon", i64::from(row.horizon)),
            ("folds", i64::from(row.folds)),
            ("version", row.version),
        ];
        for (name, value) in ints {
            context.add_variable_from_value(name, Value::Int(value));
        }
        let text = |s: &str| Value::String(s.to_owned().into());
        context
            .add_variable_from_value("model_type", text(row.model_type.as_deref().unwrap_or("")));
        context.add_variable_from_value("cold_start", Value::Bool(row.cold_start));
        context.add_variable_from_value("store_id", text(row.key.store_id().as_str()));
        context.add_variable_from_value("item_id", text(row.key.item_id().as_str()));
        let tags: HashMap<String, String> = row.tags.clone().into_iter().collect();
        if context.add_variable("tags", tags).is_err() {
            return Verdict::Fail("tags could not be read".to_owned());
        }
        for (clause, program) in &self.clauses {
            match program.execute(&context) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => return Verdict::Fail(clause.clone()),
                Ok(other) => {
                    return Verdict::Fail(format!("{clause} (gave {other:?}, not a boolean)"));
                }
                Err(error) => return Verdict::Fail(format!("{clause} ({error})")),
            }
        }
        Verdict::Pass
    }
}

/// `ERROR: <input>:1:13: message` (plus a drawing) → line 1, column 13, message.
fn parse_error(text: &str) -> RuleError {
    let first = text.lines().next().unwrap_or(text);
    let rest = first
        .trim_start_matches("ERROR: ")
        .trim_start_matches("<input>:");
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().and_then(|p| p.trim().parse().ok());
    let column = parts.next().and_then(|p| p.trim().parse().ok());
    match (line, column, parts.next()) {
        (Some(line), Some(column), Some(message)) => RuleError {
            line,
            column,
            message: message.trim().to_owned(),
        },
        _ => RuleError {
            line: 1,
            column: 1,
            message: first.to_owned(),
        },
    }
}

/// Where `name` first appears as a whole word in `source` (1-based line and column).
fn position_of(source: &str, name: &str) -> (usize, usize) {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (index, _) in source.match_indices(name) {
        let before = source[..index].chars().next_back();
        let after = source[index + name.len()..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            let line = source[..index].matches('\n').count() + 1;
            let line_start = source[..index].rfind('\n').map_or(0, |i| i + 1);
            return (line, source[line_start..index].chars().count() + 1);
        }
    }
    (1, 1)
}

/// The rule split at its top-level `&&` (outside brackets and string literals).
fn top_level_clauses(source: &str) -> Vec<&str> {
    let bytes = source.as_bytes();
    let (mut depth, mut quote, mut start) = (0i32, None::<u8>, 0);
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'&' if depth == 0 && bytes.get(i + 1) == Some(&b'&') => {
                    clauses.push(&source[start..i]);
                    start = i + 2;
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    clauses.push(&source[start..]);
    clauses
}

#[cfg(test)]
mod tests;
