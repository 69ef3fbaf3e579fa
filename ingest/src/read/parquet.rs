//! Parquet: columns found by name and read whatever their Arrow type, as long as it
//! can hold the field (ids as strings or integers, dates as dates or strings, ...).

use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use herd_lake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, StringArray,
};
use herd_lake::arrow::compute::cast;
use herd_lake::arrow::datatypes::{DataType, Int8Type, Int16Type, Int32Type, Int64Type, Schema};
use herd_lake::arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use herd_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use herd_lake::parquet::file::reader::ChunkReader;
use herd_schemas::{Field, FieldValue, RawRecord};

use super::{Location, REQUIRED, ReadError, Row, Source};

const BATCH_ROWS: usize = 64 * 1024;

pub(super) fn check_schema(source: &Source, path: &Path) -> Result<(), ReadError> {
    let builder = open(source, path)?;
    columns(source, builder.schema()).map(|_| ())
}

pub(super) fn read_file(
    source: &Source,
    path: &Path,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    read(source, open(source, path)?, each)
}

pub(super) fn read_bytes(
    source: &Source,
    bytes: Vec<u8>,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty {
            source_name: source.to_string(),
        });
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|err| parquet_error(source, err))?;
    read(source, builder, each)
}

fn open(source: &Source, path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ReadError> {
    let file = File::open(path).map_err(|err| source.io_error(err))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|err| parquet_error(source, err))
}

fn parquet_error(source: &Source, err: impl std::fmt::Display) -> ReadError {
    ReadError::Parquet {
        source_name: source.to_string(),
        reason: err.to_string(),
    }
}

/// Column index of each contract field present, and how many columns are unknown.
fn columns(source: &Source, schema: &Schema) -> Result<(Vec<(usize, Field)>, usize), ReadError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for required in REQUIRED {
        if !names.contains(&required) {
            return Err(ReadError::MissingColumn {
                source_name: source.to_string(),
                column: required,
                found: names.join(","),
            });
        }
    }
    let known: Vec<(usize, Field)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| Field::from_name(name).map(|field| (i, field)))
        .collect();
    let unknown = names.len() - known.len();
    Ok((known, unknown))
}

fn read<R: ChunkReader + 'static>(
    source: &Source,
    builder: ParquetRecordBatchReaderBuilder<R>,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let (known, unknown_fields) = columns(source, builder.schema())?;
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|err| parquet_error(source, err))?;
    let mut row_number = 0u64;
    let mut original = Vec::with_capacity(256);
    for batch in reader {
        let batch = batch.map_err(|err| parquet_error(source, err))?;
        let arrays: Vec<(Field, ArrayRef)> = known
            .iter()
            .map(|(i, field)| normalize(batch.column(*i)).map(|array| (*field, array)))
            .collect::<Result<_, _>>()
            .map_err(|err| parquet_error(source, err))?;
        for i in 0..batch.num_rows() {
            row_number += 1;
            let mut raw = RawRecord::default();
            for (field, array) in &arrays {
                *raw.field_mut(*field) = value(array, i);
            }
            let parsed = raw.validate();
            original.clear();
            if parsed.is_err() {
                to_json(&raw, &mut original);
            }
            let row = Row {
                location: Location::Row(row_number),
                original: &original,
                parsed,
                unknown_fields,
            };
            if each(row).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Brings a column to a type [`value`] reads: dictionaries, large and view strings
/// and temporal types become plain strings (dates as `YYYY-MM-DD`).
fn normalize(array: &ArrayRef) -> Result<ArrayRef, herd_lake::arrow::error::ArrowError> {
    match array.data_type() {
        DataType::Dictionary(_, _)
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Date32
        | DataType::Date64 => cast(array, &DataType::Utf8),
        DataType::Timestamp(_, _) => cast(&cast(array, &DataType::Date32)?, &DataType::Utf8),
        _ => Ok(Arc::clone(array)),
    }
}

fn value(array: &ArrayRef, i: usize) -> FieldValue<'_> {
    if array.is_null(i) {
        return FieldValue::Null;
    }
    let any = array.as_any();
    match array.data_type() {
        DataType::Utf8 => any
            .downcast_ref::<StringArray>()
            .map_or(FieldValue::Nested, |a| FieldValue::Str(a.value(i))),
        DataType::Boolean => any
            .downcast_ref::<BooleanArray>()
            .map_or(FieldValue::Nested, |a| FieldValue::Bool(a.value(i))),
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .map_or(FieldValue::Nested, |a| FieldValue::Float(a.value(i))),
        DataType::Float32 => any
            .downcast_ref::<Float32Array>()
            .map_or(FieldValue::Nested, |a| {
                FieldValue::Float(f64::from(a.value(i)))
            }),
        DataType::Int8 => FieldValue::Int(i64::from(array.as_primitive::<Int8Type>().value(i))),
        DataType::Int16 => FieldValue::Int(i64::from(array.as_primitive::<Int16Type>().value(i))),
        DataType::Int32 => FieldValue::Int(i64::from(array.as_primitive::<Int32Type>().value(i))),
        DataType::Int64 => FieldValue::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => FieldValue::UInt(u64::from(array.as_primitive::<UInt8Type>().value(i))),
        DataType::UInt16 => {
            FieldValue::UInt(u64::from(array.as_primitive::<UInt16Type>().value(i)))
        }
        DataType::UInt32 => {
            FieldValue::UInt(u64::from(array.as_primitive::<UInt32Type>().value(i)))
        }
        DataType::UInt64 => FieldValue::UInt(array.as_primitive::<UInt64Type>().value(i)),
        _ => FieldValue::Nested,
    }
}

/// A rejected row's values as a JSON object, for the dead-letter topic.
fn to_json(raw: &RawRecord<'_>, out: &mut Vec<u8>) {
    let mut object = serde_json::Map::new();
    for field in Field::ALL {
        let mut copy = *raw;
        let json = match *copy.field_mut(field) {
            FieldValue::Null => continue,
            FieldValue::Bool(b) => serde_json::Value::from(b),
            FieldValue::Int(n) => serde_json::Value::from(n),
            FieldValue::UInt(n) => serde_json::Value::from(n),
            FieldValue::Float(x) => serde_json::Number::from_f64(x)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::from(x.to_string())),
            FieldValue::Str(s) | FieldValue::Text(s) => serde_json::Value::from(s),
            FieldValue::Nested => serde_json::Value::from("<unsupported type>"),
        };
        object.insert(field.as_str().to_owned(), json);
    }
    let _ = serde_json::to_writer(out, &object);
}
