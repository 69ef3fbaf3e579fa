use std::sync::Arc;

use chrono::NaiveDate;
use herd_lake::arrow::array::{
    BooleanArray, Date32Array, DictionaryArray, Float64Array, Int64Array,
};
use herd_lake::arrow::datatypes::{Field, Schema};

use super::*;

/// Rows (store, item, day, sales) as a batch, ids plain or as dictionaries.
fn batch(rows: &[(&str, &str, i32, f64)], dictionary: bool) -> RecordBatch {
    type Row<'r> = (&'r str, &'r str, i32, f64);
    let ids = |pick: for<'r> fn(&Row<'r>) -> &'r str| -> ArrayRef {
        let values: Vec<&str> = rows.iter().map(pick).collect();
        if dictionary {
            Arc::new(values.into_iter().collect::<DictionaryArray<Int32Type>>())
        } else {
            Arc::new(StringArray::from(values))
        }
    };
    let (store, item) = (ids(|r| r.0), ids(|r| r.1));
    let schema = Schema::new(vec![
        Field::new("store_id", store.data_type().clone(), false),
        Field::new("item_id", item.data_type().clone(), false),
        Field::new("date", DataType::Date32, false),
        Field::new("sales", DataType::Float64, false),
        Field::new("price", DataType::Float64, true),
        Field::new("promo", DataType::Boolean, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            store,
            item,
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|_| None::<f64>).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|_| Some(false)).collect::<BooleanArray>()),
        ],
    )
    .unwrap()
}

/// `plain` with each row's `kafka_partition` and `kafka_offset`.
fn positioned(plain: &RecordBatch, partitions: &[i32], offsets: &[i64]) -> RecordBatch {
    let mut columns = plain.columns().to_vec();
    let mut fields: Vec<Field> = plain
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    columns.push(Arc::new(Int32Array::from(partitions.to_vec())));
    fields.push(Field::new("kafka_partition", DataType::Int32, false));
    columns.push(Arc::new(Int64Array::from(offsets.to_vec())));
    fields.push(Field::new("kafka_offset", DataType::Int64, false));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn load(batches: &[RecordBatch]) -> Windows {
    let windows = Windows::new(10);
    let mut loader = WindowLoader::new(10, None);
    for b in batches {
        loader.add(b).unwrap();
    }
    loader.finish(&windows);
    windows
}

#[test]
fn dictionary_and_plain_ids_give_the_same_windows_and_later_rows_win() {
    let rows = [
        ("S1", "I1", 100, 1.0),
        ("S1", "I2", 100, 2.0),
        ("S2", "I1", 100, 3.0),
        ("S1", "I1", 101, 4.0),
        ("S1", "I1", 100, 5.0), // a later correction of day 100
        ("S2", "I1", 101, 6.0),
    ];
    let (first, second) = rows.split_at(3);
    let plain = load(&[batch(first, false), batch(second, false)]);
    let dict = load(&[batch(first, true), batch(second, true)]);
    assert_eq!(plain.digest(), dict.digest());
    assert_eq!(plain.counts().keys, 3);
    let key: SeriesKey = "S1/I1".parse().unwrap();
    let dense = dict.map().get(&key).unwrap().window.dense();
    assert_eq!(dense.sales, [5.0, 4.0]);
    assert_eq!(dict.counts().replaced, 1);
}

#[test]
fn offset_limits_keep_each_partition_as_it_stood() {
    let rows = [
        ("S1", "I1", 100, 1.0),
        ("S1", "I1", 101, 2.0),
        ("S1", "I2", 100, 3.0),
        ("S1", "I2", 101, 4.0),
    ];
    let plain = batch(&rows, false);
    let with_offsets = positioned(&plain, &[0, 0, 1, 1], &[5, 6, 5, 6]);

    // Partition 0 up to offset 6 (exclusive), partition 1 up to 7; nothing else.
    let limits = HashMap::from([(0, 6), (1, 7)]);
    let windows = Windows::new(10);
    let mut loader = WindowLoader::new(10, None).before(&limits);
    loader.add(&with_offsets).unwrap();
    assert_eq!(loader.finish(&windows), (3, 2));
    let last = |item: &str| {
        let key: SeriesKey = format!("S1/{item}").parse().unwrap();
        windows.map().get(&key).unwrap().window.last_day()
    };
    assert_eq!(
        last("I1"),
        NaiveDate::from_num_days_from_ce_opt(100 + 719_163)
    );
    assert_eq!(
        last("I2"),
        NaiveDate::from_num_days_from_ce_opt(101 + 719_163)
    );

    // Limits need the offsets.
    let mut loader = WindowLoader::new(10, None).before(&limits);
    assert!(loader.add(&plain).is_err());
}

#[test]
fn the_row_published_last_wins_whatever_order_the_batches_come_in() {
    // Day 100 of S1/I1 was published at offset 7 and corrected at offset 40; the
    // correction's file is read first.
    let correction = positioned(&batch(&[("S1", "I1", 100, 10_000.0)], true), &[2], &[40]);
    let original = positioned(
        &batch(
            &[
                ("S1", "I1", 99, 1.0),
                ("S1", "I1", 100, 2.0),
                ("S1", "I1", 101, 3.0),
            ],
            true,
        ),
        &[2, 2, 2],
        &[6, 7, 8],
    );
    for order in [[&correction, &original], [&original, &correction]] {
        let windows = Windows::new(10);
        let mut loader = WindowLoader::new(10, None);
        for b in order {
            loader.add(b).unwrap();
        }
        assert_eq!(loader.finish(&windows), (4, 1));
        let key: SeriesKey = "S1/I1".parse().unwrap();
        let dense = windows.map().get(&key).unwrap().window.dense();
        assert_eq!(dense.sales, [1.0, 10_000.0, 3.0]);
        assert_eq!(windows.counts().replaced, 1);
    }

    // A higher partition wins over a higher offset; the same record read twice
    // changes nothing.
    let windows = Windows::new(10);
    let mut loader = WindowLoader::new(10, None);
    let rows = [
        ("S1", "I1", 100, 5.0),
        ("S1", "I1", 100, 6.0),
        ("S1", "I1", 100, 5.0),
    ];
    loader
        .add(&positioned(&batch(&rows, false), &[3, 1, 3], &[1, 90, 1]))
        .unwrap();
    loader.finish(&windows);
    let key: SeriesKey = "S1/I1".parse().unwrap();
    assert_eq!(windows.map().get(&key).unwrap().window.dense().sales, [5.0]);
}

#[test]
fn a_position_the_loader_cannot_order_is_an_error() {
    let b = batch(&[("S1", "I1", 1, 1.0)], false);
    for (partition, offset) in [(-1, 0), (0, -1), (70_000, 0), (0, 1 << 50)] {
        let mut loader = WindowLoader::new(10, None);
        assert!(
            loader
                .add(&positioned(&b, &[partition], &[offset]))
                .is_err(),
            "({partition}, {offset})"
        );
    }
    assert_eq!(pack(1, 2), Some((1 << 48) + 2));
    assert!(pack(1, 0) > pack(0, (1 << 48) - 1));
}

#[test]
fn a_missing_column_is_an_error_not_a_panic() {
    let b = batch(&[("S1", "I1", 1, 1.0)], false);
    let without_sales = b.project(&[0, 1, 2, 4, 5]).unwrap();
    let mut loader = WindowLoader::new(10, None);
    assert!(loader.add(&without_sales).is_err());
}
