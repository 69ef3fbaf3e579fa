//! JSON lines: one object per line; blank lines are skipped.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use herd_schemas::SalesRecord;

use super::{Location, ReadError, Row, Source};

pub(super) fn read(
    source: &Source,
    input: Box<dyn Read + Send>,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    let mut any = false;
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|err| source.io_error(err))?;
        if read == 0 {
            break;
        }
        any = true;
        number += 1;
        let text = trim_line_end(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (parsed, unknown_fields) = match SalesRecord::from_json(text) {
            Ok(parsed) => (Ok(parsed.record), parsed.unknown_fields),
            Err(err) => (Err(err), 0),
        };
        let row = Row {
            location: Location::Line(number),
            original: text,
            parsed,
            unknown_fields,
        };
        if each(row).is_break() {
            break;
        }
    }
    if !any {
        return Err(ReadError::Empty {
            source_name: source.to_string(),
        });
    }
    Ok(())
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
