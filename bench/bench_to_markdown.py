#!/usr/bin/env python3
"""Turns tcc_bench --json_out lines (or its stdout) into Markdown tables.

  python3 bench/bench_to_markdown.py build/bench-results/tcc_bench-*.jsonl

Lines may carry the "BENCH_JSON " prefix of tcc_bench's stdout; other lines
are ignored.
"""
import json
import sys


def records(paths):
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("BENCH_JSON "):
                    line = line[len("BENCH_JSON "):]
                if line.startswith("{"):
                    yield json.loads(line)


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def main(paths):
    runs = list(records(paths))
    disk = [r for r in runs if r["kind"] == "disk"]
    if disk:
        print("| disk probe | synced appends | bytes | p50 ms | p99 ms "
              "| p99.9 ms | max ms | stalls (> 10 ms) | time stalled |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in disk:
            print(f"| {r['when']} | {fmt(r['syncs'])} | {r['record_bytes']} "
                  f"| {fmt(r['p50_ms'], 3)} | {fmt(r['p99_ms'], 3)} "
                  f"| {fmt(r['p999_ms'], 3)} | {fmt(r['max_ms'], 1)} "
                  f"| {r['stalls']} | {fmt(r['stalled_ms'])} ms "
                  f"({100 * r['stalled_share']:.1f} %) |")
        print()
    tx = [r for r in runs if r["kind"] == "tx"]
    if tx:
        print("| mode | branches | clients | tx/s | p50 ms | p90 ms | p99 ms "
              "| p99.9 ms | aborts | CPU µs/tx (tccd + participants + "
              "client) | tccd RSS MiB | other load (cores) | idle (cores) |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in tx:
            cpu = (f"{fmt(r['cpu_us_per_tx'])} ({fmt(r['coordinator_cpu_us_per_tx'])}"
                   f" + {fmt(r['participants_cpu_us_per_tx'])}"
                   f" + {fmt(r['client_cpu_us_per_tx'])})")
            rss = r["tccd_rss_load_bytes"]
            print(f"| {r['mode']} | {r['branches']} | {r['concurrency']} "
                  f"| {fmt(r['tx_per_s'])} | {fmt(r['p50_ms'], 2)} "
                  f"| {fmt(r['p90_ms'], 2)} | {fmt(r['p99_ms'], 2)} "
                  f"| {fmt(r['p999_ms'], 2)} | {100 * r['abort_rate']:.2f}% "
                  f"| {cpu} | {fmt(rss / 1048576 if rss else None, 1)} "
                  f"| {fmt(r.get('foreign_cores'), 2)} "
                  f"| {fmt(r.get('idle_cores'), 2)} |")
        print()
    threaded = [r for r in tx if r.get("threads")]
    if threaded:  # tcc_bench --thread_stats
        print("| mode | branches | clients | process | thread | threads "
              "| CPU µs/tx | sleeps/tx | preemptions/tx |")
        print("|---|--:|--:|---|---|--:|--:|--:|--:|")
        for r in threaded:
            for t in r["threads"]:
                print(f"| {r['mode']} | {r['branches']} | {r['concurrency']} "
                      f"| {t['process']} | `{t['thread']}` | {t['threads']} "
                      f"| {fmt(t['cpu_us_per_tx'], 1)} "
                      f"| {fmt(t['sleeps_per_tx'], 2)} "
                      f"| {fmt(t['preemptions_per_tx'], 2)} |")
        print()
    echo = [r for r in runs if r["kind"] == "echo"]
    if echo:
        print("| server | echo clients | RPC/s | p50 ms | p99 ms "
              "| CPU µs/RPC | other load (cores) | idle (cores) |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|")
        for r in echo:
            if r.get("in_process"):
                server = "in the client's process"
            elif r.get("before_sweep"):
                server = "echo process, before the sweeps"
            else:
                server = "echo process"
            print(f"| {server} | {r['concurrency']} | {fmt(r['rpc_per_s'])} "
                  f"| {fmt(r['p50_ms'], 3)} | {fmt(r['p99_ms'], 3)} "
                  f"| {fmt(r['cpu_us_per_rpc'], 1)} "
                  f"| {fmt(r.get('foreign_cores'), 2)} "
                  f"| {fmt(r.get('idle_cores'), 2)} |")
        print()
    memory = [r for r in runs if r["kind"] == "memory"]
    if memory:
        print("| held transactions | tccd RSS idle MiB | held MiB "
              "| KiB per in-flight transaction |")
        print("|--:|--:|--:|--:|")
        for r in memory:
            print(f"| {r['concurrency']} "
                  f"| {fmt(r['tccd_rss_idle_bytes'] / 1048576, 1)} "
                  f"| {fmt(r['tccd_rss_loaded_bytes'] / 1048576, 1)} "
                  f"| {fmt(r['kib_per_in_flight'], 1)} |")
        print()
    eff = [r for r in runs
           if r["kind"] == "efficiency" and not r.get("pair")]
    if eff:
        print("| mode | branches | best clients | tx/s | RPCs/tx | RPC/s "
              "| echo RPC/s | efficiency |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|")
        for r in eff:
            print(f"| {r.get('mode', 'tcc')} | {r['branches']} "
                  f"| {r['concurrency']} | {fmt(r['tx_per_s'])} "
                  f"| {r['rpcs_per_tx']} "
                  f"| {fmt(r['tx_per_s'] * r['rpcs_per_tx'])} "
                  f"| {fmt(r['echo_rpc_per_s'])} | {r['efficiency']:.3f} |")
        print()
    pairs = [r for r in runs
             if r["kind"] == "efficiency" and r.get("pair")]
    if pairs:
        print("| pair | clients | tx/s | echo clients | echo RPC/s "
              "| efficiency |")
        print("|--:|--:|--:|--:|--:|--:|")
        for r in pairs:
            print(f"| {r['pair']} | {r['concurrency']} | {fmt(r['tx_per_s'])} "
                  f"| {r['echo_concurrency']} | {fmt(r['echo_rpc_per_s'])} "
                  f"| {r['efficiency']:.3f} |")
        values = sorted(r["efficiency"] for r in pairs)
        print()
        print(f"Median paired efficiency: **{values[len(values) // 2]:.3f}**")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
