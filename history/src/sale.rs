//! Reading one sales record off `herd.sales` for a window, the same way in every
//! consumer that keeps windows.

use herd_bus::ConsumedRecord;
use herd_schemas::{Frequency, SalesRecord};
use tracing::warn;

/// The sales record a consumed message holds, or `None` for a malformed one or one
/// dated off `frequency`'s calendar, which is counted in `malformed` and logged (the
/// first ten). The archive sends these to the dead-letter topic; counting them here
/// keeps one copy there.
pub fn sale_of(
    record: &ConsumedRecord<'_>,
    frequency: Frequency,
    malformed: &mut u64,
) -> Option<SalesRecord> {
    let parsed = record
        .payload
        .ok_or_else(|| "no value".to_owned())
        .and_then(|payload| {
            let parsed = SalesRecord::from_json(payload).map_err(|e| e.to_string())?;
            parsed
                .record
                .check_calendar(frequency)
                .map_err(|e| e.to_string())?;
            Ok(parsed)
        });
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
