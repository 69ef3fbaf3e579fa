//! Progress for long commands: a bar on a terminal, a structured log line every few
//! seconds elsewhere.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports how far a long command has got.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: std::sync::atomic::AtomicU64,
    last_log: Mutex<Instant>,
}

impl Progress {
    /// A bar towards `total`, or a counter when the total is unknown.
    pub fn new(label: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::new(total),
                    "{prefix:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta} {msg}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{prefix:>10} {spinner} {human_pos} {per_sec} {elapsed} {msg}",
                ),
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            label,
            total: std::sync::atomic::AtomicU64::new(total.unwrap_or(u64::MAX)),
            last_log: Mutex::new(Instant::now()),
        }
    }

    /// Moves to `position`, with an optional note such as counts so far.
    pub fn set(&self, position: u64, note: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                if !note.is_empty() {
                    bar.set_message(note.to_owned());
                }
            }
            None => {
                let Ok(mut last) = self.last_log.lock() else {
                    return;
                };
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    tracing::info!(
                        stage = self.label,
                        done = position,
                        total = self.total(),
                        note,
                        "progress"
                    );
                }
            }
        }
    }

    fn total(&self) -> Option<u64> {
        let total = self.total.load(std::sync::atomic::Ordering::Relaxed);
        (total != u64::MAX).then_some(total)
    }

    /// Sets the total once it is known (a bar made with a total only).
    pub fn set_total(&self, total: u64) {
        self.total
            .store(total, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
