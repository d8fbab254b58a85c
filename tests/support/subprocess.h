#ifndef TCC_TESTS_SUPPORT_SUBPROCESS_H_
#define TCC_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcc::testing {

// A child process of a test: a real tccd or participant binary. Output goes
// to `log_path`. Killed with SIGKILL on destruction if still running.
class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts `argv[0]` with `argv`, appending stdout+stderr to `log_path`.
  // Extra environment entries ("NAME=value") are added to the parent's.
  absl::Status Start(const std::vector<std::string>& argv,
                     const std::string& log_path,
                     const std::vector<std::string>& extra_env = {});
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // kill -9 and reap. No-op if not running.
  void Kill();
  // Sends `signal` (e.g. SIGSTOP, SIGCONT) without waiting. No-op if not
  // running. A stopped process can still be Kill()ed.
  void Signal(int signal);
  // SIGTERM, then wait up to `grace` for a clean exit (then SIGKILL).
  // Returns the exit status as from waitpid, or -1 if it had to be killed.
  int Terminate(absl::Duration grace = absl::Seconds(20));
  // Reaps the process if it exited by itself; true if it did.
  bool Exited(int* wait_status = nullptr);

 private:
  pid_t pid_ = -1;
};

// Polls `done` every few milliseconds until it returns true or `limit` passes.
// For waiting on asynchronous outcomes, not for timing assertions.
bool WaitFor(const std::function<bool()>& done,
             absl::Duration limit = absl::Seconds(30));

// Reads the port a server wrote to `path` (waiting for the file to appear).
absl::StatusOr<int> ReadPortFile(const std::string& path,
                                 absl::Duration limit = absl::Seconds(30));

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_SUBPROCESS_H_
