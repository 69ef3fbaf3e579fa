#!/usr/bin/env bash
# Herd from nothing: starts a local Kafka broker when none is configured, builds the
# `herd` binary, and runs the pipeline as far as it exists today, ending in a summary.
#
# Environment: HERD_BOOTSTRAP_SERVERS (use this broker instead of a local one),
# HERD_DEMO_RECORDS (size of the keyed sample, default 10000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herd/target}
records=${HERD_DEMO_RECORDS:-10000}
step() { printf '\n==> %s\n' "$*"; }

step "Kafka broker"
scripts/kafka.sh start
broker_status=$(scripts/kafka.sh status 2>&1 | head -n 1)
HERD_BOOTSTRAP_SERVERS=$(scripts/kafka.sh bootstrap)
export HERD_BOOTSTRAP_SERVERS

step "Building herd (release)"
started=$(date +%s)
cargo build --release --quiet -p herd-cli --bin herd
herd=$CARGO_TARGET_DIR/release/herd
echo "built $herd in $(($(date +%s) - started)) s"

step "herd topics create"
"$herd" topics create

step "herd doctor --roundtrip $records   (produce and consume a keyed sample)"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$herd" doctor --roundtrip "$records" | tee "$report"

step "Summary"
sed -n 's/^roundtrip  /  sample:    /p; s/^           \(produced.*\|consumed in.*\|ok:.*\)/             \1/p' "$report"
echo "  broker:    $broker_status"
echo "  topics:    $(grep -c '^topic .*partitions' "$report") of 4 Herd topics present"
echo "  lake root: $(sed -n 's/^lake *//p' "$report")"
echo
echo "The broker keeps running for the next steps; stop it with: scripts/kafka.sh stop"
