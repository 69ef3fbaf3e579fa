//! Consumer groups are independent: two continuous scorer groups on one lake each
//! keep their own offsets and each forecast every record once, where one shared
//! position let them split the records between them.

use std::time::Duration;

use herd_tests::cli::FINISH;
use herd_tests::env::Env;
use herd_tests::live::{
    HORIZON, SCORING, STARTUP, app_ids, assert_offsets_at_end, lake_with_production, scored, scorer,
};
use herd_tests::predictions::PredictionsTable;
use herd_tests::process::Background;
use herd_tests::simulated::{HISTORY_DAYS, KEYS, day, published, simulate, sold_since};

#[test]
fn two_scorer_groups_each_forecast_every_record_once() {
    let env = Env::new("seams-groups", 3);
    lake_with_production(&env, "true");
    let (east, west) = (
        herd_tests::unique("seams-east"),
        herd_tests::unique("seams-west"),
    );
    let mut first = scorer(&env, &east, "scorer-east", &["--idle-exit", "8"]);
    let mut second = scorer(&env, &west, "scorer-west", &["--idle-exit", "8"]);
    first.wait_for_log(SCORING, STARTUP);
    second.wait_for_log(SCORING, STARTUP);
    // Each group stores where it starts before it logs that it is scoring; a moment
    // more lets the second group's store land too.
    std::thread::sleep(Duration::from_secs(2));

    let mut live = simulate(&env, "live", HISTORY_DAYS, 6, "3");
    published(&live.wait_success(FINISH));
    let (first, second) = (
        scored(&env, &first.wait_success(FINISH)),
        scored(&env, &second.wait_success(FINISH)),
    );
    eprintln!("east: {first:?}\nwest: {second:?}");

    let sold = sold_since(&env, day(HISTORY_DAYS));
    assert_eq!(sold.len(), KEYS * 6, "every key sold on every live day");
    for summary in [first, second] {
        assert_eq!(summary.key_days, sold.len() as u64, "{summary:?}");
        assert_eq!((summary.skipped, summary.failed), (0, 0), "{summary:?}");
    }
    let mut ids = app_ids(&env, &east);
    ids.extend(app_ids(&env, &west));
    let table = PredictionsTable::read(&env.lake_root(), &ids);
    table.assert_rows_per_step("stream", &sold, HORIZON, 2);
    assert_offsets_at_end(&env, &east, &table);
    assert_offsets_at_end(&env, &west, &table);
}

/// A group with more members than partitions: the group hands the spare member
/// nothing, and that is an answer. Every member stops on `--idle-exit`, the spare
/// one too, where it used to wait for partitions forever.
#[test]
fn a_member_the_group_gives_no_partition_still_stops_when_idle() {
    let env = Env::new("seams-spare", 1);
    lake_with_production(&env, "true");
    let (archivers, promoters) = (
        herd_tests::unique("spare-archive"),
        herd_tests::unique("spare-promote"),
    );
    let mut members = Vec::new();
    for index in 0..2 {
        for (service, group) in [("archive", &archivers), ("promote", &promoters)] {
            let mut herd = env.herd();
            herd.args([service, "--group", group, "--idle-exit", "5"]);
            members.push(Background::spawn(
                herd,
                env.dir(),
                &format!("{service}-{index}"),
            ));
        }
    }
    for mut member in members {
        let stdout = member.wait_success(Duration::from_secs(120));
        assert!(
            !stdout.contains("archived") || stdout.contains("archived 0 rows"),
            "everything was archived before: {stdout}"
        );
    }
}
