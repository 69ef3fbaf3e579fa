//! A second, independent Delta reader: Python's `deltalake` (delta-rs's Python
//! binding with pyarrow), reading a table Herd wrote, to prove it is real Delta.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to create the interpreter the tests use by default.
pub const SETUP: &str = "python3 -m venv ~/.cache/herd/venv && \
                         ~/.cache/herd/venv/bin/pip install deltalake==1.6.6 pyarrow";

/// Reads the table and prints what the test compares, as one JSON object.
const SCRIPT: &str = r#"
import json, sys
from deltalake import DeltaTable

table = DeltaTable(sys.argv[1])
data = table.to_pyarrow_table(columns=["kafka_partition", "kafka_offset", "date", "year"])
partitions = data.column("kafka_partition").to_pylist()
offsets = data.column("kafka_offset").to_pylist()
dates = data.column("date").to_pylist()
years = data.column("year").to_pylist()
print(json.dumps({
    "version": table.version(),
    "rows": data.num_rows,
    "distinct_positions": len(set(zip(partitions, offsets))),
    "rows_in_wrong_year": sum(1 for d, y in zip(dates, years) if d.year != y),
    "transaction_versions": {app: table.transaction_version(app) for app in sys.argv[2:]},
}))
"#;

/// What Python's `deltalake` saw in a table.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonView {
    pub version: u64,
    pub rows: u64,
    /// Distinct (kafka_partition, kafka_offset) pairs.
    pub distinct_positions: u64,
    /// Rows whose `year` partition value is not their date's year.
    pub rows_in_wrong_year: u64,
    pub transaction_versions: BTreeMap<String, Option<i64>>,
}

/// `HERD_PYTHON`, else `~/.cache/herd/venv/bin/python`. Fails the test (rather
/// than skipping it) when the interpreter is missing.
pub fn interpreter() -> PathBuf {
    let python = match std::env::var_os("HERD_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/herd/venv/bin/python")
        }
    };
    assert!(
        python.exists(),
        "no Python interpreter at {}: create it with `{SETUP}`, or name one that has \
         deltalake 1.6.6 and pyarrow in HERD_PYTHON",
        python.display()
    );
    python
}

/// Ends every script: deltalake's native threads can abort the interpreter's normal
/// shutdown ("terminate called without an active exception", delta-io/delta-rs#2184)
/// after the answer is printed, so the script leaves at once instead.
const EXIT: &str = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n";

/// Runs `script` with the test interpreter on `table` and `args`, and returns the one
/// JSON object it prints; fails the test, naming the set-up command, if it does not.
pub fn run_script(script: &str, table: &Path, args: &[String]) -> serde_json::Value {
    let python = interpreter();
    let output = Command::new(&python)
        .arg("-c")
        .arg(format!("{script}{EXIT}"))
        .arg(table)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{} does not run: {err}", python.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python's deltalake could not read {} ({}); if a module is missing, run `{SETUP}`:\n{stderr}",
        table.display(),
        python.display()
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// Reads the Delta table at `table` with Python's `deltalake`, with the
/// transaction versions of `app_ids`.
pub fn read_delta(table: &Path, app_ids: &[String]) -> PythonView {
    let json = run_script(SCRIPT, table, app_ids);
    let number = |name: &str| {
        json[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} missing in {json}"))
    };
    let transaction_versions = json["transaction_versions"]
        .as_object()
        .expect("transaction_versions")
        .iter()
        .map(|(app, version)| (app.clone(), version.as_i64()))
        .collect();
    PythonView {
        version: number("version"),
        rows: number("rows"),
        distinct_positions: number("distinct_positions"),
        rows_in_wrong_year: number("rows_in_wrong_year"),
        transaction_versions,
    }
}
