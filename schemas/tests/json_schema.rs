//! The published JSON Schema and the Rust validator must give the same verdict on
//! every record JSON can express, so producers outside Herd can trust the schema.

use herd_schemas::{SALES_RECORD_JSON_SCHEMA, SalesRecord};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VALID: bool = true;
const INVALID: bool = false;

/// (what the case shows, JSON value, expected verdict)
const CASES: &[(&str, &str, bool)] = &[
    (
        "full record",
        r#"{"store_id":"s1","item_id":"i1","date":"2023-03-01","sales":12.5,"price":3.99,"promo":true}"#,
        VALID,
    ),
    (
        "required fields only",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":0}"#,
        VALID,
    ),
    (
        "null optionals",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"price":null,"promo":null}"#,
        VALID,
    ),
    (
        "unknown fields",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"note":"x","tags":[1]}"#,
        VALID,
    ),
    (
        "integer ids",
        r#"{"store_id":7,"item_id":-3,"date":"2023-03-01","sales":1}"#,
        VALID,
    ),
    (
        "whole-number float id",
        r#"{"store_id":7.0,"item_id":"i","date":"2023-03-01","sales":1}"#,
        VALID,
    ),
    ("id of 64 chars", ID_64_RECORD, VALID),
    (
        "id with . _ -",
        r#"{"store_id":".a_b-c.d","item_id":"-","date":"2023-03-01","sales":1}"#,
        VALID,
    ),
    (
        "leap day",
        r#"{"store_id":"s","item_id":"i","date":"2024-02-29","sales":1}"#,
        VALID,
    ),
    (
        "promo 0",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"promo":0}"#,
        VALID,
    ),
    (
        "promo 1",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"promo":1}"#,
        VALID,
    ),
    (
        "integer price",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"price":2}"#,
        VALID,
    ),
    ("id of 65 chars", ID_65_RECORD, INVALID),
    (
        "empty id",
        r#"{"store_id":"","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "slash in id",
        r#"{"store_id":"a/b","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "dot-dot id",
        r#"{"store_id":"..","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "dot-dot inside id",
        r#"{"store_id":"a..b","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "single dot id",
        r#"{"store_id":".","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "space in id",
        r#"{"store_id":"a b","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "non-ASCII id",
        r#"{"store_id":"café","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "control character in id",
        r#"{"store_id":"a\u0001","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "newline at end of id",
        r#"{"store_id":"a\n","item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "fractional id",
        r#"{"store_id":7.5,"item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "boolean id",
        r#"{"store_id":true,"item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "missing store_id",
        r#"{"item_id":"i","date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "null item_id",
        r#"{"store_id":"s","item_id":null,"date":"2023-03-01","sales":1}"#,
        INVALID,
    ),
    (
        "missing date",
        r#"{"store_id":"s","item_id":"i","sales":1}"#,
        INVALID,
    ),
    (
        "missing sales",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01"}"#,
        INVALID,
    ),
    (
        "February 30",
        r#"{"store_id":"s","item_id":"i","date":"2023-02-30","sales":1}"#,
        INVALID,
    ),
    (
        "February 29 off a leap year",
        r#"{"store_id":"s","item_id":"i","date":"2023-02-29","sales":1}"#,
        INVALID,
    ),
    (
        "unpadded date",
        r#"{"store_id":"s","item_id":"i","date":"2023-2-3","sales":1}"#,
        INVALID,
    ),
    (
        "basic-format date",
        r#"{"store_id":"s","item_id":"i","date":"20230203","sales":1}"#,
        INVALID,
    ),
    (
        "date-time",
        r#"{"store_id":"s","item_id":"i","date":"2023-02-03T00:00:00Z","sales":1}"#,
        INVALID,
    ),
    (
        "numeric date",
        r#"{"store_id":"s","item_id":"i","date":20230203,"sales":1}"#,
        INVALID,
    ),
    (
        "negative sales",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":-1}"#,
        INVALID,
    ),
    (
        "sales as a string",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":"12"}"#,
        INVALID,
    ),
    (
        "null sales",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":null}"#,
        INVALID,
    ),
    (
        "price 0",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"price":0}"#,
        INVALID,
    ),
    (
        "negative price",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"price":-2.5}"#,
        INVALID,
    ),
    (
        "price as a string",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"price":"2"}"#,
        INVALID,
    ),
    (
        "promo 2",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"promo":2}"#,
        INVALID,
    ),
    (
        "promo as a string",
        r#"{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1,"promo":"true"}"#,
        INVALID,
    ),
    (
        "not an object",
        r#"[{"store_id":"s","item_id":"i","date":"2023-03-01","sales":1}]"#,
        INVALID,
    ),
];

/// A store id of 64 characters, the longest allowed.
const ID_64_RECORD: &str = concat!(
    r#"{"store_id":""#,
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.",
    r#"","item_id":"i","date":"2023-03-01","sales":1}"#
);

/// A store id of 65 characters, one too many.
const ID_65_RECORD: &str = concat!(
    r#"{"store_id":""#,
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
    r#"","item_id":"i","date":"2023-03-01","sales":1}"#
);

/// The interpreter with `jsonschema_rs`, the JSON Schema validator Schemathesis
/// installs into the test venv (scripts/test.sh): `HERD_PYTHON`, else the venv's.
fn python() -> PathBuf {
    let python = match std::env::var_os("HERD_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => Path::new(&std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/herd/venv/bin/python"),
    };
    assert!(
        python.exists(),
        "no Python interpreter at {}: run scripts/test.sh, which creates it, or name one \
         with jsonschema_rs in HERD_PYTHON",
        python.display()
    );
    python
}

/// Judges every instance against the published schema (draft 2020-12, formats
/// checked) in one Python process, an implementation that shares no code with
/// Herd's parser: one verdict per instance, in order.
fn schema_verdicts(instances: &[Value]) -> Vec<bool> {
    const SCRIPT: &str = r#"
import json, sys
import jsonschema_rs
schema = json.loads(sys.argv[1])
validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
print(json.dumps([validator.is_valid(instance) for instance in json.load(sys.stdin)]))
"#;
    let python = python();
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(SALES_RECORD_JSON_SCHEMA)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{} does not run: {err}", python.display()));
    let input = serde_json::to_vec(instances).expect("instances serialize");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .expect("the validator reads its input");
    let output = child.wait_with_output().expect("the validator finishes");
    assert!(
        output.status.success(),
        "the schema validator failed (is jsonschema_rs installed in {}? scripts/test.sh \
         installs it with Schemathesis):\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<bool> =
        serde_json::from_slice(&output.stdout).expect("the validator prints a JSON list");
    assert_eq!(verdicts.len(), instances.len());
    verdicts
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).expect("each case is well-formed JSON")
}

#[test]
fn long_id_cases_have_the_lengths_they_claim() {
    for (json, len) in [(ID_64_RECORD, 64), (ID_65_RECORD, 65)] {
        let value: Value = serde_json::from_str(json).expect("well-formed");
        assert_eq!(value["store_id"].as_str().map(str::len), Some(len));
    }
}

#[test]
fn schema_and_validator_agree_on_every_case() {
    assert!(CASES.len() >= 25);
    let instances: Vec<Value> = CASES.iter().map(|&(_, json, _)| parse(json)).collect();
    let verdicts = schema_verdicts(&instances);
    let mut disagreements = Vec::new();
    for (&(name, json, expected), by_schema) in CASES.iter().zip(verdicts) {
        let by_rust = SalesRecord::from_json(json.as_bytes());
        if by_schema != expected || by_rust.is_ok() != expected {
            disagreements.push(format!(
                "{name}: expected valid={expected}, schema said {by_schema}, Rust said {by_rust:?}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn canonical_serialization_matches_the_schema() {
    let valid: Vec<_> = CASES.iter().filter(|&&(_, _, expected)| expected).collect();
    let records: Vec<_> = valid
        .iter()
        .map(|&&(_, json, _)| {
            SalesRecord::from_json(json.as_bytes())
                .expect("a valid case")
                .record
        })
        .collect();
    let canonical: Vec<Value> = records
        .iter()
        .map(|record| serde_json::to_value(record).expect("a record serializes"))
        .collect();
    let verdicts = schema_verdicts(&canonical);
    for (((&&(name, _, _), record), canonical), by_schema) in
        valid.iter().zip(&records).zip(&canonical).zip(verdicts)
    {
        assert!(by_schema, "{name}: {canonical}");
        // Canonical ids are always strings, whatever the input carried.
        assert!(canonical["store_id"].is_string(), "{name}: {canonical}");
        let again = SalesRecord::from_json(canonical.to_string().as_bytes()).expect("re-reads");
        assert_eq!(&again.record, record, "{name}");
        assert_eq!(again.unknown_fields, 0, "{name}");
    }
}
