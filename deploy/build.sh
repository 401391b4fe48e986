#!/usr/bin/env bash
# Configures and builds forgetlab (Release) into BUILD_DIR (default: build/).
#   ./deploy/build.sh [BUILD_DIR] [--sanitize]
# --sanitize builds with clang, AddressSanitizer and UBSan, plus the libFuzzer
# targets in tests/fuzz and without the benchmark commands (./deploy/test.sh
# uses build-asan/ for this).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
sanitize=0
for arg in "$@"; do
  case $arg in
    --sanitize) sanitize=1 ;;
    -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    *) build_dir=$arg ;;
  esac
done
if [ "$sanitize" = 1 ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DFORGETLAB_SANITIZE=ON -DFORGETLAB_FUZZ=ON -DFORGETLAB_BENCHMARKS=OFF \
    >/dev/null
else
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)"
