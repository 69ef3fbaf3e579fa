//! The Delta table `predictions`: one row per key, as-of date and forecast step,
//! partitioned by `as_of` so that a day's batch can be replaced as a whole.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use herd_lake::TableSpec;
use herd_lake::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use herd_lake::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef, TimeUnit};
use herd_lake::arrow::error::ArrowError;
use herd_models::Forecast;
use herd_schemas::SeriesKey;

use crate::fallback::Origin;

/// The table's name under the lake root.
pub const PREDICTIONS_TABLE: &str = "predictions";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        text("key"),
        text("store_id"),
        text("item_id"),
        Field::new("target_date", DataType::Date32, false),
        Field::new("step", DataType::Int32, false),
        Field::new("forecast", DataType::Float64, false),
        Field::new("lower", DataType::Float64, false),
        Field::new("upper", DataType::Float64, false),
        Field::new("model_version", DataType::Int64, true),
        Field::new("model_type", DataType::Utf8, true),
        Field::new("cold_start", DataType::Boolean, false),
        text("source"),
        Field::new(
            "scored_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("as_of", DataType::Date32, false),
        // Added after the table's first release: nullable, so that an older table
        // gains it in place; Herd always writes it.
        Field::new("origin", DataType::Utf8, true),
    ]))
});

/// The `predictions` table, partitioned by the as-of date.
pub fn predictions_table() -> TableSpec {
    TableSpec {
        name: PREDICTIONS_TABLE.to_owned(),
        schema: Arc::clone(&SCHEMA),
        partition_columns: vec!["as_of".to_owned()],
        properties: Vec::new(),
    }
}

/// Where a forecast came from.
#[derive(Debug, Clone)]
pub struct Scored {
    pub key: SeriesKey,
    /// The last day of data the forecast starts after.
    pub as_of: NaiveDate,
    pub forecast: Forecast,
    pub model_version: Option<i64>,
    pub model_type: Option<String>,
    pub cold_start: bool,
    /// Which step of the fallback chain made it.
    pub origin: Origin,
}

/// Builds prediction rows column by column.
pub struct PredictionRows {
    key: StringBuilder,
    store_id: StringBuilder,
    item_id: StringBuilder,
    target_date: Date32Builder,
    step: Int32Builder,
    forecast: Float64Builder,
    lower: Float64Builder,
    upper: Float64Builder,
    model_version: Int64Builder,
    model_type: StringBuilder,
    cold_start: BooleanBuilder,
    source: StringBuilder,
    scored_at: TimestampMicrosecondBuilder,
    as_of: Date32Builder,
    origin: StringBuilder,
    len: usize,
}

impl Default for PredictionRows {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl PredictionRows {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            key: StringBuilder::with_capacity(rows, rows * 16),
            store_id: StringBuilder::with_capacity(rows, rows * 8),
            item_id: StringBuilder::with_capacity(rows, rows * 8),
            target_date: Date32Builder::with_capacity(rows),
            step: Int32Builder::with_capacity(rows),
            forecast: Float64Builder::with_capacity(rows),
            lower: Float64Builder::with_capacity(rows),
            upper: Float64Builder::with_capacity(rows),
            model_version: Int64Builder::with_capacity(rows),
            model_type: StringBuilder::with_capacity(rows, rows * 8),
            cold_start: BooleanBuilder::with_capacity(rows),
            source: StringBuilder::with_capacity(rows, rows * 6),
            scored_at: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            as_of: Date32Builder::with_capacity(rows),
            origin: StringBuilder::with_capacity(rows, rows * 8),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One row per step of `scored`'s forecast.
    pub fn push(&mut self, scored: &Scored, source: &str, scored_at: DateTime<Utc>) {
        let key = scored.key.to_string();
        let as_of = Date32Type::from_naive_date(scored.as_of);
        let f = &scored.forecast;
        for (step, ((mean, lower), upper)) in f.mean.iter().zip(&f.lower).zip(&f.upper).enumerate()
        {
            self.key.append_value(&key);
            self.store_id.append_value(scored.key.store_id().as_str());
            self.item_id.append_value(scored.key.item_id().as_str());
            self.target_date
                .append_value(Date32Type::from_naive_date(f.date(step)));
            self.step.append_value(step as i32 + 1);
            self.forecast.append_value(*mean);
            self.lower.append_value(*lower);
            self.upper.append_value(*upper);
            self.model_version.append_option(scored.model_version);
            self.model_type.append_option(scored.model_type.as_deref());
            self.cold_start.append_value(scored.cold_start);
            self.source.append_value(source);
            self.scored_at.append_value(scored_at.timestamp_micros());
            self.as_of.append_value(as_of);
            self.origin.append_value(scored.origin.as_str());
            self.len += 1;
        }
    }

    /// The rows so far as one batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.store_id.finish()),
            Arc::new(self.item_id.finish()),
            Arc::new(self.target_date.finish()),
            Arc::new(self.step.finish()),
            Arc::new(self.forecast.finish()),
            Arc::new(self.lower.finish()),
            Arc::new(self.upper.finish()),
            Arc::new(self.model_version.finish()),
            Arc::new(self.model_type.finish()),
            Arc::new(self.cold_start.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.scored_at.finish()),
            Arc::new(self.as_of.finish()),
            Arc::new(self.origin.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(Arc::clone(&SCHEMA), columns)
    }
}
