//! The `sales` table: its Arrow schema and a builder that turns accepted records
//! into record batches, one row per record with the Kafka position it came from.

use std::sync::{Arc, LazyLock};

use chrono::Datelike as _;
use deltalake::arrow::array::{
    BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use deltalake::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use herd_schemas::SalesRecord;

/// The table's name under the lake root.
pub const SALES_TABLE: &str = "sales";

/// The partition column: time-range scans prune whole years by directory, and
/// Delta's per-file min/max statistics on `date` prune files within a year.
pub const SALES_PARTITION_COLUMN: &str = "year";

static SALES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("store_id", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("sales", DataType::Float64, false),
        Field::new("price", DataType::Float64, true),
        Field::new("promo", DataType::Boolean, true),
        Field::new(SALES_PARTITION_COLUMN, DataType::Int32, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
    ]))
});

/// The Arrow schema of the `sales` table.
pub fn sales_schema() -> SchemaRef {
    Arc::clone(&SALES_SCHEMA)
}

// Fixed bytes per row in Arrow memory: two string offsets (4 each), date (4),
// sales and price (8 each), promo (1, rounded up), year and partition (4 each),
// offset (8).
const FIXED_ROW_BYTES: usize = 4 + 4 + 4 + 8 + 8 + 1 + 4 + 4 + 8;

/// Accumulates `sales` rows column by column and hands them out as a
/// [`RecordBatch`]; [`finish`](Self::finish) empties it for the next batch.
#[derive(Debug)]
pub struct SalesRows {
    store_id: StringBuilder,
    item_id: StringBuilder,
    date: Date32Builder,
    sales: Float64Builder,
    price: Float64Builder,
    promo: BooleanBuilder,
    year: Int32Builder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    len: usize,
    bytes: usize,
}

impl Default for SalesRows {
    fn default() -> Self {
        Self::new()
    }
}

impl SalesRows {
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A builder with room for `rows` rows before it reallocates.
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            store_id: StringBuilder::with_capacity(rows, rows * 8),
            item_id: StringBuilder::with_capacity(rows, rows * 8),
            date: Date32Builder::with_capacity(rows),
            sales: Float64Builder::with_capacity(rows),
            price: Float64Builder::with_capacity(rows),
            promo: BooleanBuilder::with_capacity(rows),
            year: Int32Builder::with_capacity(rows),
            kafka_partition: Int32Builder::with_capacity(rows),
            kafka_offset: Int64Builder::with_capacity(rows),
            len: 0,
            bytes: 0,
        }
    }

    /// Appends one record read from `kafka_partition` at `kafka_offset`.
    pub fn push(&mut self, record: &SalesRecord, kafka_partition: i32, kafka_offset: i64) {
        let store_id = record.store_id.as_str();
        let item_id = record.item_id.as_str();
        self.store_id.append_value(store_id);
        self.item_id.append_value(item_id);
        self.date
            .append_value(Date32Type::from_naive_date(record.date));
        self.sales.append_value(record.sales);
        self.price.append_option(record.price);
        self.promo.append_option(record.promo);
        self.year.append_value(record.date.year());
        self.kafka_partition.append_value(kafka_partition);
        self.kafka_offset.append_value(kafka_offset);
        self.len += 1;
        self.bytes += FIXED_ROW_BYTES + store_id.len() + item_id.len();
    }

    /// Rows pushed since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Roughly the Arrow memory the pending rows take, for flush thresholds.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// The pending rows as a batch of [`sales_schema`]; the builder starts empty again.
    pub fn finish(&mut self) -> RecordBatch {
        let columns = vec![
            Arc::new(self.store_id.finish()) as _,
            Arc::new(self.item_id.finish()) as _,
            Arc::new(self.date.finish()) as _,
            Arc::new(self.sales.finish()) as _,
            Arc::new(self.price.finish()) as _,
            Arc::new(self.promo.finish()) as _,
            Arc::new(self.year.finish()) as _,
            Arc::new(self.kafka_partition.finish()) as _,
            Arc::new(self.kafka_offset.finish()) as _,
        ];
        self.len = 0;
        self.bytes = 0;
        // Every column has one value per pushed row, in schema order, with the
        // schema's type, and non-nullable columns only ever get `append_value`.
        RecordBatch::try_new(sales_schema(), columns).expect("sales columns match sales_schema()")
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{Int32Type, Int64Type};

    use super::*;
    use crate::test_support::record;

    #[test]
    fn rows_become_a_batch_with_year_from_date() {
        let mut rows = SalesRows::new();
        let d1 = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        rows.push(&record("1", "7", d1, 3.0), 2, 40);
        let mut priced = record("1", "8", d2, 0.0);
        priced.price = Some(1.25);
        priced.promo = None;
        rows.push(&priced, 2, 41);
        assert_eq!(rows.len(), 2);
        assert!(rows.approx_bytes() >= 2 * FIXED_ROW_BYTES);

        let batch = rows.finish();
        assert!(rows.is_empty());
        assert_eq!(rows.approx_bytes(), 0);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), sales_schema());
        let year = batch
            .column_by_name("year")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(year.values(), &[2023, 2024]);
        let offsets = batch
            .column_by_name("kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(offsets.values(), &[40, 41]);
        let price = batch.column_by_name("price").unwrap();
        assert!(price.is_null(0) && !price.is_null(1));
        let promo = batch.column_by_name("promo").unwrap().as_boolean();
        assert!(promo.value(0) && promo.is_null(1));
        let date = batch.column_by_name("date").unwrap();
        assert_eq!(
            date.as_primitive::<deltalake::arrow::datatypes::Date32Type>()
                .value(1),
            19723
        );
    }

    #[test]
    fn an_empty_builder_gives_an_empty_batch() {
        let batch = SalesRows::new().finish();
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.num_columns(), 9);
    }
}
