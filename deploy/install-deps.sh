#!/usr/bin/env bash
# Installs what forgetlab needs to build, test and run, from Debian 12's
# packages only. Quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libsqlitecpp-dev
  libgtest-dev libgmock-dev libgoogle-glog-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist
  # the language-model track's text domains (worker/train/text_data.cc)
  dict-gcide fortunes fortunes-min fortunes-de libpython3.11-stdlib
  python3-torch  # the independent reference implementation in tests/reference
  chromium       # renders the HTML report in tests/report_render_test.cc
  libssl-dev openssl               # token hashes; deploy/make-certs.sh
  clang libclang-rt-14-dev         # the ASan/UBSan build and the fuzzers
  yamllint shellcheck python3-yaml # deploy/ checks (ctest -R 'lint|deploy')
)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# LibTorch calls whatever libblas.so.3 points at; the reference BLAS is about
# 6x slower than OpenBLAS here (shared/PERF-NOTES.md).
blas_link=libblas.so.3-x86_64-linux-gnu
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
current=$(update-alternatives --query "$blas_link" 2>/dev/null | sed -n 's/^Value: //p')
if [ "$current" != "$openblas" ]; then
  echo "install-deps: pointing $blas_link at OpenBLAS (was ${current:-unset})"
  $sudo update-alternatives --set "$blas_link" "$openblas"
fi
