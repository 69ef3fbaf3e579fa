//! The lake's error type: one line per failure, naming the path, URL or table involved.

use deltalake::DeltaTableError;

/// What can go wrong between Herd and its Delta tables.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake root string is neither a usable directory nor a supported URL.
    #[error("invalid lake root `{root}`: {reason}")]
    InvalidRoot { root: String, reason: String },

    /// A local lake root or table directory could not be created or resolved.
    #[error("cannot use local directory `{path}`: {cause}")]
    LocalDirectory { path: String, cause: std::io::Error },

    /// A table name that could escape the lake root or is not a plain relative path.
    #[error("invalid table name `{name}`: {reason}")]
    InvalidTableName { name: String, reason: String },

    /// An existing table whose columns differ from what Herd expects.
    #[error("table {table} does not match the expected schema: {reason}")]
    SchemaMismatch { table: String, reason: String },

    /// An offset range that cannot describe a batch (a negative offset, `next`
    /// before `first`, or one partition listed twice).
    #[error("invalid offset range for partition {partition}: {reason}")]
    InvalidRange { partition: i32, reason: String },

    /// The table's stored offset for `partition` is not where the batch starts: another
    /// writer committed this partition, or the caller read from the wrong offset. Nothing
    /// was committed; the caller must re-seek to `stored`.
    #[error(
        "partition {partition} moved: the table stores next offset {}, the batch starts at {expected}",
        display_offset(*.stored)
    )]
    OffsetsMoved {
        partition: i32,
        stored: Option<i64>,
        expected: i64,
    },

    /// Concurrent commits kept winning for every allowed attempt.
    #[error("gave up committing to {table} after {attempts} conflicting attempts")]
    CommitConflicts { table: String, attempts: u32 },

    /// A data file of the table could not be read back.
    #[error("cannot read {table}: {reason}")]
    Read { table: String, reason: String },

    /// Any other failure reported by Delta Lake, with the operation and table it hit.
    #[error("{operation} {table}: {}", one_line(.cause))]
    Delta {
        operation: &'static str,
        table: String,
        // Boxed: Delta's error is large and every lake result would carry its size.
        cause: Box<DeltaTableError>,
    },
}

impl LakeError {
    pub(crate) fn delta(
        operation: &'static str,
        table: impl ToString,
    ) -> impl FnOnce(DeltaTableError) -> Self {
        let table = table.to_string();
        move |cause| Self::Delta {
            operation,
            table,
            cause: Box::new(cause),
        }
    }

    /// The Delta Lake error behind a [`LakeError::Delta`], for callers that branch on it.
    pub fn delta_error(&self) -> Option<&DeltaTableError> {
        match self {
            Self::Delta { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

// Causes are folded into the message (and not exposed as `source()`) so that a
// printed error is one line and no cause is printed twice; some Delta messages carry
// a "Help:" paragraph after a newline.
fn one_line(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn display_offset(offset: Option<i64>) -> String {
    offset.map_or_else(|| "none (never written)".to_owned(), |o| o.to_string())
}

/// Results of the lake's operations.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_table() {
        let moved = LakeError::OffsetsMoved {
            partition: 3,
            stored: None,
            expected: 7,
        };
        assert_eq!(
            moved.to_string(),
            "partition 3 moved: the table stores next offset none (never written), \
             the batch starts at 7"
        );
        let conflict = DeltaTableError::Generic("first line\nHelp: second line".to_owned());
        let err = LakeError::delta("commit to", "file:///lake/sales/")(conflict);
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with("commit to file:///lake/sales/: "),
            "{text}"
        );
        assert!(err.delta_error().is_some());
    }
}
