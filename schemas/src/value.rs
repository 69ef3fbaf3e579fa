//! Raw field values as readers find them, and how each field reads one.
//!
//! Each reader below applies one field's rule from docs/workload.md and reports the
//! `Rule` broken; `RawRecord::validate` attaches the field name.

use chrono::NaiveDate;

use crate::error::{Rule, excerpt};
use crate::key::SeriesId;

/// A field value as a reader found it, before validation.
///
/// `Str` and `Text` differ on purpose: `Str` is a typed string (a JSON string, a
/// Parquet UTF-8 column), accepted only where the contract wants a string; `Text` is
/// an untyped cell (CSV), read as whatever the field needs, so `Text("12")` is a
/// valid sales figure while `Str("12")` is a wrong type. An empty `Text` is null;
/// spaces around a number or flag are tolerated, never around an id or a date.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FieldValue<'a> {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    Text(&'a str),
    /// An array, object or other nested value; no field accepts one.
    Nested,
}

impl FieldValue<'_> {
    /// Empty text cells count as null, because CSV cannot tell the two apart.
    fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null | FieldValue::Text(""))
    }

    /// How the value reads in a wrong-type message.
    fn describe(&self) -> String {
        match self {
            FieldValue::Null => "null".to_owned(),
            FieldValue::Bool(b) => format!("the boolean {b}"),
            FieldValue::Int(n) => format!("the number {n}"),
            FieldValue::UInt(n) => format!("the number {n}"),
            FieldValue::Float(x) => format!("the number {x}"),
            FieldValue::Str(s) => format!("the string {:?}", excerpt(s)),
            FieldValue::Text(s) => format!("the text {:?}", excerpt(s)),
            FieldValue::Nested => "a nested value".to_owned(),
        }
    }

    fn wrong_type(&self, expected: &'static str) -> Rule {
        Rule::WrongType {
            expected,
            found: self.describe(),
        }
    }
}

const ID_EXPECTED: &str = "a string or an integer";

/// A store or item id: a valid id string, or an integer written in decimal.
pub(crate) fn id(value: FieldValue<'_>) -> Result<SeriesId, Rule> {
    match value {
        _ if value.is_null() => Err(Rule::Missing),
        FieldValue::Str(text) | FieldValue::Text(text) => text.parse(),
        FieldValue::Int(n) => Ok(SeriesId::from(n)),
        FieldValue::UInt(n) => Ok(SeriesId::from(n)),
        FieldValue::Float(x) => whole_number(x).ok_or_else(|| value.wrong_type(ID_EXPECTED)),
        _ => Err(value.wrong_type(ID_EXPECTED)),
    }
}

/// JSON Schema counts `7.0` as the integer 7, so an id does too, if it fits 64 bits.
fn whole_number(x: f64) -> Option<SeriesId> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    // `fract` of an infinity or NaN is NaN, so those stop here too.
    if x.fract() != 0.0 {
        None
    } else if (-TWO_POW_63..0.0).contains(&x) {
        Some(SeriesId::from(x as i64))
    } else if (0.0..2.0 * TWO_POW_63).contains(&x) {
        Some(SeriesId::from(x as u64))
    } else {
        None
    }
}

/// Strict `YYYY-MM-DD`: chrono's `%Y-%m-%d` would also take `2023-2-3`.
pub(crate) fn date(value: FieldValue<'_>) -> Result<NaiveDate, Rule> {
    let text = match value {
        _ if value.is_null() => return Err(Rule::Missing),
        FieldValue::Str(text) | FieldValue::Text(text) => text,
        _ => return Err(value.wrong_type("a YYYY-MM-DD string")),
    };
    let not_iso = || Rule::NotIsoDate {
        text: excerpt(text),
    };
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(not_iso());
    }
    let digits = |at: std::ops::Range<usize>| {
        bytes[at]
            .iter()
            .fold(0_u32, |n, &b| n * 10 + u32::from(b - b'0'))
    };
    // Four digits always fit an i32.
    let year = digits(0..4) as i32;
    NaiveDate::from_ymd_opt(year, digits(5..7), digits(8..10)).ok_or_else(|| {
        Rule::NotACalendarDate {
            text: text.to_owned(),
        }
    })
}

/// A number, or `None` when null. Only `Text` is parsed from a string.
fn number(value: FieldValue<'_>) -> Result<Option<f64>, Rule> {
    match value {
        _ if value.is_null() => Ok(None),
        FieldValue::Int(n) => Ok(Some(n as f64)),
        FieldValue::UInt(n) => Ok(Some(n as f64)),
        FieldValue::Float(x) => Ok(Some(x)),
        FieldValue::Text(text) => match text.trim().parse::<f64>() {
            Ok(x) => Ok(Some(x)),
            Err(_) => Err(value.wrong_type("a number")),
        },
        _ => Err(value.wrong_type("a number")),
    }
}

fn finite(x: f64) -> Result<f64, Rule> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Rule::NotFinite { value: x })
    }
}

/// Units sold: required, finite, >= 0.
pub(crate) fn sales(value: FieldValue<'_>) -> Result<f64, Rule> {
    let x = finite(number(value)?.ok_or(Rule::Missing)?)?;
    if x < 0.0 {
        return Err(Rule::Negative { value: x });
    }
    // Adding zero turns -0.0 into 0.0, so the canonical JSON never says "-0.0".
    Ok(x + 0.0)
}

/// Unit price: optional, finite, > 0.
pub(crate) fn price(value: FieldValue<'_>) -> Result<Option<f64>, Rule> {
    let Some(x) = number(value)? else {
        return Ok(None);
    };
    let x = finite(x)?;
    if x <= 0.0 {
        return Err(Rule::NotPositive { value: x });
    }
    Ok(Some(x))
}

/// Promotion flag: optional; a boolean, 0/1, or in text also `true`/`false`.
pub(crate) fn promo(value: FieldValue<'_>) -> Result<Option<bool>, Rule> {
    const EXPECTED: &str = "a boolean or 0/1";
    let as_flag = |x: f64| match x {
        0.0 => Ok(Some(false)),
        1.0 => Ok(Some(true)),
        _ => Err(Rule::NotZeroOrOne { value: x }),
    };
    match value {
        _ if value.is_null() => Ok(None),
        FieldValue::Bool(b) => Ok(Some(b)),
        FieldValue::Int(n) => as_flag(n as f64),
        FieldValue::UInt(n) => as_flag(n as f64),
        FieldValue::Float(x) => as_flag(x),
        FieldValue::Text(text) => {
            let text = text.trim();
            if text.eq_ignore_ascii_case("true") {
                Ok(Some(true))
            } else if text.eq_ignore_ascii_case("false") {
                Ok(Some(false))
            } else {
                let x = text.parse().map_err(|_| value.wrong_type(EXPECTED))?;
                as_flag(x)
            }
        }
        _ => Err(value.wrong_type(EXPECTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldValue::{Bool, Float, Int, Nested, Null, Str, Text, UInt};

    #[test]
    fn ids_are_checked_whatever_their_source() {
        assert_eq!(id(Str("s1")).unwrap().as_str(), "s1");
        assert_eq!(id(Text("s1")).unwrap().as_str(), "s1");
        assert_eq!(id(Int(-3)).unwrap().as_str(), "-3");
        assert_eq!(id(UInt(u64::MAX)).unwrap().as_str(), "18446744073709551615");
        assert_eq!(id(Float(7.0)).unwrap().as_str(), "7");
        assert_eq!(id(Float(-0.0)).unwrap().as_str(), "0");
        assert_eq!(id(Null), Err(Rule::Missing));
        assert_eq!(id(Text("")), Err(Rule::Missing));
        assert_eq!(id(Str("")), Err(Rule::Empty));
        assert_eq!(id(Text("a b")), Err(Rule::BadCharacter { ch: ' ' }));
        assert_eq!(id(Str("..")), Err(Rule::PathTraversal));
        for value in [
            Float(1.5),
            Float(f64::NAN),
            Float(f64::INFINITY),
            Float(1e20),
            Bool(true),
            Nested,
        ] {
            assert_eq!(id(value).unwrap_err().kind(), "wrong_type", "{value:?}");
        }
    }

    #[test]
    fn dates_are_strict_calendar_dates() {
        for text in [
            "2023-2-3",
            "20230203",
            "2023/02/03",
            "2023-02-03T00:00:00",
            " 2023-02-03",
            "２０２３-02-03",
        ] {
            let rule = date(Text(text)).unwrap_err();
            assert!(matches!(rule, Rule::NotIsoDate { .. }), "{text}: {rule}");
            assert_eq!(rule.kind(), "bad_date");
        }
        for text in [
            "2023-02-30",
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-04-31",
        ] {
            let rule = Rule::NotACalendarDate {
                text: text.to_owned(),
            };
            assert_eq!(date(Str(text)), Err(rule));
        }
        assert_eq!(
            date(Str("2024-02-29")),
            Ok(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
        );
        assert_eq!(date(Null), Err(Rule::Missing));
        assert_eq!(date(Int(20230203)).unwrap_err().kind(), "wrong_type");
    }

    #[test]
    fn sales_must_be_finite_and_not_negative() {
        for cell in ["NaN", "inf", "-inf", "infinity"] {
            let rule = sales(Text(cell)).unwrap_err();
            assert!(matches!(rule, Rule::NotFinite { .. }), "{cell}: {rule}");
            assert_eq!(rule.kind(), "bad_number");
        }
        assert_eq!(sales(Text("-1")), Err(Rule::Negative { value: -1.0 }));
        assert_eq!(sales(Int(-1)), Err(Rule::Negative { value: -1.0 }));
        assert_eq!(sales(Text(" 12.5 ")), Ok(12.5));
        assert_eq!(sales(UInt(3)), Ok(3.0));
        assert_eq!(sales(Float(-0.0)).map(f64::to_bits), Ok(0));
        assert_eq!(sales(Null), Err(Rule::Missing));
        assert_eq!(sales(Text("12 units")).unwrap_err().kind(), "wrong_type");
        assert_eq!(sales(Str("12")).unwrap_err().kind(), "wrong_type");
        assert_eq!(sales(Bool(true)).unwrap_err().kind(), "wrong_type");
    }

    #[test]
    fn price_is_optional_positive_and_finite() {
        assert_eq!(price(Null), Ok(None));
        assert_eq!(price(Text("")), Ok(None));
        assert_eq!(price(Text("2.5")), Ok(Some(2.5)));
        assert_eq!(price(Int(0)), Err(Rule::NotPositive { value: 0.0 }));
        assert_eq!(price(Text("-2")), Err(Rule::NotPositive { value: -2.0 }));
        assert_eq!(
            price(Float(f64::INFINITY)).unwrap_err().kind(),
            "bad_number"
        );
        assert_eq!(price(Str("2")).unwrap_err().kind(), "wrong_type");
    }

    #[test]
    fn promo_is_an_optional_flag() {
        for (value, flag) in [
            (Bool(true), true),
            (Int(0), false),
            (UInt(1), true),
            (Float(1.0), true),
            (Text("0"), false),
            (Text("true"), true),
            (Text("FALSE"), false),
            (Text(" 1 "), true),
        ] {
            assert_eq!(promo(value), Ok(Some(flag)), "{value:?}");
        }
        assert_eq!(promo(Null), Ok(None));
        assert_eq!(promo(Text("")), Ok(None));
        assert_eq!(promo(Int(2)), Err(Rule::NotZeroOrOne { value: 2.0 }));
        assert_eq!(promo(Text("2")), Err(Rule::NotZeroOrOne { value: 2.0 }));
        assert_eq!(promo(Float(0.5)).unwrap_err().kind(), "bad_number");
        assert_eq!(promo(Text("yes")).unwrap_err().kind(), "wrong_type");
        assert_eq!(promo(Str("true")).unwrap_err().kind(), "wrong_type");
    }
}
