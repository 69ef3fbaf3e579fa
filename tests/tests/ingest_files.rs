//! `herd ingest` against the real broker: valid records land on the sales topic once
//! each, every invalid record lands on the dead-letter topic with the reason and where
//! it came from, and a file that cannot be read publishes nothing at all.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Output, Stdio};

use herd_tests::env::Env;
use herd_tests::topic::{Consumed, drain};

/// Every kind of bad record a JSON-lines file can hold, with the kind it must be
/// rejected as; the line number is the position in this list plus the valid lines.
const BAD_JSON: &[(&str, &str)] = &[
    (
        r#"{"store_id":"S1","item_id":"I1","date":"2024-01-02","sales":"#,
        "malformed",
    ),
    (
        r#"{"store_id":"S1","item_id":"I1","date":"2024-01-02","sales":"12"}"#,
        "wrong_type",
    ),
    (
        r#"{"store_id":"S1","item_id":"I1","sales":3}"#,
        "missing_field",
    ),
    (
        r#"{"store_id":"S1","item_id":"I1","date":"2024-01-02","sales":-1}"#,
        "bad_number",
    ),
    (
        r#"{"store_id":"S1","item_id":"I1","date":"2023-02-30","sales":1}"#,
        "bad_date",
    ),
    (
        r#"{"store_id":"S/1","item_id":"I1","date":"2024-01-02","sales":1}"#,
        "bad_id",
    ),
    (
        r#"{"store_id":"..","item_id":"I1","date":"2024-01-02","sales":1}"#,
        "bad_id",
    ),
    (
        r#"{"store_id":"S 1","item_id":"I1","date":"2024-01-02","sales":1}"#,
        "bad_id",
    ),
    (
        r#"{"store_id":"S\u0001","item_id":"I1","date":"2024-01-02","sales":1}"#,
        "bad_id",
    ),
];

const GOOD_JSON: &[&str] = &[
    r#"{"store_id":"S1","item_id":"I1","date":"2024-01-01","sales":5,"price":2.5,"promo":true}"#,
    r#"{"store_id":7,"item_id":"I2","date":"2024-01-01","sales":0,"colour":"red"}"#,
];

fn run(command: &mut std::process::Command) -> (Output, String, String) {
    let output = command.output().expect("herd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn write(env: &Env, name: &str, text: &str) -> String {
    std::fs::write(env.path(name), text).expect("written");
    name.to_owned()
}

/// (key, date, sales) of each record on the sales topic.
fn sales_of(records: &[Consumed]) -> BTreeSet<(String, String, String)> {
    records
        .iter()
        .map(|r| {
            let value: serde_json::Value = serde_json::from_slice(&r.value).expect("JSON value");
            (
                r.key_text().expect("keyed"),
                value["date"].as_str().expect("date").to_owned(),
                value["sales"].to_string(),
            )
        })
        .collect()
}

#[test]
fn valid_records_once_and_every_bad_record_on_the_dlq_with_its_reason() {
    let env = Env::new("ingest-mixed", 3);
    env.create_topics();
    let long_id = "x".repeat(10_000);
    let mut jsonl: Vec<String> = GOOD_JSON.iter().map(|s| (*s).to_owned()).collect();
    jsonl.extend(BAD_JSON.iter().map(|(line, _)| (*line).to_owned()));
    jsonl.push(format!(
        r#"{{"store_id":"{long_id}","item_id":"I1","date":"2024-01-02","sales":1}}"#
    ));
    let json_file = write(&env, "mixed.jsonl", &(jsonl.join("\n") + "\n"));
    let csv_file = write(
        &env,
        "mixed.csv",
        "store_id,item_id,date,sales,price,promo,extra\n\
         S2,I1,2024-01-01,4,1.25,0,a\n\
         S2,I1,2024-01-02,NaN,1.25,0,b\n\
         S2,I1,2024-01-03,inf,,,c\n\
         S2,I1,2024-01-04,3,0,,d\n",
    );
    let (output, stdout, stderr) = run(env.herd().args(["ingest", &json_file, &csv_file]));
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // JSON: 2 good + 9 bad + the long id; CSV: 1 good + 3 bad (NaN, inf, price 0).
    let good = GOOD_JSON.len() + 1;
    let bad = BAD_JSON.len() + 1 + 3;
    // Unknown fields: one in JSON ("colour"), one column in each of the 4 CSV rows.
    assert!(
        stdout.contains(&format!(
            "read {}  accepted {good}  rejected {bad}  unknown fields ignored 5",
            good + bad
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "delivered {}  failed 0  unacknowledged 0",
            good + bad
        )),
        "{stdout}"
    );

    let sales = drain(&env.sales);
    assert_eq!(sales.len(), good, "each valid record exactly once");
    let expected: BTreeSet<(String, String, String)> = [
        ("S1/I1", "2024-01-01", "5.0"),
        ("7/I2", "2024-01-01", "0.0"),
        ("S2/I1", "2024-01-01", "4.0"),
    ]
    .iter()
    .map(|(k, d, s)| ((*k).to_owned(), (*d).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(sales_of(&sales), expected);

    let dlq = drain(&env.dlq);
    assert_eq!(dlq.len(), bad);
    let by_place: BTreeMap<(String, String), &Consumed> = dlq
        .iter()
        .map(|r| {
            let source = r.header("herd.source").expect("a source header");
            let line = r.header("herd.source.line").expect("a line header");
            ((source, line), r)
        })
        .collect();
    for (i, (line, kind)) in BAD_JSON.iter().enumerate() {
        let number = (GOOD_JSON.len() + i + 1).to_string();
        let record = by_place
            .get(&(json_file.clone(), number.clone()))
            .unwrap_or_else(|| panic!("line {number} of {json_file} is not on the DLQ"));
        assert_eq!(
            record.header("herd.error.kind").as_deref(),
            Some(*kind),
            "line {number}: {line}"
        );
        assert!(
            record
                .header("herd.error.message")
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(
            record.value,
            line.as_bytes(),
            "the original bytes of line {number}"
        );
        assert!(record.key.is_none());
    }
    let long = by_place[&(json_file.clone(), (jsonl.len()).to_string())];
    assert_eq!(long.header("herd.error.kind").as_deref(), Some("bad_id"));
    for (line, kind) in [
        ("3", "bad_number"),
        ("4", "bad_number"),
        ("5", "bad_number"),
    ] {
        let record = by_place
            .get(&(csv_file.clone(), line.to_owned()))
            .unwrap_or_else(|| panic!("CSV line {line} is not on the DLQ"));
        assert_eq!(
            record.header("herd.error.kind").as_deref(),
            Some(kind),
            "CSV line {line}"
        );
    }
}

#[test]
fn a_file_that_cannot_be_read_publishes_nothing() {
    let env = Env::new("ingest-bad-files", 1);
    env.create_topics();
    let good = write(&env, "good.jsonl", &format!("{}\n", GOOD_JSON[0]));
    let no_sales = write(
        &env,
        "no-sales.csv",
        "store_id,item_id,date,price\nS1,I1,2024-01-01,2.0\n",
    );
    let empty = write(&env, "empty.csv", "");
    let (output, _, _) = run(env.herd().args([
        "generate",
        "whole.parquet",
        "--stores",
        "2",
        "--items",
        "2",
        "--days",
        "10",
    ]));
    assert!(output.status.success());
    let whole = std::fs::read(env.path("whole.parquet")).expect("generated");
    std::fs::write(env.path("cut.parquet"), &whole[..whole.len() / 2]).expect("written");

    let cases: [(&[&str], &str); 5] = [
        (&[&good, &no_sales], "no `sales` column"),
        (&[&good, &empty], "empty"),
        (&[&good, "missing.csv"], "missing.csv"),
        (
            &[&good, "cut.parquet"],
            "cut.parquet: not a readable Parquet file",
        ),
        (&[&good, "notes.txt"], "--format"),
    ];
    for (files, expected) in cases {
        let (output, stdout, stderr) = run(env.herd().arg("ingest").args(files));
        assert!(!output.status.success(), "{files:?} succeeded: {stdout}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{files:?}: {stderr}");
        assert!(errors[0].contains(expected), "{files:?}: {stderr}");
    }
    // The good file listed first was never published: files are checked up front.
    assert!(drain(&env.sales).is_empty());
    assert!(drain(&env.dlq).is_empty());
}

#[test]
fn max_rejects_turns_a_flood_into_a_failure() {
    let env = Env::new("ingest-max-rejects", 1);
    env.create_topics();
    let flood: Vec<&str> = BAD_JSON.iter().take(5).map(|(line, _)| *line).collect();
    let file = write(&env, "flood.jsonl", &(flood.join("\n") + "\n"));
    let (output, stdout, stderr) = run(env.herd().args(["ingest", &file, "--max-rejects", "2"]));
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stderr.contains("more than 2 records rejected (--max-rejects)"),
        "{stderr}"
    );
    // What was rejected before the stop is on the DLQ, and the summary says so.
    assert!(stdout.contains("rejected 3"), "{stdout}");
    assert_eq!(drain(&env.dlq).len(), 3);
}

#[test]
fn standard_input_is_read_with_a_format() {
    let env = Env::new("ingest-stdin", 2);
    env.create_topics();
    let mut child = env
        .herd()
        .args(["ingest", "-", "--format", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("herd runs");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in GOOD_JSON {
        writeln!(stdin, "{line}").expect("written");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("finished");
    assert!(output.status.success());
    assert_eq!(drain(&env.sales).len(), GOOD_JSON.len());

    let (output, _, stderr) = run(env.herd().args(["ingest", "-"]));
    assert!(!output.status.success());
    assert!(stderr.contains("--format"), "{stderr}");
}

#[test]
fn parquet_files_are_ingested_whole() {
    let env = Env::new("ingest-parquet", 4);
    env.create_topics();
    let (output, stdout, _) = run(env.herd().args([
        "generate",
        "g.parquet",
        "--stores",
        "3",
        "--items",
        "4",
        "--days",
        "30",
    ]));
    assert!(output.status.success());
    let rows: usize = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("generate prints the row count");
    let (output, stdout, stderr) = run(env.herd().args(["ingest", "g.parquet"]));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("accepted {rows}  rejected 0")),
        "{stdout}"
    );
    let sales = drain(&env.sales);
    assert_eq!(sales.len(), rows);
    assert_eq!(sales_of(&sales).len(), rows, "no record twice");
}
