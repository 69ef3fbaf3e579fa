//! Reading sales from CSV, Parquet and JSON-lines files or stdin, row by row, each
//! row validated with `herd_schemas` and kept with its original bytes and location
//! so that a rejected row can go to the dead-letter topic as it came.

mod csv;
mod jsonl;
mod parquet;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::PathBuf;

use herd_schemas::{RecordError, SalesRecord};

pub use crate::format::Format;

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
}

impl Source {
    /// `-` is standard input; anything else a file.
    pub fn parse(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// The format to read this source with: `format` when given, else the file's
    /// extension. Standard input needs `format`.
    pub fn format(&self, format: Option<Format>) -> Result<Format, ReadError> {
        match (format, self) {
            (Some(format), _) => Ok(format),
            (None, Source::File(path)) => {
                Format::from_path(path).ok_or_else(|| ReadError::UnknownFormat {
                    source_name: self.to_string(),
                })
            }
            (None, Source::Stdin) => Err(ReadError::UnknownFormat {
                source_name: self.to_string(),
            }),
        }
    }

    fn open(&self) -> Result<Box<dyn Read + Send>, ReadError> {
        match self {
            Source::Stdin => Ok(Box::new(std::io::stdin())),
            Source::File(path) => File::open(path)
                .map(|file| {
                    Box::new(BufReader::with_capacity(1 << 20, file)) as Box<dyn Read + Send>
                })
                .map_err(|err| self.io_error(err)),
        }
    }

    fn io_error(&self, err: std::io::Error) -> ReadError {
        ReadError::Io {
            source_name: self.to_string(),
            reason: err.to_string(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Stdin => f.write_str("<stdin>"),
        }
    }
}

/// Where in its source a row was: a line (CSV, JSON lines) or a row number (Parquet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Line(u64),
    Row(u64),
}

/// One row read from a source.
#[derive(Debug)]
pub struct Row<'a> {
    pub location: Location,
    /// The row's bytes as they came (CSV: the row re-encoded as one CSV line;
    /// Parquet: the row's values as a JSON object).
    pub original: &'a [u8],
    pub parsed: Result<SalesRecord, RecordError>,
    /// Fields beyond the contract's, ignored.
    pub unknown_fields: usize,
}

/// A source that cannot be read at all; nothing of it is published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{source_name}: {reason}")]
    Io { source_name: String, reason: String },
    #[error("{source_name}: cannot tell the format; name it with --format csv|parquet|jsonl")]
    UnknownFormat { source_name: String },
    #[error("{source_name}: the file is empty")]
    Empty { source_name: String },
    #[error("{source_name}: the header has no `{column}` column (found: {found})")]
    MissingColumn {
        source_name: String,
        column: &'static str,
        found: String,
    },
    #[error("{source_name}: not a readable Parquet file: {reason}")]
    Parquet { source_name: String, reason: String },
}

/// Checks a file before anything is published: it exists, is not empty, and its
/// header or schema has every required column. Standard input is checked as it is
/// read.
pub fn preflight(source: &Source, format: Format) -> Result<(), ReadError> {
    let Source::File(path) = source else {
        return Ok(());
    };
    let metadata = std::fs::metadata(path).map_err(|err| source.io_error(err))?;
    if metadata.len() == 0 {
        return Err(ReadError::Empty {
            source_name: source.to_string(),
        });
    }
    match format {
        Format::Csv => csv::check_header(source, source.open()?).map(|_| ()),
        Format::Parquet => parquet::check_schema(source, path),
        Format::JsonLines => Ok(()),
    }
}

/// Reads every row of `source`, calling `each` until it breaks.
pub fn read_rows(
    source: &Source,
    format: Format,
    each: &mut dyn FnMut(Row<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    match format {
        Format::Csv => csv::read(source, source.open()?, each),
        Format::JsonLines => jsonl::read(source, source.open()?, each),
        Format::Parquet => match source {
            Source::File(path) => parquet::read_file(source, path, each),
            Source::Stdin => {
                let mut bytes = Vec::new();
                source
                    .open()?
                    .read_to_end(&mut bytes)
                    .map_err(|err| source.io_error(err))?;
                parquet::read_bytes(source, bytes, each)
            }
        },
    }
}

/// The required columns, in contract order.
const REQUIRED: [&str; 4] = ["store_id", "item_id", "date", "sales"];
