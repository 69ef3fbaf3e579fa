//! Where the time of loading a sales Parquet file into windows goes: decoding alone,
//! then decoding and folding into windows on one thread. With `--positions`, every
//! row gets a Kafka partition and offset (in file order) as rows of the `sales` table
//! have, so the fold also orders repeated days by them.
//!
//! `cargo run --release -p herd-history --example load_speed -- data/bench/FILE.parquet [--positions]`

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use herd_history::{WindowLoader, Windows};
use herd_lake::arrow::array::{Int32Array, Int64Array, RecordBatch};
use herd_lake::arrow::datatypes::{DataType, Field, Schema};
use herd_lake::parquet_reader;

/// `batch` with `kafka_partition` 0 and `kafka_offset` counting from `first`.
fn positioned(batch: RecordBatch, first: i64) -> Result<RecordBatch, Box<dyn std::error::Error>> {
    let rows = batch.num_rows();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("kafka_partition", DataType::Int32, false));
    fields.push(Field::new("kafka_offset", DataType::Int64, false));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(Int32Array::from(vec![0; rows])));
    columns.push(Arc::new(Int64Array::from_iter_values(
        first..first + rows as i64,
    )));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: load_speed FILE.parquet [--positions]")?;
    let positions = std::env::args().nth(2).as_deref() == Some("--positions");
    let columns = WindowLoader::parquet_columns();
    let started = Instant::now();
    let mut batches: Vec<_> =
        parquet_reader(File::open(&path)?, &columns)?.collect::<Result<_, _>>()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if positions {
        let mut first = 0;
        batches = batches
            .into_iter()
            .map(|batch| {
                let rows = batch.num_rows() as i64;
                first += rows;
                positioned(batch, first - rows)
            })
            .collect::<Result<_, _>>()?;
    }
    println!(
        "decode: {rows} rows in {:.3} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let windows = Windows::new(730);
    let mut loader = WindowLoader::new(730, None);
    for batch in &batches {
        loader.add(batch)?;
    }
    let (_, keys) = loader.finish(&windows);
    println!(
        "fold: {keys} keys in {:.3} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let dense: usize = windows
        .map()
        .iter()
        .map(|e| e.value().window.dense().sales.len())
        .sum();
    println!(
        "dense: {dense} days in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
