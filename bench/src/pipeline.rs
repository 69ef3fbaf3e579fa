//! `herd bench pipeline`: the whole pipeline as an operator runs it, each stage a
//! `herd` process of its own on fresh topics and a scratch lake. The archive follows
//! the sales topic while `herd ingest` publishes the file, then `train --once`,
//! `promote --once` and `score --batch` run one after the other. Measured from the
//! moment the data file exists: each stage's seconds and peak RSS, when the archive
//! had stored the last record, and when the last forecast was committed. JSON lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use herd_lake::{LakeRoot, tables};
use serde_json::json;
use tokio::process::{Child, Command};

use herd_config::Settings;

use crate::args::BenchPipelineArgs;
use crate::ingest::{create_topics, input_file};
use crate::measure::{emit, secs, status_mb};

/// How often a running stage's memory and the archive's progress are read.
const POLL: Duration = Duration::from_millis(200);
/// How long the archive may go without storing a record once ingest has finished.
const ARCHIVE_STALL: Duration = Duration::from_secs(120);

pub async fn run(settings: &Settings, args: &BenchPipelineArgs) -> anyhow::Result<()> {
    let run = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let dir = args.work_dir.join(format!("pipeline-{run}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // The stages run in `dir`; every path they are given is absolute.
    let dir = std::path::absolute(&dir)?;
    let input = input_file(
        "pipeline",
        &args.spec.spec(),
        args.input.as_deref(),
        &args.work_dir,
    )
    .await?;
    let input = std::path::absolute(&input)?;
    let result = bench(settings, args, &run, &dir, &input).await;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
        if args.input.is_none() {
            std::fs::remove_file(&input).ok();
        }
    }
    result
}

async fn bench(
    settings: &Settings,
    args: &BenchPipelineArgs,
    run: &str,
    dir: &Path,
    input: &Path,
) -> anyhow::Result<()> {
    // Every stage reads one configuration file: this process's settings on topics
    // and a lake of the run's own. No HERD_* variable reaches the stages.
    let mut own = settings.clone();
    own.lake_root = dir.join("lake").to_string_lossy().into_owned();
    own.promote.production_root = String::new();
    own.topics.partitions = args.partitions;
    own.topics.sales = format!("herd.bench.pipeline.{run}.sales");
    own.topics.sales_dlq = format!("herd.bench.pipeline.{run}.dlq");
    own.topics.models = format!("herd.bench.pipeline.{run}.models");
    own.topics.predictions = format!("herd.bench.pipeline.{run}.predictions");
    let kafka = own.kafka_options();
    let topics = [
        own.topics.sales.as_str(),
        own.topics.sales_dlq.as_str(),
        own.topics.models.as_str(),
        own.topics.predictions.as_str(),
    ];
    create_topics(&kafka, &topics, args.partitions).await?;
    let config = dir.join("herd.toml");
    std::fs::write(&config, toml::to_string(&own)?)
        .with_context(|| format!("writing {}", config.display()))?;
    let stage = |name: &'static str| Stage {
        name,
        config: config.clone(),
        dir: dir.to_path_buf(),
    };

    // Ingest, with the archive following the topic from before the first record.
    let started = Instant::now();
    let mut archive =
        stage("archive").spawn(&["archive", "--group", &format!("herd-bench-pipeline-{run}")])?;
    let input_arg = input.to_string_lossy().into_owned();
    let ingest = stage("ingest").spawn(&["ingest", &input_arg])?;
    let ingest = ingest.wait(&mut [&mut archive]).await?;
    let ingest_seconds = secs(started);
    let published = published(&ingest.stdout)?;
    emit(json!({
        "bench": "pipeline", "stage": "ingest", "rows": published, "seconds": ingest_seconds,
        "rows_per_s": published as f64 / ingest_seconds.max(1e-9), "peak_rss_mb": ingest.peak_rss_mb,
    }));

    let root = LakeRoot::parse(&own.lake_root)?;
    let archived_at = wait_archived(&root, published, &mut archive, started).await?;
    let archive = archive.stop().await?;
    emit(json!({
        "bench": "pipeline", "stage": "archive", "rows": published, "seconds": archived_at,
        "behind_ingest_seconds": archived_at - ingest_seconds,
        "rows_per_s": published as f64 / archived_at.max(1e-9), "peak_rss_mb": archive.peak_rss_mb,
    }));

    let mut at = archived_at;
    for (name, command) in [
        ("train", &["train", "--once"][..]),
        ("promote", &["promote", "--once"][..]),
        ("score", &["score", "--batch"][..]),
    ] {
        let begun = Instant::now();
        let done = stage(name).spawn(command)?.wait(&mut []).await?;
        at = secs(started);
        emit(json!({
            "bench": "pipeline", "stage": name, "seconds": secs(begun), "peak_rss_mb": done.peak_rss_mb,
            "summary": done.stdout.lines().last().unwrap_or_default(),
        }));
    }
    emit(json!({
        "bench": "pipeline", "stage": "total", "rows": published, "input": input.display().to_string(),
        "partitions": args.partitions,
        "seconds_to_last_forecast": at, "seconds_to_archived": archived_at, "seconds_ingest": ingest_seconds,
    }));
    Ok(())
}

/// One `herd` command of the pipeline, logging to `<dir>/<name>.log`.
struct Stage {
    name: &'static str,
    config: PathBuf,
    dir: PathBuf,
}

impl Stage {
    fn spawn(&self, args: &[&str]) -> anyhow::Result<Running> {
        let log = self.dir.join(format!("{}.log", self.name));
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(&log)
                    .with_context(|| format!("creating {}", log.display()))?,
            )
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HERD_") {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting herd {}", args.join(" ")))?;
        Ok(Running {
            name: self.name,
            child,
            log,
            peak_rss_mb: None,
        })
    }
}

/// A stage's process while it runs: its memory peak is read as it goes, since a
/// process that has exited has no `/proc` entry left to read it from.
struct Running {
    name: &'static str,
    child: Child,
    log: PathBuf,
    peak_rss_mb: Option<f64>,
}

/// What a stage left behind.
struct Finished {
    stdout: String,
    peak_rss_mb: Option<f64>,
}

impl Running {
    fn sample(&mut self) {
        if let Some(pid) = self.child.id()
            && let Some(mb) = status_mb(&format!("/proc/{pid}/status"), "VmHWM:")
        {
            self.peak_rss_mb = Some(self.peak_rss_mb.map_or(mb, |p| p.max(mb)));
        }
    }

    /// Fails when the process has exited (it should still be running).
    fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "herd {} exited ({status}):\n{}",
                self.name,
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Waits for the stage to exit, sampling its memory and checking that `beside`
    /// keep running; fails unless it succeeded.
    async fn wait(mut self, beside: &mut [&mut Running]) -> anyhow::Result<Finished> {
        let mut stdout = self.child.stdout.take().context("the stage's stdout")?;
        let reader = tokio::spawn(async move {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
                .await
                .map(|_| text)
        });
        let status = loop {
            self.sample();
            for other in beside.iter_mut() {
                other.sample();
                other.check_running()?;
            }
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            tokio::time::sleep(POLL).await;
        };
        let stdout = reader.await??;
        if !status.success() {
            bail!(
                "herd {} failed ({status}):\n{}",
                self.name,
                log_tail(&self.log)
            );
        }
        Ok(Finished {
            stdout,
            peak_rss_mb: self.peak_rss_mb,
        })
    }

    /// Asks a service to stop (SIGTERM) and waits for it.
    async fn stop(mut self) -> anyhow::Result<Finished> {
        self.sample();
        if let Some(pid) = self.child.id() {
            // SAFETY: kill only sends a signal to our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        self.wait(&mut []).await
    }
}

/// Records published to the sales topic, from `herd ingest`'s summary ("read R
/// accepted N rejected …"; every accepted record was delivered, or ingest failed).
fn published(stdout: &str) -> anyhow::Result<u64> {
    let words: Vec<&str> = stdout.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "accepted")
        .and_then(|w| w[1].parse().ok())
        .with_context(|| format!("no accepted count in herd ingest's summary: {stdout}"))
}

/// Seconds from `started` until the lake's `sales` table holds `rows` rows; fails
/// when the archive exits or stores nothing for `ARCHIVE_STALL`.
async fn wait_archived(
    root: &LakeRoot,
    rows: u64,
    archive: &mut Running,
    started: Instant,
) -> anyhow::Result<f64> {
    let mut stored = 0;
    let mut progressed = Instant::now();
    loop {
        archive.sample();
        archive.check_running()?;
        if let Some(table) = tables::open_existing(root, &tables::sales()).await? {
            let now = tables::table_stats(&table)?.rows;
            if now >= rows {
                return Ok(secs(started));
            }
            if now > stored {
                stored = now;
                progressed = Instant::now();
            }
        }
        if progressed.elapsed() > ARCHIVE_STALL {
            bail!(
                "the archive stored {stored} of {rows} records and nothing more for {ARCHIVE_STALL:?}:\n{}",
                log_tail(&archive.log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last lines of a stage's log, for an error.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
