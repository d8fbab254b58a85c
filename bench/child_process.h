#ifndef TCC_BENCH_CHILD_PROCESS_H_
#define TCC_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcc::bench {

// A process the benchmark started (tccd, a participant, the echo server).
// Its stdout and stderr go to a log file; it is sent SIGKILL if the
// benchmark dies first. Not thread-safe: owned by the thread that started it.
class ChildProcess {
 public:
  // Starts argv[0] (a path, not searched in PATH) with `argv`, output
  // appended to `log_path`. INVALID_ARGUMENT for an empty argv; INTERNAL if
  // the log cannot be opened or fork() fails. A failing exec shows up as an
  // exit with status 127 (see WaitForPortFile).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      std::vector<std::string> argv, std::string log_path);

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Runs Stop().
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }

  // Waits until `path` holds a port number (written by the child once it
  // serves) and returns it. UNAVAILABLE if the child exits first,
  // DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<int> WaitForPortFile(const std::string& path,
                                      absl::Duration timeout);

  // Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the wait()
  // status, or -1 if already stopped. Idempotent.
  int Stop(absl::Duration grace = absl::Seconds(10));

 private:
  ChildProcess(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}
  // True if the child has exited (and was reaped).
  bool Exited();

  pid_t pid_;
  const std::string name_;
  const std::string log_path_;
  bool reaped_ = false;
  int wait_status_ = -1;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_CHILD_PROCESS_H_
