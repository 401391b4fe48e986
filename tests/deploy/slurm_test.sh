#!/bin/bash
# deploy/slurm/forgetlab-workers.sbatch run the way sbatch runs it (SLURM
# itself is not needed: sbatch only sets the environment), with CPU workers
# against a real server:
#  1. two workers start and take jobs;
#  2. SIGTERM (what SLURM sends at the time limit or on preemption) stops them
#     with exit 0, and their leases go back: nothing stays leased or fails;
#  3. running the script again (a requeue) finishes the sweep, every job
#     succeeding on its first counted attempt.
#   tests/deploy/slurm_test.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: slurm_test.sh BUILD_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$dir"/*.log; do
    echo "--- $log" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}

"$build/server/forgetlab-server" --listen=127.0.0.1:0 --port_file="$dir/port" \
  --db="$dir/forgetlab.db" 2>"$dir/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
[ -s "$dir/port" ] || fail "the server did not start"

FORGETLAB_SCHEDULER=127.0.0.1:$(cat "$dir/port")
export FORGETLAB_SCHEDULER
export FORGETLAB_DEVICE=cpu FORGETLAB_WORKERS=2 FORGETLAB_THREADS=1
export FORGETLAB_WORKER_BIN=$build/worker/forgetlab-worker
export FORGETLAB_SECRETS=$dir/no-secrets SLURM_JOB_ID=4242 TMPDIR=$dir
cli() { "$build/client/forgetlab" "$@"; }
# count STATE: how many of the sweep's jobs are in STATE.
count() {
  cli status "$id" --format=json |
    /usr/bin/python3 -c "import json,sys; print(int(json.load(sys.stdin)['counts'].get('$1', 0)))"
}

cat >"$dir/sweep.textproto" <<'SWEEP'
name: "slurm"
base {
  data { dataset: "synthetic" }
  pretrain { examples: 500 steps: 1500 batch_size: 64 }
  finetune { steps: 300 batch_size: 32 }
  eval { eval_every: 0 }
}
axes { path: "model.width" values: [ 64, 128 ] }
seeds: [ 0, 1, 2 ]
SWEEP
id=$(cli submit "$dir/sweep.textproto" | tail -n 1)

bash "$root/deploy/slurm/forgetlab-workers.sbatch" >"$dir/batch1.log" 2>&1 &
batch=$!
pids+=("$batch")
for _ in $(seq 300); do [ "$(count leased)" -ge 2 ] && break; sleep 0.1; done
[ "$(count leased)" -ge 2 ] || fail "two workers did not take jobs"

kill -TERM "$batch"
rc=0
wait "$batch" || rc=$?
[ "$rc" -eq 0 ] || fail "the batch script exited $rc after SIGTERM"
grep -q "stopping 2 worker(s)" "$dir/batch1.log" || fail "the script did not stop its workers"
[ "$(count leased)" -eq 0 ] || fail "leases were not given back"
[ "$(count failed)" -eq 0 ] || fail "jobs failed on SIGTERM"

# The requeue: the same script again.
bash "$root/deploy/slurm/forgetlab-workers.sbatch" >"$dir/batch2.log" 2>&1 &
batch=$!
pids+=("$batch")
cli watch "$id" >"$dir/watch.log" 2>&1 || fail "the sweep did not finish"
[ "$(count succeeded)" -eq 6 ] || fail "not all 6 jobs succeeded"
attempts=$(cli jobs "$id" --format=json |
  /usr/bin/python3 -c "import json,sys; print(sorted({j['attempt'] for j in json.load(sys.stdin)}))")
[ "$attempts" = "[1]" ] || fail "attempts were $attempts, not all 1"
kill -TERM "$batch"
rc=0
wait "$batch" || rc=$?
[ "$rc" -eq 0 ] || fail "the requeued script exited $rc after SIGTERM"
echo "slurm_test: OK"
