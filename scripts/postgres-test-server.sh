#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a fresh cluster in a temporary
# directory, listening on 127.0.0.1 at a free port, independent of any system
# cluster (which may be stopped or absent).
#
#   postgres-test-server.sh start STATE_DIR   # prints the conninfo
#   postgres-test-server.sh stop STATE_DIR    # stops it, deletes its data
#
# `start` writes STATE_DIR/conninfo (a libpq connection string for the
# database "tcc_test"), STATE_DIR/data_dir and STATE_DIR/bin_dir. A server
# left over from an earlier start with the same STATE_DIR is stopped first.
#
# PostgreSQL refuses to run as root: as root the cluster is owned by and runs
# as the "postgres" user (created by Debian's postgresql package), or by
# $TCC_PG_USER. Durability is off (fsync=off): this server holds test data.
# Other settings: $TCC_PG_BIN_DIR (default: the newest
# /usr/lib/postgresql/*/bin), $TCC_PG_TMPDIR (where the data directory goes,
# default /tmp).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
action=$1
state_dir=$2

find_bin_dir() {
  if [ -n "${TCC_PG_BIN_DIR:-}" ]; then
    echo "$TCC_PG_BIN_DIR"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v pg_config >/dev/null; then
    dir=$(pg_config --bindir)
  fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "postgres-test-server: initdb not found; install the postgresql" \
      "package (scripts/install-deps.sh) or set TCC_PG_BIN_DIR" >&2
    exit 1
  fi
  echo "$dir"
}

# Runs a PostgreSQL binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${TCC_PG_USER:-postgres}" -- "$@"
  else
    "$@"
  fi
}

stop_server() {
  [ -f "$state_dir/data_dir" ] || return 0
  local data_dir bin_dir
  data_dir=$(cat "$state_dir/data_dir")
  bin_dir=$(cat "$state_dir/bin_dir" 2>/dev/null || find_bin_dir)
  local pid_file="$data_dir/db/postmaster.pid"
  if [ -f "$pid_file" ]; then
    if ! as_owner "$bin_dir/pg_ctl" -D "$data_dir/db" -m immediate -w stop \
      >/dev/null 2>&1; then
      # Whatever went wrong, the server must not outlive its directory.
      local pid
      pid=$(head -n 1 "$pid_file")
      echo "postgres-test-server: pg_ctl stop failed; killing $pid" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$data_dir"
  rm -f "$state_dir/data_dir" "$state_dir/bin_dir" "$state_dir/conninfo"
}

start_server() {
  mkdir -p "$state_dir"
  stop_server
  local bin_dir data_dir
  bin_dir=$(find_bin_dir)
  # Under /tmp, not the build tree (or a private $TMPDIR): the owner must
  # be able to reach it.
  data_dir=$(mktemp -d "${TCC_PG_TMPDIR:-/tmp}/tcc-pg.XXXXXX")
  echo "$data_dir" >"$state_dir/data_dir"
  echo "$bin_dir" >"$state_dir/bin_dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown "${TCC_PG_USER:-postgres}" "$data_dir"
  fi
  chmod 700 "$data_dir"
  as_owner "$bin_dir/initdb" -D "$data_dir/db" -U postgres --auth=trust \
    --no-sync -E UTF8 --locale=C >"$data_dir/initdb.log" 2>&1 || {
    cat "$data_dir/initdb.log" >&2
    exit 1
  }

  local port="" attempt candidate
  for attempt in $(seq 1 20); do
    candidate=$((20000 + RANDOM % 40000))
    if as_owner "$bin_dir/pg_ctl" -D "$data_dir/db" -l "$data_dir/server.log" \
      -w -t 60 -o "-c listen_addresses=127.0.0.1 -c port=$candidate \
        -c unix_socket_directories=$data_dir -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=300 -c shared_buffers=32MB" \
      start >/dev/null 2>&1; then
      port=$candidate
      break
    fi
  done
  if [ -z "$port" ]; then
    echo "postgres-test-server: could not start a server; last log:" >&2
    tail -n 20 "$data_dir/server.log" >&2 || true
    exit 1
  fi
  as_owner "$bin_dir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres \
    -d postgres -c "CREATE DATABASE tcc_test" >/dev/null
  local conninfo="host=127.0.0.1 port=$port user=postgres dbname=tcc_test"
  echo "$conninfo" >"$state_dir/conninfo.tmp"
  mv "$state_dir/conninfo.tmp" "$state_dir/conninfo"
  echo "$conninfo"
}

case "$action" in
  start) start_server ;;
  stop) stop_server ;;
  *) usage ;;
esac
