#!/usr/bin/env bash
# Installs dependencies (Debian 12 packages) and builds everything.
#   BUILD_DIR   build directory (default ./build, ./build-asan with SANITIZE=1)
#   SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer build
# Extra arguments are passed to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
extra=()
if [ "${SANITIZE:-0}" = "1" ]; then
  BUILD_DIR="${BUILD_DIR:-build-asan}"
  extra+=(-DTCC_SANITIZE=ON)
fi
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  "${extra[@]}" "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)"
