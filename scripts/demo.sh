#!/usr/bin/env bash
# Herd from nothing: starts a local Kafka broker when none is configured while it builds
# the `herd` binary (with SQL), and runs the whole pipeline, ending in a summary:
# topics → generate the `small` data set → ingest (with a few bad records, which go to
# the dead-letter topic) → archive into the Delta table `sales`, exactly once → train
# one model per key into the Delta table `models` → promote by the business rule →
# batch-score every key into `predictions` → a short live phase in which
# `herd simulate` publishes new days while `herd archive`, `train`, `promote` and
# `score` follow the topics → a summary from `herd sql` → `herd serve` left running
# with the dashboard. Run again on the local broker and the default lake, it starts
# over: the earlier run's topics and lake are deleted first.
#
# Environment: HERD_BOOTSTRAP_SERVERS (use this broker instead of a local one),
# HERD_DEMO_SIZE (small|medium|headline, default small), HERD_DEMO_LIVE_DAYS (days
# streamed in the live phase, default 14), HERD_DEMO_LISTEN (the dashboard's address,
# default 127.0.0.1:8080).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herd/target}
size=${HERD_DEMO_SIZE:-small}
live_days=${HERD_DEMO_LIVE_DAYS:-14}
listen=${HERD_DEMO_LISTEN:-127.0.0.1:8080}
demo=data/demo
# A run on the local broker and the default lake starts over; a configured broker's
# topics or a chosen lake are never deleted.
own_state=$([[ -z ${HERD_BOOTSTRAP_SERVERS:-} && -z ${HERD_LAKE_ROOT:-} ]] && echo yes || echo no)
export HERD_LAKE_ROOT=${HERD_LAKE_ROOT:-data/lake}
step() { printf '\n==> %s\n' "$*"; }

# The broker starts (downloading Kafka with Maven on the first run) while herd builds:
# on a fresh machine the two would otherwise take turns.
step "Kafka broker (starting in the background; log in $demo/kafka-start.log)"
mkdir -p "$demo"
scripts/kafka.sh start > "$demo/kafka-start.log" 2>&1 &
kafka_start=$!

# The dev profile with SQL: the build `scripts/test.sh` makes too (dependencies at
# opt-level 1, the forecasters at 3), so the demo and the tests share one build. The
# release profile takes several times as long to compile here and runs the demo's
# sizes barely faster (52 s against 56.5 s for the whole demo).
step "Building herd (with SQL): about 14 minutes on 2 cores the first time, seconds after that"
started=$(date +%s)
if [[ -t 1 ]]; then
  cargo build -p herd-cli --bin herd --features sql
else
  cargo build --quiet -p herd-cli --bin herd --features sql
fi
herd=$CARGO_TARGET_DIR/debug/herd
echo "built $herd in $(($(date +%s) - started)) s"

if ! wait "$kafka_start"; then
  cat "$demo/kafka-start.log" >&2
  echo "demo: the Kafka broker did not start; see above" >&2
  exit 1
fi
cat "$demo/kafka-start.log"
broker_status=$(scripts/kafka.sh status 2>&1 | head -n 1)
HERD_BOOTSTRAP_SERVERS=$(scripts/kafka.sh bootstrap)
export HERD_BOOTSTRAP_SERVERS

# A dashboard left running by an earlier demo reads the lake this run rewrites.
if [[ -f $demo/serve.pid ]]; then
  kill "$(cat "$demo/serve.pid")" 2>/dev/null || true
  rm -f "$demo/serve.pid"
fi
if [[ $own_state == yes && -d $HERD_LAKE_ROOT ]]; then
  step "Starting over: the earlier run's topics and lake are deleted"
  "$herd" topics delete --yes
  rm -rf "$HERD_LAKE_ROOT" "$demo"
elif [[ -d $HERD_LAKE_ROOT ]]; then
  echo "note: $HERD_LAKE_ROOT and the configured topics are kept; this run adds its records to them"
fi

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

step "herd serve --listen $listen (the API and the dashboard, left running)"
"$herd" serve --listen "$listen" > "$demo/serve.log" 2>&1 &
echo $! > "$demo/serve.pid"

# The data set ends on its last day; the live phase publishes the days after it.
case $size in headline) days=4000 ;; *) days=730 ;; esac
step "Live: herd simulate publishes $live_days new days; archive, train, promote and score follow"
followers=()
"$herd" archive --idle-exit 15 --flush-latency-ms 1000 > "$demo/live-archive.txt" 2> "$demo/live-archive.log" &
followers+=($!)
"$herd" train --idle-exit 15 > "$demo/live-train.txt" 2> "$demo/live-train.log" &
followers+=($!)
"$herd" promote --idle-exit 15 > "$demo/live-promote.txt" 2> "$demo/live-promote.log" &
followers+=($!)
"$herd" score --idle-exit 15 > "$demo/live-score.txt" 2> "$demo/live-score.log" &
followers+=($!)
sleep 8 # the followers join their groups before the first live day
"$herd" simulate --size "$size" --history-days 0 --start-day "$days" \
  --live-days "$live_days" --days-per-second 2 | tee "$demo/simulate.txt"
echo "waiting for the followers to catch up (each stops after 15 s without input)"
for pid in "${followers[@]}"; do wait "$pid"; done
echo "  archive: $(head -n 1 "$demo/live-archive.txt")"
echo "  train:   $(head -n 1 "$demo/live-train.txt")"
echo "  promote: $(head -n 1 "$demo/live-promote.txt")"
echo "  score:   $(head -n 1 "$demo/live-score.txt")"

step "herd sql: the summary"
"$herd" sql "SELECT
    (SELECT count(*) FROM (SELECT DISTINCT store_id, item_id FROM sales)) AS keys,
    (SELECT count(*) FROM sales) AS sales_rows,
    (SELECT count(*) FROM models) AS models_trained,
    (SELECT count(*) FROM promotions WHERE decision = 'promoted') AS promotions,
    (SELECT count(DISTINCT key) FROM production_models) AS keys_in_production,
    (SELECT round(avg(accuracy), 3) FROM models) AS mean_accuracy,
    (SELECT round(avg(p.accuracy), 3) FROM production_models p
       JOIN (SELECT key, max(entry) AS entry FROM production_models GROUP BY key) c
       ON p.key = c.key AND p.entry = c.entry) AS mean_accuracy_in_production,
    (SELECT count(*) FROM predictions) AS predictions" --format table | tee "$demo/summary.txt"

step "herd sql: which stores' models failed the rule?"
"$herd" sql "SELECT store_id, count(*) AS failed FROM promotions WHERE reason LIKE 'rule not met%' GROUP BY store_id ORDER BY failed DESC" --format table

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
echo "  live:      $(head -n 1 "$demo/simulate.txt")"
echo "  lake:      $HERD_LAKE_ROOT/{sales,models,production/models,promotions,predictions} (Delta; query them with herd sql, Spark, DuckDB, polars or Python's deltalake)"
echo
echo "Dashboard: http://$listen/  (herd serve runs in the background, pid $(cat "$demo/serve.pid"); stop it with: kill \$(cat $demo/serve.pid))"
echo "The broker keeps running too; stop it with: scripts/kafka.sh stop"
