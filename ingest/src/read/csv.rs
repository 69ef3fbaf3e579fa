//! CSV with a header row naming the contract's columns, in any order; extra columns
//! are ignored and counted.

use std::io::Read;
use std::ops::ControlFlow;

use csv::{ByteRecord, ReaderBuilder, WriterBuilder};
use herd_schemas::{Field, FieldValue, RawRecord, RecordError};

use super::{Location, REQUIRED, ReadError, Row, Source};

/// Which contract field each column holds (`None` for an unknown column).
type Columns = Vec<Option<Field>>;

pub(super) fn check_header(
    source: &Source,
    input: Box<dyn Read + Send>,
) -> Result<(csv::Reader<Box<dyn Read + Send>>, Columns), ReadError> {
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader.byte_headers().map_err(|err| ReadError::Io {
        source_name: source.to_string(),
        reason: err.to_string(),
    })?;
    if header.is_empty() {
        return Err(ReadError::Empty {
            source_name: source.to_string(),
        });
    }
    let names: Vec<String> = header
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_owned())
        .collect();
    let columns: Columns = names.iter().map(|name| Field::from_name(name)).collect();
    for required in REQUIRED {
        if !names.iter().any(|name| name == required) {
            return Err(ReadError::MissingColumn {
                source_name: source.to_string(),
                column: required,
                found: names.join(","),
            });
        }
    }
    Ok((reader, columns))
}

pub(super) fn read(
    source: &Source,
    input: Box<dyn Read + Send>,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let (mut reader, columns) = check_header(source, input)?;
    let unknown_columns = columns.iter().filter(|c| c.is_none()).count();
    let mut record = ByteRecord::new();
    let mut original = Vec::with_capacity(256);
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(err) if err.is_io_error() => return Err(source.io_error(into_io(err))),
            Err(err) => {
                // A row the CSV parser could not read at all.
                let line = err.position().map_or(0, |p| p.line());
                let row = Row {
                    location: Location::Line(line),
                    original: b"",
                    parsed: Err(RecordError::Malformed(err.to_string())),
                    unknown_fields: 0,
                };
                if each(row).is_break() {
                    break;
                }
                continue;
            }
        };
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        original.clear();
        encode(&record, &mut original);
        let parsed = if record.len() != columns.len() {
            Err(RecordError::Malformed(format!(
                "{} fields where the header has {}",
                record.len(),
                columns.len()
            )))
        } else {
            parse(&record, &columns)
        };
        let row = Row {
            location: Location::Line(line),
            original: &original,
            parsed,
            unknown_fields: unknown_columns,
        };
        if each(row).is_break() {
            break;
        }
    }
    Ok(())
}

fn parse(record: &ByteRecord, columns: &Columns) -> Result<herd_schemas::SalesRecord, RecordError> {
    let mut raw = RawRecord::default();
    for (cell, field) in record.iter().zip(columns) {
        let Some(field) = field else { continue };
        let text = std::str::from_utf8(cell).map_err(|_| {
            RecordError::Malformed(format!("{} is not valid UTF-8", field.as_str()))
        })?;
        *raw.field_mut(*field) = FieldValue::Text(text);
    }
    raw.validate()
}

/// The row as one CSV line, quoted where needed, for the dead-letter topic.
fn encode(record: &ByteRecord, out: &mut Vec<u8>) {
    let mut writer = WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(&mut *out);
    let _ = writer.write_byte_record(record);
    let _ = writer.flush();
    drop(writer);
    if out.last() == Some(&b'\n') {
        out.pop();
    }
}

fn into_io(err: csv::Error) -> std::io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => std::io::Error::other(format!("{other:?}")),
    }
}
