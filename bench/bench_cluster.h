#ifndef TCC_BENCH_BENCH_CLUSTER_H_
#define TCC_BENCH_BENCH_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "child_process.h"

namespace tcc::bench {

struct BenchClusterOptions {
  // Binaries to start.
  std::string tccd_path;
  std::string participant_path;
  // Directory for data directories, port files, config and logs. Must exist.
  std::string work_dir;
  // Benchmark participants, named "p0", "p1", ... Ignored when
  // coordinator_target is set.
  int participants = 2;
  // Executor threads of every participant (each blocks in a synced commit,
  // so this bounds how many commits share one fsync).
  int participant_executor_threads = 2;
  // tccd --executor_threads.
  int tccd_executor_threads = 2;
  // HTTP/2 connections from tccd to each participant (config `channels`).
  int participant_channels = 1;
  // Config grpc_retries of those connections.
  bool participant_grpc_retries = false;
  // false: batch { disabled: true } in tccd's configuration.
  bool batch_calls = true;
  // batch { max_in_flight, max_items } in tccd's configuration when > 0.
  int batch_max_in_flight = 0;
  int batch_max_items = 0;
  // Extra flags of every benchmark participant, e.g. "--sync=false".
  std::vector<std::string> participant_extra_args;
  // Extra tccd flags, e.g. "--call_timeout_ms=5000".
  std::vector<std::string> tccd_extra_args;
  // If set, no tccd or participant is started: the benchmark drives this
  // coordinator (which must already know the participants).
  std::string coordinator_target;
  // Start the echo server (bench_participant --echo) for the ceiling.
  bool start_echo_server = true;
  // If positive, also start the "hold" participant (bench_participant --echo
  // --try_delay=...) and configure tccd with it, for the memory probe.
  // Ignored when coordinator_target is set.
  absl::Duration hold_try_delay = absl::ZeroDuration();
};

// The processes of one benchmark, all on loopback: K benchmark participants,
// tccd configured with them (and the "hold" participant of the memory
// probe), and the echo server that measures the ceiling.
// Stops them (SIGTERM, then SIGKILL) when destroyed.
class BenchCluster {
 public:
  // Starts the processes and waits until each serves. Errors name the
  // process and its log file.
  static absl::StatusOr<std::unique_ptr<BenchCluster>> Start(
      const BenchClusterOptions& options);

  const std::string& coordinator_target() const { return coordinator_target_; }
  const std::string& echo_target() const { return echo_target_; }
  const std::vector<std::string>& participant_names() const {
    return participant_names_;
  }
  // Name of the participant whose Try answers late ("hold"), empty if none.
  const std::string& hold_participant() const { return hold_participant_; }
  // The started tccd, or null when driving an external coordinator.
  ChildProcess* tccd() const { return tccd_.get(); }
  // The echo server, or null if not started.
  ChildProcess* echo() const { return echo_.get(); }
  // The started participants (empty with an external coordinator).
  std::vector<ChildProcess*> participants() const;
  // Stops every process; returns false if one exited with an error.
  bool Stop();

 private:
  BenchCluster() = default;

  std::string coordinator_target_;
  std::string echo_target_;
  std::vector<std::string> participant_names_;
  std::vector<std::unique_ptr<ChildProcess>> participants_;
  std::unique_ptr<ChildProcess> tccd_;
  std::unique_ptr<ChildProcess> echo_;
  std::string hold_participant_;
  std::unique_ptr<ChildProcess> hold_;
};

// True for "127.0.0.1:<port>", "localhost:<port>" and "[::1]:<port>": the
// only targets the benchmark may load.
bool IsLoopbackTarget(const std::string& target);

}  // namespace tcc::bench

#endif  // TCC_BENCH_BENCH_CLUSTER_H_
