//! What a statement may be and name: a query (or EXPLAIN, DESCRIBE or SHOW of one)
//! over Herd's tables, DataFusion's information schema and its generating table
//! functions. Everything else is refused here, before any table is opened, with a
//! reason a person can act on.

use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::config::ConfigOptions;
use deltalake::datafusion::sql::parser::Statement;
use deltalake::datafusion::sql::sqlparser::ast::{self, SetExpr};

use super::{SQL_TABLES, SqlError};

/// Table functions a query may call: they generate rows and read nothing.
const TABLE_FUNCTIONS: [&str; 2] = ["range", "generate_series"];

/// Refuses every statement that is not a read-only query.
pub(super) fn check_statement(statement: &Statement) -> Result<(), SqlError> {
    let refuse = |reason: &str| Err(SqlError::Refused(reason.to_owned()));
    match statement {
        Statement::Statement(statement) => check_sql_statement(statement),
        Statement::Explain(explain) => check_statement(&explain.statement),
        Statement::CreateExternalTable(_) => {
            refuse("CREATE EXTERNAL TABLE would register files as a table")
        }
        Statement::CopyTo(_) => refuse("COPY … TO would write files"),
        Statement::Reset(_) => refuse("RESET would change the session's settings"),
    }
}

fn check_sql_statement(statement: &ast::Statement) -> Result<(), SqlError> {
    use ast::Statement as S;
    let reason = match statement {
        S::Query(query) => match writes(&query.body) {
            Some(reason) => reason,
            None => return Ok(()),
        },
        S::ExplainTable { .. }
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowFunctions { .. }
        | S::ShowVariable { .. } => return Ok(()),
        S::Explain { statement, .. } => return check_sql_statement(statement),
        S::Insert(_) => "INSERT would write to a table",
        S::Update(_) => "UPDATE would change a table",
        S::Delete(_) => "DELETE would change a table",
        S::Merge(_) => "MERGE would change a table",
        S::Truncate(_) => "TRUNCATE would empty a table",
        S::Copy { .. } => "COPY would read or write files",
        S::CreateTable(_) => "CREATE TABLE would create a table",
        S::CreateView(_) => "CREATE VIEW would define a view",
        S::Drop { .. } => "DROP would remove a table",
        S::Set(_) => "SET would change the session's settings",
        S::Reset(_) => "RESET would change the session's settings",
        other => {
            let text = other.to_string();
            let keyword = text.split_whitespace().next().unwrap_or("this statement");
            return Err(SqlError::Refused(format!(
                "{} is not a query",
                keyword.to_uppercase()
            )));
        }
    };
    Err(SqlError::Refused(reason.to_owned()))
}

/// Why a query body would write: `SELECT … INTO t`, or a data-changing statement
/// after `WITH`.
fn writes(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => {
            Some("SELECT INTO would create a table")
        }
        SetExpr::Query(query) => writes(&query.body),
        SetExpr::SetOperation { left, right, .. } => writes(left).or_else(|| writes(right)),
        SetExpr::Insert(_) => Some("INSERT would write to a table"),
        SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            Some("UPDATE, DELETE and MERGE would change a table")
        }
        _ => None,
    }
}

/// The Herd tables a statement needs registered.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Wanted {
    names: Vec<&'static str>,
    /// The statement reads the information schema, which lists every table.
    pub all: bool,
}

impl Wanted {
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.contains(&name)
    }
}

/// Checks every table a statement names (common table expressions excluded) and
/// returns Herd's among them. A name that looks like a path or URL is refused: a
/// query reads Herd's tables, never a file.
pub(super) fn tables_named(
    references: &[TableReference],
    options: &ConfigOptions,
) -> Result<Wanted, SqlError> {
    let catalog = options.catalog.default_catalog.as_str();
    let schema = options.catalog.default_schema.as_str();
    let mut wanted = Wanted::default();
    for reference in references {
        let table = reference.table();
        if looks_like_a_path(table) {
            return Err(SqlError::Refused(format!(
                "'{table}' would read a file; query the tables {}",
                table_list()
            )));
        }
        if reference.catalog().is_some_and(|c| c != catalog) {
            return Err(unknown(reference));
        }
        match reference.schema() {
            Some("information_schema") => wanted.all = true,
            Some(s) if s != schema => return Err(unknown(reference)),
            _ => match SQL_TABLES.iter().find(|(name, _)| *name == table) {
                Some((name, _)) => wanted.names.push(name),
                // The planner tells a call without arguments from a table.
                None if reference.schema().is_none() && TABLE_FUNCTIONS.contains(&table) => {}
                None => return Err(unknown(reference)),
            },
        }
    }
    Ok(wanted)
}

fn looks_like_a_path(table: &str) -> bool {
    table.contains(['/', '\\', ':', '.', '~'])
}

fn unknown(reference: &TableReference) -> SqlError {
    SqlError::Invalid(format!(
        "no table `{reference}`: the tables are {}",
        table_list()
    ))
}

fn table_list() -> String {
    SQL_TABLES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}
