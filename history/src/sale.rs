//! Reading one sales record off `herd.sales` for a window, the same way in every
//! consumer that keeps windows.

use herd_bus::ConsumedRecord;
use herd_schemas::SalesRecord;
use tracing::warn;

/// The sales record a consumed message holds, or `None` for a malformed one, which
/// is counted in `malformed` and logged (the first ten). The archive sends these to
/// the dead-letter topic; counting them here keeps one copy there.
pub fn sale_of(record: &ConsumedRecord<'_>, malformed: &mut u64) -> Option<SalesRecord> {
    let parsed = record
        .payload
        .ok_or_else(|| "no value".to_owned())
        .and_then(|payload| SalesRecord::from_json(payload).map_err(|e| e.to_string()));
    match parsed {
        Ok(parsed) => Some(parsed.record),
        Err(reason) => {
            *malformed += 1;
            if *malformed <= 10 {
                warn!(
                    partition = record.partition,
                    offset = record.offset,
                    reason,
                    "skipped a malformed record"
                );
            }
            None
        }
    }
}
