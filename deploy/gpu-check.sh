#!/bin/bash
# Checks the CUDA path on a machine with a GPU and a CUDA build of PyTorch:
# builds worker/train against that PyTorch's LibTorch, runs its tests (the
# CUDA ones run there, and skip without a GPU), then the trainer benchmark on
# the GPU against the same PyTorch. Logs and figures go to OUT_DIR.
#
#   ./deploy/gpu-check.sh [OUT_DIR]        (default build-cuda/gpu-check)
#
# Environment, all optional:
#   PYTHON         the python with CUDA PyTorch (default python3)
#   GTEST_SOURCE   a GoogleTest source tree, where no GoogleTest package is
#                  installed (a copy of Debian's /usr/src/googletest will do)
#   ZLIB_ROOT      a folder with include/zlib.h and lib/libz.*, where zlib's
#                  headers are not installed (the tests write gzip files)
#   FASHION_MNIST  the Fashion-MNIST folder for the benchmark (default
#                  /usr/share/datasets/fashion-mnist); without it the
#                  benchmark is skipped
#   BENCH_MODELS   models to benchmark (default: all six)
#
# Then it trains the same job 1, 2, 4 and 8 at a time (the worker's --slots)
# and writes the throughput to OUT_DIR/slots_cuda.jsonl. Last, where the
# machine has the service's packages, it runs the default and LM default
# sweeps through a server and a worker with --slots=1 and --slots=auto
# (OUT_DIR/sweeps_cuda.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build-cuda/gpu-check}
python=${PYTHON:-python3}
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
read -r -a models <<<"${BENCH_MODELS:-mlp_w32 mlp_w128 mlp_w512 mlp_w2048 resnet vit}"
mkdir -p "$out"
out=$(realpath "$out")

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader ||
    echo "nvidia-smi failed"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
        "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)'
  "${CXX:-c++}" --version | head -n 1
  cmake --version | head -n 1
  echo "cores: $(nproc)"
} 2>&1 | tee "$out/machine.txt"

prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
args=(-S worker/train -B build-cuda -DCMAKE_BUILD_TYPE=Release
      "-DCMAKE_PREFIX_PATH=$prefix")
if command -v ninja >/dev/null; then args+=(-G Ninja); fi
if [[ -n ${GTEST_SOURCE:-} ]]; then
  args+=("-DFORGETLAB_GTEST_SOURCE=$(realpath "$GTEST_SOURCE")")
fi
if [[ -n ${ZLIB_ROOT:-} ]]; then args+=("-DZLIB_ROOT=$(realpath "$ZLIB_ROOT")"); fi

echo "== configure and build (log: $out/build.log)"
start=$SECONDS
if ! { cmake "${args[@]}" && cmake --build build-cuda -j "$(nproc)"; } \
    >"$out/build.log" 2>&1; then
  grep -E -m 40 'error|Error|CMake Error' "$out/build.log" || tail -n 40 "$out/build.log"
  echo "gpu-check: the build failed; see $out/build.log" >&2
  exit 1
fi
echo "built in $((SECONDS - start)) s"

echo "== tests (log: $out/tests.log)"
status=0
if [[ -x build-cuda/forgetlab_train_test ]]; then
  (cd build-cuda && ./forgetlab_train_test --gtest_output="xml:$out/tests.xml") \
    >"$out/tests.log" 2>&1 || status=1
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|^\[==========\]|^\[  PASSED  \]|Failure' \
    "$out/tests.log" | grep -E -i 'cuda|FAILED|PASSED|====|Failure' || true
else
  echo "gpu-check: no forgetlab_train_test (GoogleTest or zlib missing; see $out/build.log)"
  status=1
fi

echo "== trainer benchmark on the GPU (figures: $out/bench_cuda.jsonl)"
if [[ -d $data ]]; then
  PYTHONUNBUFFERED=1 "$python" tests/bench/trainer_vs_pytorch.py \
    build-cuda/forgetlab-train-bench --device cuda --data "$data" \
    --models "${models[@]}" | tee "$out/bench_cuda.jsonl" || status=1
else
  echo "gpu-check: $data is missing; set FASHION_MNIST to run the benchmark"
fi

# A worker's slots on one GPU (issue 20): the same job 1 and K at a time on
# their own threads and streams, as `forgetlab-worker --slots=K` runs them.
# jobs_per_second at K over jobs_per_second at 1 is the slots' throughput
# gain. The default sweep's largest MLP, and an lm_gpu model on synthetic
# bytes when no text domains are installed.
echo "== slots on the GPU (figures: $out/slots_cuda.jsonl)"
: >"$out/slots_cuda.jsonl"
for k in 1 2 4 8; do
  for job in "--width=512 --pretrain_examples=50000 --dataset=fashion_mnist --data_path=$data" \
             "--width=32 --pretrain_examples=10000 --dataset=fashion_mnist --data_path=$data"; do
    [[ -d $data ]] || continue
    # shellcheck disable=SC2086
    build-cuda/forgetlab-train-bench --device=cuda --repeats=2 --jobs_at_once="$k" $job \
      | tee -a "$out/slots_cuda.jsonl" || status=1
  done
done
# The service on the GPU (issue 20): the default sweep and the LM default
# sweep through a server and one worker, --slots=1 against --slots=auto
# (jobs at once by measured throughput within the device's memory). This
# needs the whole tree's packages (gRPC, protobuf, Abseil, SQLite, glog;
# deploy/install-deps.sh names them); without them it says which is missing.
echo "== the service's sweeps on the GPU (figures: $out/sweeps_cuda.txt)"
: >"$out/sweeps_cuda.txt"
if cmake -S . -B build-cuda-service -DCMAKE_BUILD_TYPE=Release \
     "-DCMAKE_PREFIX_PATH=$prefix" -DFORGETLAB_BENCHMARKS=OFF \
     >"$out/service_build.log" 2>&1 &&
   cmake --build build-cuda-service -j "$(nproc)" \
     --target forgetlab-server forgetlab-worker forgetlab \
     >>"$out/service_build.log" 2>&1; then
  # The sweeps read Fashion-MNIST from its Debian path and the LM domains
  # from their packages; a sweep whose data the worker lacks would wait, so
  # each run has a time limit. The worker's occupancy decisions follow each
  # run's figures (the output folder holds few files: see the device notes).
  for sweep in deploy/sweeps/default.textproto deploy/sweeps/lm_default.textproto; do
    if [[ $sweep == *default.textproto && $sweep != *lm_* && ! -d /usr/share/datasets/fashion-mnist ]]; then
      echo "-- $sweep: skipped, no /usr/share/datasets/fashion-mnist" | tee -a "$out/sweeps_cuda.txt"
      continue
    fi
    for slots in 1 auto; do
      echo "-- $sweep --slots=$slots" | tee -a "$out/sweeps_cuda.txt"
      log=$(mktemp)
      FORGETLAB_BUILD=$PWD/build-cuda-service KEEP_LOGS=$log \
        timeout 300 tests/bench/run_sweep.sh "$sweep" --device=cuda --slots="$slots" \
        2>&1 | tee -a "$out/sweeps_cuda.txt" || status=1
      grep -E 'jobs at once|MiB free' "$log" >>"$out/sweeps_cuda.txt" || true
      rm -f "$log"
    done
  done
else
  grep -E -m 5 'Could NOT find|CMake Error|not found' "$out/service_build.log" || true
  echo "gpu-check: the service did not build here (see $out/service_build.log); skipped"
fi
exit "$status"
