#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest:
# first the Release build (build/), then the same suite under AddressSanitizer
# and UBSan with the fuzzers, each fuzzing for 30 s (build-asan/, clang).
#   ./deploy/test.sh [--no-sanitize]   (skip the second build, for quick runs)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh build
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
if [ "${1:-}" = "--no-sanitize" ]; then exit 0; fi

./deploy/build.sh build-asan --sanitize
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
# The examples only run LibTorch kernels longer (TrainerTest covers our code
# on those paths); under ASan they take minutes, so they run in build/ only.
# So do the deploy checks, which are about the Release binaries.
ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$(nproc)" -LE "example|deploy"
