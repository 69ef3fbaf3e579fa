//! The promotion rule: a CEL expression over a candidate's metrics and tags, set by
//! the business (`accuracy >= 0.80 && accuracy > baseline_accuracy`), checked once at
//! start-up and judged per candidate. The verdict is the whole expression's; when the
//! expression is a conjunction (`&&`-joined clauses at its root), a rejection names
//! the first clause the candidate failed, and otherwise the whole rule.

use std::collections::HashMap;

use cel::{Context, Program, Value};

use crate::table::{ModelRow, ModelStatus};

/// The default business rule (docs/configuration.md, `promote.rule`): accurate enough,
/// and better than seasonal naive.
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
    /// The rule as one program: the only thing the verdict comes from.
    whole: Program,
    /// The root conjunction's clauses, each compiled alone, in order, used only to
    /// name what a rejected candidate failed; empty when the root is not `&&`.
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
        if let Some(parts) = root_conjunction(source) {
            for clause in parts {
                let program = Program::compile(clause).map_err(|e| parse_error(&e.to_string()))?;
                clauses.push((clause.trim().to_owned(), program));
            }
        }
        Ok(Self {
            source: source.to_owned(),
            whole,
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
        match self.whole.execute(&context) {
            Ok(Value::Bool(true)) => Verdict::Pass,
            Ok(Value::Bool(false)) => Verdict::Fail(self.failed_clause(&context)),
            Ok(other) => Verdict::Fail(format!(
                "{} (gave {other:?}, not a boolean)",
                self.source.trim()
            )),
            Err(error) => Verdict::Fail(format!("{} ({error})", self.failed_clause(&context))),
        }
    }

    /// What to name for a rule that did not hold: the root conjunction's first clause
    /// that is false (else the first that could not be judged), or the whole rule.
    fn failed_clause(&self, context: &Context) -> String {
        let mut erred = None;
        for (clause, program) in &self.clauses {
            match program.execute(context) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => return clause.clone(),
                Ok(_) | Err(_) => {
                    erred.get_or_insert(clause);
                }
            }
        }
        erred
            .cloned()
            .unwrap_or_else(|| self.source.trim().to_owned())
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

/// The operands of the rule's root `&&`, or `None` when its root is something else.
///
/// CEL binds `&&` tighter than `||` and `? :`, so the root is a conjunction exactly
/// when `&&` appears outside brackets and string literals and neither `||` nor `?`
/// does; then the text between those `&&` are its operands.
fn root_conjunction(source: &str) -> Option<Vec<&str>> {
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
                b'?' if depth == 0 => return None,
                b'|' if depth == 0 && bytes.get(i + 1) == Some(&b'|') => return None,
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
    if clauses.is_empty() {
        return None;
    }
    clauses.push(&source[start..]);
    Some(clauses)
}

#[cfg(test)]
mod tests;
