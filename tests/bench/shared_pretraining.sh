#!/usr/bin/env bash
# Shared pretraining against none, side by side in one run: a fresh server
# and two workers (one slot, one thread each) on loopback train SWEEP_FILE
# with sharing on (as the file says), then the same grid with
# `share_pretraining: false` (and `rerun: true`, so nothing comes from the
# result cache). Prints each wall time (submit to last result), the
# pretraining runs each needed, their ratio, and whether every result's
# numbers (metrics, accuracy matrices, curves) are identical.
#   tests/bench/shared_pretraining.sh [SWEEP_FILE] [worker flags...]
# Default: deploy/sweeps/finetune_lr_shared.textproto.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
file=${1:-$root/deploy/sweeps/finetune_lr_shared.textproto}
shift || true
bin=$root/build
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/server/forgetlab-server" --listen=127.0.0.1:0 --db="$dir/db" \
  --port_file="$dir/port" >"$dir/server.log" 2>&1 &
for _ in $(seq 100); do
  [ -s "$dir/port" ] && break
  sleep 0.1
done
address=127.0.0.1:$(cat "$dir/port")
for w in 0 1; do
  "$bin/worker/forgetlab-worker" --scheduler="$address" --slots=1 --threads=1 \
    --artifact_cache_dir="$dir/cache$w" "$@" >"$dir/worker$w.log" 2>&1 &
done
cli() { "$bin/client/forgetlab" --scheduler="$address" "$@"; }
for _ in $(seq 100); do
  [ "$(cli workers | grep -c idle || true)" -ge 2 ] && break
  sleep 0.1
done
{ cat "$file"; printf '\nshare_pretraining: false\nrerun: true\n'; } \
  >"$dir/unshared.textproto"

run() {  # prints "<sweep id> <milliseconds>"
  local id start end
  id=$(cli submit "$1" | tail -n 1)
  start=$(date +%s%N)
  cli watch "$id" >/dev/null
  end=$(date +%s%N)
  echo "$id $(((end - start) / 1000000))"
}
read -r shared shared_ms < <(run "$file")
read -r unshared unshared_ms < <(run "$dir/unshared.textproto")
cli jobs "$shared" --format=json >"$dir/shared.jobs"
cli jobs "$unshared" --format=json >"$dir/unshared.jobs"
cli results "$shared" --format=jsonl --curves >"$dir/shared.jsonl"
cli results "$unshared" --format=jsonl --curves >"$dir/unshared.jsonl"
/usr/bin/python3 - "$dir" "$shared_ms" "$unshared_ms" <<'PY'
import json, sys
d, shared_ms, unshared_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def jobs(name):
    return json.load(open(f"{d}/{name}.jobs"))
def pretraining_runs(name):
    # Pretraining jobs, and experiments with pretraining that did not load
    # shared weights (they pretrained themselves).
    shared = sum(j["kind"] == "pretrain" for j in jobs(name))
    own = 0
    for line in open(f"{d}/{name}.jsonl"):
        r = json.loads(line)
        own += (float(r["spec"].get("pretrain.examples", 0)) > 0 and
                not r["provenance"].get("pretrain_artifact_sha256"))
    return shared + own
def numbers(name):
    out = {}
    for line in open(f"{d}/{name}.jsonl"):
        r = json.loads(line)
        point = (r["seed"],) + tuple(sorted(r["axes"].items()))
        out[point] = (r.get("metrics"), r.get("accuracy_matrix"),
                      r.get("curves"))
    return out
a, b = numbers("shared"), numbers("unshared")
same = a.keys() == b.keys() and all(a[k] == b[k] for k in a)
print(f"shared:   {shared_ms / 1000:.1f} s, {pretraining_runs('shared')} "
      f"pretraining runs, {len(a)} results")
print(f"unshared: {unshared_ms / 1000:.1f} s, "
      f"{pretraining_runs('unshared')} pretraining runs, {len(b)} results")
print(f"speedup:  {unshared_ms / shared_ms:.2f}x")
print(f"identical numbers: {'yes' if same else 'NO'}")
sys.exit(0 if same else 1)
PY
