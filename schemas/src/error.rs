//! Why a sales record was rejected: the field it failed on and the rule it broke.
//!
//! Every rejection carries a stable machine-readable `kind()`, which travels as a
//! header on the dead-letter topic next to the human-readable message.

use std::fmt;

use crate::key::MAX_ID_LEN;

/// A field of the sales record contract, in the order records are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    StoreId,
    ItemId,
    Date,
    Sales,
    Price,
    Promo,
}

impl Field {
    /// Every field, in contract order.
    pub const ALL: [Field; 6] = [
        Field::StoreId,
        Field::ItemId,
        Field::Date,
        Field::Sales,
        Field::Price,
        Field::Promo,
    ];

    /// The field's name as it appears in CSV headers, Parquet columns and JSON keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::StoreId => "store_id",
            Field::ItemId => "item_id",
            Field::Date => "date",
            Field::Sales => "sales",
            Field::Price => "price",
            Field::Promo => "promo",
        }
    }

    /// The field with this exact column name, if it is part of the contract.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.as_str() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule a field value broke. Displays as the part after `field: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rule {
    /// Absent, null, or an empty text cell where a value is required.
    #[error("required field is missing")]
    Missing,
    /// A value of the wrong kind, e.g. a JSON string where a number is required.
    #[error("expected {expected}, got {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("must not be empty")]
    Empty,
    #[error("{len} characters, at most {MAX_ID_LEN} allowed")]
    TooLong { len: usize },
    #[error("character {ch:?} not allowed (use A-Z, a-z, 0-9, '_', '.', '-')")]
    BadCharacter { ch: char },
    /// Ids become path segments later, so `.` and anything containing `..` are refused.
    #[error("must not be \".\" or contain \"..\"")]
    PathTraversal,
    #[error("expected YYYY-MM-DD, got {text:?}")]
    NotIsoDate { text: String },
    #[error("{text:?} is not a calendar date")]
    NotACalendarDate { text: String },
    #[error("must be finite (got {value})")]
    NotFinite { value: f64 },
    #[error("must be >= 0 (got {value})")]
    Negative { value: f64 },
    #[error("must be > 0 (got {value})")]
    NotPositive { value: f64 },
    #[error("must be true, false, 0 or 1 (got {value})")]
    NotZeroOrOne { value: f64 },
    /// A date that names no period of the deployment's frequency.
    #[error("{0}")]
    OffCalendar(crate::OffGrid),
}

impl Rule {
    /// A stable, machine-readable name for the class of rule broken.
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Missing => "missing_field",
            Rule::WrongType { .. } => "wrong_type",
            Rule::Empty
            | Rule::TooLong { .. }
            | Rule::BadCharacter { .. }
            | Rule::PathTraversal => "bad_id",
            Rule::NotIsoDate { .. } | Rule::NotACalendarDate { .. } => "bad_date",
            Rule::OffCalendar(_) => "off_calendar",
            Rule::NotFinite { .. }
            | Rule::Negative { .. }
            | Rule::NotPositive { .. }
            | Rule::NotZeroOrOne { .. } => "bad_number",
        }
    }
}

/// Why a record could not be accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The input could not be read as a record at all (bad JSON, not an object).
    #[error("malformed record: {0}")]
    Malformed(String),
    /// One field broke one rule of the contract.
    #[error("{field}: {rule}")]
    Invalid { field: Field, rule: Rule },
}

impl RecordError {
    pub fn invalid(field: Field, rule: Rule) -> Self {
        RecordError::Invalid { field, rule }
    }

    /// A stable, machine-readable error kind, sent as the DLQ's error-kind header.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Malformed(_) => "malformed",
            RecordError::Invalid { rule, .. } => rule.kind(),
        }
    }

    /// The field that broke a rule, if the record could be read at all.
    pub fn field(&self) -> Option<Field> {
        match self {
            RecordError::Malformed(_) => None,
            RecordError::Invalid { field, .. } => Some(*field),
        }
    }

    /// The rule broken, if the record could be read at all.
    pub fn rule(&self) -> Option<&Rule> {
        match self {
            RecordError::Malformed(_) => None,
            RecordError::Invalid { rule, .. } => Some(rule),
        }
    }
}

/// The first 40 characters of `text`, for quoting untrusted input in messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.as_str()), Some(field));
        }
        assert_eq!(Field::from_name("Sales"), None);
    }

    #[test]
    fn messages_name_the_field_and_the_rule() {
        let nan = RecordError::invalid(Field::Sales, Rule::NotFinite { value: f64::NAN });
        assert_eq!(nan.to_string(), "sales: must be finite (got NaN)");
        assert_eq!(nan.kind(), "bad_number");

        let long = RecordError::invalid(Field::StoreId, Rule::TooLong { len: 65 });
        assert_eq!(
            long.to_string(),
            "store_id: 65 characters, at most 64 allowed"
        );
        assert_eq!(long.kind(), "bad_id");

        let missing = RecordError::invalid(Field::Date, Rule::Missing);
        assert_eq!(missing.to_string(), "date: required field is missing");
        assert_eq!(missing.kind(), "missing_field");

        assert_eq!(RecordError::Malformed("eof".into()).kind(), "malformed");
    }

    #[test]
    fn excerpt_cuts_long_text_on_a_char_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 41);
    }
}
