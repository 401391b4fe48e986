#!/usr/bin/env bash
# Scheduler throughput: starts forgetlab-server on loopback with a fresh
# durable database (SQLite, WAL), then runs forgetlab-loadgen with 1, 8, 32
# and 128 simulated workers, 32 again with sweeps submitted while measuring,
# the transport's ceiling at 32 (three empty health checks per cycle,
# --floor), and holds 1,000 idle long polls. One JSON line per run.
#   tests/bench/scheduler_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
work=$(mktemp -d /tmp/forgetlab-loadgen.XXXXXX)
"$build/server/forgetlab-server" --listen=127.0.0.1:0 --port_file="$work/port" \
  --db="$work/forgetlab.db" --max_jobs_per_sweep=10000 >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
address=127.0.0.1:$(cat "$work/port")
for n in 1 8 32 128; do
  "$build/tests/forgetlab-loadgen" --scheduler="$address" --workers="$n" \
    --seconds="$seconds" --format=json
done
# The same 32 workers while the feeder submits 2,000-job sweeps during the
# measured window (by default it queues the whole run's jobs first).
"$build/tests/forgetlab-loadgen" --scheduler="$address" --workers=32 \
  --seconds="$seconds" --prefill_jobs=0 --format=json
"$build/tests/forgetlab-loadgen" --scheduler="$address" --workers=32 \
  --seconds="$seconds" --floor --format=json
# Idle polls against a second server whose queue is empty.
"$build/server/forgetlab-server" --listen=127.0.0.1:0 --port_file="$work/idle-port" \
  --db="$work/idle.db" >"$work/idle-server.log" 2>&1 &
idle_server=$!
trap 'kill -TERM $server $idle_server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/idle-port" ] && break; sleep 0.1; done
"$build/tests/forgetlab-loadgen" --scheduler="127.0.0.1:$(cat "$work/idle-port")" \
  --workers=1000 --seconds="$seconds" --idle --format=json
