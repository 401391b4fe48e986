#!/bin/bash
# Runs one sweep file on a fresh server and one worker on loopback and prints
# its wall time and forgetting table.
#   tests/bench/run_sweep.sh SWEEP_FILE [worker flags...]
f=$1; shift
d=$(mktemp -d); b=$(cd "$(dirname "$0")/../.." && pwd)/build
$b/server/forgetlab-server --listen=127.0.0.1:0 --db=$d/db --port_file=$d/port > $d/server.log 2>&1 &
sp=$!
for i in $(seq 100); do [ -s $d/port ] && break; sleep 0.1; done
addr=127.0.0.1:$(cat $d/port)
$b/worker/forgetlab-worker --scheduler=$addr "$@" > $d/worker.log 2>&1 &
wp=$!
# Let the worker register first, so the sweep starts at once.
for i in $(seq 50); do
  $b/client/forgetlab --scheduler=$addr workers | grep -q idle && break
  sleep 0.1
done
id=$($b/client/forgetlab --scheduler=$addr submit "$f" | tail -n1)
start=$(date +%s%N)
$b/client/forgetlab --scheduler=$addr watch $id > /dev/null
end=$(date +%s%N)
echo "sweep took $(( (end - start) / 1000000 )) ms"
$b/client/forgetlab --scheduler=$addr table $id
kill $wp $sp; wait 2>/dev/null; rm -rf "$d"
