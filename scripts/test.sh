#!/usr/bin/env bash
# Runs Herd's tests against a real Kafka broker.
#
# Installs Python's deltalake (the tests read Herd's Delta tables with it too) and
# Schemathesis (which fuzzes `herd serve`) into a cache venv and, for the dashboard
# test, Debian's chromium and playwright-core; starts the local broker
# (scripts/kafka.sh) unless one is running or HERD_BOOTSTRAP_SERVERS names one; runs
# the workspace's tests with `--features herd-cli/sql` (the seams suite beside the
# others; extra arguments go to cargo, those after `--` to the test binaries); and
# stops the broker again if this script started it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herd/target}

# Python's deltalake reads Herd's tables in the tests, as an independent reader.
venv=${HERD_CACHE:-$HOME/.cache/herd}/venv
if ! "$venv/bin/python" -c 'import deltalake, pyarrow' 2>/dev/null; then
  echo "test: installing Python's deltalake into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet deltalake==1.6.6 pyarrow
fi
export HERD_PYTHON=${HERD_PYTHON:-$venv/bin/python}
# Schemathesis fuzzes `herd serve` from its OpenAPI document (tests/tests/openapi_fuzz.rs);
# the jsonschema_rs it brings judges records against the published JSON Schema
# (schemas/tests/json_schema.rs).
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 ||
  ! "$venv/bin/python" -c 'import jsonschema_rs' 2>/dev/null; then
  echo "test: installing Schemathesis into $venv"
  "$venv/bin/pip" install --quiet schemathesis==4.32.5
fi

# The dashboard test drives Debian's Chromium through playwright-core.
if ! command -v chromium >/dev/null; then
  echo "test: installing Debian's chromium"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi
if [[ ! -d tests/dashboard/node_modules/playwright-core ]]; then
  echo "test: installing playwright-core into tests/dashboard/node_modules"
  npm ci --prefix tests/dashboard --no-audit --no-fund --loglevel=error
fi

started=""
stop_broker() {
  if [[ -n $started ]]; then
    # The variable exported below names our own broker; unset it so `stop` acts.
    env -u HERD_BOOTSTRAP_SERVERS scripts/kafka.sh stop || true
  fi
}
trap stop_broker EXIT

if [[ -z ${HERD_BOOTSTRAP_SERVERS:-} ]] && ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh start
  started=yes
fi
HERD_BOOTSTRAP_SERVERS=$(scripts/kafka.sh bootstrap)
export HERD_BOOTSTRAP_SERVERS
echo "test: using the Kafka broker at $HERD_BOOTSTRAP_SERVERS"

# One feature set for everything: the workspace's tests, the SQL code's unit tests,
# and the `herd` binary the end-to-end tests run (cargo builds it for the herd-cli
# package's own tests), so nothing is compiled twice. Arguments before `--` go to
# cargo, those after it to every test binary (a name filter, say).
export HERD_TEST_BINARY=${HERD_TEST_BINARY:-$CARGO_TARGET_DIR/debug/herd}
cargo_args=()
test_args=()
for arg in "$@"; do
  if [[ ${#test_args[@]} -gt 0 || $arg == -- ]]; then
    test_args+=("$arg")
  else
    cargo_args+=("$arg")
  fi
done
[[ ${#test_args[@]} -gt 0 ]] && test_args=("${test_args[@]:1}")
targets=(--workspace --features herd-cli/sql --lib --bins --tests)
cargo test "${targets[@]}" --no-run "${cargo_args[@]}"

# What cargo test would run, a line each: the target's name, its package's directory
# (a test runs there, as under cargo) and the executable.
binaries=$(cargo test "${targets[@]}" --no-run --message-format=json "${cargo_args[@]}" 2>/dev/null |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["profile"]["test"]:
        directory = os.path.dirname(message["manifest_path"])
        print(message["target"]["name"], directory, message["executable"])
')

# The seams suite (tests/tests/seams/) spends most of its three minutes waiting on
# processes and brokers, so it runs beside the other suites instead of after them;
# its output follows theirs.
seams_log=$(mktemp)
seams_pid=""
stop_seams() {
  [[ -n $seams_pid ]] && kill "$seams_pid" 2>/dev/null
  rm -f "$seams_log"
}
trap 'stop_seams; stop_broker' EXIT
failed=()
while read -r name directory executable; do
  if [[ $name == seams ]]; then
    echo "     Running $name ($executable), beside the others"
    (cd "$directory" && exec "$executable" "${test_args[@]}") >"$seams_log" 2>&1 &
    seams_pid=$!
  fi
done <<<"$binaries"
while read -r name directory executable; do
  [[ $name == seams ]] && continue
  echo "     Running $name ($executable)"
  (cd "$directory" && "$executable" "${test_args[@]}") || failed+=("$name")
done <<<"$binaries"
if [[ -n $seams_pid ]]; then
  seams_status=0
  wait "$seams_pid" || seams_status=$?
  seams_pid=""
  echo "     Ran seams:"
  cat "$seams_log"
  [[ $seams_status == 0 ]] || failed+=(seams)
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "test: failed: ${failed[*]}" >&2
  exit 1
fi
echo "test: every suite passed"
