//! The file formats Herd reads and writes sales in.

use std::path::Path;

/// A sales file format; the columns are those of the record contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format named by `path`'s extension: `.csv`, `.parquet` (or `.pq`), or
    /// `.jsonl`, `.ndjson` or `.json` for JSON lines (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        Format::parse(path.extension()?.to_str()?)
    }

    /// A format by name or extension: `csv`, `parquet`, `jsonl`, ...
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::JsonLines => "jsonl",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats() {
        assert_eq!(Format::from_path(Path::new("a.CSV")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("a.pq")), Some(Format::Parquet));
        assert_eq!(
            Format::from_path(Path::new("a.ndjson")),
            Some(Format::JsonLines)
        );
        assert_eq!(Format::from_path(Path::new("a.txt")), None);
        assert_eq!(Format::from_path(Path::new("noext")), None);
    }
}
