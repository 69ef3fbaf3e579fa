//! `herd serve`: real-time forecasts over HTTP from production models loaded on
//! demand into a byte-budgeted cache, which promotion and rollback events on
//! `herd.models` update within a second. Forecasts start after each key's newest day
//! in the lake's `sales` (re-read as it grows), and a key without a production model
//! gets the fallback chain's forecast (its own baseline, else a cold start); every
//! answer says its `as_of` day and its `origin`.
//!
//! Routes: `GET /v1/forecast/{store_id}/{item_id}?horizon=28`, `POST /v1/forecast`
//! (a what-if with planned prices and promotions), `/healthz`, `/readyz`,
//! `/metrics` (Prometheus text), `/openapi.json`, `GET /v1/pipeline` (consumer lag,
//! table sizes, the promotion rule) and the dashboard page at `/`. Every error is
//! JSON with a reason: 400 for a bad id, horizon or body, 401 without the bearer
//! token when one is required, 404 for a key that has neither a production model nor
//! the history a fallback needs (or no fallback is configured), 405 for a
//! wrong method, 415 for a body that is not JSON, 421 for a `Host` this server does
//! not answer to, 503 when a limit is reached.
//!
//! The server is written for clients that are slow, careless or hostile: headers
//! must arrive within a timeout, every request has a deadline, open connections and
//! requests in flight are capped (past the caps the answer is 503 at once rather
//! than a queue), and the `Host` header must name this server, so that a web page
//! whose name is rebound to the server's address cannot read the API.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike as _, NaiveDate};
use herd_history::DenseHistory;
use herd_models::{Future, TrainOptions};
use herd_registry::ModelCache;
use herd_schemas::{SeriesId, SeriesKey};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::fallback::{self, Fallback, Origin};
use crate::recent::RecentSales;

/// The longest forecast served.
pub const MAX_HORIZON: usize = 366;
/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The OpenAPI document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Requests must carry `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    pub default_horizon: usize,
    /// Answers `POST /v1/sql`; without it the route answers 404.
    pub sql: Option<crate::sql_api::SqlApi>,
    /// What `GET /v1/pipeline` reports on: consumer groups, tables and the rule.
    pub pipeline: crate::pipeline::PipelineOptions,
    /// Names `Host` may give besides loopback names and the listen address.
    pub allowed_hosts: Vec<String>,
    pub limits: ServeLimits,
    /// Every key's recent sales, so that forecasts start after the newest archived
    /// day and keys without a production model get the fallback chain's; without
    /// it, forecasts start after the model's last training day and such keys get 404.
    pub recent: Option<Arc<RecentSales>>,
    /// What forecasts a key without a production model (needs `recent`).
    pub fallback: Vec<Fallback>,
}

/// What one client, or many, may take of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// A request's headers must arrive within this; an idle keep-alive connection
    /// is closed after as long.
    pub header_read_timeout: Duration,
    /// A request unanswered after this gets 503.
    pub request_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Requests handled at once; one more gets 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_concurrent_requests: 256,
        }
    }
}

/// Seconds a client is told to wait when a limit turned it away.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Refuses to expose the API without a token: listening on an address other
/// machines reach with no token set lets anyone read the forecasts and tables, so
/// it takes `insecure_no_token` to do it.
pub fn check_exposure(
    listen: SocketAddr,
    token: Option<&str>,
    insecure_no_token: bool,
) -> Result<(), String> {
    if listen.ip().is_loopback() || token.is_some() || insecure_no_token {
        return Ok(());
    }
    Err(format!(
        "listening on {listen} without a token would let anyone who reaches it read the API; \
         set --token (or HERD_SERVE_TOKEN, serve.token), or pass --insecure-no-token"
    ))
}

/// Refuses a default horizon the API would refuse on every request.
pub fn check_default_horizon(horizon: usize) -> Result<(), String> {
    horizon_of(None, horizon).map(|_| ()).map_err(|_| {
        format!("train.horizon {horizon} is out of range for herd serve: 1 to {MAX_HORIZON} days")
    })
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
}

struct AppState {
    cache: Arc<ModelCache>,
    options: ServeOptions,
    /// `/openapi.json`, with this server's default horizon.
    openapi: String,
    counters: Counters,
    hosts: AllowedHosts,
    /// One permit per request in flight.
    in_flight: Arc<Semaphore>,
}

type Shared = Arc<AppState>;

/// A JSON error with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// This error as a response that asks the client to retry after `seconds`.
    pub(crate) fn retry_after(self, seconds: u64) -> Response {
        let mut response = self.into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    /// A client's mistake keeps the status that names it (413 for a large body,
    /// 415 for one that is not JSON); anything else is a bad request.
    fn from(e: JsonRejection) -> Self {
        let status = match e.status() {
            status @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => status,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.body_text())
    }
}

/// One forecast day.
#[derive(Debug, Serialize)]
pub struct Point {
    #[serde(serialize_with = "iso_date")]
    pub date: NaiveDate,
    pub step: usize,
    pub forecast: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A forecast answer.
#[derive(Debug, Serialize)]
pub struct ForecastResponse {
    pub store_id: String,
    pub item_id: String,
    /// The production model's version; `None` for a fallback's forecast.
    pub model_version: Option<i64>,
    pub model_type: Option<String>,
    /// `champion` (the production model), `baseline` or `cold_start` (the fallback
    /// chain, for a key without one).
    pub origin: Origin,
    /// The last day of data the production model was trained on.
    pub trained_through: Option<NaiveDate>,
    /// The last day of data the forecast starts after: the key's newest archived
    /// day, or the model's last training day when the lake has nothing newer.
    #[serde(serialize_with = "iso_date")]
    pub as_of: NaiveDate,
    pub horizon: usize,
    /// The known future covariates the model reads (`price`, `promo`); a what-if's
    /// plan changes the answer only through these.
    pub covariates_used: &'static [&'static str],
    pub forecast: Vec<Point>,
}

#[derive(Debug, Deserialize)]
struct HorizonQuery {
    horizon: Option<usize>,
}

/// A what-if request: a key, a horizon and planned prices and promotions per day.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    pub store_id: String,
    pub item_id: String,
    pub horizon: Option<usize>,
    #[serde(default)]
    /// As sent: checked to be a positive 32-bit float before the model sees it.
    pub price: Vec<f64>,
    #[serde(default)]
    pub promo: Vec<bool>,
}

/// The API's routes over `cache`, with its limits on requests (the limits on
/// connections are [`serve`]'s).
///
/// Layers, outermost first: counting responses, turning any error without a JSON
/// body into one, the `Host` check, load shedding (`/healthz` exempt), the request
/// deadline; the token guards `/v1/` and `/metrics`.
pub fn router(cache: Arc<ModelCache>, options: ServeOptions) -> Router {
    let state = Arc::new(AppState {
        hosts: AllowedHosts::new(options.listen.ip(), &options.allowed_hosts),
        in_flight: Arc::new(Semaphore::new(options.limits.max_concurrent_requests)),
        openapi: openapi_document(options.default_horizon),
        cache,
        options,
        counters: Counters::default(),
    });
    let guarded = Router::new()
        .route("/v1/forecast/{store_id}/{item_id}", get(forecast))
        .route("/v1/forecast", post(what_if))
        .route(
            "/v1/sql",
            post(crate::sql_api::query).with_state(state.options.sql.clone()),
        )
        .merge(crate::pipeline::routes(state.options.pipeline.clone()))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_token,
        ));
    Router::new()
        .merge(guarded)
        .merge(crate::dashboard::routes())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), deadline))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            shed_load,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            check_host,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), count))
        .with_state(state)
}

/// Serves until `cancel`, then lets the open connections finish their requests.
pub async fn serve(
    cache: Arc<ModelCache>,
    options: ServeOptions,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    info!(address = %listener.local_addr()?, "serving forecasts");
    let limits = options.limits;
    accept(listener, router(cache, options), limits, cancel).await;
    Ok(())
}

/// Accepts connections until `cancel`, each served by hyper with a deadline on its
/// headers, at most `limits.max_connections` at once.
async fn accept(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    cancel: CancellationToken,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            turn_away(stream, limits.max_connections);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let cancel = cancel.clone();
        connections.spawn(async move {
            let _open = permit;
            let mut connection = std::pin::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                debug!(error = %e, "connection closed");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// Answers a connection past the cap with 503 and closes it, without reading it.
/// The socket's buffer is empty, so one write that does not wait sends it all. The
/// write goes straight to the socket: tokio's `try_write` would refuse it until the
/// runtime had seen the new socket writable, which under load it may not have yet.
fn turn_away(stream: TcpStream, cap: usize) {
    let body = serde_json::json!({
        "error": format!("{cap} connections are open, the most this server takes; retry shortly"),
        "status": 503,
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {RETRY_AFTER_SECONDS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let written = stream
        .into_std()
        .and_then(|mut socket| std::io::Write::write(&mut socket, response.as_bytes()));
    if let Err(e) = written {
        debug!(error = %e, "turning a connection away");
    }
}

/// 401 unless the request carries the bearer token, compared in constant time so
/// that the answer's timing tells nothing of how much of a guess was right.
async fn require_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.options.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|given| token_matches(given, token)) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "a bearer token is required")
                .into_response();
        }
    }
    next.run(request).await
}

fn token_matches(given: &str, token: &str) -> bool {
    constant_time_eq::constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// The names a request's `Host` may give: loopback names and addresses, the
/// listen address (any IP address when it listens on all of them: an address
/// cannot be rebound the way a name can) and the configured names.
#[derive(Debug, Clone)]
struct AllowedHosts {
    listen: IpAddr,
    names: Vec<String>,
}

impl AllowedHosts {
    fn new(listen: IpAddr, names: &[String]) -> Self {
        Self {
            listen,
            names: names.iter().map(|n| normalized(n)).collect(),
        }
    }

    /// Whether `host` (a `Host` header: a name or address, maybe with a port)
    /// names this server.
    fn allows(&self, host: &str) -> bool {
        let name = normalized(host_name(host));
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback() || self.listen.is_unspecified() || ip == self.listen;
        }
        name == "localhost" || self.names.contains(&name)
    }
}

/// A host name as compared: lower case, without the root's trailing dot.
fn normalized(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `host` without its port: `[::1]:8080` → `[::1]`, `example.com:80` → `example.com`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// 421 for a request whose `Host` names another server: a page served under a
/// name that an attacker re-points at this address must not read the API.
async fn check_host(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .or_else(|| request.uri().host());
    match host {
        Some(host) if !state.hosts.allows(host) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host {:?} is not a name of this server; add it to [serve] allowed_hosts",
                host_name(host)
            ),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// 503 with `Retry-After` when as many requests as allowed are in flight, rather
/// than a queue that grows with the load; `/healthz` always answers.
async fn shed_load(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let Ok(_permit) = Arc::clone(&state.in_flight).try_acquire_owned() else {
        let limit = state.options.limits.max_concurrent_requests;
        return retry_later(format!(
            "{limit} requests are in flight, the most this server takes; retry shortly"
        ));
    };
    next.run(request).await
}

/// 503 for a request not answered within the deadline; its reading of the body
/// counts, so a client cannot hold a request open by sending its body slowly.
async fn deadline(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let limit = state.options.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => retry_later(format!(
            "the request was not answered within {} s",
            limit.as_secs_f64()
        )),
    }
}

fn retry_later(message: String) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(RETRY_AFTER_SECONDS)
}

/// The longest error body kept as the reason when an error is rewritten as JSON.
const MAX_REASON_BYTES: usize = 1024;

/// Rewrites an error answered without a JSON body (axum's 405 has none, its
/// rejections are text) as `{"error": …, "status": …}`, keeping its headers.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REASON_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let reason = match status {
        // axum adds `Allow` to the answer after this layer, from the route's methods.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!(
                "{method} is not allowed on {path}; the Allow header lists the methods that are"
            )
        }
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_owned(),
    };
    let mut json = ApiError::new(status, reason).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    json.headers_mut().extend(parts.headers);
    if method == Method::HEAD {
        *json.body_mut() = axum::body::Body::empty();
    }
    json
}

async fn count(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let counter = match response.status().as_u16() {
        500.. => &state.counters.server_errors,
        400.. => &state.counters.client_errors,
        _ => &state.counters.ok,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    response
}

fn key_of(store_id: &str, item_id: &str) -> Result<SeriesKey, ApiError> {
    let store: SeriesId = store_id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("store_id {store_id:?}: {e}")))?;
    let item: SeriesId = item_id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("item_id {item_id:?}: {e}")))?;
    Ok(SeriesKey::new(store, item))
}

fn horizon_of(requested: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match requested.unwrap_or(default) {
        h @ 1..=MAX_HORIZON => Ok(h),
        h => Err(ApiError::bad_request(format!(
            "horizon {h} is out of range: 1 to {MAX_HORIZON} days"
        ))),
    }
}

async fn forecast(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HorizonQuery>, QueryRejection>,
) -> Result<ForecastJson, ApiError> {
    let Path((store_id, item_id)) = path?;
    let Query(query) = query?;
    let key = key_of(&store_id, &item_id)?;
    let horizon = horizon_of(query.horizon, state.options.default_horizon)?;
    answer(&state, &key, horizon, None).await
}

async fn what_if(
    State(state): State<Shared>,
    body: Result<Json<WhatIf>, JsonRejection>,
) -> Result<ForecastJson, ApiError> {
    let Json(body) = body?;
    let key = key_of(&body.store_id, &body.item_id)?;
    let horizon = horizon_of(body.horizon, state.options.default_horizon)?;
    if body.price.len() > horizon || body.promo.len() > horizon {
        return Err(ApiError::bad_request(format!(
            "{} prices and {} promotion days given for a {horizon}-day horizon",
            body.price.len(),
            body.promo.len()
        )));
    }
    let price = planned_prices(&body.price)?;
    let promo: Vec<u8> = body.promo.iter().map(|p| u8::from(*p)).collect();
    let future = Future {
        price: &price,
        promo: &promo,
    };
    answer(&state, &key, horizon, Some(&future)).await
}

/// Planned prices as the models take them: each a positive, normal 32-bit float (the
/// OpenAPI document's bounds), so that no price turns into 0 or infinity on the way.
fn planned_prices(prices: &[f64]) -> Result<Vec<f32>, ApiError> {
    let range = f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX);
    match prices.iter().find(|p| !range.contains(p)) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "price {bad} is not a positive price: expected a number from {:e} to {:e}",
            f32::MIN_POSITIVE,
            f32::MAX
        ))),
        // In range, so the conversion neither rounds to 0 nor overflows.
        None => Ok(prices.iter().map(|&p| p as f32).collect()),
    }
}

async fn answer(
    state: &AppState,
    key: &SeriesKey,
    horizon: usize,
    future: Option<&Future<'_>>,
) -> Result<ForecastJson, ApiError> {
    let model = state.cache.get(key).await.map_err(|e| {
        // The reason names files on this server: it goes to the log only.
        warn!(%key, error = %e, "loading a production model");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{key}'s production model could not be loaded; the server's log has the reason"
            ),
        )
    })?;
    let recent = state.options.recent.as_ref().map(|r| r.current());
    let history = recent
        .as_ref()
        .and_then(|r| r.windows.as_ref()?.map().get(key).map(|w| w.window.dense()))
        .filter(|h| !h.sales.is_empty());
    let view = history.as_ref().map(DenseHistory::view);
    let (f, origin, kind, version, model_type, trained_through) = match &model {
        Some(model) => {
            let trained = model.model.last_date();
            // From the key's archived days when they reach past the training data;
            // else from the model's own state.
            let fresh = view
                .as_ref()
                .filter(|v| v.end() >= trained)
                .and_then(|v| model.model.forecast_from(v, horizon, future).ok());
            (
                fresh.unwrap_or_else(|| model.model.forecast(horizon, future)),
                Origin::Champion,
                model.model.kind(),
                Some(model.version),
                model.model_type.clone(),
                Some(trained),
            )
        }
        None => {
            let fallen = view.as_ref().and_then(|v| {
                let profile = recent.as_ref()?.profiles.get(key.item_id());
                let options = TrainOptions {
                    horizon,
                    ..TrainOptions::default()
                };
                Some(fallback::forecast(
                    &state.options.fallback,
                    v,
                    profile,
                    &options,
                    future,
                ))
            });
            let fallen = match fallen {
                Some(Ok(fallen)) => fallen,
                Some(Err(e)) => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{key} cannot be forecast: {e}"),
                    ));
                }
                None => None,
            };
            let Some(fallen) = fallen else {
                let reason = if view.is_some() {
                    format!("{key} has no production model, and no fallback is configured for it")
                } else {
                    format!("{key} has no production model and no sales in the lake")
                };
                return Err(ApiError::new(StatusCode::NOT_FOUND, reason));
            };
            let kind = fallen.kind;
            (
                fallen.forecast,
                fallen.origin,
                kind,
                None,
                Some(kind.as_str().to_owned()),
                None,
            )
        }
    };
    let forecast = (0..f.mean.len())
        .map(|i| Point {
            date: f.date(i),
            step: i + 1,
            forecast: f.mean[i],
            lower: f.lower[i],
            upper: f.upper[i],
        })
        .collect();
    Ok(ForecastJson(ForecastResponse {
        store_id: key.store_id().as_str().to_owned(),
        item_id: key.item_id().as_str().to_owned(),
        model_version: version,
        model_type,
        origin,
        trained_through,
        as_of: f.as_of(),
        horizon,
        covariates_used: kind.covariates(),
        forecast,
    }))
}

/// A forecast answer as JSON, serialized into a buffer sized for it at once (axum's
/// `Json` starts at 128 bytes and grows five times for a 28-day answer).
struct ForecastJson(ForecastResponse);

/// Bytes of a forecast answer: its key, version and dates, then one point per day.
const ANSWER_HEAD_BYTES: usize = 256;
const POINT_BYTES: usize = 112;

impl IntoResponse for ForecastJson {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(ANSWER_HEAD_BYTES + POINT_BYTES * self.0.forecast.len());
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
        }
    }
}

/// A date as `YYYY-MM-DD` in one string: chrono's serializer hands it to serde_json
/// a character at a time, each through the escaping writer, which cost a tenth of
/// the server's CPU under load.
fn iso_date<S: serde::Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    let (year, month, day) = (date.year(), date.month(), date.day());
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        return serializer.collect_str(date);
    };
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let text = [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
    ];
    serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
}

async fn ready(State(state): State<Shared>) -> Response {
    let keys = state.cache.stats().production_keys;
    if keys > 0 {
        (StatusCode::OK, format!("ready: {keys} production models\n")).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no production model yet: run `herd promote`",
        )
        .into_response()
    }
}

async fn openapi(State(state): State<Shared>) -> Response {
    let document = state.openapi.clone();
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// The API's OpenAPI document, saying `default_horizon` where a horizon may be left
/// out.
fn openapi_document(default_horizon: usize) -> String {
    let mut document: serde_json::Value =
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    set_horizon_default(&mut document, default_horizon);
    document.to_string()
}

/// Sets the default of every horizon that has one: the query parameter and the
/// request body's property.
fn set_horizon_default(value: &mut serde_json::Value, horizon: usize) {
    match value {
        serde_json::Value::Object(object) => {
            let parameter = object.get("name").and_then(|n| n.as_str()) == Some("horizon");
            if parameter && let Some(schema) = object.get_mut("schema") {
                set_default(schema, horizon);
            }
            if let Some(property) = object
                .get_mut("properties")
                .and_then(|properties| properties.get_mut("horizon"))
            {
                set_default(property, horizon);
            }
            object
                .values_mut()
                .for_each(|child| set_horizon_default(child, horizon));
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|child| set_horizon_default(child, horizon)),
        _ => {}
    }
}

fn set_default(schema: &mut serde_json::Value, horizon: usize) {
    if let Some(default) = schema.get_mut("default") {
        *default = horizon.into();
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let s = state.cache.stats();
    let c = &state.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "herd_model_cache_hits_total",
        "counter",
        "Forecasts served from a cached model.",
        s.hits.to_string(),
    );
    metric(
        "herd_model_cache_misses_total",
        "counter",
        "Forecasts that had to load their model.",
        s.misses.to_string(),
    );
    metric(
        "herd_model_cache_evictions_total",
        "counter",
        "Models evicted to stay within the budget.",
        s.evictions.to_string(),
    );
    metric(
        "herd_model_cache_loads_total",
        "counter",
        "Models loaded from the production registry.",
        s.loads.to_string(),
    );
    metric(
        "herd_model_cache_load_errors_total",
        "counter",
        "Model loads that failed.",
        s.load_errors.to_string(),
    );
    metric(
        "herd_model_cache_load_seconds_total",
        "counter",
        "Time spent loading models.",
        s.load_seconds_total.to_string(),
    );
    metric(
        "herd_model_cache_bytes",
        "gauge",
        "Bytes of cached models.",
        s.bytes.to_string(),
    );
    metric(
        "herd_model_cache_budget_bytes",
        "gauge",
        "The cache's byte budget.",
        s.budget_bytes.to_string(),
    );
    metric(
        "herd_model_cache_models",
        "gauge",
        "Models in the cache.",
        s.entries.to_string(),
    );
    metric(
        "herd_production_models",
        "gauge",
        "Keys with a production model.",
        s.production_keys.to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP herd_http_responses_total HTTP responses by class.\n# TYPE herd_http_responses_total counter\n\
         herd_http_responses_total{{class=\"2xx\"}} {}\n\
         herd_http_responses_total{{class=\"4xx\"}} {}\n\
         herd_http_responses_total{{class=\"5xx\"}} {}",
        c.ok.load(Ordering::Relaxed),
        c.client_errors.load(Ordering::Relaxed),
        c.server_errors.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Keeps `cache` current: applies every promotion and rollback event on `topic`
/// (read from its end by a group of this process's own, named
/// `<group_prefix>-<pid>-<ms>`) and re-reads the production table every `refresh`.
pub async fn follow_models(
    cache: Arc<ModelCache>,
    kafka: herd_bus::KafkaOptions,
    topic: String,
    group_prefix: &'static str,
    refresh: Duration,
    cancel: CancellationToken,
) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;

    let group = format!(
        "{group_prefix}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let mut config = kafka.consumer_config(&group);
    config.set("auto.offset.reset", "latest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic.as_str()])?;
    // The cache read the table when it opened; the first refresh is one period on.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + refresh, refresh);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = ticker.tick() => {
                if let Err(e) = cache.refresh().await {
                    tracing::warn!(error = %e, "re-reading the production registry");
                }
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    if let Some(Ok(event)) = message.payload().map(herd_schemas::ModelEvent::from_json)
                        && cache.apply(&event)
                    {
                        info!(key = %event.key, version = event.version, "production model changed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading model events"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_prices_are_positive_normal_f32s_or_refused_as_sent() {
        let ok = planned_prices(&[2.5, f64::from(f32::MIN_POSITIVE), f64::from(f32::MAX)]);
        assert_eq!(ok.unwrap(), vec![2.5, f32::MIN_POSITIVE, f32::MAX]);
        for bad in [0.0, -1.0, 5e-324, 1e-40, 1e39] {
            let err = planned_prices(&[1.0, bad]).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(
                err.message.starts_with(&format!("price {bad} ")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn hosts_are_loopback_names_the_listen_address_and_the_configured_names() {
        let hosts = AllowedHosts::new(
            "192.0.2.10".parse().unwrap(),
            &["Forecasts.Example".to_owned()],
        );
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:8080",
            "[::1]",
            "192.0.2.10:8080",
            "forecasts.example",
            "forecasts.example.:443",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "192.0.2.11:8080",
            "localhost.evil.example",
            "forecasts.example.evil.example",
            "[::2]:8080",
            "",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
        let everywhere = AllowedHosts::new("0.0.0.0".parse().unwrap(), &[]);
        assert!(everywhere.allows("203.0.113.5:8080"));
        assert!(everywhere.allows("[2001:db8::1]:8080"));
        assert!(!everywhere.allows("evil.example:8080"));
    }

    #[test]
    fn host_names_lose_their_port_only() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("a:b"), "a:b");
    }

    #[test]
    fn only_the_whole_token_matches() {
        assert!(token_matches("s3cret", "s3cret"));
        for given in ["s3cre", "s3cret!", "S3cret", "", "s3creu"] {
            assert!(!token_matches(given, "s3cret"), "{given}");
        }
    }

    #[test]
    fn an_exposed_address_needs_a_token_or_the_operators_word() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let everywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_exposure(loopback, None, false).is_ok());
        assert!(check_exposure("[::1]:8080".parse().unwrap(), None, false).is_ok());
        assert!(check_exposure(everywhere, Some("t"), false).is_ok());
        assert!(check_exposure(everywhere, None, true).is_ok());
        let refused = check_exposure(everywhere, None, false).unwrap_err();
        assert!(refused.contains("0.0.0.0:8080") && refused.contains("--insecure-no-token"));
        assert!(!refused.contains('\n'), "{refused}");
    }

    #[test]
    fn the_openapi_document_gives_the_configured_default_horizon() {
        let document: serde_json::Value = serde_json::from_str(&openapi_document(14)).unwrap();
        let parameter =
            &document["paths"]["/v1/forecast/{store_id}/{item_id}"]["get"]["parameters"];
        let horizon = parameter
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "horizon")
            .unwrap();
        assert_eq!(horizon["schema"]["default"], 14);
        assert_eq!(horizon["schema"]["maximum"], MAX_HORIZON);
        let body = &document["paths"]["/v1/forecast"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(body["properties"]["horizon"]["default"], 14, "{body}");
        // Only the defaults change.
        let original: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(
            original
                .to_string()
                .replace("\"default\":28", "\"default\":14"),
            document.to_string()
        );
    }

    #[test]
    fn the_default_horizon_is_checked_once() {
        assert!(check_default_horizon(28).is_ok());
        assert!(check_default_horizon(MAX_HORIZON).is_ok());
        for bad in [0, MAX_HORIZON + 1] {
            let refused = check_default_horizon(bad).unwrap_err();
            assert!(
                refused.contains(&format!("train.horizon {bad}")),
                "{refused}"
            );
        }
    }

    #[test]
    fn dates_serialize_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Day(#[serde(serialize_with = "iso_date")] NaiveDate);
        for (y, m, d) in [
            (2024, 2, 29),
            (1, 1, 1),
            (9999, 12, 31),
            (10000, 1, 1),
            (-5, 3, 7),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(
                serde_json::to_string(&Day(date)).unwrap(),
                serde_json::to_string(&date).unwrap(),
                "{date}"
            );
        }
    }
}
