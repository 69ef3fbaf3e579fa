//! Progress for long commands: a bar on a terminal, periodic log lines elsewhere.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// Reports how far a long command has got.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: u64,
    last_log: Mutex<Instant>,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(label);
            bar
        });
        Self {
            bar,
            label,
            total,
            last_log: Mutex::new(Instant::now()),
        }
    }

    pub fn set(&self, position: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(position),
            None => {
                let Ok(mut last) = self.last_log.lock() else {
                    return;
                };
                if last.elapsed() >= Duration::from_secs(2) || position == self.total {
                    *last = Instant::now();
                    tracing::info!(
                        stage = self.label,
                        done = position,
                        total = self.total,
                        "progress"
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
