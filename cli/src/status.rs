//! `--status-listen ADDR` of the long-running commands (`archive`, `train`, `score`,
//! `promote`): what an orchestrator's probes and Prometheus ask a service.
//!
//! - `GET /healthz`: 200 while the service is alive, 503 once it failed and is
//!   stopping (a dead training task, a fatal Kafka or lake error).
//! - `GET /readyz`: 200 while it does its job; 503 while it starts, waits for the
//!   broker or stops, with the reason.
//! - `GET /metrics`: its counters in the OpenMetrics text format.
//!
//! Both probes answer JSON: `{"status": "ready", "reason": null}`. Nothing here needs
//! a token: it says nothing about the data, and it listens where the operator says
//! (loopback unless told otherwise).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herd_bus::{Health, Status};
use serde_json::json;
use tracing::info;

/// The OpenMetrics text format's content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `status` on `listen` (when given) until the process ends; returns the
/// address bound, which differs from `listen` when its port is 0.
pub async fn serve(
    listen: Option<SocketAddr>,
    status: &Status,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(listen) = listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--status-listen {listen}: cannot listen there"))?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "status on http://{bound} (/healthz, /readyz, /metrics)");
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(status.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::warn!(error = %err, "the status listener stopped");
        }
    });
    Ok(Some(bound))
}

fn probe(health: &Health, ok: bool) -> Response {
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": health.name(), "reason": health.reason()});
    (code, axum::Json(body)).into_response()
}

async fn healthz(State(status): State<Status>) -> Response {
    let health = status.health();
    probe(&health, health.is_live())
}

async fn readyz(State(status): State<Status>) -> Response {
    let health = status.health();
    probe(&health, health.is_ready())
}

async fn metrics(State(status): State<Status>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], status.encode()).into_response()
}

async fn not_found() -> Response {
    let body = json!({
        "error": "not found: the status listener serves /healthz, /readyz and /metrics",
        "status": 404,
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
