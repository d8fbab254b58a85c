#ifndef TCC_BENCH_BENCH_REPORT_H_
#define TCC_BENCH_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "disk_probe.h"

namespace tcc::bench {

// Where a run's CPU went, thread by thread (`tcc_bench --thread_stats`):
// the threads of one name in one process group ("tccd", "participants"
// (every participant process together), "client"), per committed
// transaction.
struct ThreadFigures {
  std::string process;
  std::string thread;  // its name, "-<index>" dropped
  int threads = 0;
  double cpu_us_per_tx = 0;
  // Voluntary context switches: how often the threads went to sleep (and
  // so had to be woken).
  double sleeps_per_tx = 0;
  // Involuntary ones: how often the scheduler took the CPU from them.
  double preemptions_per_tx = 0;
};

// Figures of one transaction run (one branch count, one concurrency). CPU
// and memory figures are negative when unknown (external coordinator).
struct TxRunFigures {
  std::string mode;
  int branches = 0;
  int participants = 0;
  int concurrency = 0;
  int payload_bytes = 0;
  double seconds = 0;     // measurement window
  int64_t committed = 0;  // in the window
  // Committed in the whole run (warm-up and drain included).
  int64_t committed_total = 0;
  int64_t rolled_back = 0;
  int64_t errors = 0;
  std::string first_error;
  double tx_per_s = 0;  // committed per second
  double mean_ms = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double abort_rate = 0;  // (rolled back + errors) / completed
  // CPU time per committed transaction, by process group, in microseconds.
  double cpu_us_per_tx = -1;
  double coordinator_cpu_us_per_tx = -1;
  double participants_cpu_us_per_tx = -1;
  double client_cpu_us_per_tx = -1;
  // CPU time of all processes over wall time: cores kept busy.
  double cores_busy = -1;
  // Cores kept busy by processes outside the benchmark (other load on the
  // machine) during the window.
  double foreign_cores = -1;
  // Cores busy with nothing (idle or waiting for I/O) during the window:
  // the machine's CPUs less everything busy. Under a load that could use
  // every core, this is time the transactions spent waiting, mostly for
  // fsyncs (see DiskProbeFigures).
  double idle_cores = -1;
  // tccd's resident set before the run and (median) during the window. The
  // growth is mostly RocksDB's memtable filling with the run's writes; see
  // MemoryFigures for the cost of a transaction in flight.
  int64_t tccd_rss_idle_bytes = -1;
  int64_t tccd_rss_load_bytes = -1;
  // Empty unless asked for (RunOptions::thread_stats).
  std::vector<ThreadFigures> threads;
};

// The memory probe: `concurrency` transactions held in flight (their Try
// answered late by the "hold" participant), so that tccd's memory growth is
// what in-flight transactions hold rather than what the log has written.
struct MemoryFigures {
  int concurrency = 0;
  int branches = 0;
  // Calls that had ended when the RSS was sampled (0: all were in flight).
  int64_t completed_before_sample = 0;
  int64_t tccd_rss_idle_bytes = 0;
  int64_t tccd_rss_loaded_bytes = 0;
  // (loaded - idle) / concurrency.
  double kib_per_in_flight = 0;
};

// Figures of one echo run (the ceiling).
struct EchoRunFigures {
  int concurrency = 0;
  // Served by the benchmark's own process (RunEchoInProcess) rather than
  // by the echo server process.
  bool in_process = false;
  // Measured before the transaction sweeps rather than after them.
  bool before_sweep = false;
  int payload_bytes = 0;
  double seconds = 0;
  int64_t ok = 0;
  int64_t errors = 0;
  std::string first_error;
  double rpc_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_us_per_rpc = -1;  // echo server + client
  double cores_busy = -1;
  double foreign_cores = -1;  // as in TxRunFigures
  double idle_cores = -1;     // as in TxRunFigures
};

// Efficiency of one branch count at its best concurrency.
struct EfficiencyFigures {
  std::string mode;
  int branches = 0;
  int concurrency = 0;
  double tx_per_s = 0;
  int rpcs_per_tx = 0;  // see RpcsPerTransaction
  double echo_rpc_per_s = 0;
  int echo_concurrency = 0;
  double efficiency = 0;  // tx/s * rpcs_per_tx / echo RPC/s
  // 0: the best sweep run against the best echo run; k > 0: the k-th
  // paired round (a transaction run and an echo run back to back).
  int pair = 0;
};

// Human-readable tables (fixed-width, one row per run).
std::string TxTableHeader();
std::string TxTableRow(const TxRunFigures& f);
// The threads of one run, indented under its row.
std::string ThreadTableHeader();
std::string ThreadTableRow(const ThreadFigures& f);
std::string EchoTableHeader();
std::string EchoTableRow(const EchoRunFigures& f);
std::string MemoryTableHeader();
std::string MemoryTableRow(const MemoryFigures& f);
std::string EfficiencyTableHeader();
std::string EfficiencyTableRow(const EfficiencyFigures& f);
std::string DiskProbeTableHeader();
std::string DiskProbeTableRow(const DiskProbeFigures& f);
// A paired round: the efficiency with both runs' CPU and other load.
std::string PairTableHeader();
std::string PairTableRow(const EfficiencyFigures& e, const TxRunFigures& tx,
                         const EchoRunFigures& echo);

// One line of JSON per run, prefixed "BENCH_JSON " so that tools can grep
// the output: {"kind":"tx",...}, {"kind":"echo",...},
// {"kind":"memory",...}, {"kind":"efficiency",...}, {"kind":"disk",...}.
std::string ToJsonLine(const TxRunFigures& f);
std::string ToJsonLine(const EchoRunFigures& f);
std::string ToJsonLine(const MemoryFigures& f);
std::string ToJsonLine(const EfficiencyFigures& f);
std::string ToJsonLine(const DiskProbeFigures& f);

}  // namespace tcc::bench

#endif  // TCC_BENCH_BENCH_REPORT_H_
