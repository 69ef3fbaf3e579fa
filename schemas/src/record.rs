//! The sales record and its validation, independent of the input format.
//!
//! Readers (CSV, Parquet, JSON lines) turn a row into a `RawRecord` of `FieldValue`s;
//! `RawRecord::validate` applies the docs/workload.md contract and yields a `SalesRecord`.

use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{Field, RecordError};
use crate::key::{SeriesId, SeriesKey};
use crate::value::{FieldValue, date, id, price, promo, sales};

/// One accepted observation: units sold for a store and item on a day.
///
/// Built by `RawRecord::validate` or `SalesRecord::from_json`, which guarantee the
/// contract: `sales` finite and >= 0, `price` finite and > 0 when present.
/// Serializes to the canonical JSON value published on `herd.sales`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesRecord {
    pub store_id: SeriesId,
    pub item_id: SeriesId,
    pub date: NaiveDate,
    pub sales: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo: Option<bool>,
}

impl SalesRecord {
    /// Refuses a date that names no period of `frequency` (a weekly record dated on a
    /// Wednesday, a monthly one on the 15th).
    pub fn check_calendar(&self, frequency: crate::Frequency) -> Result<(), RecordError> {
        frequency
            .check(self.date)
            .map_err(|off| RecordError::invalid(Field::Date, crate::Rule::OffCalendar(off)))
    }

    pub fn key(&self) -> SeriesKey {
        SeriesKey::new(self.store_id.clone(), self.item_id.clone())
    }
}

/// The six contract fields of one input row, each possibly `Null` (absent).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RawRecord<'a> {
    pub store_id: FieldValue<'a>,
    pub item_id: FieldValue<'a>,
    pub date: FieldValue<'a>,
    pub sales: FieldValue<'a>,
    pub price: FieldValue<'a>,
    pub promo: FieldValue<'a>,
}

impl<'a> RawRecord<'a> {
    /// The slot for `field`, so readers can fill a record column by column.
    pub fn field_mut(&mut self, field: Field) -> &mut FieldValue<'a> {
        match field {
            Field::StoreId => &mut self.store_id,
            Field::ItemId => &mut self.item_id,
            Field::Date => &mut self.date,
            Field::Sales => &mut self.sales,
            Field::Price => &mut self.price,
            Field::Promo => &mut self.promo,
        }
    }

    /// Applies the record contract, reporting the first field (in contract order)
    /// that breaks a rule.
    pub fn validate(&self) -> Result<SalesRecord, RecordError> {
        let at = |field| move |rule| RecordError::invalid(field, rule);
        Ok(SalesRecord {
            store_id: id(self.store_id).map_err(at(Field::StoreId))?,
            item_id: id(self.item_id).map_err(at(Field::ItemId))?,
            date: date(self.date).map_err(at(Field::Date))?,
            sales: sales(self.sales).map_err(at(Field::Sales))?,
            price: price(self.price).map_err(at(Field::Price))?,
            promo: promo(self.promo).map_err(at(Field::Promo))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rule;
    use FieldValue::Text;

    /// A CSV-like row: every cell is text.
    fn csv_row(cells: [&str; 6]) -> RawRecord<'_> {
        let mut raw = RawRecord::default();
        for (field, cell) in Field::ALL.into_iter().zip(cells) {
            *raw.field_mut(field) = Text(cell);
        }
        raw
    }

    fn rule_for(raw: RawRecord<'_>) -> (Field, Rule) {
        match raw.validate() {
            Err(RecordError::Invalid { field, rule }) => (field, rule),
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn a_text_row_reads_into_a_record() {
        let record = csv_row(["s1", "i1", "2023-03-01", "12", "2.5", "1"])
            .validate()
            .unwrap();
        assert_eq!(record.key().to_string(), "s1/i1");
        assert_eq!(record.date, NaiveDate::from_ymd_opt(2023, 3, 1).unwrap());
        assert_eq!(record.sales, 12.0);
        assert_eq!((record.price, record.promo), (Some(2.5), Some(true)));
    }

    #[test]
    fn empty_optional_cells_are_absent() {
        let record = csv_row(["s1", "i1", "2023-03-01", "0", "", ""])
            .validate()
            .unwrap();
        assert_eq!((record.price, record.promo), (None, None));
    }

    #[test]
    fn errors_name_the_field_that_broke_a_rule() {
        let nan = csv_row(["s", "i", "2023-03-01", "NaN", "", ""]).validate();
        assert_eq!(
            nan.unwrap_err().to_string(),
            "sales: must be finite (got NaN)"
        );
        let long_id = "x".repeat(65);
        let row = csv_row(["s", &long_id, "2023-03-01", "1", "", ""]);
        assert_eq!(rule_for(row), (Field::ItemId, Rule::TooLong { len: 65 }));
        let row = csv_row(["s", "i", "2023-03-01", "1", "", "2"]);
        assert_eq!(
            rule_for(row),
            (Field::Promo, Rule::NotZeroOrOne { value: 2.0 })
        );
    }

    #[test]
    fn the_first_broken_field_in_contract_order_is_reported() {
        assert_eq!(
            rule_for(csv_row(["", "", "bad", "-1", "0", "2"])).0,
            Field::StoreId
        );
        assert_eq!(
            rule_for(csv_row(["s", "i", "2023-01-01", "-1", "0", "2"])).0,
            Field::Sales
        );
    }

    #[test]
    fn field_mut_reaches_every_field() {
        let mut raw = RawRecord::default();
        for field in Field::ALL {
            *raw.field_mut(field) = FieldValue::Bool(true);
        }
        assert!(
            Field::ALL
                .iter()
                .all(|&f| *raw.field_mut(f) == FieldValue::Bool(true))
        );
    }
}
