#!/usr/bin/env bash
# The main job on one machine: installs what is missing, builds, starts a
# scheduler and a worker on loopback with a fresh database, runs the default
# sweep (deploy/sweeps/default.textproto, 36 jobs), shows progress, prints the
# forgetting table, writes the HTML report (./forgetlab-report.html) and stops
# both processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh build

bin=build
work=$(mktemp -d /tmp/forgetlab-demo.XXXXXX)
server_pid=""
worker_pid=""
stop() {
  # Worker first, so it hands back anything it holds; then the scheduler.
  if [ -n "$worker_pid" ]; then kill -TERM "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap stop EXIT

echo "demo: database and logs in $work"
"$bin/server/forgetlab-server" --listen=127.0.0.1:0 --port_file="$work/port" \
  --db="$work/forgetlab.db" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ ! -s "$work/port" ]; then
  echo "demo: forgetlab-server did not start; see $work/server.log" >&2
  cat "$work/server.log" >&2
  exit 1
fi
FORGETLAB_SCHEDULER="127.0.0.1:$(cat "$work/port")"
export FORGETLAB_SCHEDULER
echo "demo: scheduler on $FORGETLAB_SCHEDULER"

"$bin/worker/forgetlab-worker" >"$work/worker.log" 2>&1 &
worker_pid=$!

cli="$bin/client/forgetlab"
# Let the worker register first, so the sweep does not start with a warning
# that no worker is connected.
for _ in $(seq 100); do
  "$cli" workers 2>/dev/null | grep -q idle && break
  sleep 0.1
done
sweep_id=$("$cli" submit deploy/sweeps/default.textproto | tail -n 1)
start_ns=$(date +%s%N)
"$cli" watch "$sweep_id" || echo "demo: some jobs failed; see $work/worker.log" >&2
elapsed_s=$(( ($(date +%s%N) - start_ns) / 1000000000 ))
echo "demo: sweep $sweep_id finished in ${elapsed_s} s"
echo

"$cli" table "$sweep_id" --metric=forgetting
echo
"$cli" table "$sweep_id" --metric=acc
echo
"$cli" report "$sweep_id" --out="$PWD/forgetlab-report.html"
"$cli" plot "$sweep_id" --out="$PWD/forgetlab-figure.svg"
stop
trap - EXIT
echo
echo "demo: done. Both processes stopped. Open $PWD/forgetlab-report.html in a browser;"
echo "      the database stays at $work/forgetlab.db"
