#!/usr/bin/env bash
# Runs one sweep file on a fresh server and one worker on loopback and prints
# its wall time (from submit to the last result) and its forgetting table.
#   tests/bench/run_sweep.sh SWEEP_FILE [worker flags...]
# Example: tests/bench/run_sweep.sh deploy/examples/sweep_synthetic_quick.textproto --threads=1
# FORGETLAB_BUILD: the build folder (default build); KEEP_LOGS: copy the
# worker's log there.
set -euo pipefail
file=$1
shift
bin=${FORGETLAB_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
dir=$(mktemp -d)
server="" worker=""
# Stops the worker first, so that it can give its leases back, then the
# server; also however this script ends (a time limit, a closed pipe).
stop() {
  if [ -n "$worker" ]; then kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null; fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; fi
  worker="" server=""
}
trap 'stop; rm -rf "$dir"' EXIT
"$bin/server/forgetlab-server" --listen=127.0.0.1:0 --db="$dir/db" \
  --port_file="$dir/port" >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  [ -s "$dir/port" ] && break
  sleep 0.1
done
address=127.0.0.1:$(cat "$dir/port")
"$bin/worker/forgetlab-worker" --scheduler="$address" \
  --artifact_cache_dir="$dir/cache" "$@" >"$dir/worker.log" 2>&1 &
worker=$!
cli() { "$bin/client/forgetlab" --scheduler="$address" "$@"; }
# Let the worker register first, so the sweep starts at once.
for _ in $(seq 50); do
  cli workers | grep -q idle && break
  sleep 0.1
done
id=$(cli submit "$file" | tail -n 1)
start=$(date +%s%N)
cli watch "$id" >/dev/null
end=$(date +%s%N)
echo "sweep took $(((end - start) / 1000000)) ms"
cli table "$id"
stop
if [ -n "${KEEP_LOGS:-}" ]; then cp "$dir/worker.log" "$KEEP_LOGS"; fi
