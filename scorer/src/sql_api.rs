//! `POST /v1/sql`: read-only SQL over the lake's Delta tables, behind the same token
//! as the forecasts. Queries run on a runtime of their own: DataFusion computes in
//! long stretches between yields, which on the serving runtime would hold up
//! forecasts. Every limit is on: at most so many queries at once (429 past it), a
//! memory budget they share (503 past it), a time limit (503), and a cap on the
//! answer's rows and bytes (cut, and said so). Without the `sql` feature the route
//! answers 404, saying how to build a herd that has it.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::serve::ApiError;

/// A query: `{"sql": "SELECT …"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    pub sql: String,
}

/// The answer of a herd built without the `sql` feature.
pub const WITHOUT_SQL: &str = "this herd was built without SQL; build with --features sql";

/// What `POST /v1/sql` runs queries with: the engine and the limits every query
/// gets. Only a herd built with the `sql` feature can make one.
#[derive(Debug, Clone)]
pub struct SqlApi {
    #[cfg(feature = "sql")]
    engine: std::sync::Arc<herd_lake::sql::SqlEngine>,
    #[cfg(feature = "sql")]
    limits: herd_lake::sql::SqlLimits,
    #[cfg(feature = "sql")]
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    #[cfg(feature = "sql")]
    runtime: std::sync::Arc<with_sql::QueryRuntime>,
    #[cfg(not(feature = "sql"))]
    _unbuildable: (),
}

/// The server's JSON error, `{"error": …, "status": …}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

#[cfg(not(feature = "sql"))]
pub(crate) async fn query(
    State(_api): State<Option<SqlApi>>,
    _body: Result<Json<SqlRequest>, JsonRejection>,
) -> Response {
    error(StatusCode::NOT_FOUND, WITHOUT_SQL)
}

#[cfg(feature = "sql")]
pub(crate) use with_sql::query;

#[cfg(feature = "sql")]
mod with_sql {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::http::header;
    use herd_lake::sql::{
        Column, Flow, JsonRows, QueryLimits, SqlEngine, SqlError, SqlLimits, columns,
    };
    use serde::Serialize;
    use tokio::sync::Semaphore;
    use tokio_util::task::AbortOnDropHandle;
    use tracing::debug;

    use super::*;

    /// How long past its own limit a query gets to notice it and stop, before the
    /// answer is given up on regardless.
    const GRACE: Duration = Duration::from_secs(1);

    /// How long a client refused for too many queries is asked to wait.
    const RETRY_AFTER_SECONDS: u64 = 1;

    /// Stack of each query thread: planning recurses once per level of a statement,
    /// which the engine bounds (see [`herd_lake::sql::MAX_EXPRESSION_DEPTH`]); this
    /// leaves room for the deepest statement it lets through, unoptimized.
    const QUERY_STACK_BYTES: usize = 16 << 20;

    impl SqlApi {
        /// Queries run by `engine` within `limits`, on threads of their own. A limit
        /// of zero is refused: none can be switched off.
        pub fn new(engine: SqlEngine, limits: SqlLimits) -> std::io::Result<Self> {
            let zero = [
                ("max_rows", limits.max_rows == 0),
                ("max_answer_bytes", limits.max_answer_bytes == 0),
                ("timeout", limits.timeout.is_zero()),
                ("max_concurrent", limits.max_concurrent == 0),
            ];
            if let Some((name, _)) = zero.iter().find(|(_, zero)| *zero) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("the SQL limit {name} is 0; every limit must be positive"),
                ));
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name("herd-sql")
                .thread_stack_size(QUERY_STACK_BYTES)
                .enable_all()
                .build()?;
            Ok(Self {
                engine: Arc::new(engine),
                limits,
                slots: Arc::new(Semaphore::new(limits.max_concurrent)),
                runtime: Arc::new(QueryRuntime(Some(runtime))),
            })
        }
    }

    /// The runtime queries run on. It is dropped where blocking is not allowed (in
    /// the server's shutdown), so it shuts down without waiting for its threads.
    #[derive(Debug)]
    pub struct QueryRuntime(Option<tokio::runtime::Runtime>);

    impl QueryRuntime {
        fn handle(&self) -> Option<&tokio::runtime::Handle> {
            self.0.as_ref().map(tokio::runtime::Runtime::handle)
        }
    }

    impl Drop for QueryRuntime {
        fn drop(&mut self) {
            if let Some(runtime) = self.0.take() {
                runtime.shutdown_background();
            }
        }
    }

    #[derive(Serialize)]
    struct ColumnJson<'a> {
        name: &'a str,
        #[serde(rename = "type")]
        data_type: &'a str,
    }

    pub(crate) async fn query(
        State(api): State<Option<SqlApi>>,
        body: Result<Json<SqlRequest>, JsonRejection>,
    ) -> Response {
        let Some(api) = api else {
            return error(StatusCode::NOT_FOUND, "SQL is not enabled on this server");
        };
        let Json(request) = match body {
            Ok(body) => body,
            Err(rejection) => return ApiError::from(rejection).into_response(),
        };
        let limits = api.limits;
        // Held by the query's task until it has stopped, even past its time limit.
        // A burst (the dashboard sends its queries together) waits its turn briefly;
        // only a query still without a slot after that is refused.
        let waited = tokio::time::timeout(SLOT_WAIT, Arc::clone(&api.slots).acquire_owned());
        let Ok(Ok(slot)) = waited.await else {
            return busy(limits.max_concurrent);
        };
        let engine = Arc::clone(&api.engine);
        let Some(runtime) = api.runtime.handle() else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            );
        };
        // Aborted if the client goes away first.
        let task = AbortOnDropHandle::new(runtime.spawn(async move {
            let answer = run(&engine, &request.sql, &limits).await;
            drop(slot);
            answer
        }));
        let joined = match tokio::time::timeout(limits.timeout + GRACE, task).await {
            Ok(joined) => joined,
            Err(_) => return failed(&SqlError::Timeout(limits.timeout)),
        };
        match joined {
            Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Ok(Err(e)) => failed(&e),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query stopped: {e}"),
            ),
        }
    }

    /// How long a query waits for a slot before it is refused with 429.
    const SLOT_WAIT: Duration = Duration::from_secs(5);

    /// 429 with `Retry-After`: every query slot stayed taken for [`SLOT_WAIT`].
    fn busy(max_concurrent: usize) -> Response {
        let message = format!(
            "too many SQL queries at once: {max_concurrent} are running (sql_max_concurrent) \
             and none finished within {} s; retry after {RETRY_AFTER_SECONDS} s",
            SLOT_WAIT.as_secs()
        );
        debug!(max_concurrent, "SQL query refused: every slot is taken");
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).retry_after(RETRY_AFTER_SECONDS)
    }

    fn failed(e: &SqlError) -> Response {
        let status = match e {
            SqlError::Refused(_)
            | SqlError::Invalid(_)
            | SqlError::TooComplex(_)
            | SqlError::Unwritable(_) => StatusCode::BAD_REQUEST,
            SqlError::Timeout(_) | SqlError::OutOfMemory { .. } => StatusCode::SERVICE_UNAVAILABLE,
            SqlError::Lake(_) | SqlError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        debug!(error = %e, status = status.as_u16(), "SQL query failed");
        error(status, e.to_string())
    }

    /// Runs `sql` and writes its answer's body, rows written as they come and cut at
    /// the row cap or the byte cap, whichever comes first.
    async fn run(engine: &SqlEngine, sql: &str, limits: &SqlLimits) -> Result<Vec<u8>, SqlError> {
        let query_limits = QueryLimits {
            max_rows: Some(limits.max_rows),
            timeout: Some(limits.timeout),
        };
        let mut rows = JsonRows::new(limits.max_answer_bytes);
        let mut full = false;
        let delivered = engine
            .query_each(sql, &query_limits, |batch| {
                full = !rows.push(batch)?;
                Ok(if full { Flow::Stop } else { Flow::Continue })
            })
            .await?;
        let answer = Answer {
            columns: columns(&delivered.schema),
            row_count: rows.rows(),
            truncated: delivered.truncated,
            truncated_by: match (delivered.truncated, full) {
                (false, _) => None,
                (true, true) => Some("bytes"),
                (true, false) => Some("rows"),
            },
            elapsed_ms: (delivered.elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
        };
        body(&answer, rows.finish())
    }

    /// What an answer says besides its rows.
    struct Answer {
        columns: Vec<Column>,
        row_count: usize,
        truncated: bool,
        /// Which cap cut the answer: `rows` or `bytes`.
        truncated_by: Option<&'static str>,
        elapsed_ms: f64,
    }

    /// `{"columns": […], "rows": […], "row_count": n, "truncated": b, "truncated_by": …,
    /// "elapsed_ms": x}`, with the rows as Arrow's JSON writer writes them, spliced in
    /// unparsed.
    fn body(answer: &Answer, rows: Vec<u8>) -> Result<Vec<u8>, SqlError> {
        let columns: Vec<ColumnJson> = answer
            .columns
            .iter()
            .map(|c| ColumnJson {
                name: &c.name,
                data_type: &c.data_type,
            })
            .collect();
        let mut body = Vec::with_capacity(rows.len() + 64 * columns.len() + 160);
        body.extend_from_slice(br#"{"columns":"#);
        serde_json::to_writer(&mut body, &columns)
            .map_err(|e| SqlError::Failed(format!("writing the answer: {e}")))?;
        body.extend_from_slice(br#","rows":"#);
        body.extend_from_slice(&rows);
        body.extend_from_slice(
            format!(
                r#","row_count":{},"truncated":{},"truncated_by":{},"elapsed_ms":{}}}"#,
                answer.row_count,
                answer.truncated,
                serde_json::Value::from(answer.truncated_by),
                serde_json::Value::from(answer.elapsed_ms)
            )
            .as_bytes(),
        );
        debug!(
            rows = answer.row_count,
            truncated = answer.truncated,
            elapsed_ms = answer.elapsed_ms,
            "SQL query answered"
        );
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    async fn answer(api: Option<SqlApi>, sql: &str) -> (StatusCode, Value) {
        let request = SqlRequest {
            sql: sql.to_owned(),
        };
        let response = query(State(api), Ok(Json(request))).await;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[cfg(not(feature = "sql"))]
    #[tokio::test]
    async fn without_the_feature_the_route_says_how_to_get_it() {
        let (status, body) = answer(None, "SELECT 1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"error": WITHOUT_SQL, "status": 404}));
    }

    #[cfg(feature = "sql")]
    #[tokio::test]
    async fn answers_refuses_and_cancels() {
        use std::time::Duration;

        use herd_lake::LakeRoot;
        use herd_lake::sql::SqlEngine;

        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
        let engine = SqlEngine::new(&root, &root, 64 << 20).unwrap();
        let limits = herd_lake::sql::SqlLimits {
            max_rows: 2,
            max_answer_bytes: 1 << 20,
            timeout: Duration::from_millis(300),
            max_concurrent: 2,
        };
        let api = Some(SqlApi::new(engine, limits).unwrap());

        let (status, body) = answer(
            api.clone(),
            "SELECT value AS v, CAST(NULL AS DOUBLE) AS x, DATE '2024-01-31' AS d \
             FROM range(3) ORDER BY v",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["columns"],
            json!([
                {"name": "v", "type": "Int64"},
                {"name": "x", "type": "Float64"},
                {"name": "d", "type": "Date32"},
            ])
        );
        assert_eq!(
            body["rows"],
            json!([
                {"v": 0, "x": null, "d": "2024-01-31"},
                {"v": 1, "x": null, "d": "2024-01-31"},
            ])
        );
        assert_eq!(body["row_count"], 2);
        assert_eq!(body["truncated"], true);
        assert!(body["elapsed_ms"].is_number(), "{body}");

        let (status, body) = answer(api.clone(), "DROP TABLE sales").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body,
            json!({"error": "only SELECT queries are allowed: DROP would remove a table", "status": 400})
        );

        let (status, body) = answer(
            api.clone(),
            "SELECT sum(value % 7) FROM range(100000000000)",
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], 503);

        let (status, body) = answer(None, "SELECT 1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}
