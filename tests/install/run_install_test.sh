#!/usr/bin/env bash
# install_package_test: installs the build tree into a temporary prefix,
# configures and builds the tiny participant of this directory against it
# with find_package(TccParticipant), and runs it.
#
#   run_install_test.sh BUILD_DIR [EXTRA_CXX_FLAGS]
#
# EXTRA_CXX_FLAGS (e.g. the sanitizer flags the SDK was built with) are used
# to compile and link the tiny participant. With $TCC_TEST_PG_CONNINFO_FILE
# set (ctest fixture "postgres") the PostgreSQL one runs too.
set -euo pipefail
build_dir=$1
extra_flags=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tcc-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_FLAGS="$extra_flags" -DCMAKE_EXE_LINKER_FLAGS="$extra_flags" \
  >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; exit 1; }

"$work/build/tiny_participant" "$work/data"
if [ -n "${TCC_TEST_PG_CONNINFO_FILE:-}" ]; then
  [ -x "$work/build/tiny_pg_participant" ] || {
    echo "the installed package has no postgres component" >&2
    exit 1
  }
  "$work/build/tiny_pg_participant" "$(cat "$TCC_TEST_PG_CONNINFO_FILE")"
fi
