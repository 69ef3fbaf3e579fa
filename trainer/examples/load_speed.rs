//! Where the time of loading a sales Parquet file into windows goes: decoding alone,
//! then decoding and folding into windows on one thread.
//!
//! `cargo run --release -p herd-trainer --example load_speed -- data/bench/FILE.parquet`

use std::fs::File;
use std::time::Instant;

use herd_lake::parquet_reader;
use herd_trainer::{WindowLoader, Windows};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: load_speed FILE.parquet")?;
    let columns = WindowLoader::parquet_columns();
    let started = Instant::now();
    let batches: Vec<_> =
        parquet_reader(File::open(&path)?, &columns)?.collect::<Result<_, _>>()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
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
