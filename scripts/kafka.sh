#!/usr/bin/env bash
# Local Apache Kafka broker for Herd development and CI, without Docker.
#
# Usage: scripts/kafka.sh start|stop|status|restart|bootstrap
#        scripts/kafka.sh tool CLASS [ARGS...]
#
#   start      resolve Kafka (first run only), then start a single-node KRaft
#              broker on 127.0.0.1 and wait until it answers requests
#   stop       stop the broker started from this checkout
#   status     exit 0 if the broker is running, 3 if not
#   restart    stop, then start
#   bootstrap  print the bootstrap address clients should use
#   tool       run a Kafka tool class with the broker's classpath, e.g.
#              scripts/kafka.sh tool org.apache.kafka.tools.ProducerPerformance \
#                --topic t --num-records 100000 --record-size 100 --throughput -1 \
#                --command-property bootstrap.servers=$(scripts/kafka.sh bootstrap)
#
# Environment:
#   HERD_BOOTSTRAP_SERVERS      use this existing broker; start/stop do nothing
#   HERD_KAFKA_PORT             broker port (default 9092)
#   HERD_KAFKA_CONTROLLER_PORT  KRaft controller port (default broker port + 1)
#   HERD_KAFKA_START_TIMEOUT    seconds to wait for the broker (default 60)
#   HERD_KAFKA_STOP_TIMEOUT     seconds to wait before SIGKILL (default 30)
#   HERD_KAFKA_TOOL_OPTS        extra JVM options for `tool`
#   HERD_KAFKA_DATA_DIR         broker state directory (default data/kafka of this
#                               checkout); a second broker needs its own, and ports
#   HERD_KAFKA_NODE_ID          this node's id in a cluster (default 1)
#   HERD_KAFKA_VOTERS           the cluster's controller quorum, id@host:port,...
#                               (default this node alone)
#   HERD_KAFKA_CLUSTER_ID       the id to format new storage with (default a new one;
#                               every node of a cluster needs the same)
#   HERD_KAFKA_REPLICATION      replicas of Kafka's internal topics and the default
#                               for new topics (default 1); from 3, min.insync.replicas=2
#
# scripts/kafka-cluster.sh starts three such nodes as one cluster.
#   HERD_CACHE                  cache root (default ~/.cache/herd)
#   JAVA_HOME                   Java 17+ to use (default: java on PATH)
#
# Kafka jars are resolved with Maven from scripts/kafka/pom.xml into
# $HERD_CACHE/kafka-<version>/libs, shared by all checkouts. Broker state lives
# in data/kafka/ of this checkout (or HERD_KAFKA_DATA_DIR): server.properties, kraft/ (the log dirs),
# kafka.pid, broker.log (java stdout/stderr) and server.log (log4j).
set -euo pipefail

readonly KAFKA_VERSION=4.4.0
readonly HOST=127.0.0.1

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly ROOT=${SCRIPT_DIR%/*}
readonly SUPPORT_DIR=$SCRIPT_DIR/kafka

readonly CACHE_DIR=${HERD_CACHE:-$HOME/.cache/herd}/kafka-$KAFKA_VERSION
readonly LIBS_DIR=$CACHE_DIR/libs
readonly LIBS_MARKER=$LIBS_DIR/.resolved

readonly DATA_DIR=${HERD_KAFKA_DATA_DIR:-$ROOT/data/kafka}
readonly DATA_DIR_REL=${DATA_DIR#"$ROOT"/}/
readonly KRAFT_DIR=$DATA_DIR/kraft
readonly CONFIG_FILE=$DATA_DIR/server.properties
readonly PID_FILE=$DATA_DIR/kafka.pid
readonly BROKER_LOG=$DATA_DIR/broker.log
readonly SERVER_LOG=$DATA_DIR/server.log

# JVM options for the short-lived helper JVMs (format, probe): they only need
# to start fast.
readonly QUICK_JVM_OPTS=(-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m)

# ---------------------------------------------------------------------------
# Output helpers. Progress goes to stderr so that stdout only carries results
# (`bootstrap` and `tool` output is meant to be captured).

say() { echo "kafka: $*"; }
note() { echo "kafka: $*" >&2; }
die() {
    echo "kafka: $*" >&2
    exit 1
}

usage() {
    # The comment block at the top of this file, without the leading "# ".
    sed -n '2,/^[^#]/{/^#/{s/^# \{0,1\}//;p}}' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------------
# Settings

external_broker() { [[ -n ${HERD_BOOTSTRAP_SERVERS:-} ]]; }

check_port_number() {
    local name=$1 value=$2
    # 10# stops bash from reading a leading zero as octal.
    if ! [[ $value =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
        die "$name must be a port number (1-65535), got '$value'"
    fi
}

check_seconds() {
    local name=$1 value=$2
    [[ $value =~ ^[0-9]{1,6}$ ]] || die "$name must be a whole number of seconds, got '$value'"
}

load_settings() {
    PORT=${HERD_KAFKA_PORT:-9092}
    check_port_number HERD_KAFKA_PORT "$PORT"
    PORT=$((10#$PORT))
    CONTROLLER_PORT=${HERD_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
    check_port_number HERD_KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
    CONTROLLER_PORT=$((10#$CONTROLLER_PORT))
    ((PORT != CONTROLLER_PORT)) || die "broker and controller ports must differ (both are $PORT)"
    START_TIMEOUT=${HERD_KAFKA_START_TIMEOUT:-60}
    check_seconds HERD_KAFKA_START_TIMEOUT "$START_TIMEOUT"
    START_TIMEOUT=$((10#$START_TIMEOUT))
    STOP_TIMEOUT=${HERD_KAFKA_STOP_TIMEOUT:-30}
    check_seconds HERD_KAFKA_STOP_TIMEOUT "$STOP_TIMEOUT"
    STOP_TIMEOUT=$((10#$STOP_TIMEOUT))
    NODE_ID=${HERD_KAFKA_NODE_ID:-1}
    [[ $NODE_ID =~ ^[0-9]+$ ]] || die "HERD_KAFKA_NODE_ID must be a number, not '$NODE_ID'"
    VOTERS=${HERD_KAFKA_VOTERS:-$NODE_ID@$HOST:$CONTROLLER_PORT}
    [[ $VOTERS =~ ^[0-9]+@[^,@]+:[0-9]+(,[0-9]+@[^,@]+:[0-9]+)*$ ]] ||
        die "HERD_KAFKA_VOTERS must read id@host:port[,id@host:port...], not '$VOTERS'"
    REPLICATION=${HERD_KAFKA_REPLICATION:-1}
    [[ $REPLICATION =~ ^[1-9][0-9]*$ ]] || die "HERD_KAFKA_REPLICATION must be a positive number, not '$REPLICATION'"
    MIN_ISR=1
    ((REPLICATION < 3)) || MIN_ISR=2
}

# ---------------------------------------------------------------------------
# Toolchain

require_java() {
    if [[ -n ${JAVA_HOME:-} ]]; then
        JAVA=$JAVA_HOME/bin/java
        [[ -x $JAVA ]] || die "JAVA_HOME is set to '$JAVA_HOME' but $JAVA is not executable"
    else
        JAVA=$(command -v java) || die "java not found: install Java 17+ or set JAVA_HOME"
    fi

    local out major
    out=$("$JAVA" -version 2>&1) || die "'$JAVA -version' failed: $out"
    # "17.0.15" -> 17; old style "1.8.0_392" -> 8.
    [[ $out =~ version\ \"([0-9]+)(\.([0-9]+))? ]] || die "cannot tell the Java version from: $out"
    major=${BASH_REMATCH[1]}
    if ((major == 1)); then major=${BASH_REMATCH[3]:-0}; fi
    ((major >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, but $JAVA is Java $major"
}

require_mvn() {
    command -v mvn >/dev/null || die "Maven (mvn) not found on PATH; it is needed once to download Kafka $KAFKA_VERSION"
}

# ---------------------------------------------------------------------------
# Locking. Test harnesses may run `start` from several processes at once;
# flock serialises them so the second one simply finds the broker running.

# lock_file FD PATH: take an exclusive lock on PATH through file descriptor FD.
lock_file() {
    local fd=$1 path=$2
    command -v flock >/dev/null || return 0
    eval "exec $fd>\"\$path\""
    if ! flock -n "$fd"; then
        note "waiting for another kafka.sh (lock $path)"
        flock "$fd"
    fi
}

DATA_LOCKED=0
lock_data_dir() {
    ((DATA_LOCKED)) && return 0
    mkdir -p "$DATA_DIR"
    lock_file 9 "$DATA_DIR/.lock"
    DATA_LOCKED=1
}

# ---------------------------------------------------------------------------
# Kafka jars

libs_up_to_date() {
    [[ -f $LIBS_MARKER && $(<"$LIBS_MARKER") == "$POM_SUM" ]]
}

ensure_libs() {
    # The marker holds the pom's checksum, so editing the pom re-resolves.
    POM_SUM=$(sha256sum "$SUPPORT_DIR/pom.xml" | cut -d' ' -f1)
    libs_up_to_date && return 0

    require_mvn
    mkdir -p "$CACHE_DIR"
    # The cache is shared between checkouts; resolve once at a time.
    lock_file 8 "$CACHE_DIR/.lock"
    if ! libs_up_to_date; then
        note "resolving Apache Kafka $KAFKA_VERSION with Maven into $LIBS_DIR"
        local tmp
        tmp=$(mktemp -d "$CACHE_DIR/resolve.XXXXXX")
        # Maven runs on a copy of the pom so that nothing is written into the
        # checkout; the libs only appear under their final name once complete.
        cp "$SUPPORT_DIR/pom.xml" "$tmp/pom.xml"
        if ! (cd "$tmp" && mvn -B -q -f pom.xml dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
            -Dkafka.version="$KAFKA_VERSION") >"$tmp/mvn.log" 2>&1; then
            tail -n 40 "$tmp/mvn.log" >&2
            rm -rf "$tmp"
            die "Maven could not resolve Kafka $KAFKA_VERSION (output above)"
        fi
        echo "$POM_SUM" >"$tmp/libs/.resolved"
        rm -rf "$LIBS_DIR"
        mv "$tmp/libs" "$LIBS_DIR"
        rm -rf "$tmp"
    fi
    exec 8>&- # release the lock; `tool` execs java and must not hold it
}

# run_quick CLASS ARGS...: run a short-lived Kafka class (quiet logging).
run_quick() {
    "$JAVA" "${QUICK_JVM_OPTS[@]}" \
        -Dlog4j2.configurationFile="$SUPPORT_DIR/tools-log4j2.xml" \
        -cp "$LIBS_DIR/*" "$@"
}

# ---------------------------------------------------------------------------
# Processes and ports

# cmdline_of PID: the process's command line, or failure if it does not exist.
# Zombies have an empty command line, so a dead broker never matches below.
cmdline_of() {
    local pid=$1
    if [[ -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null
    else
        ps -ww -o args= -p "$pid" 2>/dev/null
    fi
}

# is_our_broker PID: PID is a live Kafka broker started with this checkout's
# config. Checking the command line guards against PID reuse. The program
# must be java itself: while the launch is still passing through setsid and
# nohup their command lines mention kafka.Kafka too.
is_our_broker() {
    local pid=$1 cmd program
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(cmdline_of "$pid") || return 1
    program=${cmd%% *}
    [[ ${program##*/} == java && $cmd == *" kafka.Kafka "* && $cmd == *"$CONFIG_FILE"* ]]
}

# process_alive PID: PID exists and is not a zombie.
process_alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}

# read_pid: print the PID from the PID file, failing if there is none.
read_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ -n $pid ]] || return 1
    echo "$pid"
}

# running_pid: print the PID of our live broker, failing if none runs.
running_pid() {
    local pid
    pid=$(read_pid) || return 1
    is_our_broker "$pid" || return 1
    echo "$pid"
}

# configured_port: the broker port recorded in the generated config (the
# port a running broker actually uses, whatever HERD_KAFKA_PORT says now).
configured_port() {
    [[ -f $CONFIG_FILE ]] || return 1
    sed -n "s/^listeners=PLAINTEXT:\/\/[^:]*:\([0-9]*\),.*/\1/p" "$CONFIG_FILE"
}

# port_accepts PORT: something accepts TCP connections on HOST:PORT. This is
# also what decides whether our bind would clash (it catches 0.0.0.0 and
# dual-stack [::] listeners too).
port_accepts() {
    timeout 2 bash -c ": >/dev/tcp/$HOST/$1" 2>/dev/null
}

# port_owner PORT: "name (pid N)" of the listener on PORT, if ss can tell.
port_owner() {
    command -v ss >/dev/null || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null |
        sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1
}

check_port_free() {
    local port=$1 setting=$2 what=$3 owner
    port_accepts "$port" || return 0
    owner=$(port_owner "$port")
    die "$what port $port on $HOST is already in use${owner:+ by $owner}; free it or set $setting to another port"
}

# probe PORT: the broker on PORT answers a metadata (ApiVersions) request.
probe() {
    port_accepts "$1" || return 1
    timeout 20 "$JAVA" "${QUICK_JVM_OPTS[@]}" \
        -Dlog4j2.configurationFile="$SUPPORT_DIR/tools-log4j2.xml" \
        -cp "$LIBS_DIR/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
        --bootstrap-server "$HOST:$1" \
        --command-config "$SUPPORT_DIR/probe-client.properties" >/dev/null 2>&1
}

show_logs() {
    local log
    for log in "$BROKER_LOG" "$SERVER_LOG"; do
        [[ -s $log ]] || continue
        echo "----- last 30 lines of ${log#"$ROOT"/} -----" >&2
        tail -n 30 "$log" >&2
    done
}

# stop_pid PID: SIGTERM, wait, then SIGKILL. Only called with a PID that
# is_our_broker has just confirmed.
stop_pid() {
    local pid=$1 deadline
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while is_our_broker "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if is_our_broker "$pid"; then
        note "broker (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while is_our_broker "$pid" && ((SECONDS < deadline)); do
            sleep 0.2
        done
        ! is_our_broker "$pid" || die "broker (pid $pid) survived SIGKILL"
    fi
    rm -f "$PID_FILE"
}

# ---------------------------------------------------------------------------
# Broker configuration and storage

render_config() {
    cat <<EOF
# Generated by scripts/kafka.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KRAFT_DIR
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
num.partitions=1
EOF
    if ((REPLICATION > 1)); then
        cat <<EOF
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
EOF
    fi
}

prepare_storage() {
    local config
    config=$(render_config)

    # The KRaft metadata records the listeners and quorum voters it was
    # formatted with, so data from a different config (other ports, moved
    # checkout) cannot be reused safely: start from scratch instead.
    if [[ -d $KRAFT_DIR && (! -f $CONFIG_FILE || $(<"$CONFIG_FILE") != "$config") ]]; then
        note "broker config changed (port or checkout path); wiping ${KRAFT_DIR#"$ROOT"/} and reformatting"
        rm -rf "$KRAFT_DIR"
    fi
    printf '%s\n' "$config" >"$CONFIG_FILE.tmp"
    mv "$CONFIG_FILE.tmp" "$CONFIG_FILE"

    if [[ ! -f $KRAFT_DIR/meta.properties ]]; then
        # Without meta.properties the directory was never fully formatted.
        rm -rf "$KRAFT_DIR"
        local cluster_id out
        cluster_id=${HERD_KAFKA_CLUSTER_ID:-}
        [[ -n $cluster_id ]] || cluster_id=$(run_quick kafka.tools.StorageTool random-uuid 2>/dev/null) ||
            die "could not generate a cluster id with kafka.tools.StorageTool"
        # Static quorum (controller.quorum.voters), hence no --standalone.
        out=$(run_quick kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG_FILE" 2>&1) ||
            die "formatting ${KRAFT_DIR#"$ROOT"/} failed: $out"
        note "formatted new KRaft storage in ${KRAFT_DIR#"$ROOT"/} (cluster id $cluster_id)"
    fi
}

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
    if external_broker; then
        say "using the configured broker at $HERD_BOOTSTRAP_SERVERS (HERD_BOOTSTRAP_SERVERS); not starting one"
        return 0
    fi
    load_settings
    require_java
    lock_data_dir

    local pid running_port
    if pid=$(running_pid); then
        running_port=$(configured_port) || running_port=unknown
        [[ $running_port == "$PORT" ]] ||
            die "already running on $HOST:$running_port (pid $pid), not on port $PORT; stop it first"
        # The broker opens its client port only once it is fully started, so
        # an accepting port is enough here; otherwise it may still be starting
        # (an earlier `start` was interrupted) and gets the full readiness wait.
        if ! port_accepts "$PORT"; then
            ensure_libs
            wait_until_ready "$pid"
        fi
        say "already running on $HOST:$PORT (pid $pid)"
        return 0
    fi
    if pid=$(read_pid); then
        note "removing stale pid file (pid $pid is not our broker)"
        rm -f "$PID_FILE"
    fi

    check_port_free "$PORT" HERD_KAFKA_PORT broker
    check_port_free "$CONTROLLER_PORT" HERD_KAFKA_CONTROLLER_PORT controller

    ensure_libs
    prepare_storage

    echo "===== $(date '+%Y-%m-%d %H:%M:%S') starting Kafka $KAFKA_VERSION on $HOST:$PORT =====" >>"$BROKER_LOG"
    # setsid + nohup detach the broker from this shell and its terminal so it
    # outlives the script (and a CI step). The subshell's cd puts any JVM
    # crash files (hs_err_pid*.log) into the data dir. Each exec replaces the
    # process, so $! is the java PID. The lock descriptors are closed so the
    # broker does not hold the locks for its whole lifetime.
    (
        cd "$DATA_DIR"
        exec setsid nohup "$JAVA" -Xms256m -Xmx1g -XX:+UseG1GC \
            -Dlog4j2.configurationFile="$SUPPORT_DIR/log4j2.xml" \
            -Dkafka.logs.dir="$DATA_DIR" \
            -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG_FILE"
    ) </dev/null >>"$BROKER_LOG" 2>&1 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"

    # Until the background subshell has exec'd into java its command line is
    # still this script's, and is_our_broker would take it for a dead broker.
    local waited=0
    while ! is_our_broker "$pid" && process_alive "$pid" && ((waited++ < 100)); do
        sleep 0.1
    done
    if ! is_our_broker "$pid" && process_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true # our own child, never a broker
        rm -f "$PID_FILE"
        die "the broker process (pid $pid) did not start java within 10s"
    fi

    wait_until_ready "$pid"
    say "up on $HOST:$PORT (pid $pid, logs $DATA_DIR_REL)"
}

# wait_until_ready PID: poll until the broker answers; fail if it dies or
# does not answer within HERD_KAFKA_START_TIMEOUT.
wait_until_ready() {
    local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        # Check liveness first: a broker that fails to bind dies quickly.
        if ! is_our_broker "$pid"; then
            rm -f "$PID_FILE"
            show_logs
            die "broker (pid $pid) exited during startup; see the logs above and in $DATA_DIR_REL"
        fi
        if probe "$PORT"; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            show_logs
            note "broker did not answer on $HOST:$PORT within ${START_TIMEOUT}s (HERD_KAFKA_START_TIMEOUT); stopping it"
            stop_pid "$pid"
            exit 1
        fi
        sleep 0.5
    done
}

cmd_stop() {
    if external_broker; then
        say "using the configured broker at $HERD_BOOTSTRAP_SERVERS (HERD_BOOTSTRAP_SERVERS); nothing to stop"
        return 0
    fi
    load_settings
    [[ -d $DATA_DIR ]] || {
        say "not running"
        return 0
    }
    lock_data_dir

    local pid
    if ! pid=$(read_pid); then
        say "not running"
        return 0
    fi
    if ! is_our_broker "$pid"; then
        rm -f "$PID_FILE"
        say "not running (removed stale pid file naming pid $pid)"
        return 0
    fi
    note "stopping broker (pid $pid)"
    stop_pid "$pid"
    say "stopped (pid $pid)"
}

cmd_status() {
    if external_broker; then
        say "using the configured broker at $HERD_BOOTSTRAP_SERVERS (HERD_BOOTSTRAP_SERVERS)"
        return 0
    fi
    load_settings

    local pid port
    if pid=$(running_pid); then
        port=$(configured_port) || port=$PORT
        if port_accepts "$port"; then
            say "running (pid $pid) on $HOST:$port"
        else
            say "running (pid $pid) on $HOST:$port, not accepting connections yet"
        fi
        return 0
    fi
    say "not running (port $PORT)"
    exit 3
}

cmd_bootstrap() {
    if external_broker; then
        echo "$HERD_BOOTSTRAP_SERVERS"
        return 0
    fi
    load_settings
    echo "$HOST:$PORT"
}

cmd_tool() {
    (($# >= 1)) || die "usage: scripts/kafka.sh tool CLASS [ARGS...]"
    require_java
    ensure_libs
    local opts=()
    read -r -a opts <<<"${HERD_KAFKA_TOOL_OPTS:-}"
    exec "$JAVA" "${opts[@]}" \
        -Dlog4j2.configurationFile="$SUPPORT_DIR/tools-log4j2.xml" \
        -cp "$LIBS_DIR/*" "$@"
}

main() {
    local cmd=${1:-}
    if (($# > 0)); then shift; fi
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        restart)
            cmd_stop
            cmd_start
            ;;
        bootstrap) cmd_bootstrap ;;
        tool) cmd_tool "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
