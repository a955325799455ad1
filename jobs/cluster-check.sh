#!/usr/bin/env bash
# A real Spark standalone cluster on this machine, loopback only: a Master and two Workers (1 core
# each) started from the Maven-resolved jars, no Spark installation needed. Trains the built-in
# corpus twice through jobs/train.sh --master spark://127.0.0.1:PORT with sharded expert placement:
# undisturbed, then with one Worker's executor JVM killed with SIGKILL mid-run. Passes when the
# second run finishes (exit 0; the Worker starts a replacement executor) with parameter files
# byte-identical to the first run's. Stops everything it started, on success, failure or Ctrl-C.
#
#   jobs/cluster-check.sh                       (STEPS=20 KILL_AT_STEP=13 by default)
#   STEPS=60 KILL_AT_STEP=35 KEEP=1 jobs/cluster-check.sh     KEEP=1 leaves the work dir (logs, outputs)
#
# The kill comes after step 10, where the engine has checkpointed the sharded expert state to cut its
# lineage: to spark.checkpoint.dir, set here (a local directory serves, all JVMs share this machine).
# Without it the engine checkpoints locally on the executors, and losing one fails the run with
# CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND (a rerun resumes from the last job checkpoint).
#
# Every process binds 127.0.0.1 (SPARK_LOCAL_IP, --host, spark.driver.*); nothing listens elsewhere.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STEPS="${STEPS:-20}"
KILL_AT_STEP="${KILL_AT_STEP:-13}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"      # seconds per training run
START_TIMEOUT="${START_TIMEOUT:-120}"  # seconds for a daemon to come up
WORK="$(mktemp -d "${TMPDIR:-/tmp}/spark-moe-cluster.XXXXXX")"
T0=$SECONDS

DAEMONS=()   # process-group leaders (setsid): master, workers; a Worker's executors are its children
TRAIN_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # a training run still going (interrupted): timeout leads its own process group, the driver in it
    [ -n "${TRAIN_PID:-}" ] && kill -TERM -- "-$TRAIN_PID" 2>/dev/null && DAEMONS+=("$TRAIN_PID")
    for pid in "${DAEMONS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 20); do
        local alive=0
        for pid in "${DAEMONS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    for pid in "${DAEMONS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then echo "cluster-check: work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "cluster-check: FAILED: $*" >&2; exit 1; }
log() { echo "cluster-check [$((SECONDS - T0))s]: $*"; }

# Waits (bounded) until FILE contains PATTERN; fails naming LOG if process PID died first.
await_log() { # file pattern timeout pid what
    local deadline=$((SECONDS + $3))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        kill -0 "$4" 2>/dev/null || fail "$5 exited (log: $1): $(tail -5 "$1")"
        [ $SECONDS -lt $deadline ] || fail "$5 not ready after $3 s (log: $1)"
        sleep 0.5
    done
}

children() { # the pids whose parent is $1 (from /proc: no procps needed)
    local d ppid
    for d in /proc/[0-9]*; do
        ppid="$(sed -n 's/^[0-9]* (.*) [A-Za-z] \([0-9]*\) .*/\1/p' "$d/stat" 2>/dev/null || true)"
        [ "$ppid" = "$1" ] && echo "${d#/proc/}"
    done
    return 0
}

# --- the jars: the application jar and the Maven class path (jobs/common.sh, as jobs/moe-submit.sh) ---
# shellcheck source=jobs/common.sh
. "$ROOT/jobs/common.sh"   # JAR (built for SPARK_LINE if missing or stale), spark_moe_classpath
CP="$(cat "$(spark_moe_classpath)")"
JVM_ARGS="$(sed -n 's:.*<spark.jvm.args>\(.*\)</spark.jvm.args>.*:\1:p' pom.xml)"

# A Spark home as a distribution lays it out (jars/): the Workers build the executors' class path from it.
mkdir -p "$WORK/spark-home/jars"
IFS=: read -r -a CP_ENTRIES <<< "$CP"
for j in "${CP_ENTRIES[@]}"; do ln -s "$j" "$WORK/spark-home/jars/$(basename "$j")" 2>/dev/null || true; done

export SPARK_HOME="$WORK/spark-home" SPARK_LOCAL_IP=127.0.0.1 SPARK_SCALA_VERSION=2.13 OPENBLAS_NUM_THREADS=1
# shellcheck disable=SC2086
DAEMON_JAVA=(java -Xmx512m $JVM_ARGS -cp "$CP")

# port 0: the master picks a free port and logs its URL
setsid "${DAEMON_JAVA[@]}" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 0 --webui-port 0 \
    > "$WORK/master.log" 2>&1 < /dev/null &
MASTER_PID=$!
DAEMONS+=("$MASTER_PID")
await_log "$WORK/master.log" "I have been elected leader" "$START_TIMEOUT" "$MASTER_PID" "master"
MASTER="$(grep -o 'spark://127\.0\.0\.1:[0-9]*' "$WORK/master.log" | head -1)"
[ -n "$MASTER" ] || fail "no master URL in $WORK/master.log"
WORKER_PIDS=()
for i in 1 2; do
    mkdir -p "$WORK/worker$i"
    setsid "${DAEMON_JAVA[@]}" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --port 0 --webui-port 0 --cores 1 \
        --memory 1536m --work-dir "$WORK/worker$i" "$MASTER" > "$WORK/worker$i.log" 2>&1 < /dev/null &
    WORKER_PIDS+=($!)
    DAEMONS+=($!)
done
for i in 1 2; do
    await_log "$WORK/worker$i.log" "Successfully registered with master" "$START_TIMEOUT" "${WORKER_PIDS[$((i - 1))]}" "worker $i"
done
log "master $MASTER and 2 workers up"

train() { # name -> runs in the background, output in $WORK/name.log, pid in TRAIN_PID
    JAVA_OPTS=-Xmx1g SPARK_MOE_LOG4J="$ROOT/conf/log4j2.properties" timeout -k 10 "$RUN_TIMEOUT" jobs/train.sh --master "$MASTER" \
        --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 --conf spark.ui.enabled=false \
        --conf spark.executor.memory=1g --conf spark.cores.max=2 --conf "spark.executor.extraJavaOptions=$JVM_ARGS" \
        --conf "spark.checkpoint.dir=$WORK/$1/rdd-checkpoints" \
        output.dir="$WORK/$1" engine.placement=sharded engine.expertShards=2 input.partitions=2 \
        optim.maxSteps="$STEPS" checkpoint.interval=10 progress.interval=1 charts.enabled=false \
        > "$WORK/$1.log" 2>&1 < /dev/null &
    TRAIN_PID=$!
}

# --- 1. undisturbed ---
train undisturbed
wait "$TRAIN_PID" || fail "the undisturbed run failed (log: $WORK/undisturbed.log): $(tail -20 "$WORK/undisturbed.log")"
log "undisturbed run done"

# --- 2. one executor JVM killed mid-run ---
train disturbed
await_log "$WORK/disturbed.log" "^step $KILL_AT_STEP/" "$RUN_TIMEOUT" "$TRAIN_PID" "the disturbed run"
VICTIM=""
for c in $(children "${WORKER_PIDS[0]}"); do
    if tr '\0' ' ' < "/proc/$c/cmdline" 2>/dev/null | grep -q CoarseGrainedExecutorBackend; then VICTIM=$c; fi
done
[ -n "$VICTIM" ] || fail "worker 1 (pid ${WORKER_PIDS[0]}) runs no executor at step $KILL_AT_STEP"
kill -KILL "$VICTIM"
log "killed executor JVM $VICTIM of worker 1 after step $KILL_AT_STEP"
wait "$TRAIN_PID" || fail "the run with a killed executor failed (log: $WORK/disturbed.log): $(tail -20 "$WORK/disturbed.log")"
kill -0 "$VICTIM" 2>/dev/null && fail "executor $VICTIM is still alive"
grep -q "step $STEPS/$STEPS" "$WORK/disturbed.log" || fail "the disturbed run did not reach step $STEPS"
LAUNCHES="$(grep -c "Asked to launch executor" "$WORK/worker1.log" || true)"
log "disturbed run done; worker 1 launched $LAUNCHES executors over both runs (3: one replacement)"

# --- 3. same parameters ---
# the final checkpoint of each run (parameters and optimiser state, the binary checkpoint files; the
# published model/ holds the same numbers as parquet, whose files are named at random)
FINAL="checkpoints/$(printf 'step-%09d' "$STEPS")"
FILES=0
for f in "$WORK/undisturbed/$FINAL"/*.bin; do
    g="$WORK/disturbed/$FINAL/$(basename "$f")"
    [ -f "$g" ] || fail "the disturbed run has no $FINAL/$(basename "$f")"
    cmp -s "$f" "$g" || fail "$FINAL/$(basename "$f") differs between the undisturbed and the disturbed run"
    FILES=$((FILES + 1))
done
[ "$FILES" -ge 2 ] || fail "no parameter files to compare in $WORK/undisturbed/$FINAL"
log "PASSED: $FILES parameter files byte-identical after $STEPS steps; wall $((SECONDS - T0)) s"
