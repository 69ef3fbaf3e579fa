//! A small stream from `herd simulate` for tests of services that follow the topics:
//! 3 stores × 20 items, history up to day index 199 published at once, then live days
//! at a chosen pace; and what a finished run published.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::cli::{line, numbers};
use crate::env::Env;
use crate::process::Background;
use crate::topic;

/// 3 stores × 20 items.
pub const KEYS: usize = 60;
/// Day indices `0..HISTORY_DAYS` are history; live days follow.
pub const HISTORY_DAYS: u32 = 200;

/// The date of day index `day` (simulate starts at 2022-01-01).
pub fn day(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 1).expect("a date") + chrono::Days::new(u64::from(day))
}

/// `herd simulate` of the 60 keys from day index `first`: history up to day 199,
/// then `live_days` live days at `per_second` days a second. `--days 200` makes
/// every late-starting key start within the history, so every key sells on every
/// live day.
pub fn simulate(env: &Env, name: &str, first: u32, live_days: u32, per_second: &str) -> Background {
    let mut command = env.herd();
    command.args([
        "simulate", "--stores", "3", "--items", "20", "--days", "200",
    ]);
    command.args(["--history-days", &HISTORY_DAYS.to_string()]);
    command.args(["--start-day", &first.to_string()]);
    command.args(["--live-days", &live_days.to_string()]);
    command.args(["--days-per-second", per_second]);
    Background::spawn(command, env.dir(), name)
}

/// The records a finished simulate delivered, failing the test on any loss.
pub fn published(stdout: &str) -> u64 {
    // "published H history records and D live days (L records); delivered N,
    // failed F, unacknowledged U in S s"
    let summary = line(stdout, "published ");
    let [history, _, live, delivered, failed, unacknowledged, ..] = numbers(summary)[..] else {
        panic!("unexpected simulate summary: {summary}");
    };
    assert_eq!((failed, unacknowledged), (0, 0), "{summary}");
    assert_eq!(delivered, history + live, "{summary}");
    delivered
}

/// (key, day) of every record on the sales topic dated `from` or later, each
/// published once.
pub fn sold_since(env: &Env, from: NaiveDate) -> BTreeSet<(String, NaiveDate)> {
    let mut sold = BTreeSet::new();
    for (key, date, _) in sales_on_topic(env) {
        if date >= from {
            assert!(
                sold.insert((key.clone(), date)),
                "{key} published twice for {date}"
            );
        }
    }
    sold
}

/// Every sale on the sales topic by key and day (the last one published wins).
pub fn sold_history(env: &Env) -> std::collections::HashMap<(String, NaiveDate), f64> {
    sales_on_topic(env)
        .map(|(key, date, sales)| ((key, date), sales))
        .collect()
}

/// (key, date, sales) of each record on the sales topic, in the order read.
fn sales_on_topic(env: &Env) -> impl Iterator<Item = (String, NaiveDate, f64)> {
    topic::drain_on(&env.bootstrap_servers(), &env.sales)
        .into_iter()
        .map(|record| {
            let json: serde_json::Value =
                serde_json::from_slice(&record.value).expect("sales records are JSON");
            let text = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
            let date: NaiveDate = text("date")
                .parse()
                .unwrap_or_else(|err| panic!("a sales record without a date ({err}): {json}"));
            let sales = json["sales"]
                .as_f64()
                .unwrap_or_else(|| panic!("a sales record without sales: {json}"));
            (
                format!("{}/{}", text("store_id"), text("item_id")),
                date,
                sales,
            )
        })
}
