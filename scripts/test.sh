#!/usr/bin/env bash
# Runs Herd's tests against a real Kafka broker.
#
# Starts the local broker (scripts/kafka.sh) unless one is already running or
# HERD_BOOTSTRAP_SERVERS names one, runs `cargo test --workspace` (extra arguments
# are passed to cargo test), and stops the broker again if this script started it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herd/target}

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

cargo test --workspace "$@"
