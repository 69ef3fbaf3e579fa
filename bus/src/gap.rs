//! Records deleted before they were read. A partition's next offset to read can fall
//! below its low watermark when retention deletes records that no consumer stored;
//! Kafka would then quietly move the consumer to the low watermark. The loop checks
//! each assigned partition's low watermark instead, and follows an explicit policy.

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::BusError;

/// What the loop does when a partition's next offset to read is below the low
/// watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapPolicy {
    /// Stop with [`BusError::OffsetGap`]: nothing past the gap is stored.
    #[default]
    Fail,
    /// Warn with the number of offsets lost, count them, and go on from the low
    /// watermark; the next commit stores offsets past the gap.
    Skip,
}

/// A gap found in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub partition: i32,
    /// The next offset the sink expected.
    pub expected: i64,
    /// The partition's low watermark, above `expected`.
    pub low: i64,
}

impl Gap {
    pub fn lost(&self) -> u64 {
        (self.low - self.expected).max(0) as u64
    }

    /// Applies `policy`: the error to stop with, or `Ok` after a warning.
    pub fn apply(&self, topic: &str, policy: GapPolicy) -> Result<(), BusError> {
        match policy {
            GapPolicy::Fail => Err(BusError::OffsetGap {
                topic: topic.to_owned(),
                partition: self.partition,
                stored: self.expected,
                low: self.low,
                lost: self.lost(),
            }),
            GapPolicy::Skip => {
                warn!(
                    topic,
                    partition = self.partition,
                    stored = self.expected,
                    low_watermark = self.low,
                    lost = self.lost(),
                    "offsets deleted before they were read; going on from the low watermark"
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_names_topic_partition_offset_and_low_watermark() {
        let gap = Gap {
            partition: 2,
            expected: 40,
            low: 100,
        };
        assert_eq!(gap.lost(), 60);
        let err = gap.apply("herd.sales", GapPolicy::Fail).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        for part in ["herd.sales", "partition 2", "40", "100", "60"] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        assert!(gap.apply("herd.sales", GapPolicy::Skip).is_ok());
    }
}
