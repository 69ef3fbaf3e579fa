#!/usr/bin/env bash
# A three-node Apache Kafka cluster on 127.0.0.1, without Docker: three KRaft
# processes, each a broker and a controller of one quorum, internal topics
# replicated three times and min.insync.replicas=2. Each node is a
# scripts/kafka.sh broker with its own state directory and ports.
#
# Usage: scripts/kafka-cluster.sh start|stop|status|bootstrap
#        scripts/kafka-cluster.sh start-node N|stop-node N|kill-node N
#
#   start       start the three nodes (together: none is ready before a quorum is)
#   stop        stop every node
#   status      exit 0 if every node runs, 3 if not
#   bootstrap   print the three brokers' addresses
#   start-node  start node N (1-3) again
#   stop-node   stop node N as an operator would
#   kill-node   SIGKILL node N, as a crash would
#
# Environment:
#   HERD_KAFKA_CLUSTER_PORT  first node's broker port (default 19092); node N uses
#                            port + 2(N−1) for clients and the next one for its
#                            controller
#   HERD_KAFKA_CLUSTER_DIR   state directory (default data/kafka-cluster of this
#                            checkout), one node-N directory per node
#   HERD_CACHE, JAVA_HOME, HERD_KAFKA_START_TIMEOUT, HERD_KAFKA_STOP_TIMEOUT as for
#   scripts/kafka.sh
set -euo pipefail

readonly NODES=3
readonly HOST=127.0.0.1
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly ROOT=${SCRIPT_DIR%/*}
readonly BASE_PORT=${HERD_KAFKA_CLUSTER_PORT:-19092}
readonly DIR=${HERD_KAFKA_CLUSTER_DIR:-$ROOT/data/kafka-cluster}

say() { echo "kafka-cluster: $*"; }
die() {
    echo "kafka-cluster: $*" >&2
    exit 1
}

[[ $BASE_PORT =~ ^[0-9]+$ ]] && ((BASE_PORT > 0 && BASE_PORT + 2 * NODES < 65536)) ||
    die "HERD_KAFKA_CLUSTER_PORT must be a port number with room for $NODES nodes above it, not '$BASE_PORT'"

port_of() { echo $((BASE_PORT + 2 * ($1 - 1))); }

# addresses voters|brokers: the controller quorum (id@host:port,...) or the
# brokers' client addresses (host:port,...).
addresses() {
    local n port list=()
    for ((n = 1; n <= NODES; n++)); do
        port=$(port_of "$n")
        case $1 in
            voters) list+=("$n@$HOST:$((port + 1))") ;;
            brokers) list+=("$HOST:$port") ;;
        esac
    done
    local IFS=,
    echo "${list[*]}"
}

# The cluster's id: made once, shared by every node's storage.
cluster_id() {
    local file=$DIR/cluster.id
    if [[ ! -s $file ]]; then
        mkdir -p "$DIR"
        # A KRaft cluster id is 16 bytes, base64url without padding.
        head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    cat "$file"
}

# node N COMMAND: scripts/kafka.sh COMMAND for node N.
node() {
    local n=$1
    shift
    [[ $n =~ ^[1-3]$ ]] || die "no node '$n': nodes are 1 to $NODES"
    env -u HERD_BOOTSTRAP_SERVERS \
        HERD_KAFKA_PORT="$(port_of "$n")" \
        HERD_KAFKA_CONTROLLER_PORT="$(($(port_of "$n") + 1))" \
        HERD_KAFKA_DATA_DIR="$DIR/node-$n" \
        HERD_KAFKA_NODE_ID="$n" \
        HERD_KAFKA_VOTERS="$(addresses voters)" \
        HERD_KAFKA_CLUSTER_ID="$(cluster_id)" \
        HERD_KAFKA_REPLICATION=$NODES \
        "$SCRIPT_DIR/kafka.sh" "$@"
}

# every_node ACTION: scripts/kafka.sh ACTION on all nodes at once, failing if any
# node fails.
every_node() {
    local n pids=() failed=0
    for ((n = 1; n <= NODES; n++)); do
        node "$n" "$1" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    ((failed == 0)) || die "a node did not $1; see its logs under ${DIR#"$ROOT"/}"
}

cmd_start() {
    cluster_id >/dev/null
    # Together: every node waits for its own readiness, which needs a quorum of the
    # others.
    every_node start
    say "up: $(addresses brokers)"
}

cmd_stop() {
    # Together: the last node left alone waits for a quorum to shut down cleanly.
    every_node stop
}

cmd_status() {
    local n down=0
    for ((n = 1; n <= NODES; n++)); do
        node "$n" status || down=1
    done
    ((down == 0)) || exit 3
}

cmd_kill_node() {
    local n=$1 pid
    [[ $n =~ ^[1-3]$ ]] || die "no node '$n': nodes are 1 to $NODES"
    pid=$(cat "$DIR/node-$n/kafka.pid" 2>/dev/null) || die "node $n is not running"
    kill -KILL "$pid" 2>/dev/null || die "node $n (pid $pid) is not running"
    rm -f "$DIR/node-$n/kafka.pid"
    say "killed node $n (pid $pid)"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    bootstrap) addresses brokers ;;
    start-node) node "${2:-}" start ;;
    stop-node) node "${2:-}" stop ;;
    kill-node) cmd_kill_node "${2:-}" ;;
    -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
