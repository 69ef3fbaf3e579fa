//! `herd serve`: the real-time forecast API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use herd_lake::LakeRoot;
use herd_registry::ModelCache;
use herd_scorer::{
    ConsumerGroup, PipelineOptions, RecentSales, ServeLimits, ServeOptions, check_default_horizon,
    check_exposure, follow_models, serve,
};

use crate::args::ServeArgs;
use herd_config::Settings;
use herd_config::options::production_root;

/// How long start-up waits for the first read of recent sales.
const FIRST_READ: Duration = Duration::from_secs(10);

pub async fn run(settings: &Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let listen = match args.listen {
        Some(address) => address,
        None => settings.serve.listen.parse().with_context(|| {
            format!("serve.listen `{}` is not HOST:PORT", settings.serve.listen)
        })?,
    };
    let megabytes = args.model_cache_mb.unwrap_or(settings.serve.model_cache_mb);
    if !(megabytes.is_finite() && megabytes > 0.0) {
        bail!("--model-cache-mb: {megabytes} is not a positive size");
    }
    let budget = (megabytes * 1024.0 * 1024.0) as usize;
    let token = args
        .token
        .clone()
        .or_else(|| Some(settings.serve.token.clone()))
        .filter(|t| !t.is_empty());
    check_exposure(
        listen,
        token.as_deref(),
        args.insecure_no_token || settings.serve.insecure_no_token,
    )
    .map_err(anyhow::Error::msg)?;
    check_default_horizon(settings.train.horizon).map_err(anyhow::Error::msg)?;
    let limits = limits(settings)?;
    let cache = Arc::new(ModelCache::open(&production_root(settings)?, budget).await?);
    let cancel = crate::shutdown::cancel_on_signal();
    let refresh = Duration::from_secs(settings.serve.refresh_seconds.max(1));
    let recent = Arc::new(RecentSales::new(
        LakeRoot::parse(&settings.lake_root)
            .with_context(|| format!("lake_root `{}`", settings.lake_root))?,
        settings.train.window_days,
        settings.frequency,
        settings.train.horizon,
    ));
    // The first read, before serving, so that the first answers start from the
    // newest day; a lake that does not answer in time delays nothing further.
    match tokio::time::timeout(FIRST_READ, recent.refresh()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reading recent sales; retrying every refresh"),
        Err(_) => tracing::warn!(
            seconds = FIRST_READ.as_secs(),
            "the lake's sales did not answer; serving from the models' own state until they do"
        ),
    }
    let reader = tokio::spawn(Arc::clone(&recent).follow(refresh, cancel.clone()));
    let follower = tokio::spawn(follow_models(
        Arc::clone(&cache),
        settings.kafka_options(),
        settings.topics.models.clone(),
        "herd-serve",
        refresh,
        cancel.clone(),
    ));
    let options = ServeOptions {
        listen,
        token,
        default_horizon: settings.train.horizon,
        sql: crate::commands::sql::api(settings)?,
        pipeline: pipeline_options(settings)?,
        allowed_hosts: settings.serve.allowed_hosts.clone(),
        limits,
        recent: Some(recent),
        fallback: settings.promote.fallback.clone(),
    };
    let served = serve(cache, options, cancel.clone())
        .await
        .with_context(|| format!("serving on {listen}"));
    cancel.cancel();
    reader.await.context("reading recent sales")?;
    follower
        .await
        .context("following model events")?
        .context("following model events")?;
    served
}

/// What clients may take of the server, each limit at least 1.
fn limits(settings: &Settings) -> anyhow::Result<ServeLimits> {
    let serve = &settings.serve;
    serve.check_limits().map_err(anyhow::Error::msg)?;
    Ok(ServeLimits {
        header_read_timeout: Duration::from_secs(serve.header_read_timeout_seconds),
        request_timeout: Duration::from_secs(serve.request_timeout_seconds),
        max_connections: serve.max_connections,
        max_concurrent_requests: serve.max_concurrent_requests,
    })
}

/// What `GET /v1/pipeline` reports on: each service's consumer group and the topic
/// it reads, the lake and production roots, and the promotion rule.
fn pipeline_options(settings: &Settings) -> anyhow::Result<PipelineOptions> {
    let topics = &settings.topics;
    Ok(PipelineOptions {
        kafka: settings.kafka_options(),
        groups: vec![
            ConsumerGroup::new("archive", &settings.archive.group, &topics.sales),
            ConsumerGroup::new("train", &settings.train.group, &topics.sales),
            ConsumerGroup::new("promote", &settings.promote.group, &topics.models),
            ConsumerGroup::new("score", &settings.score.group, &topics.sales),
        ],
        rule: settings.promote.rule.clone(),
        lake_root: herd_lake::LakeRoot::parse(&settings.lake_root)
            .with_context(|| format!("lake_root `{}`", settings.lake_root))?,
        production_root: production_root(settings)?,
        kafka_timeout: Duration::from_secs(2),
    })
}
