//! `herd score --batch` replaces only what it wrote: a run for one store leaves the
//! other stores' forecasts of that day in place, and a run on a day the continuous
//! scorer already forecast leaves the stream's rows (whose offsets are committed, so
//! they would never be written again) in place.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use herd_tests::cli::{FINISH, archive, herd_ok, line};
use herd_tests::env::Env;
use herd_tests::live::{HORIZON, SCORING, STARTUP, lake_with_production, scorer};
use herd_tests::predictions::PredictionsTable;
use herd_tests::production::ProductionTable;
use herd_tests::simulated::{HISTORY_DAYS, day, published, simulate, sold_since};
use herd_tests::small_lake::{self, SmallLakeOptions};

/// The default horizon: rows per key and as-of day.
/// 3 stores × 20 items, in the small lake and in the simulated stream alike.
const KEYS: usize = 60;

/// Every (key, as_of) pair of `keys` × `days`.
fn pairs<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    days: &[NaiveDate],
) -> BTreeSet<(String, NaiveDate)> {
    keys.into_iter()
        .flat_map(|key| days.iter().map(move |day| (key.clone(), *day)))
        .collect()
}

#[test]
fn a_batch_run_for_one_store_keeps_the_other_stores_forecasts() {
    let env = Env::new("seams-batch-store", 3);
    let lake = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: Some("seasonal_naive".to_owned()),
            rule: Some("true".to_owned()),
            score: true,
        },
    );
    assert_eq!(lake.predictions, KEYS as u64 * HORIZON as u64);
    let keys: Vec<String> = ProductionTable::read(&env.lake_root())
        .current()
        .into_keys()
        .collect();
    assert_eq!(keys.len(), KEYS);
    let before = PredictionsTable::read(&env.lake_root(), &[]);
    let days: BTreeSet<NaiveDate> = before.rows.iter().map(|row| row.as_of).collect();
    let [as_of] = days.into_iter().collect::<Vec<_>>()[..] else {
        panic!("one as-of day expected: {:?}", before.rows.first());
    };

    // The nightly run again, for one store only.
    let stdout = herd_ok(
        &env,
        "score-store",
        &[
            "score",
            "--batch",
            "--as-of",
            &as_of.to_string(),
            "--tag",
            "store_id=S0001",
        ],
    );
    let summary = line(&stdout, "scored ");
    eprintln!("{summary}");

    let after = PredictionsTable::read(&env.lake_root(), &[]);
    after.assert_one_row_per_step("batch", &pairs(&keys, &[as_of]), HORIZON);
    assert_eq!(after.rows.len(), KEYS * HORIZON as usize);
    // The store's rows are the second run's, every other row the first run's.
    let first_run = before.rows.iter().map(|row| row.scored_at).max();
    for row in &after.rows {
        let rescored = row.scored_at > first_run.expect("rows");
        assert_eq!(rescored, row.store_id == "S0001", "{row:?}");
    }
    assert!(
        summary.starts_with(&format!(
            "scored 20 keys as of {as_of} (60 with a production model, 20 matched; 0 from \
             their own baseline, 0 cold start): 560 rows to predictions"
        )) && summary.contains("replacing 560 earlier batch rows in 1 files"),
        "{summary}"
    );
}

const LIVE_DAYS: u32 = 2;

#[test]
fn a_batch_run_keeps_the_stream_forecasts_of_its_day() {
    let env = Env::new("seams-batch-stream", 3);
    lake_with_production(&env, "true");

    // The continuous scorer forecasts every key as of each live day.
    let group = herd_tests::unique("seams-batch-scorer");
    let mut scorer = scorer(&env, &group, "scorer", &["--idle-exit", "5"]);
    scorer.wait_for_log(SCORING, STARTUP);
    let live =
        published(&simulate(&env, "live", HISTORY_DAYS, LIVE_DAYS, "2").wait_success(FINISH));
    eprintln!("{}", line(&scorer.wait_success(FINISH), "scored "));
    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(
        sold.len(),
        KEYS * LIVE_DAYS as usize,
        "every key sold every live day"
    );
    assert_eq!(archive(&env, "3"), live, "the live days archived");
    let streamed = PredictionsTable::read(&env.lake_root(), &[]);
    streamed.assert_one_row_per_step("stream", &sold, HORIZON);
    assert!(streamed.from_source("batch").is_empty());

    // The nightly run for the last live day, which the stream forecast already.
    let last = day(HISTORY_DAYS + LIVE_DAYS - 1);
    let stdout = herd_ok(
        &env,
        "score-batch",
        &["score", "--batch", "--as-of", &last.to_string()],
    );
    eprintln!("{}", line(&stdout, "scored "));

    let after = PredictionsTable::read(&env.lake_root(), &[]);
    after.assert_one_row_per_step("stream", &sold, HORIZON);
    let keys: BTreeSet<&String> = sold.iter().map(|(key, _)| key).collect();
    after.assert_one_row_per_step("batch", &pairs(keys, &[last]), HORIZON);
    assert_eq!(
        after.rows.len(),
        (sold.len() + KEYS) * HORIZON as usize,
        "the stream's rows and one batch forecast per key"
    );
    // Untouched: the very rows the stream wrote.
    let stream_rows = |table: &PredictionsTable| {
        let mut rows: Vec<String> = table
            .from_source("stream")
            .iter()
            .map(|row| format!("{row:?}"))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(stream_rows(&after), stream_rows(&streamed));
}
