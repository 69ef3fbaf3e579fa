//! Series identity: validated store and item ids, and the `store_id/item_id` key.
//!
//! Keys become Kafka message keys and, later, storage paths, so ids are checked once
//! here (including path traversal) and trusted everywhere downstream.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::error::{Field, Rule, excerpt};

/// The longest id allowed, in characters.
pub const MAX_ID_LEN: usize = 64;

/// A store or item id: 1–64 characters of `[A-Za-z0-9_.-]`, never `.` and never
/// containing `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(String);

impl SeriesId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn check(id: &str) -> Result<(), Rule> {
        if id.is_empty() {
            return Err(Rule::Empty);
        }
        let len = id.chars().count();
        if len > MAX_ID_LEN {
            return Err(Rule::TooLong { len });
        }
        if let Some(ch) = id.chars().find(|&ch| !is_id_char(ch)) {
            return Err(Rule::BadCharacter { ch });
        }
        if id == "." || id.contains("..") {
            return Err(Rule::PathTraversal);
        }
        Ok(())
    }
}

fn is_id_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-')
}

impl FromStr for SeriesId {
    type Err = Rule;

    fn from_str(id: &str) -> Result<Self, Rule> {
        Self::check(id)?;
        Ok(Self(id.to_owned()))
    }
}

impl TryFrom<String> for SeriesId {
    type Error = Rule;

    fn try_from(id: String) -> Result<Self, Rule> {
        Self::check(&id)?;
        Ok(Self(id))
    }
}

// Integer ids are always valid: at most 20 characters of digits and `-`.
impl From<i64> for SeriesId {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl From<u64> for SeriesId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SeriesId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SeriesId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        SeriesId::try_from(id).map_err(de::Error::custom)
    }
}

/// Why a string is not a series key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("series key {key:?} must be \"store_id/item_id\" with exactly one '/'")]
    Shape { key: String },
    #[error("series key {field}: {rule}")]
    BadId { field: Field, rule: Rule },
}

/// One series: a store and an item, written `store_id/item_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    store: SeriesId,
    item: SeriesId,
}

impl SeriesKey {
    pub fn new(store: SeriesId, item: SeriesId) -> Self {
        Self { store, item }
    }

    pub fn store_id(&self) -> &SeriesId {
        &self.store
    }

    pub fn item_id(&self) -> &SeriesId {
        &self.item
    }
}

impl FromStr for SeriesKey {
    type Err = KeyError;

    fn from_str(key: &str) -> Result<Self, KeyError> {
        let shape = || KeyError::Shape { key: excerpt(key) };
        let (store, item) = key.split_once('/').ok_or_else(shape)?;
        if item.contains('/') {
            return Err(shape());
        }
        let id = |field, text: &str| {
            text.parse::<SeriesId>()
                .map_err(|rule| KeyError::BadId { field, rule })
        };
        Ok(Self::new(
            id(Field::StoreId, store)?,
            id(Field::ItemId, item)?,
        ))
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.store, self.item)
    }
}

impl Serialize for SeriesKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        key.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_rule(text: &str) -> Rule {
        text.parse::<SeriesId>().unwrap_err()
    }

    #[test]
    fn accepts_ids_from_the_allowed_class() {
        for text in [
            "7",
            "store_01",
            "A.b-c_d",
            "-",
            "a.b.c",
            ".hidden",
            "x".repeat(64).as_str(),
        ] {
            assert_eq!(text.parse::<SeriesId>().unwrap().as_str(), text);
        }
    }

    #[test]
    fn rejects_bad_ids_with_the_rule_broken() {
        assert_eq!(id_rule(""), Rule::Empty);
        assert_eq!(id_rule(&"x".repeat(65)), Rule::TooLong { len: 65 });
        assert_eq!(id_rule(&"x".repeat(10_000)), Rule::TooLong { len: 10_000 });
        assert_eq!(id_rule("a/b"), Rule::BadCharacter { ch: '/' });
        assert_eq!(id_rule("a b"), Rule::BadCharacter { ch: ' ' });
        assert_eq!(id_rule("café"), Rule::BadCharacter { ch: 'é' });
        assert_eq!(id_rule("a\u{1}b"), Rule::BadCharacter { ch: '\u{1}' });
        assert_eq!(id_rule("a\nb"), Rule::BadCharacter { ch: '\n' });
        assert_eq!(id_rule("."), Rule::PathTraversal);
        assert_eq!(id_rule(".."), Rule::PathTraversal);
        assert_eq!(id_rule("a..b"), Rule::PathTraversal);
    }

    #[test]
    fn too_long_counts_characters_not_bytes() {
        assert_eq!(id_rule(&"é".repeat(65)), Rule::TooLong { len: 65 });
        assert_eq!(id_rule(&"é".repeat(64)), Rule::BadCharacter { ch: 'é' });
    }

    #[test]
    fn integer_ids_are_written_in_decimal() {
        assert_eq!(SeriesId::from(7_i64).as_str(), "7");
        assert_eq!(SeriesId::from(-12_i64).as_str(), "-12");
        assert_eq!(SeriesId::from(u64::MAX).as_str(), "18446744073709551615");
    }

    #[test]
    fn try_from_string_validates() {
        assert!(SeriesId::try_from("ok".to_owned()).is_ok());
        assert_eq!(
            SeriesId::try_from("..".to_owned()),
            Err(Rule::PathTraversal)
        );
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        let id: SeriesId = serde_json::from_str("\"s1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"s1\"");
        assert!(serde_json::from_str::<SeriesId>("\"a..b\"").is_err());
        assert!(serde_json::from_str::<SeriesId>("\"\"").is_err());
    }

    #[test]
    fn key_round_trips_through_its_string_form() {
        let key: SeriesKey = "store_1/item-2".parse().unwrap();
        assert_eq!(key.store_id().as_str(), "store_1");
        assert_eq!(key.item_id().as_str(), "item-2");
        assert_eq!(key.to_string(), "store_1/item-2");
        assert_eq!(key.to_string().parse::<SeriesKey>().unwrap(), key);
        assert_eq!(
            key,
            SeriesKey::new("store_1".parse().unwrap(), "item-2".parse().unwrap())
        );
    }

    #[test]
    fn key_rejects_anything_but_one_slash_between_two_ids() {
        for text in ["a", "a/b/c", "", "//"] {
            let err = text.parse::<SeriesKey>().unwrap_err();
            assert!(matches!(err, KeyError::Shape { .. }), "{text}: {err}");
        }
        assert_eq!(
            "/".parse::<SeriesKey>().unwrap_err(),
            KeyError::BadId {
                field: Field::StoreId,
                rule: Rule::Empty
            }
        );
        assert_eq!(
            "/b".parse::<SeriesKey>().unwrap_err(),
            KeyError::BadId {
                field: Field::StoreId,
                rule: Rule::Empty
            }
        );
        assert_eq!(
            "a/".parse::<SeriesKey>().unwrap_err(),
            KeyError::BadId {
                field: Field::ItemId,
                rule: Rule::Empty
            }
        );
        assert_eq!(
            "../b".parse::<SeriesKey>().unwrap_err(),
            KeyError::BadId {
                field: Field::StoreId,
                rule: Rule::PathTraversal
            }
        );
    }

    #[test]
    fn keys_order_by_store_then_item() {
        let mut keys: Vec<SeriesKey> = ["b/1", "a/2", "a/10"]
            .into_iter()
            .map(|k| k.parse().unwrap())
            .collect();
        keys.sort();
        let sorted: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["a/10", "a/2", "b/1"]);
    }

    #[test]
    fn key_serializes_as_its_string_form() {
        let key: SeriesKey = "s/i".parse().unwrap();
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"s/i\"");
        let back: SeriesKey = serde_json::from_str("\"s/i\"").unwrap();
        assert_eq!(back, key);
        assert!(serde_json::from_str::<SeriesKey>("\"s/i/x\"").is_err());
    }
}
