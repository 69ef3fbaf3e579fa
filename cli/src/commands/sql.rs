//! `herd sql`: read-only SQL over the lake's Delta tables, printed as a table, CSV
//! or JSON lines; and the engine `herd serve` answers `POST /v1/sql` with.

use herd_scorer::SqlApi;

use crate::args::SqlArgs;
use herd_config::Settings;

#[cfg(not(feature = "sql"))]
pub async fn run(_settings: &Settings, _args: &SqlArgs) -> anyhow::Result<()> {
    anyhow::bail!("herd sql: {}", herd_scorer::WITHOUT_SQL)
}

/// Nothing: `POST /v1/sql` answers that this herd was built without SQL.
#[cfg(not(feature = "sql"))]
pub fn api(_settings: &Settings) -> anyhow::Result<Option<SqlApi>> {
    Ok(None)
}

#[cfg(feature = "sql")]
pub use with_sql::{api, run};

#[cfg(feature = "sql")]
mod with_sql {
    use std::io::{BufWriter, IsTerminal as _, Write as _};
    use std::time::Duration;

    use anyhow::{Context as _, bail};
    use herd_lake::LakeRoot;
    use herd_lake::sql::{
        Flow, QueryLimits, RowFormat, RowWriter, SqlEngine, SqlLimits, format_table,
    };

    use super::*;
    use crate::args::SqlFormat;
    use herd_config::options::production_root;

    pub async fn run(settings: &Settings, args: &SqlArgs) -> anyhow::Result<()> {
        let timeout = match args.timeout {
            None => None,
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
                Some(Duration::from_secs_f64(seconds))
            }
            Some(seconds) => bail!("--timeout: {seconds} is not a positive number of seconds"),
        };
        let limits = QueryLimits {
            max_rows: args.max_rows,
            timeout,
        };
        let engine = engine(settings)?;
        let stdout = std::io::stdout();
        let format = args.format.unwrap_or(if stdout.is_terminal() {
            SqlFormat::Table
        } else {
            SqlFormat::Csv
        });
        let (rows, truncated) = match format {
            SqlFormat::Table => {
                let answer = engine.query(&args.sql, &limits).await?;
                let table = format_table(&answer.schema, &answer.batches)?;
                let mut out = stdout.lock();
                writeln!(out, "{table}")?;
                writeln!(
                    out,
                    "{} {} in {:.3} s",
                    answer.row_count,
                    if answer.row_count == 1 { "row" } else { "rows" },
                    answer.elapsed.as_secs_f64()
                )?;
                (answer.row_count, answer.truncated)
            }
            SqlFormat::Csv | SqlFormat::Json => {
                let row_format = if format == SqlFormat::Csv {
                    RowFormat::Csv
                } else {
                    RowFormat::JsonLines
                };
                // Rows are printed as they are computed, so an export need not fit
                // in memory.
                let mut writer = RowWriter::new(BufWriter::new(stdout.lock()), row_format);
                let delivered = engine
                    .query_each(&args.sql, &limits, |batch| {
                        writer.write(batch).map(|()| Flow::Continue)
                    })
                    .await?;
                writer
                    .finish(&delivered.schema)?
                    .flush()
                    .context("writing to standard output")?;
                (delivered.row_count, delivered.truncated)
            }
        };
        if truncated {
            eprintln!("the first {rows} rows are shown; more matched (raise --max-rows)");
        }
        Ok(())
    }

    /// The engine of `POST /v1/sql`, with the `[serve] sql_*` limits; a limit of 0
    /// is refused here, at start-up.
    pub fn api(settings: &Settings) -> anyhow::Result<Option<SqlApi>> {
        let serve = &settings.serve;
        serve.check_sql_limits().map_err(anyhow::Error::msg)?;
        let limits = SqlLimits {
            max_rows: serve.sql_max_rows,
            max_answer_bytes: mebibytes(serve.sql_max_answer_mb),
            timeout: Duration::from_secs(serve.sql_timeout_seconds),
            max_concurrent: serve.sql_max_concurrent,
        };
        let api = SqlApi::new(engine(settings)?, limits)
            .context("starting the threads of SQL queries")?;
        Ok(Some(api))
    }

    /// An engine over the configured lake root and production root, within
    /// `[serve] sql_memory_mb`.
    fn engine(settings: &Settings) -> anyhow::Result<SqlEngine> {
        let lake = LakeRoot::parse(&settings.lake_root)?;
        let memory = mebibytes(settings.serve.sql_memory_mb);
        Ok(SqlEngine::new(&lake, &production_root(settings)?, memory)?)
    }

    fn mebibytes(megabytes: usize) -> usize {
        megabytes.saturating_mul(1 << 20)
    }
}

#[cfg(all(test, not(feature = "sql")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_the_feature_herd_sql_says_how_to_get_it() {
        let args = SqlArgs {
            sql: "SELECT 1".to_owned(),
            format: None,
            max_rows: None,
            timeout: None,
        };
        let err = run(&Settings::default(), &args).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "herd sql: this herd was built without SQL; build with --features sql"
        );
        assert!(api(&Settings::default()).unwrap().is_none());
    }
}
