#!/usr/bin/env bash
# The scheduler's CPU per worker cycle (lease, heartbeat, complete): starts
# forgetlab-server on loopback with a fresh database, runs forgetlab-loadgen,
# and divides the server's user + system time over the run by the results it
# stored. Steadier than cycles/s on a shared machine, where the load
# generator's share of the cores moves. One JSON line.
#   tests/bench/server_cpu_per_cycle.sh [BUILD_DIR] [WORKERS] [SECONDS]
set -euo pipefail
build=${1:-build}
workers=${2:-32}
seconds=${3:-8}
work=$(mktemp -d /tmp/forgetlab-cpu.XXXXXX)
"$build/server/forgetlab-server" --listen=127.0.0.1:0 --port_file="$work/port" \
  --db="$work/forgetlab.db" >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(ticks)
out=$("$build/tests/forgetlab-loadgen" --scheduler="127.0.0.1:$(cat "$work/port")" \
  --workers="$workers" --seconds="$seconds" --format=json 2>/dev/null)
after=$(ticks)
/usr/bin/python3 - "$build" "$out" "$before" "$after" "$(getconf CLK_TCK)" \
  "$work/forgetlab.db" <<'PY'
import json, sqlite3, sys
build, out, before, after, hz, db = sys.argv[1:]
run = json.loads(out)
# Every stored result is one whole cycle. The ticks cover the whole loadgen
# run, its filling of the queue included.
results = sqlite3.connect(db).execute("SELECT COUNT(*) FROM results").fetchone()[0]
cpu_s = (int(after) - int(before)) / int(hz)
print(json.dumps({"build": build, "workers": run["workers"],
                  "cycles_per_s": run["cycles_per_s"],
                  "lease_p99_ms": run["lease_p99_ms"], "results": results,
                  "server_cpu_us_per_cycle": round(cpu_s / results * 1e6, 1)}))
PY
