#!/usr/bin/env bash
# The standard benchmark (see docs/BENCHMARKS.md): installs dependencies,
# builds into ./build, then runs
#   - tcc_bench: 2-branch TCC at concurrency 1,4,16,64,128,256 (10 s each),
#     4 and 8 branches at the best concurrency, the memory probe and the
#     loopback gRPC echo ceiling, all in one run with the same processes;
#   - micro_bench: log append, barrier insert, request validation.
# Results are printed and kept in build/bench-results/ (tables, JSON lines
# and the Markdown tables docs/BENCHMARKS.md quotes). Extra arguments go to tcc_bench, e.g. --duration=3s.
# Run it on a quiet machine: other load skews every figure. Each run reports
# the cores other processes kept busy ("other"); a run disturbed by more
# than 0.15 cores is repeated up to 3 times and the quietest attempt kept.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target tcc_bench micro_bench

OUT="$BUILD_DIR/bench-results"
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
{
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpus:    $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel:  $(uname -sr)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$OUT/machine-$STAMP.txt"

"$BUILD_DIR/bench/tcc_bench" \
  --mode=tcc \
  --branches=2,4,8 \
  --sweep_all_branches \
  --concurrency=1,4,16,64,128,256 \
  --duration=10s \
  --other_load_retries=3 \
  --json_out="$OUT/tcc_bench-$STAMP.jsonl" \
  "$@" | tee "$OUT/tcc_bench-$STAMP.txt"

"$BUILD_DIR/bench/micro_bench" \
  --benchmark_min_time=2 \
  --benchmark_out="$OUT/micro_bench-$STAMP.json" \
  --benchmark_out_format=json | tee "$OUT/micro_bench-$STAMP.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine-$STAMP.txt"
python3 bench/bench_to_markdown.py "$OUT/tcc_bench-$STAMP.jsonl" \
  > "$OUT/tables-$STAMP.md"
echo "results in $OUT (*-$STAMP.*)"
