//! Writing a spec to one file. Worker threads generate and encode fixed runs of
//! rows while the calling thread writes them out in order, so memory stays a few
//! runs deep whatever the row count, and both cores stay busy.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::num::NonZero;
use std::path::Path;

pub use crate::format::Format;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use herd_lake::parquet::arrow::ArrowWriter;
use herd_lake::parquet::basic::Compression;
use herd_lake::parquet::errors::ParquetError;
use herd_lake::parquet::file::properties::WriterProperties;

use super::GenerateError;
use super::encode::{self, Lookup};
use super::series::{Day, Observation, SeriesModel};
use super::spec::GeneratorSpec;

/// Slots (series × day positions) per run handed to a worker: big enough that
/// hand-over costs nothing, small enough that a few runs in flight stay a few MB.
const RUN_SLOTS: u64 = 1 << 17;
/// Encoded runs a worker may have waiting for the writer.
const QUEUE_DEPTH: usize = 2;
const MAX_WORKERS: usize = 8;
/// Parquet's usual row group size; the writer holds at most one group in memory.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// What a write produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Rows written (fewer than series × days: new products start late).
    pub rows: u64,
    pub series: u64,
    /// Size of the finished file.
    pub bytes: u64,
    /// Wall time from start to the closed file.
    pub seconds: f64,
}

/// Writes every row of `spec` to `path`, day by day and within a day series by
/// series, in `format` or else the one its extension names. `progress` is called
/// on the calling thread with the rows written so far after each run of rows.
/// On failure the partial file is removed.
pub fn write_file(
    spec: &GeneratorSpec,
    path: &Path,
    format: Option<Format>,
    progress: &dyn Fn(u64),
) -> Result<Summary, GenerateError> {
    let (format, file, started) = create(spec, path, format)?;
    let plan = Plan::new(spec);
    let written = match format {
        Format::Parquet => write_parquet(&plan, file, path, progress),
        Format::Csv | Format::JsonLines => write_text(&plan, format, file, path, progress),
    };
    let rows = written.inspect_err(|_| {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(path);
    })?;
    let bytes = fs::metadata(path).map_err(write_error(path))?.len();
    Ok(Summary {
        rows,
        series: spec.series(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Checks `spec`, settles the format (`format`, else the one `path`'s extension
/// names) and creates the file: the start of every generated file, timed from here.
pub(super) fn create(
    spec: &GeneratorSpec,
    path: &Path,
    format: Option<Format>,
) -> Result<(Format, File, Instant), GenerateError> {
    spec.validate()?;
    let format = match format {
        Some(format) => format,
        None => Format::from_path(path).ok_or_else(|| GenerateError::UnknownFormat {
            path: path.to_owned(),
        })?,
    };
    let started = Instant::now();
    let file = File::create(path).map_err(|source| GenerateError::Create {
        path: path.to_owned(),
        source,
    })?;
    Ok((format, file, started))
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Write {
        path: path.to_owned(),
        source,
    }
}

fn parquet_error(path: &Path) -> impl Fn(ParquetError) -> GenerateError + '_ {
    move |source| GenerateError::Parquet {
        path: path.to_owned(),
        source,
    }
}

fn write_text(
    plan: &Plan,
    format: Format,
    mut file: File,
    path: &Path,
    progress: &dyn Fn(u64),
) -> Result<u64, GenerateError> {
    // Runs arrive as multi-megabyte buffers, so they go to the file unbuffered.
    if format == Format::Csv {
        file.write_all(&encode::csv_header())
            .map_err(write_error(path))?;
    }
    let lookup = Lookup::new(&plan.models, &plan.days);
    let encode = |observations: &[Observation]| {
        let mut out = Vec::with_capacity(observations.len() * 100);
        match format {
            Format::Csv => encode::csv(&lookup, observations, &mut out),
            _ => encode::json_lines(&lookup, observations, &mut out),
        }
        Ok(out)
    };
    let write = |bytes: Vec<u8>| file.write_all(&bytes).map_err(write_error(path));
    let rows = plan.run(encode, write, progress)?;
    file.sync_all().map_err(write_error(path))?;
    Ok(rows)
}

fn write_parquet(
    plan: &Plan,
    file: File,
    path: &Path,
    progress: &dyn Fn(u64),
) -> Result<u64, GenerateError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let buffered = BufWriter::with_capacity(1 << 20, file);
    let mut writer = ArrowWriter::try_new(buffered, encode::schema(), Some(properties))
        .map_err(parquet_error(path))?;
    let lookup = Lookup::new(&plan.models, &plan.days);
    let encode = |observations: &[Observation]| Ok(encode::batch(&lookup, observations)?);
    let write = |batch| writer.write(&batch).map_err(parquet_error(path));
    let rows = plan.run(encode, write, progress)?;
    let buffered = writer.into_inner().map_err(parquet_error(path))?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_error(path)(e.into_error()))?;
    file.sync_all().map_err(write_error(path))?;
    Ok(rows)
}

/// Every series model and every day of a spec, built once and shared by the workers.
struct Plan {
    models: Vec<SeriesModel>,
    days: Vec<Day>,
    slots: u64,
}

impl Plan {
    /// `spec` must be valid: every day then has a date.
    fn new(spec: &GeneratorSpec) -> Self {
        let series = spec.series() as u32;
        Self {
            models: (0..series).map(|s| SeriesModel::new(spec, s)).collect(),
            days: (0..spec.days)
                .map_while(|day| Day::new(spec.start_date, day))
                .collect(),
            slots: spec.slots(),
        }
    }

    /// Fills `out` with the rows of run `run`: slots `run × RUN_SLOTS` onwards, where
    /// slot = day × series count + series, skipping series not started yet.
    fn observe(&self, run: u64, out: &mut Vec<Observation>) {
        out.clear();
        let series = self.models.len() as u64;
        let start = run * RUN_SLOTS;
        for slot in start..(start + RUN_SLOTS).min(self.slots) {
            let Some(day) = self.days.get((slot / series) as usize) else {
                break;
            };
            out.extend(self.models[(slot % series) as usize].observe(day));
        }
    }

    /// Generates and encodes runs on worker threads (run `r` on worker
    /// `r % workers`) and hands them to `write` in run order on this thread.
    /// Returns the number of rows written.
    fn run<C: Send>(
        &self,
        encode: impl Fn(&[Observation]) -> Result<C, GenerateError> + Sync,
        mut write: impl FnMut(C) -> Result<(), GenerateError>,
        progress: &dyn Fn(u64),
    ) -> Result<u64, GenerateError> {
        let runs = self.slots.div_ceil(RUN_SLOTS);
        let workers = thread::available_parallelism()
            .map_or(1, NonZero::get)
            .min(MAX_WORKERS) as u64;
        thread::scope(|scope| {
            let queues: Vec<_> = (0..workers)
                .map(|worker| {
                    let (sender, receiver) = mpsc::sync_channel(QUEUE_DEPTH);
                    let encode = &encode;
                    scope.spawn(move || {
                        let mut observations = Vec::with_capacity(RUN_SLOTS as usize);
                        for run in (worker..runs).step_by(workers as usize) {
                            self.observe(run, &mut observations);
                            let rows = observations.len() as u64;
                            let encoded = encode(&observations).map(|chunk| (chunk, rows));
                            let failed = encoded.is_err();
                            // A closed queue means the writer gave up: stop quietly.
                            if sender.send(encoded).is_err() || failed {
                                break;
                            }
                        }
                    });
                    receiver
                })
                .collect();
            let mut rows = 0;
            for run in 0..runs {
                // A worker hangs up early only by panicking, which the scope re-raises.
                let Ok(encoded) = queues[(run % workers) as usize].recv() else {
                    break;
                };
                let (chunk, run_rows) = encoded?;
                write(chunk)?;
                rows += run_rows;
                progress(rows);
            }
            Ok(rows)
        })
    }
}
