//! Read-only SQL over Herd's Delta tables with DataFusion, for `herd sql` and
//! `POST /v1/sql`. Each query sees the tables' latest commits; anything that would
//! write, define a table, change a setting or read a file is refused before it runs.

mod bounded;
mod concat;
mod depth;
mod guard;
mod output;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::{CopyToSource, Statement};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt as _;
use url::Url;

use crate::error::LakeError;
use crate::root::LakeRoot;
use crate::tables;

pub use depth::{MAX_EXPRESSION_DEPTH, MAX_SET_OPERATIONS, MAX_TABLES, MAX_TOKENS};
pub use output::{Column, JsonRows, RowFormat, RowWriter, columns, format_table, json_rows};

/// The tables a query can name: its SQL name and its path under its root. The
/// production registry lives under the production root, the others under the lake root.
pub const SQL_TABLES: [(&str, &str); 5] = [
    ("sales", "sales"),
    ("models", "models"),
    ("production_models", "production/models"),
    ("promotions", "promotions"),
    ("predictions", "predictions"),
];

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The statement is not a read-only query, or it names a file.
    #[error("only SELECT queries are allowed: {0}")]
    Refused(String),

    /// The statement does not parse, names an unknown table or column, or fails on
    /// the data (a bad cast, say).
    #[error("{0}")]
    Invalid(String),

    /// The statement is longer or nests deeper than the engine can parse and plan
    /// within its memory and stack.
    #[error("the statement is too complex: {0}")]
    TooComplex(String),

    /// The answer holds a value the output format cannot write.
    #[error("the answer cannot be written: {0}; CAST the column to VARCHAR")]
    Unwritable(String),

    /// The query ran past its time limit and was cancelled.
    #[error("the query ran past its time limit of {} s and was cancelled", .0.as_secs_f64())]
    Timeout(Duration),

    /// The query needed more memory than the engine's budget.
    #[error(
        "the query needs more memory than SQL may use ({limit_mb} MiB, shared by the queries \
         running at once): {detail}"
    )]
    OutOfMemory { limit_mb: usize, detail: String },

    /// A table could not be opened.
    #[error(transparent)]
    Lake(#[from] LakeError),

    /// Reading the tables' files failed, or the answer could not be written.
    #[error("{0}")]
    Failed(String),
}

impl SqlError {
    /// Whether the fault is in the statement rather than in the lake or the machine.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::Refused(_) | Self::Invalid(_) | Self::TooComplex(_) | Self::Unwritable(_)
        )
    }
}

/// What a sink tells the query after a batch: go on, or stop here (the answer is
/// then reported as cut, as at the row cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// How far a query may go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryLimits {
    /// Rows returned at most; the answer says when more matched.
    pub max_rows: Option<usize>,
    /// A query still running after this long is cancelled.
    pub timeout: Option<Duration>,
}

/// The limits of every query a SQL endpoint (`POST /v1/sql`) runs. None of them can
/// be off: each is a positive number, and a very large one lifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Rows an answer holds at most; it says when more matched.
    pub max_rows: usize,
    /// Bytes of JSON an answer's rows take at most; it says when more matched.
    pub max_answer_bytes: usize,
    /// A query still running after this long is cancelled.
    pub timeout: Duration,
    /// Queries running at once; one more is refused.
    pub max_concurrent: usize,
}

/// A query's answer, all in memory.
#[derive(Debug, Clone)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub row_count: usize,
    /// More rows matched than [`QueryLimits::max_rows`].
    pub truncated: bool,
    pub elapsed: Duration,
}

/// What a query whose rows went to a sink returned.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub schema: SchemaRef,
    pub row_count: usize,
    /// More rows matched than [`QueryLimits::max_rows`], or the sink stopped early.
    pub truncated: bool,
    pub elapsed: Duration,
}

/// Runs read-only SQL over the five tables of a lake root and a production root.
///
/// Tables are opened on first use and brought to their latest version by every
/// query that names them, so answers include every commit made before the query.
pub struct SqlEngine {
    sources: Vec<Source>,
    runtime: Arc<RuntimeEnv>,
    /// The bytes every query's operators and bounded functions share.
    memory_limit: usize,
}

struct Source {
    name: &'static str,
    url: Url,
    table: tokio::sync::Mutex<Option<DeltaTable>>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables: Vec<_> = self
            .sources
            .iter()
            .map(|s| (s.name, s.url.as_str()))
            .collect();
        f.debug_struct("SqlEngine")
            .field("tables", &tables)
            .finish()
    }
}

impl SqlEngine {
    /// An engine over the tables under `lake`, with `production_models` under
    /// `production` (which may be the same root), whose queries together use at most
    /// `memory_limit` bytes for their operators (sorts, joins, aggregations) and for
    /// the answers of functions that can grow without bound. Opens nothing yet.
    pub fn new(
        lake: &LakeRoot,
        production: &LakeRoot,
        memory_limit: usize,
    ) -> Result<Self, SqlError> {
        let sources = SQL_TABLES
            .iter()
            .map(|&(name, path)| {
                let root = if name == "production_models" {
                    production
                } else {
                    lake
                };
                Ok(Source {
                    name,
                    url: root.table_url(path)?,
                    table: tokio::sync::Mutex::new(None),
                })
            })
            .collect::<Result<_, LakeError>>()?;
        // Shared by every query's session, so that each table's object store is
        // registered once and the memory budget holds for all queries together. A
        // greedy pool refuses past the budget; with no disk manager, nothing spills
        // to temporary files instead.
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(memory_limit));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(|e| SqlError::Failed(one_line(&e.strip_backtrace())))?;
        Ok(Self {
            sources,
            runtime,
            memory_limit,
        })
    }

    /// Runs `sql` and gathers its rows, at most `limits.max_rows` of them.
    pub async fn query(&self, sql: &str, limits: &QueryLimits) -> Result<Answer, SqlError> {
        let mut batches = Vec::new();
        let delivered = self
            .query_each(sql, limits, |batch| {
                batches.push(batch.clone());
                Ok(Flow::Continue)
            })
            .await?;
        Ok(Answer {
            schema: delivered.schema,
            batches,
            row_count: delivered.row_count,
            truncated: delivered.truncated,
            elapsed: delivered.elapsed,
        })
    }

    /// Runs `sql` and hands its rows to `sink` batch by batch as they are computed,
    /// at most `limits.max_rows` of them, so that a large answer need not fit in
    /// memory; the sink may stop the query early. The time limit covers the sink too.
    pub async fn query_each<F>(
        &self,
        sql: &str,
        limits: &QueryLimits,
        sink: F,
    ) -> Result<Delivered, SqlError>
    where
        F: FnMut(&RecordBatch) -> Result<Flow, SqlError>,
    {
        let started = Instant::now();
        let run = self.run(sql, limits.max_rows, sink);
        let run = async { run.await.map_err(|e| self.name_the_budget(e)) };
        let (schema, row_count, truncated) = match limits.timeout {
            // Dropping the query's future cancels it, and the tasks it spawned.
            Some(limit) => tokio::time::timeout(limit, run)
                .await
                .map_err(|_| SqlError::Timeout(limit))??,
            None => run.await?,
        };
        Ok(Delivered {
            schema,
            row_count,
            truncated,
            elapsed: started.elapsed(),
        })
    }

    /// Checks, plans and runs one statement, handing its rows to `sink`; returns
    /// the answer's schema, its rows and whether the cap cut it.
    async fn run<F>(
        &self,
        sql: &str,
        max_rows: Option<usize>,
        mut sink: F,
    ) -> Result<(SchemaRef, usize, bool), SqlError>
    where
        F: FnMut(&RecordBatch) -> Result<Flow, SqlError>,
    {
        depth::check_text(sql, &GenericDialect {})?;
        let ctx = self.session();
        let state = ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let mut statement = state.sql_to_statement(sql, &dialect).map_err(invalid)?;
        check_depth(&mut statement)?;
        guard::check_statement(&statement)?;
        let references = state
            .resolve_table_references(&statement)
            .map_err(invalid)?;
        let wanted = guard::tables_named(&references, state.config().options())?;
        for source in &self.sources {
            if wanted.contains(source.name) && !self.register(&ctx, source).await? && !wanted.all {
                return Err(SqlError::Invalid(format!(
                    "table `{}` does not exist yet: nothing has written to {}",
                    source.name, source.url
                )));
            }
        }
        let plan = state.statement_to_plan(statement).await.map_err(invalid)?;
        // The statement check above is the first line; DataFusion's own plan check
        // is the second, for any writing node that slipped past it.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| SqlError::Refused(one_line(&e.strip_backtrace())))?;
        // An EXPLAIN must stay the root of its plan, and its answer is small.
        let explains = matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
        let mut frame = ctx.execute_logical_plan(plan).await.map_err(invalid)?;
        if let Some(max) = max_rows.filter(|_| !explains) {
            // One row past the cap tells whether the answer was cut.
            frame = frame
                .limit(0, Some(max.saturating_add(1)))
                .map_err(invalid)?;
        }
        let mut stream = frame.execute_stream().await.map_err(execution)?;
        let schema = stream.schema();
        let (mut rows, mut truncated) = (0, false);
        while let Some(batch) = stream.next().await {
            let mut batch = batch.map_err(execution)?;
            if let Some(max) = max_rows
                && rows + batch.num_rows() > max
            {
                batch = batch.slice(0, max - rows);
                truncated = true;
            }
            if batch.num_rows() > 0 {
                rows += batch.num_rows();
                if sink(&batch)? == Flow::Stop {
                    truncated = true;
                }
            }
            if truncated {
                break;
            }
        }
        Ok((schema, rows, truncated))
    }

    /// A fresh session: information schema on, no URL tables, this engine's runtime.
    fn session(&self) -> SessionContext {
        let config = SessionConfig::new()
            .with_information_schema(true)
            // Text columns as `Utf8`, the type Herd writes, rather than `Utf8View`.
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            // As delta-rs's own session config: hash joins on dictionary-encoded
            // keys (partition columns) can panic with IN-list pushdown.
            .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
                0,
            );
        // Not `enable_url_table()`: a quoted path in FROM must not read a file.
        let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
        bounded::register(&ctx, &self.runtime.memory_pool);
        concat::register(&ctx, &self.runtime.memory_pool);
        ctx
    }

    /// An error of the memory pool, said with the budget it ran into.
    fn name_the_budget(&self, error: SqlError) -> SqlError {
        match error {
            SqlError::OutOfMemory { detail, .. } => SqlError::OutOfMemory {
                limit_mb: self.memory_limit.div_ceil(1 << 20),
                detail,
            },
            other => other,
        }
    }

    /// Registers `source`'s latest version with `ctx`; `false` when the table does
    /// not exist yet.
    async fn register(&self, ctx: &SessionContext, source: &Source) -> Result<bool, SqlError> {
        let mut cached = source.table.lock().await;
        let reloaded = match cached.as_mut() {
            Some(table) => table.update_incremental(None).await.is_ok(),
            None => false,
        };
        if !reloaded {
            // Never opened, or replaced since (a table deleted and written again
            // starts a new log): open it afresh.
            *cached = tables::open_latest(&source.url).await?;
        }
        let Some(table) = cached.as_ref() else {
            return Ok(false);
        };
        table
            .update_datafusion_session(&ctx.state())
            .map_err(LakeError::delta("read table", &source.url))?;
        // With the session, the scan follows its settings (text as `Utf8`).
        let provider = table
            .table_provider()
            .with_session(Arc::new(ctx.state()))
            .await
            .map_err(execution)?;
        ctx.register_table(source.name, provider)
            .map_err(execution)?;
        Ok(true)
    }
}

/// Refuses a statement nested past the engine's depths (see [`depth`]).
fn check_depth(statement: &mut Statement) -> Result<(), SqlError> {
    match statement {
        Statement::Statement(statement) => depth::check_statement(statement),
        Statement::Explain(explain) => check_depth(&mut explain.statement),
        Statement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => depth::check_query(query),
            CopyToSource::Relation(_) => Ok(()),
        },
        Statement::CreateExternalTable(_) | Statement::Reset(_) => Ok(()),
    }
}

/// A statement that does not parse or plan.
fn invalid(error: DataFusionError) -> SqlError {
    SqlError::Invalid(one_line(&error.strip_backtrace()))
}

/// A failure while computing the answer: reading files is the lake's or the
/// machine's fault, anything else (a bad cast, a division by zero) the statement's.
fn execution(error: DataFusionError) -> SqlError {
    let message = one_line(&error.strip_backtrace());
    match error.find_root() {
        DataFusionError::ObjectStore(_)
        | DataFusionError::IoError(_)
        | DataFusionError::ParquetError(_)
        | DataFusionError::External(_) => SqlError::Failed(message),
        // The budget is the engine's to name.
        DataFusionError::ResourcesExhausted(detail) => SqlError::OutOfMemory {
            limit_mb: 0,
            detail: one_line(detail),
        },
        _ => SqlError::Invalid(message),
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
