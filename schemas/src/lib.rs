//! Herd's shared vocabulary: records, keys, topic names and validation.
//!
//! No I/O lives here; every other crate speaks these types.

pub mod dlq;
mod error;
mod event;
mod frequency;
mod json;
mod key;
mod record;
pub mod topics;
mod value;

pub use error::{Field, RecordError, Rule};
pub use event::{ModelEvent, ModelEventKind};
pub use frequency::{Frequency, OffGrid};
pub use json::ParsedRecord;
pub use key::{KeyError, MAX_ID_LEN, SeriesId, SeriesKey};
pub use record::{RawRecord, SalesRecord};
pub use value::FieldValue;

/// The JSON Schema (draft 2020-12) of a record's value on the `herd.sales` topic.
pub const SALES_RECORD_JSON_SCHEMA: &str = include_str!("../json/sales-record.schema.json");
