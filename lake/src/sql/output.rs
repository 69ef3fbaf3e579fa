//! Answers as text: a table for a terminal, CSV, JSON lines, and the JSON array of
//! rows that `POST /v1/sql` answers with. JSON keeps nulls explicit, writes dates as
//! `YYYY-MM-DD` and timestamps with a zone as RFC 3339.

use std::io::Write;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use deltalake::arrow::csv;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::json::WriterBuilder as JsonWriterBuilder;
use deltalake::arrow::json::writer::{JsonArray, LineDelimited, Writer as JsonWriter};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::arrow::util::pretty::pretty_format_batches_with_schema;

use super::SqlError;

/// One column of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The Arrow type, as Arrow prints it (`Utf8`, `Int64`, `Date32`, …).
    pub data_type: String,
}

/// The columns of `schema`, in order.
pub fn columns(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|field| Column {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
        })
        .collect()
}

/// The answer as a table with a header and borders, for a terminal.
pub fn format_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, SqlError> {
    pretty_format_batches_with_schema(Arc::clone(schema), batches)
        .map(|table| table.to_string())
        .map_err(output)
}

/// The rows as one JSON array of objects, one key per column, nulls included.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<u8>, SqlError> {
    let mut writer: JsonWriter<Vec<u8>, JsonArray> = JsonWriterBuilder::new()
        .with_explicit_nulls(true)
        .build(Vec::new());
    for batch in batches {
        writer.write(batch).map_err(output)?;
    }
    writer.finish().map_err(output)?;
    Ok(writer.into_inner())
}

/// The rows as one JSON array of objects, as [`json_rows`] writes them, built row by
/// row as batches come and cut at a byte budget: a row that would take the array past
/// it is not written, nor is any row after it.
#[derive(Debug)]
pub struct JsonRows {
    array: Vec<u8>,
    max_bytes: usize,
    rows: usize,
}

impl JsonRows {
    /// An empty array that may grow to `max_bytes`, brackets included.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            array: vec![b'['],
            max_bytes,
            rows: 0,
        }
    }

    /// Appends `batch`'s rows while they fit; `false` once one did not.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<bool, SqlError> {
        for row in 0..batch.num_rows() {
            // One row at a time, so that the budget is checked before a row is kept
            // and no more than one row is ever written past it.
            let mut writer: JsonWriter<Vec<u8>, LineDelimited> = JsonWriterBuilder::new()
                .with_explicit_nulls(true)
                .build(Vec::new());
            writer.write(&batch.slice(row, 1)).map_err(output)?;
            writer.finish().map_err(output)?;
            let line = writer.into_inner();
            let object = line.strip_suffix(b"\n").unwrap_or(&line);
            // The separator and the closing bracket count too.
            if self.array.len() + object.len() + 2 > self.max_bytes {
                return Ok(false);
            }
            if self.rows > 0 {
                self.array.push(b',');
            }
            self.array.extend_from_slice(object);
            self.rows += 1;
        }
        Ok(true)
    }

    /// The rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The array, closed.
    pub fn finish(mut self) -> Vec<u8> {
        self.array.push(b']');
        self.array
    }
}

/// A text format for rows written as they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// A header line, then one line per row; nested values (a model's tags) are
    /// written as Arrow displays them.
    Csv,
    /// One JSON object per line, nulls included.
    JsonLines,
}

/// Writes batches of rows to `W` in a [`RowFormat`].
pub struct RowWriter<W: Write> {
    sink: Sink<W>,
    wrote: bool,
}

enum Sink<W: Write> {
    // Boxed: the CSV writer's buffers would make every sink five times larger.
    Csv(Box<csv::Writer<W>>),
    Json(JsonWriter<W, LineDelimited>),
}

impl<W: Write> RowWriter<W> {
    pub fn new(out: W, format: RowFormat) -> Self {
        let sink = match format {
            RowFormat::Csv => Sink::Csv(Box::new(
                csv::WriterBuilder::new().with_header(true).build(out),
            )),
            RowFormat::JsonLines => Sink::Json(
                JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(out),
            ),
        };
        Self { sink, wrote: false }
    }

    /// Writes `batch`'s rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SqlError> {
        match &mut self.sink {
            Sink::Csv(writer) => flattened(batch).and_then(|flat| writer.write(&flat)),
            Sink::Json(writer) => writer.write(batch),
        }
        .map_err(output)?;
        self.wrote = true;
        Ok(())
    }

    /// Ends the output (a CSV answer without rows still gets its header line) and
    /// returns the writer.
    pub fn finish(mut self, schema: &SchemaRef) -> Result<W, SqlError> {
        if !self.wrote {
            // The CSV writer writes its header with the first batch, even an empty one.
            self.write(&RecordBatch::new_empty(Arc::clone(schema)))?;
        }
        match self.sink {
            Sink::Csv(writer) => Ok((*writer).into_inner()),
            Sink::Json(mut writer) => {
                writer.finish().map_err(output)?;
                Ok(writer.into_inner())
            }
        }
    }
}

/// `batch` with every nested column (lists, maps, structs) turned into text, which
/// CSV can hold.
fn flattened(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                text.append_value(formatter.value(row).to_string());
            }
        }
        fields.push(Arc::new(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        )));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A failure to write: the output's fault when writing failed, the statement's when a
/// value has a type the format cannot hold (a map with numeric keys in JSON, say).
fn output(error: ArrowError) -> SqlError {
    match error {
        ArrowError::IoError(..) => SqlError::Failed(format!("writing the answer: {error}")),
        other => SqlError::Unwritable(other.to_string()),
    }
}
