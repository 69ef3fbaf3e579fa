//! Encoding runs of observations as CSV, JSON lines or Arrow batches for Parquet.
//!
//! The text formats are written byte by byte into one reused buffer: ids need no
//! quoting or escaping (their alphabet has no special characters), sales are whole
//! numbers and prices whole cents, so no float formatting is involved.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use herd_lake::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringBuilder,
};
use herd_lake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use herd_lake::arrow::error::ArrowError;
use herd_schemas::Field as Column;

use super::series::{Day, Observation, SeriesModel};

/// Days between 0001-01-01 (day 1 of the common era) and 1970-01-01, Arrow's epoch.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

/// What the encoders look up per row: the series' ids and the day's date.
pub(super) struct Lookup<'a> {
    models: &'a [SeriesModel],
    days: &'a [Day],
    /// Each day's date as `YYYY-MM-DD`, formatted once.
    dates: Vec<[u8; 10]>,
}

impl<'a> Lookup<'a> {
    pub(super) fn new(models: &'a [SeriesModel], days: &'a [Day]) -> Self {
        let dates = days.iter().map(|day| iso_date(day.date)).collect();
        Self {
            models,
            days,
            dates,
        }
    }

    fn model(&self, observation: &Observation) -> &SeriesModel {
        &self.models[observation.series as usize]
    }
}

/// The CSV header row: the contract's column names in contract order.
pub(super) fn csv_header() -> Vec<u8> {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.as_str()).collect();
    format!("{}\n", names.join(",")).into_bytes()
}

/// CSV rows such as `S0001,I00001,2022-01-01,17,3.49,0` (promo as 0/1).
pub(super) fn csv(lookup: &Lookup<'_>, observations: &[Observation], out: &mut Vec<u8>) {
    for observation in observations {
        let model = lookup.model(observation);
        out.extend_from_slice(model.store_id().as_str().as_bytes());
        out.push(b',');
        out.extend_from_slice(model.item_id().as_str().as_bytes());
        out.push(b',');
        out.extend_from_slice(&lookup.dates[observation.day as usize]);
        out.push(b',');
        push_uint(out, observation.sales);
        out.push(b',');
        push_cents(out, observation.price_cents);
        out.extend_from_slice(if observation.promo { b",1\n" } else { b",0\n" });
    }
}

/// One JSON object per line, e.g.
/// `{"store_id":"S0001","item_id":"I00001","date":"2022-01-01","sales":17,"price":3.49,"promo":false}`.
pub(super) fn json_lines(lookup: &Lookup<'_>, observations: &[Observation], out: &mut Vec<u8>) {
    for observation in observations {
        let model = lookup.model(observation);
        out.extend_from_slice(b"{\"store_id\":\"");
        out.extend_from_slice(model.store_id().as_str().as_bytes());
        out.extend_from_slice(b"\",\"item_id\":\"");
        out.extend_from_slice(model.item_id().as_str().as_bytes());
        out.extend_from_slice(b"\",\"date\":\"");
        out.extend_from_slice(&lookup.dates[observation.day as usize]);
        out.extend_from_slice(b"\",\"sales\":");
        push_uint(out, observation.sales);
        out.extend_from_slice(b",\"price\":");
        push_cents(out, observation.price_cents);
        out.extend_from_slice(if observation.promo {
            b",\"promo\":true}\n"
        } else {
            b",\"promo\":false}\n"
        });
    }
}

/// The Arrow schema of generated Parquet files. Price and promo are nullable
/// because the contract makes them optional, though generated rows always have both.
pub(super) fn schema() -> SchemaRef {
    let column = |c: Column, data_type, nullable| Field::new(c.as_str(), data_type, nullable);
    Arc::new(Schema::new(vec![
        column(Column::StoreId, DataType::Utf8, false),
        column(Column::ItemId, DataType::Utf8, false),
        column(Column::Date, DataType::Date32, false),
        column(Column::Sales, DataType::Float64, false),
        column(Column::Price, DataType::Float64, true),
        column(Column::Promo, DataType::Boolean, true),
    ]))
}

/// One Arrow batch of `observations`, in their order.
pub(super) fn batch(
    lookup: &Lookup<'_>,
    observations: &[Observation],
) -> Result<RecordBatch, ArrowError> {
    let rows = observations.len();
    let mut stores = StringBuilder::with_capacity(rows, rows * 5);
    let mut items = StringBuilder::with_capacity(rows, rows * 6);
    for observation in observations {
        let model = lookup.model(observation);
        stores.append_value(model.store_id().as_str());
        items.append_value(model.item_id().as_str());
    }
    let dates: Date32Array = observations
        .iter()
        .map(|o| lookup.days[o.day as usize].date.num_days_from_ce() - UNIX_EPOCH_FROM_CE)
        .collect::<Vec<i32>>()
        .into();
    let sales: Float64Array = observations
        .iter()
        .map(|o| f64::from(o.sales))
        .collect::<Vec<f64>>()
        .into();
    let prices: Float64Array = observations
        .iter()
        .map(|o| f64::from(o.price_cents) / 100.0)
        .collect::<Vec<f64>>()
        .into();
    let promos: BooleanArray = observations
        .iter()
        .map(|o| o.promo)
        .collect::<Vec<bool>>()
        .into();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(stores.finish()),
        Arc::new(items.finish()),
        Arc::new(dates),
        Arc::new(sales),
        Arc::new(prices),
        Arc::new(promos),
    ];
    RecordBatch::try_new(schema(), columns)
}

fn iso_date(date: NaiveDate) -> [u8; 10] {
    let mut text = *b"0000-00-00";
    // Validated specs keep years within 0000–9999.
    let fields = [
        (0, 4, date.year() as u32),
        (5, 2, date.month()),
        (8, 2, date.day()),
    ];
    for (at, width, mut value) in fields {
        for slot in text[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    text
}

fn push_uint(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0_u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `349` cents as `3.49`.
fn push_cents(out: &mut Vec<u8>, cents: u32) {
    push_uint(out, cents / 100);
    let rest = (cents % 100) as u8;
    out.extend_from_slice(&[b'.', b'0' + rest / 10, b'0' + rest % 10]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_format_like_the_standard_library() {
        for value in [0, 7, 10, 349, 1_000_000, u32::MAX] {
            let mut out = Vec::new();
            push_uint(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
        for (cents, text) in [(1, "0.01"), (349, "3.49"), (1200, "12.00")] {
            let mut out = Vec::new();
            push_cents(&mut out, cents);
            assert_eq!(out, text.as_bytes());
        }
        let date = NaiveDate::from_ymd_opt(987, 3, 9).unwrap();
        assert_eq!(&iso_date(date), b"0987-03-09");
    }
}
