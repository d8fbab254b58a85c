#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs every test with ctest.
#   SANITIZE=1 bash scripts/test.sh   same, under ASan + UBSan (./build-asan)
# Extra arguments are passed to ctest (e.g. -R BankTransfer).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = "1" ]; then export BUILD_DIR="${BUILD_DIR:-build-asan}"; fi
export BUILD_DIR="${BUILD_DIR:-build}"
bash scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j2 "$@"
