//! Weekly and monthly totals of the daily series: each series' days summed into the
//! weeks (Monday to Sunday) or months they fill completely, dated by the period's
//! first day, with the period's mean price and a promotion if any day had one. A
//! period a series covers only in part (the calendar's first and last, a product's
//! launch) is left out, so every total is a whole week or month of sales.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use herd_lake::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray,
};
use herd_lake::parquet::arrow::ArrowWriter;
use herd_schemas::{Frequency, SalesRecord};

use super::GenerateError;
use super::encode;
use super::series::SeriesModel;
use super::spec::GeneratorSpec;
use super::write::{Format, Summary};

/// One series' running total of a period.
struct Total {
    period: i32,
    days: u32,
    sales: f64,
    price: f64,
    promo: bool,
}

/// The whole-period totals of every series of `spec`, period by period and within a
/// period series by series, as a weekly or monthly feed delivers them.
pub fn periodic_records(spec: &GeneratorSpec, frequency: Frequency) -> Vec<SalesRecord> {
    let mut rows: Vec<(i32, u32, SalesRecord)> = Vec::new();
    for series in 0..spec.series() as u32 {
        let model = SeriesModel::new(spec, series);
        let mut open: Option<Total> = None;
        let close = |total: Total, rows: &mut Vec<(i32, u32, SalesRecord)>| {
            let first = frequency.date_of(total.period);
            let length = (frequency.add(first, 1) - first).num_days() as u32;
            if total.days == length {
                rows.push((
                    total.period,
                    series,
                    SalesRecord {
                        store_id: model.store_id().clone(),
                        item_id: model.item_id().clone(),
                        date: first,
                        sales: total.sales,
                        price: Some((total.price / f64::from(total.days) * 100.0).round() / 100.0),
                        promo: Some(total.promo),
                    },
                ));
            }
        };
        for day in 0..spec.days {
            let Some(record) = model.day(day) else {
                continue;
            };
            let period = frequency.period_of(record.date);
            if open.as_ref().is_some_and(|t| t.period != period)
                && let Some(done) = open.take()
            {
                close(done, &mut rows);
            }
            let total = open.get_or_insert(Total {
                period,
                days: 0,
                sales: 0.0,
                price: 0.0,
                promo: false,
            });
            total.days += 1;
            total.sales += record.sales;
            total.price += record.price.unwrap_or_default();
            total.promo |= record.promo.unwrap_or_default();
        }
        if let Some(done) = open {
            close(done, &mut rows);
        }
    }
    rows.sort_by_key(|(period, series, _)| (*period, *series));
    rows.into_iter().map(|(_, _, record)| record).collect()
}

/// Writes the weekly or monthly totals of `spec` to `path` (see the module).
pub fn write_periodic(
    spec: &GeneratorSpec,
    frequency: Frequency,
    path: &Path,
    format: Option<Format>,
) -> Result<Summary, GenerateError> {
    let (format, file, started) = super::write::create(spec, path, format)?;
    let records = periodic_records(spec, frequency);
    let written = match format {
        Format::Parquet => write_parquet(&records, file, path),
        Format::Csv | Format::JsonLines => write_text(&records, format, file, path),
    };
    if let Err(err) = written {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(path);
        return Err(err);
    }
    let bytes = fs::metadata(path)
        .map_err(|source| GenerateError::Write {
            path: path.to_owned(),
            source,
        })?
        .len();
    Ok(Summary {
        rows: records.len() as u64,
        series: spec.series(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_text(
    records: &[SalesRecord],
    format: Format,
    file: File,
    path: &Path,
) -> Result<(), GenerateError> {
    let error = |source| GenerateError::Write {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(file);
    if format == Format::Csv {
        out.write_all(&encode::csv_header()).map_err(error)?;
    }
    for record in records {
        if format == Format::Csv {
            writeln!(
                out,
                "{},{},{},{},{},{}",
                record.store_id,
                record.item_id,
                record.date,
                record.sales,
                record.price.unwrap_or_default(),
                u8::from(record.promo.unwrap_or_default())
            )
            .map_err(error)?;
        } else {
            serde_json::to_writer(&mut out, record).map_err(|e| error(e.into()))?;
            out.write_all(b"\n").map_err(error)?;
        }
    }
    out.flush().map_err(error)
}

fn write_parquet(records: &[SalesRecord], file: File, path: &Path) -> Result<(), GenerateError> {
    let error = |source| GenerateError::Parquet {
        path: path.to_owned(),
        source,
    };
    let epoch = Frequency::Daily;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.store_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.item_id.as_str()),
        )),
        Arc::new(Date32Array::from_iter_values(
            records.iter().map(|r| epoch.period_of(r.date)),
        )),
        Arc::new(Float64Array::from_iter_values(
            records.iter().map(|r| r.sales),
        )),
        Arc::new(Float64Array::from_iter(records.iter().map(|r| r.price))),
        Arc::new(BooleanArray::from_iter(records.iter().map(|r| r.promo))),
    ];
    let batch = RecordBatch::try_new(encode::schema(), columns)?;
    let mut writer = ArrowWriter::try_new(file, encode::schema(), None).map_err(error)?;
    writer.write(&batch).map_err(error)?;
    writer.close().map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, Weekday};

    #[test]
    fn totals_cover_whole_periods_dated_by_their_first_day() {
        let spec = GeneratorSpec {
            seed: 7,
            stores: 2,
            items: 3,
            days: 120,
            start_date: NaiveDate::from_ymd_opt(2023, 1, 4).unwrap(), // a Wednesday
        };
        let weekly = periodic_records(&spec, Frequency::Weekly);
        assert!(!weekly.is_empty());
        assert!(weekly.iter().all(|r| r.date.weekday() == Weekday::Mon));
        // The first whole week starts Monday 2023-01-09; the last ends by day 119.
        assert_eq!(weekly[0].date, NaiveDate::from_ymd_opt(2023, 1, 9).unwrap());
        let last_day = spec.date(spec.days - 1).unwrap();
        assert!(
            weekly
                .iter()
                .all(|r| r.date + chrono::Days::new(6) <= last_day)
        );
        // A weekly total is the sum of its seven days.
        let model = SeriesModel::new(&spec, 0);
        let first = &weekly[0];
        assert_eq!(first.store_id, *model.store_id());
        let days: f64 = (5..12).filter_map(|d| model.day(d)).map(|r| r.sales).sum();
        assert_eq!(first.sales, days);
        let monthly = periodic_records(&spec, Frequency::Monthly);
        assert!(monthly.iter().all(|r| r.date.day() == 1));
        // 2023-01-04 + 119 days = 2023-05-03: February to April are whole.
        let months: std::collections::BTreeSet<_> =
            monthly.iter().map(|r| r.date.month()).collect();
        assert_eq!(months.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
        for record in weekly.iter().chain(&monthly) {
            record
                .check_calendar(Frequency::Weekly)
                .or_else(|_| record.check_calendar(Frequency::Monthly))
                .unwrap();
        }
    }
}
