//! Reading a Parquet file's columns by name, whatever Arrow type the writer chose
//! (dictionary or plain strings, integer widths), into plain Rust values.

use std::fs::File;
use std::path::Path;

use chrono::NaiveDate;
use herd_lake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use herd_lake::arrow::compute::cast;
use herd_lake::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use herd_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Every row group of the Parquet file at `path`.
pub fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file =
        File::open(path).unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .unwrap_or_else(|err| panic!("{} is not Parquet: {err}", path.display()))
        .map(|batch| batch.unwrap_or_else(|err| panic!("reading {}: {err}", path.display())))
        .collect()
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> ArrayRef {
    let array = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column `{name}` in {:?}", batch.schema()));
    cast(array, to).unwrap_or_else(|err| panic!("column `{name}` is not {to}: {err}"))
}

/// A column as text; nulls are `None`.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let array = column(batch, name, &DataType::Utf8);
    let array = array.as_string::<i32>();
    (0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i).to_owned()))
        .collect()
}

/// A numeric column as `f64`; nulls are `None`.
pub fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let array = column(batch, name, &DataType::Float64);
    array.as_primitive::<Float64Type>().iter().collect()
}

/// An integer column as `i64`; nulls are `None`.
pub fn integers(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let array = column(batch, name, &DataType::Int64);
    array.as_primitive::<Int64Type>().iter().collect()
}

/// A date column (or `YYYY-MM-DD` strings); nulls are `None`.
pub fn dates(batch: &RecordBatch, name: &str) -> Vec<Option<NaiveDate>> {
    let array = column(batch, name, &DataType::Date32);
    array
        .as_primitive::<Date32Type>()
        .iter()
        .map(|days| {
            days.map(|days| {
                Date32Type::to_naive_date_opt(days)
                    .unwrap_or_else(|| panic!("column `{name}`: {days} days is out of range"))
            })
        })
        .collect()
}

/// A boolean column; nulls are `None`.
pub fn booleans(batch: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    let array = column(batch, name, &DataType::Boolean);
    array.as_boolean().iter().collect()
}
