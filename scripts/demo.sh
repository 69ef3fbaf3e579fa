#!/usr/bin/env bash
# Herd from nothing: starts a local Kafka broker when none is configured, builds the
# `herd` binary, and runs the pipeline as far as it exists today, ending in a summary:
# topics → generate the `small` data set → ingest (with a few bad records, which go to
# the dead-letter topic) → archive into the Delta table `sales`, exactly once → train
# one model per key and register them in the Delta table `models`.
#
# Environment: HERD_BOOTSTRAP_SERVERS (use this broker instead of a local one),
# HERD_DEMO_SIZE (small|medium|headline, default small).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herd/target}
size=${HERD_DEMO_SIZE:-small}
demo=data/demo
export HERD_LAKE_ROOT=${HERD_LAKE_ROOT:-data/lake}
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

step "herd doctor"
"$herd" doctor | sed -n '1,9p'

mkdir -p "$demo"
step "herd generate $demo/$size.parquet --size $size"
"$herd" generate "$demo/$size.parquet" --size "$size" | tee "$demo/generate.txt"

# A few records that break the contract, to show where they go.
cat > "$demo/bad.jsonl" <<'JSON'
{"store_id": "S0001", "item_id": "I00001", "date": "2023-02-30", "sales": 3}
{"store_id": "S0001", "item_id": "I00001", "date": "2024-01-01", "sales": -2}
{"store_id": "../etc", "item_id": "I00001", "date": "2024-01-01", "sales": 1}
not json at all
JSON

step "herd ingest $demo/$size.parquet $demo/bad.jsonl"
"$herd" ingest "$demo/$size.parquet" "$demo/bad.jsonl" | tee "$demo/ingest.txt"

step "herd archive (until it has caught up)"
"$herd" archive --idle-exit 5 --flush-latency-ms 1000 | tee "$demo/archive.txt"

step "herd train --once (one model per key, chosen by backtest)"
"$herd" train --once | tee "$demo/train.txt"

step "herd models list --tag store_id=S0001 --limit 5"
"$herd" models list --tag store_id=S0001 --limit 5

step "herd promote --once (the business rule, then champion against challenger)"
"$herd" promote --once | tee "$demo/promote.txt"

step "herd score --batch (every production model's forecast into predictions)"
"$herd" score --batch | tee "$demo/score.txt"

key=$("$herd" models production --format json --limit 1 | sed -n 's/^{"key":"\([^"]*\)".*/\1/p')
step "herd models history $key"
"$herd" models history "$key"

step "Summary"
echo "  broker:    $broker_status"
echo "  generated: $(sed -n 's/^wrote \([0-9]*\) rows of \([0-9]*\) series.*/\1 rows, \2 series/p' "$demo/generate.txt")"
echo "  ingested:  $(head -n 1 "$demo/ingest.txt")"
echo "  delivery:  $(sed -n 2p "$demo/ingest.txt")"
echo "  rejected:  $(grep '^rejected ' "$demo/ingest.txt" | awk '{printf "%s %s  ", $2, $3}') → herd.sales.dlq"
echo "  archived:  $(cat "$demo/archive.txt")"
echo "  trained:   $(head -n 1 "$demo/train.txt")"
echo "  accuracy:  $(sed -n 's/^accuracy (keys with full history): //p' "$demo/train.txt")"
echo "  promoted:  $(head -n 1 "$demo/promote.txt")"
echo "  scored:    $(head -n 1 "$demo/score.txt")"
echo "  lake:      $HERD_LAKE_ROOT/{sales,models,production/models,promotions,predictions} (Delta; read them with Spark, DuckDB, polars or Python's deltalake)"
echo
echo "The broker keeps running for the next steps; stop it with: scripts/kafka.sh stop"
