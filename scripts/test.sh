#!/usr/bin/env bash
# Runs Herd's tests against a real Kafka broker.
#
# Installs Python's deltalake (the tests read Herd's Delta tables with it too) and
# Schemathesis (which fuzzes `herd serve`) into a cache venv and, for the dashboard
# test, Debian's chromium and playwright-core; starts the local broker
# (scripts/kafka.sh) unless one is running or HERD_BOOTSTRAP_SERVERS names one; runs
# `cargo test --workspace --features herd-cli/sql` (extra arguments are passed to
# cargo test); and stops the broker again if this script started it.
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
# Schemathesis fuzzes `herd serve` from its OpenAPI document (tests/tests/openapi_fuzz.rs).
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
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

# One cargo command with one feature set: the workspace's tests, the SQL code's unit
# tests, and the `herd` binary the end-to-end tests run (cargo builds it for the
# herd-cli package's own tests), so nothing is compiled twice under two feature sets.
export HERD_TEST_BINARY=${HERD_TEST_BINARY:-$CARGO_TARGET_DIR/debug/herd}
cargo test --workspace --features herd-cli/sql "$@"
