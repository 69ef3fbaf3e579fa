//! How deep a statement may nest. The parser bounds what it reads by recursion (nested
//! parentheses, subqueries) but builds left-deep chains in a loop: `1+1+1+…`,
//! `SELECT 1 UNION ALL SELECT 1 UNION ALL …` and `EXPLAIN EXPLAIN …` parse into trees
//! as deep as the statement is long, and everything that walks such a tree
//! afterwards (the table resolver, the planner, the optimizer, even dropping it)
//! recurses once per level and can overflow the thread's stack, which aborts the
//! process. A statement past these depths is refused, and taken apart without
//! recursion. Before that, a statement of more words and symbols than any written
//! query has is refused unparsed: its syntax tree alone would take hundreds of MiB.

use std::ops::ControlFlow;

use deltalake::datafusion::sql::sqlparser::ast::{
    self, Expr, Query, SetExpr, TableFactor, Value, Values, Visit, VisitMut, Visitor, VisitorMut,
};
use deltalake::datafusion::sql::sqlparser::dialect::Dialect;
use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::SqlError;

/// Words, numbers, strings and symbols a statement may hold (whitespace and comments
/// not counted); a 1 MiB chain of `+1` holds a million.
pub const MAX_TOKENS: usize = 50_000;
/// Levels of nested expressions (operators, casts, function calls) a statement may
/// hold: far past any written query, far below what the planner's stack can take.
pub const MAX_EXPRESSION_DEPTH: usize = 256;
/// Set operations (`UNION`, `INTERSECT`, `EXCEPT`) one query may chain.
pub const MAX_SET_OPERATIONS: usize = 256;
/// Tables, table functions and subqueries in FROM clauses, all joins together: each
/// join is a level of the plan.
pub const MAX_TABLES: usize = 256;

/// Refuses, before it is parsed, a statement text of more than [`MAX_TOKENS`] tokens
/// or with more than one `EXPLAIN` (DataFusion's parser reads `EXPLAIN EXPLAIN …` by
/// recursion without a limit).
pub(super) fn check_text(sql: &str, dialect: &dyn Dialect) -> Result<(), SqlError> {
    // A statement that does not tokenize is left to the parser to describe.
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return Ok(());
    };
    let (mut count, mut explains) = (0, 0);
    for token in &tokens {
        match token {
            Token::Whitespace(_) => continue,
            Token::Word(w) if w.keyword == Keyword::EXPLAIN => explains += 1,
            _ => {}
        }
        count += 1;
    }
    if explains > 1 {
        return Err(SqlError::TooComplex(format!(
            "the statement has {explains} EXPLAINs; EXPLAIN takes a query, not another EXPLAIN"
        )));
    }
    if count > MAX_TOKENS {
        return Err(SqlError::TooComplex(format!(
            "the statement has {count} words and symbols; at most {MAX_TOKENS} are allowed"
        )));
    }
    Ok(())
}

/// Refuses `statement` when it nests past the limits above; then takes it apart
/// without recursion, so that dropping it cannot overflow the stack either.
pub(super) fn check_statement(statement: &mut ast::Statement) -> Result<(), SqlError> {
    check(statement)
}

/// As [`check_statement`], for the query of `COPY (…) TO`.
pub(super) fn check_query(query: &mut Query) -> Result<(), SqlError> {
    check(query)
}

fn check<T: Visit + VisitMut>(node: &mut T) -> Result<(), SqlError> {
    let mut depth = Depth::default();
    let ControlFlow::Break(reason) = Visit::visit(&*node, &mut depth) else {
        return Ok(());
    };
    let _ = VisitMut::visit(node, &mut Dismantle);
    Err(SqlError::TooComplex(reason))
}

/// Counts nesting as the visitor descends and stops it at the first limit passed, so
/// that the walk itself never goes deeper than the limits.
#[derive(Default)]
struct Depth {
    expressions: usize,
    tables: usize,
}

impl Visitor for Depth {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        let chained = set_operations(&query.body);
        if chained > MAX_SET_OPERATIONS {
            return ControlFlow::Break(format!(
                "a query chains {chained} set operations (UNION, INTERSECT, EXCEPT); \
                 at most {MAX_SET_OPERATIONS} are allowed"
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<String> {
        self.tables += 1;
        if self.tables > MAX_TABLES {
            return ControlFlow::Break(format!(
                "the statement reads more than {MAX_TABLES} tables, table functions and \
                 subqueries"
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
        self.expressions += 1;
        if self.expressions > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(format!(
                "expressions nest more than {MAX_EXPRESSION_DEPTH} levels deep \
                 (a long chain of operators counts one level per operator)"
            ));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
        self.expressions -= 1;
        ControlFlow::Continue(())
    }
}

/// The longest chain of set operations in `body`, counted without recursion; a
/// parenthesized query in it is a query of its own, counted when it is visited.
fn set_operations(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(body, 0)];
    while let Some((expr, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = expr {
            pending.push((left, depth + 1));
            pending.push((right, depth + 1));
        }
    }
    deepest
}

/// Empties every expression chain and set-operation chain of a statement with an
/// explicit stack, leaving nodes whose drop recurses no deeper than the parser's
/// recursion limit.
struct Dismantle;

impl VisitorMut for Dismantle {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut pending = vec![std::mem::replace(&mut query.body, empty_body())];
        while let Some(mut body) = pending.pop() {
            if let SetExpr::SetOperation { left, right, .. } = body.as_mut() {
                pending.push(std::mem::replace(left, empty_body()));
                pending.push(std::mem::replace(right, empty_body()));
            }
            // What is left of this node nests only as deep as the parser allowed.
            let _ = VisitMut::visit(body.as_mut(), self);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let mut pending = take_operands(expr);
        while let Some(mut operand) = pending.pop() {
            pending.extend(take_operands(&mut operand));
            let _ = VisitMut::visit(&mut operand, self);
        }
        ControlFlow::Continue(())
    }
}

fn empty_body() -> Box<SetExpr> {
    Box::new(SetExpr::Values(Values {
        explicit_row: false,
        value_keyword: false,
        rows: Vec::new(),
    }))
}

/// The operands of the expressions the parser chains in a loop (operators, `IS …`,
/// `::` casts, `LIKE`, `BETWEEN`, …), moved out of `expr` and replaced by NULLs.
fn take_operands(expr: &mut Expr) -> Vec<Expr> {
    let take =
        |operand: &mut Box<Expr>| std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
    match expr {
        Expr::BinaryOp { left, right, .. }
        | Expr::IsDistinctFrom(left, right)
        | Expr::IsNotDistinctFrom(left, right)
        | Expr::AnyOp { left, right, .. }
        | Expr::AllOp { left, right, .. } => vec![take(left), take(right)],
        Expr::Like { expr, pattern, .. }
        | Expr::ILike { expr, pattern, .. }
        | Expr::SimilarTo { expr, pattern, .. }
        | Expr::RLike { expr, pattern, .. } => vec![take(expr), take(pattern)],
        Expr::Between {
            expr, low, high, ..
        } => vec![take(expr), take(low), take(high)],
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => vec![take(timestamp), take(time_zone)],
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::Collate { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotFalse(expr)
        | Expr::IsUnknown(expr)
        | Expr::IsNotUnknown(expr)
        | Expr::InList { expr, .. }
        | Expr::InSubquery { expr, .. } => vec![take(expr)],
        _ => Vec::new(),
    }
}
