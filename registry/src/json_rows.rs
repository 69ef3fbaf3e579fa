//! Rows of the promotion tables to Arrow and back through their serde form, with
//! arrow-json doing the typing against the table's schema (timestamps, dates and
//! the tags map included). These tables take a few rows per decision, so the detour
//! through JSON costs nothing that matters and keeps one definition per column.

use herd_lake::arrow::array::RecordBatch;
use herd_lake::arrow::datatypes::SchemaRef;
use herd_lake::arrow::json::{ArrayWriter, ReaderBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{RegistryError, Result};

/// `rows` as one batch in `schema`.
pub fn to_batch<T: Serialize>(schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

/// Every row of `batch`.
pub fn from_batch<T: DeserializeOwned>(batch: &RecordBatch, table: &str) -> Result<Vec<T>> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let mut writer = ArrayWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let json = writer.into_inner();
    serde_json::from_slice(&json)
        .map_err(|e| RegistryError::Corrupt(format!("a row of `{table}` does not read back: {e}")))
}
