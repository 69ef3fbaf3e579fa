//! Latencies in whole milliseconds, counted per millisecond up to two minutes (one
//! bucket beyond), for percentiles that cost nothing to record.

use serde::{Serialize, Serializer};

/// The largest latency counted exactly; longer ones share the last bucket.
const MAX_MS: usize = 120_000;

#[derive(Debug, Clone, Default)]
pub struct Latency {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Latency {
    pub fn record(&mut self, ms: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; MAX_MS + 2];
        }
        self.counts[(ms as usize).min(MAX_MS + 1)] += 1;
        self.total += 1;
        self.max = self.max.max(ms);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The smallest latency at or above which lie no more than `1 − q` of the
    /// samples; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(if ms > MAX_MS { self.max } else { ms as u64 });
            }
        }
        Some(self.max)
    }

    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }
}

#[derive(Serialize)]
struct Summary {
    count: u64,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
    max_ms: Option<u64>,
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Summary {
            count: self.total,
            p50_ms: self.quantile(0.5),
            p99_ms: self.quantile(0.99),
            max_ms: self.max(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::Latency;

    #[test]
    fn quantiles_of_a_hundred_samples() {
        let mut latency = Latency::default();
        assert_eq!(latency.quantile(0.5), None);
        for ms in 1..=100 {
            latency.record(ms);
        }
        assert_eq!(latency.quantile(0.5), Some(50));
        assert_eq!(latency.quantile(0.99), Some(99));
        assert_eq!(latency.quantile(1.0), Some(100));
        latency.record(1_000_000);
        assert_eq!(latency.max(), Some(1_000_000));
        assert_eq!(latency.quantile(1.0), Some(1_000_000));
    }
}
