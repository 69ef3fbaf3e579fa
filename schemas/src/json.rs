//! Reading one sales record from JSON: a JSON-lines row or a `herd.sales` message value.
//!
//! Deserializes straight into `FieldValue`s (no `serde_json::Value` tree, strings
//! borrowed from the input where possible) and hands them to the shared validator.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Field, RecordError};
use crate::record::{RawRecord, SalesRecord};
use crate::value::FieldValue;

/// A valid record and the number of unknown fields it carried (ignored, but counted).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRecord {
    pub record: SalesRecord,
    pub unknown_fields: usize,
}

impl SalesRecord {
    /// Reads and validates one JSON object. Malformed JSON or a non-object is
    /// `RecordError::Malformed`; a JSON string never counts as a number or a flag.
    pub fn from_json(bytes: &[u8]) -> Result<ParsedRecord, RecordError> {
        let object: JsonObject<'_> =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let mut raw = RawRecord::default();
        for (field, value) in Field::ALL.into_iter().zip(&object.values) {
            *raw.field_mut(field) = value.as_field_value();
        }
        Ok(ParsedRecord {
            record: raw.validate()?,
            unknown_fields: object.unknown_fields,
        })
    }
}

/// The top-level object: one slot per contract field, indexed by `Field as usize`.
#[derive(Default)]
struct JsonObject<'a> {
    values: [JsonValue<'a>; Field::ALL.len()],
    unknown_fields: usize,
}

/// One field's JSON value; strings are borrowed unless they contain escapes.
#[derive(Default)]
enum JsonValue<'a> {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Nested,
}

impl JsonValue<'_> {
    fn as_field_value(&self) -> FieldValue<'_> {
        match self {
            JsonValue::Null => FieldValue::Null,
            JsonValue::Bool(b) => FieldValue::Bool(*b),
            JsonValue::Int(n) => FieldValue::Int(*n),
            JsonValue::UInt(n) => FieldValue::UInt(*n),
            JsonValue::Float(x) => FieldValue::Float(*x),
            JsonValue::Str(s) => FieldValue::Str(s),
            JsonValue::Nested => FieldValue::Nested,
        }
    }
}

impl<'de> Deserialize<'de> for JsonObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = JsonObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = JsonObject::default();
        while let Some(FieldName(field)) = map.next_key()? {
            match field {
                // A repeated key overwrites, as in serde_json's own `Value`.
                Some(field) => object.values[field as usize] = map.next_value()?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                    object.unknown_fields += 1;
                }
            }
        }
        Ok(object)
    }
}

/// An object key: a contract field, or `None` for a field the contract ignores.
struct FieldName(Option<Field>);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FieldNameVisitor)
    }
}

struct FieldNameVisitor;

impl Visitor<'_> for FieldNameVisitor {
    type Value = FieldName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldName, E> {
        Ok(FieldName(Field::from_name(name)))
    }
}

impl<'de> Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Int(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::UInt(n))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
        Ok(JsonValue::Float(x))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rule;

    fn parse(json: &str) -> Result<ParsedRecord, RecordError> {
        SalesRecord::from_json(json.as_bytes())
    }

    fn rejected(json: &str) -> (Field, Rule) {
        match parse(json) {
            Err(RecordError::Invalid { field, rule }) => (field, rule),
            other => panic!("{json}: expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_full_record() {
        let parsed = parse(
            r#"{"store_id":"s1","item_id":"i-2","date":"2024-02-29","sales":12.5,"price":3.99,"promo":true}"#,
        )
        .unwrap();
        let record = parsed.record;
        assert_eq!(record.key().to_string(), "s1/i-2");
        assert_eq!(record.date.to_string(), "2024-02-29");
        assert_eq!(record.sales, 12.5);
        assert_eq!(record.price, Some(3.99));
        assert_eq!(record.promo, Some(true));
        assert_eq!(parsed.unknown_fields, 0);
    }

    #[test]
    fn integer_ids_become_decimal_strings() {
        let parsed = parse(r#"{"store_id":7,"item_id":-3,"date":"2023-01-01","sales":0}"#).unwrap();
        assert_eq!(parsed.record.store_id.as_str(), "7");
        assert_eq!(parsed.record.item_id.as_str(), "-3");
        let whole = parse(r#"{"store_id":7.0,"item_id":1e3,"date":"2023-01-01","sales":0}"#);
        assert_eq!(whole.unwrap().record.key().to_string(), "7/1000");
    }

    #[test]
    fn fractional_and_boolean_ids_are_wrong_types() {
        let (field, rule) =
            rejected(r#"{"store_id":7.5,"item_id":"i","date":"2023-01-01","sales":1}"#);
        assert_eq!(field, Field::StoreId);
        assert_eq!(rule.kind(), "wrong_type");
        let (field, rule) =
            rejected(r#"{"store_id":"s","item_id":true,"date":"2023-01-01","sales":1}"#);
        assert_eq!((field, rule.kind()), (Field::ItemId, "wrong_type"));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        for json in [
            r#"{"store_id":"s","item_id":"i","date":"2023-01-01","sales":3}"#,
            r#"{"store_id":"s","item_id":"i","date":"2023-01-01","sales":3,"price":null,"promo":null}"#,
        ] {
            let record = parse(json).unwrap().record;
            assert_eq!((record.price, record.promo), (None, None), "{json}");
        }
    }

    #[test]
    fn null_or_absent_required_fields_are_missing() {
        let base = [
            ("store_id", "\"s\""),
            ("item_id", "\"i\""),
            ("date", "\"2023-01-01\""),
            ("sales", "1"),
        ];
        for (i, (name, _)) in base.iter().enumerate() {
            let fields = |missing: &str| {
                let kept = base.iter().enumerate().filter(|&(j, _)| j != i);
                let mut parts: Vec<String> =
                    kept.map(|(_, (k, v))| format!("\"{k}\":{v}")).collect();
                if !missing.is_empty() {
                    parts.push(format!("\"{name}\":{missing}"));
                }
                format!("{{{}}}", parts.join(","))
            };
            for json in [fields(""), fields("null")] {
                let (field, rule) = rejected(&json);
                assert_eq!((field.as_str(), rule), (*name, Rule::Missing), "{json}");
            }
        }
    }

    #[test]
    fn unknown_fields_are_ignored_but_counted() {
        let parsed = parse(
            r#"{"store_id":"s","extra":[1,{"a":2}],"item_id":"i","date":"2023-01-01","sales":1,"note":"x","promo":0}"#,
        )
        .unwrap();
        assert_eq!(parsed.unknown_fields, 2);
        assert_eq!(parsed.record.promo, Some(false));
    }

    #[test]
    fn strings_are_not_numbers_in_json() {
        let (field, rule) =
            rejected(r#"{"store_id":"s","item_id":"i","date":"2023-01-01","sales":"12"}"#);
        assert_eq!(field, Field::Sales);
        assert_eq!(
            rule.to_string(),
            r#"expected a number, got the string "12""#
        );
        let (field, rule) =
            rejected(r#"{"store_id":"s","item_id":"i","date":"2023-01-01","sales":1,"promo":"1"}"#);
        assert_eq!((field, rule.kind()), (Field::Promo, "wrong_type"));
        let (field, rule) = rejected(r#"{"store_id":"s","item_id":"i","date":20230101,"sales":1}"#);
        assert_eq!((field, rule.kind()), (Field::Date, "wrong_type"));
        let (field, rule) =
            rejected(r#"{"store_id":"s","item_id":"i","date":"2023-01-01","sales":[1]}"#);
        assert_eq!(rule.to_string(), "expected a number, got a nested value");
        assert_eq!(field, Field::Sales);
    }

    #[test]
    fn escaped_strings_are_read_too() {
        let record = parse(r#"{"store_id":"s\u0031","item_id":"i","date":"2023-01-01","sales":1}"#)
            .unwrap()
            .record;
        assert_eq!(record.store_id.as_str(), "s1");
        let (field, rule) =
            rejected(r#"{"store_id":"a\u0000","item_id":"i","date":"2023-01-01","sales":1}"#);
        assert_eq!(
            (field, rule),
            (Field::StoreId, Rule::BadCharacter { ch: '\0' })
        );
    }

    #[test]
    fn unreadable_input_is_malformed() {
        for json in [
            "",
            "{",
            "[1,2]",
            "\"s/i\"",
            "null",
            "{\"sales\":1} trailing",
            "{\"sales\":1e400}",
        ] {
            let err = parse(json).unwrap_err();
            assert_eq!(err.kind(), "malformed", "{json}: {err}");
        }
    }

    #[test]
    fn canonical_json_round_trips() {
        let json = r#"{"store_id":"7","item_id":"i","date":"2023-01-31","sales":4.0,"price":2.5,"promo":false}"#;
        let record = parse(json).unwrap().record;
        assert_eq!(serde_json::to_string(&record).unwrap(), json);
        let minimal = parse(r#"{"store_id":"7","item_id":"i","date":"2023-01-31","sales":-0.0}"#)
            .unwrap()
            .record;
        assert_eq!(
            serde_json::to_string(&minimal).unwrap(),
            r#"{"store_id":"7","item_id":"i","date":"2023-01-31","sales":0.0}"#
        );
    }
}
