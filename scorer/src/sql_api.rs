//! `POST /v1/sql`: read-only SQL over the lake's Delta tables, behind the same token
//! as the forecasts. Queries run on a runtime of their own: DataFusion computes in
//! long stretches between yields, which on the serving runtime would hold up
//! forecasts. A query is cancelled at the time limit (503). Without the `sql`
//! feature the route answers 404, saying how to build a herd that has it.

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
    limits: herd_lake::sql::QueryLimits,
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
    use herd_lake::sql::{Answer, QueryLimits, SqlEngine, SqlError, columns, json_rows};
    use serde::Serialize;
    use tokio_util::task::AbortOnDropHandle;
    use tracing::debug;

    use super::*;

    /// How long past its own limit a query gets to notice it and stop, before the
    /// answer is given up on regardless.
    const GRACE: Duration = Duration::from_secs(1);

    impl SqlApi {
        /// Queries run by `engine`, each cut at `max_rows` rows (0: no cap) and
        /// cancelled after `timeout` (zero: no limit), on threads of their own.
        pub fn new(engine: SqlEngine, max_rows: usize, timeout: Duration) -> std::io::Result<Self> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name("herd-sql")
                .enable_all()
                .build()?;
            Ok(Self {
                engine: Arc::new(engine),
                limits: QueryLimits {
                    max_rows: (max_rows > 0).then_some(max_rows),
                    timeout: (!timeout.is_zero()).then_some(timeout),
                },
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
    struct ColumnJson {
        name: String,
        #[serde(rename = "type")]
        data_type: String,
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
        let (engine, limits) = (Arc::clone(&api.engine), api.limits);
        let Some(runtime) = api.runtime.handle() else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            );
        };
        // Aborted if the client goes away first.
        let task = AbortOnDropHandle::new(
            runtime.spawn(async move { engine.query(&request.sql, &limits).await }),
        );
        let joined = match limits.timeout {
            Some(limit) => match tokio::time::timeout(limit + GRACE, task).await {
                Ok(joined) => joined,
                Err(_) => return failed(&SqlError::Timeout(limit)),
            },
            None => task.await,
        };
        match joined {
            Ok(Ok(answer)) => answered(&answer),
            Ok(Err(e)) => failed(&e),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query stopped: {e}"),
            ),
        }
    }

    fn failed(e: &SqlError) -> Response {
        let status = match e {
            SqlError::Refused(_) | SqlError::Invalid(_) => StatusCode::BAD_REQUEST,
            SqlError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            SqlError::Lake(_) | SqlError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        debug!(error = %e, status = status.as_u16(), "SQL query failed");
        error(status, e.to_string())
    }

    /// `{"columns": […], "rows": […], "row_count": n, "truncated": b, "elapsed_ms": x}`,
    /// with the rows as Arrow's JSON writer writes them, spliced in unparsed.
    fn answered(answer: &Answer) -> Response {
        let rows = match json_rows(&answer.batches) {
            Ok(rows) => rows,
            Err(e) => return failed(&e),
        };
        let columns: Vec<ColumnJson> = columns(&answer.schema)
            .into_iter()
            .map(|c| ColumnJson {
                name: c.name,
                data_type: c.data_type,
            })
            .collect();
        let elapsed_ms = (answer.elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
        let mut body = Vec::with_capacity(rows.len() + 64 * columns.len() + 128);
        body.extend_from_slice(br#"{"columns":"#);
        if let Err(e) = serde_json::to_writer(&mut body, &columns) {
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
        body.extend_from_slice(br#","rows":"#);
        body.extend_from_slice(&rows);
        body.extend_from_slice(
            format!(
                r#","row_count":{},"truncated":{},"elapsed_ms":{}}}"#,
                answer.row_count,
                answer.truncated,
                serde_json::Value::from(elapsed_ms)
            )
            .as_bytes(),
        );
        debug!(
            rows = answer.row_count,
            truncated = answer.truncated,
            elapsed_ms,
            "SQL query answered"
        );
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
        let engine = SqlEngine::new(&root, &root).unwrap();
        let api = Some(SqlApi::new(engine, 2, Duration::from_millis(300)).unwrap());

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
