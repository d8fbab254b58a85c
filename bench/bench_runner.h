#ifndef TCC_BENCH_BENCH_RUNNER_H_
#define TCC_BENCH_BENCH_RUNNER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench_cluster.h"
#include "bench_report.h"
#include "closed_loop.h"
#include "process_stats.h"

namespace tcc::bench {

struct RunOptions {
  // Load before the measurement window (connections, caches, RocksDB).
  absl::Duration warmup = absl::Seconds(1);
  // The measurement window.
  absl::Duration duration = absl::Seconds(10);
  int payload_bytes = 64;
  // HTTP/2 connections from the benchmark client to its target.
  int client_channels = 1;
  // gRPC's own retries on those connections (transactions and echo alike).
  bool client_grpc_retries = true;
  // Deadline of each Execute or echo call.
  absl::Duration call_deadline = absl::Seconds(30);
  // Pause after a run so that background work (Confirms, flushes) ends
  // before the next run's idle figures are taken.
  absl::Duration settle = absl::Milliseconds(500);
  // Also break each transaction run's CPU down by thread
  // (TxRunFigures::threads), from /proc/<pid>/task at the window's edges.
  bool thread_stats = false;
};

// Runs closed-loop measurements against a started cluster: transaction runs
// and echo (ceiling) runs, with the same client and the same process
// layout. Not thread-safe.
class BenchRunner {
 public:
  // `cluster` must outlive the runner.
  BenchRunner(BenchCluster* cluster, RunOptions options);

  // One run of `branches`-branch transactions ("tcc": Execute, "saga":
  // Saga) with `concurrency` clients. INVALID_ARGUMENT for another mode.
  absl::StatusOr<TxRunFigures> RunTransactions(const std::string& mode,
                                               int branches, int concurrency);

  // Holds `concurrency` 2-branch transactions in flight on the cluster's
  // "hold" participant, whose Try answers `try_delay` late, and measures
  // tccd's resident set half-way, against the idle figure taken after a
  // short warm-up. Run it before the other runs: memory the allocator kept
  // from earlier load would be reused and hide the growth.
  // FAILED_PRECONDITION without a started tccd and hold participant.
  absl::StatusOr<MemoryFigures> RunMemoryProbe(int concurrency,
                                               absl::Duration try_delay);

  // One run of unary echo calls with `concurrency` clients, against the
  // cluster's echo server process.
  absl::StatusOr<EchoRunFigures> RunEcho(int concurrency);

  // The same client against an echo service served by this process on
  // loopback: one process making unary calls to itself, the other common
  // way of stating a machine's gRPC ceiling. CPU is this process's.
  absl::StatusOr<EchoRunFigures> RunEchoInProcess(int concurrency);

 private:
  // CPU time used so far by each group of processes.
  struct CpuSample {
    absl::Duration coordinator;
    absl::Duration participants;
    absl::Duration echo;
    absl::Duration client;
    // Every process on the machine.
    absl::Duration machine;
    // With RunOptions::thread_stats only.
    std::vector<ThreadSample> coordinator_threads;
    std::vector<ThreadSample> participant_threads;
    std::vector<ThreadSample> client_threads;
  };
  // Cores other processes (not the benchmark's) kept busy between the
  // samples: a run with a high figure measured a shared machine.
  static double ForeignCores(const CpuSample& before, const CpuSample& after,
                             absl::Duration window);
  // Cores busy with nothing between the samples: the machine's CPUs less
  // the busy time of every process.
  static double IdleCores(const CpuSample& before, const CpuSample& after,
                          absl::Duration window);
  CpuSample SampleCpu() const;
  // Runs `loop` through warm-up and the measurement window, taking CPU
  // samples at the window's edges and RSS samples of `rss_pid` (if > 0)
  // inside it. Returns false if calls were still in flight after the
  // drain timeout.
  bool Drive(ClosedLoop& loop, pid_t rss_pid, CpuSample* before,
             CpuSample* after, std::vector<int64_t>* rss_samples);

  absl::StatusOr<EchoRunFigures> RunEchoAt(const std::string& target,
                                           bool in_process, int concurrency);

  BenchCluster* const cluster_;
  const RunOptions options_;
  int runs_ = 0;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_BENCH_RUNNER_H_
